"""Reading every kind of photo the app may be handed, and writing results safely."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facestudio import imageio
from facestudio.imageio import ImageReadError, ImageWriteError, read_image, read_mask, write_image


def gradient_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    """A photo-like test image whose every pixel position is recognisable."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.dstack([xs * 255 // (width - 1), ys * 255 // (height - 1), (xs + ys) % 256]).astype(np.uint8)


# ------------------------------------------------------------------------------------ reading
def test_reads_a_real_jpeg_face(face_paths: list[Path]) -> None:
    image = read_image(face_paths[0])
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[:2] == (200, 200)  # UTK crops
    assert 30 < image.mean() < 230


def test_png_rgb_round_trip_is_exact(tmp_path: Path) -> None:
    image = gradient_rgb()
    write_image(tmp_path / "a.png", image)
    assert np.array_equal(read_image(tmp_path / "a.png"), image)


def test_gray_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = gradient_rgb()[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    image = read_image(tmp_path / "gray.png")
    assert image.shape == (*gray.shape, 3)
    assert all(np.array_equal(image[..., c], gray) for c in range(3))


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (200, 10, 10)
    rgba[0, 0, 3] = 0  # fully transparent -> white
    rgba[0, 1, 3] = 255  # opaque -> its colour
    rgba[0, 2, 3] = 128  # half -> halfway to white
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    image = read_image(tmp_path / "rgba.png")
    assert tuple(image[0, 0]) == (255, 255, 255)
    assert tuple(image[0, 1]) == (200, 10, 10)
    assert np.allclose(image[0, 2], [228, 132, 132], atol=1)


def test_gray_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 0] = 40
    la[0, 0, 1] = 0
    la[1, 1, 1] = 255
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    assert tuple(image[0, 0]) == (255, 255, 255)
    assert tuple(image[1, 1]) == (40, 40, 40)


def test_palette_with_transparency(tmp_path: Path) -> None:
    palette_image = Image.new("P", (3, 1))
    palette_image.putpalette([0, 0, 255, 255, 0, 0] + [0] * 762)
    palette_image.putpixel((0, 0), 0)
    palette_image.putpixel((1, 0), 1)
    palette_image.putpixel((2, 0), 1)
    palette_image.info["transparency"] = 0
    palette_image.save(tmp_path / "palette.png", transparency=0)
    image = read_image(tmp_path / "palette.png")
    assert tuple(image[0, 0]) == (255, 255, 255)
    assert tuple(image[0, 1]) == (255, 0, 0)


def test_16_bit_gray_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "g16.png"), values)
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    image = read_image(tmp_path / "g16.png")
    assert image[0, :, 0].tolist() == [0, 128, 255]


def test_16_bit_rgb_keeps_channel_order(tmp_path: Path) -> None:
    bgr = np.zeros((2, 2, 3), np.uint16)
    bgr[..., 2] = 65535  # red in OpenCV's BGR order
    for name in ("rgb16.png", "rgb16.tif"):
        assert cv2.imwrite(str(tmp_path / name), bgr)
        image = read_image(tmp_path / name)
        assert tuple(image[0, 0]) == (255, 0, 0), name


def test_float_tiffs_gray_and_rgb(tmp_path: Path) -> None:
    gray = np.array([[0.0, 0.5, 1.0]], np.float32)
    Image.fromarray(gray, mode="F").save(tmp_path / "f.tif")
    assert read_image(tmp_path / "f.tif")[0, :, 0].tolist() == [0, 128, 255]
    # Pillow cannot open float RGB TIFFs: the OpenCV fallback reads them.
    bgr = np.zeros((2, 2, 3), np.float32)
    bgr[..., 0] = 1.0  # blue
    assert cv2.imwrite(str(tmp_path / "f3.tif"), bgr)
    assert tuple(read_image(tmp_path / "f3.tif")[0, 0]) == (0, 0, 255)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan ink
    cmyk.save(tmp_path / "cmyk.jpg", quality=100)
    image = read_image(tmp_path / "cmyk.jpg")
    assert image.shape == (16, 16, 3)
    assert np.allclose(image.reshape(-1, 3).mean(axis=0), [0, 255, 255], atol=3)


@pytest.mark.parametrize(
    ("orientation", "upright"),
    [(3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1))],
)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, upright) -> None:
    stored = gradient_rgb(30, 50)
    picture = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture.save(tmp_path / "rotated.png", exif=exif.tobytes())
    image = read_image(tmp_path / "rotated.png")
    assert np.array_equal(image, upright(stored))


