"""The `facestudio` command end to end on real faces: dispatch, fix, user errors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio import __version__
from facestudio.cli import _with_default_command, main
from facestudio.imageio import read_image, read_mask, write_image

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_module(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m facestudio ARGS` in a fresh interpreter, as a user runs it."""
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT), QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "facestudio", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=REPO_ROOT,
    )


def eye_mask(shape: tuple[int, ...]) -> np.ndarray:
    height, width = shape[:2]
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, int(height * 0.42)), (width // 4, height // 12), 0, 0, 360, 255, -1)
    return mask


def test_help_is_fast_and_imports_no_heavy_module() -> None:
    probe = (
        "import sys\nfrom facestudio.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'cv2', 'PySide6') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    assert completed.returncode == 0, completed.stderr
    for command in ("gui", "fix", "batch", "identity"):
        assert command in completed.stdout
    assert "HEAVY []" in completed.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fxi"])
    assert exited.value.code == 2
    assert "invalid choice: 'fxi'" in capsys.readouterr().err


def test_gui_is_the_default_command(face_paths: list[Path]) -> None:
    assert _with_default_command([]) == ["gui"]
    assert _with_default_command(["--auto-fix"]) == ["gui", "--auto-fix"]
    assert _with_default_command([str(face_paths[0])]) == ["gui", str(face_paths[0])]
    assert _with_default_command(["fix", "a.jpg"]) == ["fix", "a.jpg"]


def test_gui_with_unavailable_cuda_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["gui", "--device", "cuda"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("facestudio gui:") and "CUDA" in error
    assert error.count("\n") == 1 and "Traceback" not in error


def test_fix_with_masks_and_telea_end_to_end(tmp_path: Path, face_paths: list[Path]) -> None:
    """The README's first run: `python -m facestudio fix PHOTOS -o OUT --masks DIR --method telea`."""
    inputs = face_paths[:2]
    mask_dir = tmp_path / "masks"
    mask_dir.mkdir()
    for path in inputs:
        write_image(mask_dir / f"{path.stem}.png", eye_mask(read_image(path).shape))
    out = tmp_path / "out"
    completed = run_module("fix", *map(str, inputs), "-o", str(out), "--masks", str(mask_dir), "--method", "telea")
    assert completed.returncode == 0, completed.stderr
    for path in inputs:
        original = read_image(path)
        result = read_image(out / f"{path.stem}.png")
        mask = read_mask(out / f"{path.stem}.mask.png")
        assert result.shape == original.shape
        assert np.array_equal(mask, eye_mask(original.shape))
        assert np.array_equal(result[mask == 0], original[mask == 0])
        assert not np.array_equal(result[mask > 0], original[mask > 0])


def test_fix_finds_masks_itself_with_gan(tmp_path: Path, face_paths: list[Path], random_weights_dir: Path) -> None:
    out = tmp_path / "out"
    code = main(["fix", str(face_paths[0]), "-o", str(out), "--weights", str(random_weights_dir), "--device", "cpu"])
    assert code == 0
    result = read_image(out / f"{face_paths[0].stem}.png")
    mask = read_mask(out / f"{face_paths[0].stem}.mask.png")
    assert result.shape == read_image(face_paths[0]).shape and mask.shape == result.shape[:2]


def test_fix_reports_a_bad_file_and_goes_on(
    tmp_path: Path, face_paths: list[Path], random_weights_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo\n")
    out = tmp_path / "out"
    code = main(
        ["fix", str(bad), str(face_paths[3]), "-o", str(out), "--method", "telea", "--weights", str(random_weights_dir)]
    )
    assert code != 0
    error = capsys.readouterr().err
    lines = [line for line in error.splitlines() if "bad.jpg" in line]
    assert len(lines) == 1 and "not an image" in lines[0] and "Traceback" not in error
    assert (out / f"{face_paths[3].stem}.png").is_file()
    assert not (out / "bad.png").exists()


@pytest.mark.skipif(importlib.util.find_spec("facestudio.identity") is None, reason="facestudio.identity not present")
def test_identity_subcommand_is_wired(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["identity", "--help"])
    assert exited.value.code == 0
    assert "usage: facestudio identity" in capsys.readouterr().out
