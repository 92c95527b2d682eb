"""`facestudio fix INPUT... -o OUTDIR`, end to end through the real command on real face photos.

Small random checkpoints (conftest's random_weights_dir) stand in for the shipped weights, so the
tests check the plumbing, not the quality of the fill.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facestudio.cli import main
from facestudio.imageio import read_image


def fix(*arguments: object, method: str = "telea", weights: Path) -> int:
    return main(["fix", *map(str, arguments), "--method", method, "--device", "cpu", "--weights", str(weights)])


def copy_photo(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("method", ["telea", "gan"])
def test_fix_files_and_folders_writes_result_and_mask_of_each_photos_size(method, tmp_path, face_paths,
                                                                          random_weights_dir, capsys):
    folder = tmp_path / "album"
    in_folder = [copy_photo(path, folder / path.name) for path in face_paths[:2]]
    single = copy_photo(face_paths[3], tmp_path / "elsewhere" / face_paths[3].name)  # a CelebA crop, another size
    output = tmp_path / "fixed"

    code = fix(folder, single, "-o", output, method=method, weights=random_weights_dir)

    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().err == ""
    for photo in [*in_folder, single]:
        original = read_image(photo)
        result = read_image(output / f"{photo.stem}.png")
        mask = np.asarray(Image.open(output / f"{photo.stem}.mask.png"))
        assert result.shape == original.shape and mask.shape == original.shape[:2]
        assert set(np.unique(mask)) <= {0, 255}
    assert sorted(path.name for path in output.iterdir()) == sorted(
        name for photo in [*in_folder, single] for name in (f"{photo.stem}.png", f"{photo.stem}.mask.png")
    )


def test_fix_reports_each_bad_input_in_one_line_and_still_fixes_the_others(tmp_path, face_paths, random_weights_dir,
                                                                           capsys):
    photos, masks, output = tmp_path / "photos", tmp_path / "masks", tmp_path / "out"
    good = copy_photo(face_paths[0], photos / "good.jpg")
    no_mask = copy_photo(face_paths[1], photos / "nomask.jpg")
    wrong_size = copy_photo(face_paths[2], photos / "wrongsize.jpg")
    empty = photos / "empty.jpg"
    empty.write_bytes(b"")
    corrupt = photos / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    missing = tmp_path / "typo.jpg"
    masks.mkdir()
    hole = np.zeros((200, 200), np.uint8)
    hole[110:150, 50:150] = 255
    for name, mask in (("good", hole), ("empty", hole), ("corrupt", hole), ("wrongsize", hole[:, :120])):
        Image.fromarray(mask).save(masks / f"{name}.png")

    code = fix(photos, missing, "-o", output, "--masks", masks, weights=random_weights_dir)

    assert code == 1
    errors = capsys.readouterr().err.splitlines()
    assert sorted(errors) == sorted([
        f"{empty}: empty file",
        f"{corrupt}: not an image (unrecognised or corrupt file)",
        f"{missing}: no such file or folder",
        f"{no_mask}: no mask {masks / 'nomask.png'}",
        f"{wrong_size}: mask {masks / 'wrongsize.png'}: mask is 120x200 px but the image is 200x200 px",
    ])
    assert np.array_equal(np.asarray(Image.open(output / "good.mask.png")), hole)
    result, original = read_image(output / "good.png"), read_image(good)
    assert np.array_equal(result[hole == 0], original[hole == 0])
    assert sorted(path.name for path in output.iterdir()) == ["good.mask.png", "good.png"]


def test_fix_never_writes_over_an_input(tmp_path, face_paths, random_weights_dir, capsys):
    folder = tmp_path / "photos"
    png = folder / "portrait.png"
    png.parent.mkdir()
    Image.open(face_paths[0]).save(png)
    jpeg = copy_photo(face_paths[1], folder / "holiday.jpg")
    before = {path: digest(path) for path in (png, jpeg)}

    code = fix(png, jpeg, "-o", folder, weights=random_weights_dir)

    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{png}: its output {folder / 'portrait.png'} would overwrite the input {png}"
    ]
    assert {path: digest(path) for path in before} == before
    assert (folder / "holiday.png").is_file() and (folder / "holiday.mask.png").is_file()


def test_fix_with_missing_weights_is_one_line_not_a_traceback(tmp_path, face_paths, capsys):
    code = fix(face_paths[0], "-o", tmp_path / "out", method="gan", weights=tmp_path / "no-weights")

    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("facestudio fix: could not load the models: ") and str(tmp_path / "no-weights") in error
    assert len(error.splitlines()) == 1 and "Traceback" not in error


def test_fix_a_photo_with_no_face_is_one_line_and_a_non_zero_exit(tmp_path, face_paths, random_weights_dir, capsys):
    from facestudio.batch import NO_FACE_REASON

    portrait = copy_photo(face_paths[0], tmp_path / "in" / "portrait.jpg")
    landscape = tmp_path / "in" / "landscape.png"
    ramp = np.linspace(30, 220, 320).astype(np.uint8)
    Image.fromarray(np.dstack([np.tile(ramp, (240, 1))] * 3)).save(landscape)
    output = tmp_path / "out"

    code = fix(portrait, landscape, "-o", output, "--detector", "haar", weights=random_weights_dir)

    assert code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"{landscape}: {NO_FACE_REASON}"]
    assert "no face found" in captured.err and "1 fixed, 1 failed" in captured.out
    assert sorted(path.name for path in output.iterdir()) == ["portrait.mask.png", "portrait.png"]


def test_fix_with_the_learned_detector_and_a_bad_detector_file_is_one_line(tmp_path, face_paths, random_weights_dir,
                                                                           capsys):
    weights = tmp_path / "weights"
    weights.mkdir()
    for checkpoint in random_weights_dir.glob("*.pt"):
        (weights / checkpoint.name).write_bytes(checkpoint.read_bytes())
    (weights / "detector.pt").write_bytes(b"half a checkpoint")

    code = fix(face_paths[0], "-o", tmp_path / "out", weights=weights)  # --detector auto takes the file

    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("facestudio fix: could not load the models: ")
    assert f"{weights / 'detector.pt'}: not a FaceStudio checkpoint (truncated, corrupt or another kind of file)" in error and len(error.splitlines()) == 1


# ----- --reference: another photo of the person guides the fill ---------------------------------------
def test_fix_with_a_reference_photo_fills_differently_and_names_it(tmp_path, face_paths, reference_weights_dir,
                                                                   capsys):
    """A reference generator with random, non-zero reference weights: the reference must reach the fill."""
    photo = copy_photo(face_paths[0], tmp_path / "in" / "portrait.jpg")
    reference = copy_photo(face_paths[1], tmp_path / "refs" / "mum_1990.jpg")
    before = {path: digest(path) for path in (photo, reference)}

    plain = fix(photo, "-o", tmp_path / "plain", "--detector", "haar", method="gan", weights=reference_weights_dir)
    plain_out = capsys.readouterr().out
    guided = fix(photo, "-o", tmp_path / "guided", "--reference", reference, "--detector", "haar", method="gan",
                 weights=reference_weights_dir)
    captured = capsys.readouterr()

    assert plain == guided == 0, captured.err
    assert "reference photo" not in plain_out
    assert f"{photo}: reference photo mum_1990.jpg" in captured.out.splitlines()
    without = read_image(tmp_path / "plain" / "portrait.png")
    with_reference = read_image(tmp_path / "guided" / "portrait.png")
    assert without.shape == with_reference.shape and not np.array_equal(without, with_reference)
    # the same mask (the reference changes the fill, not what is found), and only the hole changes
    mask = np.asarray(Image.open(tmp_path / "guided" / "portrait.mask.png"))
    assert np.array_equal(mask, np.asarray(Image.open(tmp_path / "plain" / "portrait.mask.png")))
    assert {path: digest(path) for path in (photo, reference)} == before  # inputs are never written


def test_fix_warns_when_the_reference_photo_s_eyes_are_covered(tmp_path, face_paths, capsys):
    """The shipped segmenter finds the dark glasses drawn on the reference; the fix still runs with it."""
    import cv2

    from facestudio.api import default_weights_dir, load_pipeline

    photo = copy_photo(face_paths[0], tmp_path / "in" / "portrait.jpg")
    reference = read_image(face_paths[1]).copy()
    face = load_pipeline(device="cpu", detector="haar").detect(reference)[0]
    for x, y in face.landmarks[:2]:
        cv2.ellipse(reference, (int(x), int(y)), (reference.shape[1] // 7, reference.shape[1] // 13), 0, 0, 360,
                    (15, 15, 20), -1)
    covered = tmp_path / "refs" / "beach.png"
    covered.parent.mkdir()
    Image.fromarray(reference).save(covered)

    code = fix(photo, "-o", tmp_path / "out", "--reference", covered, "--detector", "haar", method="gan",
               weights=default_weights_dir())

    captured = capsys.readouterr()
    assert code == 0 and (tmp_path / "out" / "portrait.png").is_file()
    assert f"{covered}: the eyes in the reference photo are covered" in captured.err
    assert f"{photo}: reference photo beach.png" in captured.out.splitlines()


@pytest.mark.parametrize("case", ["no face", "not an image", "missing"])
def test_fix_with_an_unusable_reference_photo_is_one_line_naming_it_and_exit_2(case, tmp_path, face_paths,
                                                                               random_weights_dir,
                                                                               capsys):
    photo = copy_photo(face_paths[0], tmp_path / "in" / "portrait.jpg")
    reference = tmp_path / "refs" / "reference.png"
    reference.parent.mkdir()
    if case == "no face":
        ramp = np.linspace(30, 220, 320).astype(np.uint8)
        Image.fromarray(np.dstack([np.tile(ramp, (240, 1))] * 3)).save(reference)
    elif case == "not an image":
        reference.write_text("a shopping list, not a photo\n")
    output = tmp_path / "out"

    code = fix(photo, "-o", output, "--reference", reference, "--detector", "haar", method="gan",
               weights=random_weights_dir)

    assert code == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert error.startswith(f"facestudio fix: {reference}: ")
    if case == "no face":
        assert "no face found in the reference photo" in error
    assert not any(output.iterdir())  # nothing written