def test_exif_orientation_of_a_camera_jpeg(tmp_path: Path, face_paths: list[Path]) -> None:
    upright = np.ascontiguousarray(read_image(face_paths[3])[:, 10:80])  # made non-square; stored sideways below
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(np.rot90(upright, 1)).save(tmp_path / "camera.jpg", quality=98, exif=exif.tobytes())
    image = read_image(tmp_path / "camera.jpg")
    assert image.shape == upright.shape
    assert np.abs(image.astype(int) - upright).mean() < 3


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda folder: folder / "missing.jpg", "no such file"),
        (lambda folder: folder, "is a folder"),
        (lambda folder: _write_bytes(folder / "empty.jpg", b""), "empty file"),
        (lambda folder: _write_bytes(folder / "notes.jpg", b"this is a text file, not a photo\n" * 5), "not an image"),
        (lambda folder: _write_bytes(folder / "garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), ""),
    ],
)
def test_unreadable_files_raise_one_line_naming_the_file(tmp_path: Path, make, problem: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and problem in message
    assert "\n" not in message


def test_truncated_jpeg_is_reported(tmp_path: Path, face_paths: list[Path]) -> None:
    data = face_paths[0].read_bytes()
    path = _write_bytes(tmp_path / "cut.jpg", data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


def test_images_over_the_pixel_limit_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "big.png", gradient_rgb(40, 40))
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1000)
    with pytest.raises(ImageReadError, match="too large"):
        read_image(tmp_path / "big.png")


# --------------------------------------------------------------------------------------- masks
def test_read_mask_thresholds_to_0_and_255(tmp_path: Path) -> None:
    gray = np.array([[0, 100, 127, 128, 200, 255]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.dtype == np.uint8 and mask.shape == (1, 6)
    assert mask.tolist() == [[0, 0, 0, 255, 255, 255]]


def test_read_mask_transparent_counts_as_keep(tmp_path: Path) -> None:
    rgba = np.full((1, 2, 4), 255, np.uint8)
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == [[0, 255]]


def test_read_mask_refuses_another_size(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png", shape=(10, 20, 3)).shape == (10, 20)
    with pytest.raises(ImageReadError, match=r"mask is 20x10 px but the image is 30x10 px"):
        read_mask(tmp_path / "m.png", shape=(10, 30, 3))


# -------------------------------------------------------------------------------------- writing
@pytest.mark.parametrize("extension", [".png", ".tif", ".tiff"])
def test_lossless_formats_round_trip(tmp_path: Path, extension: str) -> None:
    image = gradient_rgb()
    write_image(tmp_path / f"out{extension}", image)
    assert np.array_equal(read_image(tmp_path / f"out{extension}"), image)


@pytest.mark.parametrize("extension", [".jpg", ".jpeg", ".webp"])
def test_lossy_formats_are_close(tmp_path: Path, extension: str) -> None:
    image = gradient_rgb()
    write_image(tmp_path / f"out{extension}", image, quality=95)
    assert np.abs(read_image(tmp_path / f"out{extension}").astype(int) - image).mean() < 4


def test_write_gray_mask(tmp_path: Path) -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:6] = 255
    write_image(tmp_path / "m.png", mask)
    assert np.array_equal(read_mask(tmp_path / "m.png"), mask)


def test_write_replaces_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    write_image(target, np.zeros((4, 4, 3), np.uint8))
    write_image(target, np.full((4, 4, 3), 9, np.uint8))
    assert read_image(target).max() == 9
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    assert (target.stat().st_mode & 0o777) != 0o600  # not the private mode of a temporary file


def test_write_refuses_protected_paths(tmp_path: Path) -> None:
    original = gradient_rgb()
    source = tmp_path / "input.png"
    write_image(source, original)
    with pytest.raises(ImageWriteError, match="refusing to overwrite an input"):
        write_image(tmp_path / "." / "input.png", np.zeros_like(original), protected=[source])
    assert np.array_equal(read_image(source), original)


@pytest.mark.parametrize(
    ("name", "image", "problem"),
    [
        ("out.bmpx", np.zeros((2, 2, 3), np.uint8), "unknown image extension"),
        ("out.jpg", np.zeros((2, 2, 4), np.uint8), "JPEG cannot store transparency"),
        ("out.png", np.zeros((2, 2, 3), np.float32), "uint8"),
        ("no-such-folder/out.png", np.zeros((2, 2, 3), np.uint8), "does not exist"),
    ],
)
def test_write_errors_name_the_file(tmp_path: Path, name: str, image: np.ndarray, problem: str) -> None:
    with pytest.raises(ImageWriteError) as caught:
        write_image(tmp_path / name, image)
    assert str(caught.value).startswith(str(tmp_path / name)) and problem in str(caught.value)
    assert not list(tmp_path.rglob("*.tmp"))


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
