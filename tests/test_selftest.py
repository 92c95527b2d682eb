"""The self-test on the real embedded sample: it passes on a real fill, fails on garbage, and says why.

Trained weights are not needed here: Telea with no weights must pass; random weights (conftest's
`random_weights_dir`) must fail the checks; a folder without weights must stop with the file named;
a face detector that misses the sample's face must fail and say so.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facestudio import selftest
from facestudio.selftest import EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_PASSED, SelftestReport

REPO_ROOT = Path(__file__).resolve().parents[1]


def report(**changes: float | str | int) -> SelftestReport:
    """A report with the figures of a good fill, changed where asked."""
    figures = dict(
        sample="astronaut-face-mask", method="gan", device="cpu", mask_source="segmenter", faces=1,
        iou=0.8, dice=0.89, psnr_hole=16.0, psnr_hole_occluded=12.4, psnr_hole_telea=14.8, ssim_hole=0.4,
        identity_similarity=0.95, fix_ms=900.0, total_s=6.0,
    )
    figures.update(changes)
    return SelftestReport(**figures)


def test_checks_pass_on_good_figures_and_name_each_failure() -> None:
    assert report().problems() == []
    assert "mask IoU 0.30 < 0.50" in report(iou=0.3).problems()
    weak = report(psnr_hole=11.0).problems()
    assert any("occluded input" in problem for problem in weak) and any("Telea" in problem for problem in weak)
    assert report(iou=math.nan).problems(), "an undefined score must not pass"
    assert report(faces=0, detector="learned").problems() == ["the learned detector found no face in the sample"]
    assert report(mask_source="given", iou=math.nan, dice=math.nan).problems() == []


def test_report_line_is_one_line_with_the_figures() -> None:
    line = report().line()
    assert "\n" not in line
    for figure in ("passed", "astronaut-face-mask", "gan on cpu", "IoU 0.80", "16.0 dB", "occluded 12.4", "Telea 14.8"):
        assert figure in line
    assert "FAILED" in report(iou=0.2).line()


def test_telea_without_weights_passes_headless_in_a_fresh_process(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom facestudio.selftest import main\n"
        f"code = main(['--method', 'telea', '--device', 'cpu', '--weights', {str(tmp_path)!r}])\n"
        "print('QT_LOADED', 'PySide6' in sys.modules, file=sys.stderr)\nsys.exit(code)\n"
    )
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="2")
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                               env=environment, cwd=REPO_ROOT)
    assert completed.returncode == EXIT_PASSED, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FaceStudio selftest passed:"), completed.stdout
    assert "mask given" in lines[0]
    assert "QT_LOADED False" in completed.stderr


def test_telea_fill_beats_the_occluded_input_on_the_real_sample(tmp_path: Path) -> None:
    measured = selftest.measure(method="telea", device="cpu", weights_dir=tmp_path)
    assert measured.mask_source == "given"
    assert measured.psnr_hole > measured.psnr_hole_occluded + 1.5
    assert measured.psnr_hole == pytest.approx(measured.psnr_hole_telea)


def test_gan_without_weights_cannot_run_and_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.run_selftest(method="gan", device="cpu", weights_dir=tmp_path) == EXIT_CANNOT_RUN
    captured = capsys.readouterr()
    assert captured.out == ""
    error_lines = captured.err.strip().splitlines()
    assert len(error_lines) == 1 and str(tmp_path / "segmenter.pt") in error_lines[0]
    assert "--method telea" in error_lines[0]


@pytest.mark.slow
def test_random_weights_fail_the_checks(random_weights_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.run_selftest(method="gan", device="cpu", weights_dir=random_weights_dir) == EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.out.startswith("FaceStudio selftest FAILED:") and captured.out.count("\n") == 1
    assert "mask IoU" in captured.err


def test_a_detector_that_misses_the_sample_fails_and_says_so(blind_weights_dir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.run_selftest(method="telea", device="cpu", weights_dir=blind_weights_dir) == EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.out.startswith("FaceStudio selftest FAILED:") and "0 faces (learned detector)" in captured.out
    assert "the learned detector found no face in the sample" in captured.err


def test_unknown_method_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.run_selftest(method="lama", weights_dir=tmp_path) == EXIT_CANNOT_RUN
    assert "unknown method 'lama'" in capsys.readouterr().err


def test_unavailable_device_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the device is available")
    assert selftest.main(["--method", "telea", "--device", "cuda", "--weights", str(tmp_path)]) == EXIT_CANNOT_RUN
    assert "no CUDA GPU" in capsys.readouterr().err
