"""The embedded sample (engine side, no Qt) and the app entry point's screenshot mode."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PySide6.QtGui import QImage

from facestudio.gui.app import run
from facestudio.imageio import write_image
from facestudio.sample import load_sample
from tests.gui.conftest import REPO


def test_sample_is_deterministic_and_its_mask_is_exactly_what_was_drawn():
    first, second = load_sample(), load_sample()
    assert np.array_equal(first.image, second.image) and np.array_equal(first.true_mask, second.true_mask)
    drawn = (first.image != first.reference).any(axis=2)
    assert np.array_equal(drawn, first.true_mask == 255)
    assert set(np.unique(first.true_mask)) == {0, 255}
    # nose tip and both mouth corners of the astronaut (dlib landmarks) are hidden, the eyes are not
    assert first.true_mask[134, 224] == 255 and first.true_mask[139, 200] == 255 and first.true_mask[141, 245] == 255
    assert first.true_mask[101, 203] == 0 and first.true_mask[104, 246] == 0
    assert 0.5 < 100 * np.count_nonzero(first.true_mask) / first.true_mask.size < 3.0
    assert first.image[139, 222, 2] > first.image[139, 222, 0] + 30  # pale blue fabric over the mouth
    glasses = load_sample("sunglasses")  # the other occluder the sample can wear
    assert glasses.true_mask[101, 203] == 255 and glasses.image[101, 203].max() < 90


def test_sample_does_not_need_qt():
    code = ("import sys; from facestudio.sample import load_sample; load_sample(); "
            "sys.exit(any(name.startswith('PySide6') for name in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_screenshot_mode_renders_the_window_and_exits(qapp, tmp_path):
    photo = tmp_path / "photo.jpg"
    write_image(photo, load_sample().reference)
    shot = tmp_path / "shot.png"
    assert run(str(photo), screenshot=str(shot), device="cpu") == 0
    image = QImage(str(shot))
    assert image.width() >= 1280 and image.height() >= 800
    assert len({image.pixel(x, 400) for x in range(0, image.width(), 16)}) > 20  # a photo, not a blank window


def test_screenshot_after_auto_fix_waits_for_the_worker(qapp, tmp_path, monkeypatch, random_weights_dir):
    monkeypatch.setenv("FACESTUDIO_WEIGHTS", str(random_weights_dir))
    shot = tmp_path / "fixed.png"
    assert run(None, auto_fix=True, screenshot=str(shot), device="cpu") == 0
    assert QImage(str(shot)).width() >= 1280


def test_screenshot_reports_a_failed_auto_fix(qapp, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESTUDIO_WEIGHTS", str(tmp_path / "nothing-here"))
    shot = tmp_path / "failed.png"
    assert run(None, auto_fix=True, screenshot=str(shot), device="cpu") == 1
    assert shot.is_file()  # the window is still rendered, with the message in its status bar
