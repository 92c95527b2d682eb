"""Read and write photos and masks.

Everything the engine sees is an HxWx3 uint8 RGB array (masks: HxW uint8, 255 = hole), whatever
the file held: EXIF orientation applied, gray / palette / 16-bit / float / CMYK converted,
transparency composited on white. Pillow decodes; OpenCV is the fallback for formats Pillow lacks
(e.g. float RGB TIFF, Radiance HDR). Failures raise `ImageReadError`, whose message is one line
naming the file and the problem, fit to show a user as is.

Writes are atomic (`facestudio.atomic.atomic_write`: temporary file in the target folder, then
`os.replace`), so an interrupted save never leaves a half-written photo, and they can refuse to
overwrite a set of protected paths (the inputs of a batch). `atomic_write` is also reachable from
here because the editor (which may import only the engine's front doors) writes its autosave with it.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facestudio.atomic import atomic_write

# Pillow's decompression-bomb guard stops at ~89 MP, below some camera panoramas. Allow up to
# 200 MP (about 600 MB as RGB) and refuse anything bigger with a clear message.
MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


class ImageReadError(Exception):
    """A file could not be read as an image (or mask); str() is one line: "<path>: <problem>"."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ImageWriteError(Exception):
    """A file could not be written; str() is one line: "<path>: <problem>"."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any supported image file as an HxWx3 uint8 RGB array (EXIF-upright, alpha on white)."""
    pixels = _decode(path)
    return _flatten_alpha(pixels, background=255)


def read_mask(path: str | os.PathLike, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read an image as a binary mask: HxW uint8, 255 where the pixel is light (>= 128), else 0.

    Transparent pixels count as black (keep), so a mask painted on a transparent layer works.
    `shape` (the photo's HxW or HxWx3) makes a size mismatch an ImageReadError.
    """
    pixels = _flatten_alpha(_decode(path), background=0)
    gray = pixels[..., 0] if pixels.shape[2] == 1 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    if shape is not None and gray.shape != tuple(shape[:2]):
        raise ImageReadError(
            path,
            f"mask is {gray.shape[1]}x{gray.shape[0]} px but the image is {shape[1]}x{shape[0]} px",
        )
    return np.where(gray >= 128, 255, 0).astype(np.uint8)


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    quality: int = 95,
    protected: Iterable[str | os.PathLike] = (),
) -> None:
    """Write an HxW, HxWx3 (RGB) or HxWx4 (RGBA) uint8 array atomically; format from the extension.

    `quality` applies to JPEG and WebP. Raises ImageWriteError if `path` is one of `protected`
    (e.g. the inputs of a batch), the extension is unknown, or the write fails.
    """
    target = Path(path)
    image_format = WRITE_FORMATS.get(target.suffix.lower())
    if image_format is None:
        raise ImageWriteError(target, f"unknown image extension {target.suffix!r}: use {', '.join(WRITE_FORMATS)}")
    if any(_same_file(target, Path(other)) for other in protected):
        raise ImageWriteError(target, "refusing to overwrite an input file")
    picture = _to_pillow(target, image, image_format)
    folder = target.parent
    if not folder.is_dir():
        raise ImageWriteError(target, f"folder {str(folder)!r} does not exist")

    options: dict[str, object] = {}
    if image_format in ("JPEG", "WEBP"):
        options["quality"] = quality
    elif image_format == "TIFF":
        options["compression"] = "tiff_adobe_deflate"

    try:
        atomic_write(target, lambda stream: picture.save(stream, format=image_format, **options))
    except OSError as error:
        raise ImageWriteError(target, f"could not write: {error.strerror or error}") from error


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the photo as `read_image` would return it (EXIF-upright), read from the
    header without decoding the pixels where the format allows; raises ImageReadError."""
    file = Path(path)
    if not file.is_file():
        raise ImageReadError(file, "no such file")
    try:
        with Image.open(file) as picture:
            width, height = picture.size
            try:
                orientation = picture.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - a damaged EXIF block: read_image keeps the picture as stored
                orientation = 1
        return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    except UnidentifiedImageError:
        pixels = _decode_with_opencv(file)
        return pixels.shape[1], pixels.shape[0]
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageReadError(file, f"cannot read the image header ({error})") from None


def _decode(path: str | os.PathLike) -> np.ndarray:
    """Decode a file to HxWxC uint8 (C = 1 gray, 3 RGB, 4 RGBA), upright; raises ImageReadError."""
    file = Path(path)
    if not file.exists():
        raise ImageReadError(file, "no such file")
    if file.is_dir():
        raise ImageReadError(file, "is a folder, not an image file")
    if file.stat().st_size == 0:
        raise ImageReadError(file, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as picture:
                _check_size(file, picture.size)
                picture = _upright(picture)
                return _pillow_to_array(file, picture)
    except UnidentifiedImageError:
        return _decode_with_opencv(file)
    except Image.DecompressionBombError:
        raise ImageReadError(file, f"image is too large (over {MAX_PIXELS // 1_000_000} MP)") from None
    except OSError as error:
        raise ImageReadError(file, _describe_decode_error(error)) from None
    except (ValueError, SyntaxError) as error:
        raise ImageReadError(file, f"corrupt image data ({error})") from None


def _check_size(file: Path, size: tuple[int, int]) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageReadError(file, "image has no pixels")
    if width * height > MAX_PIXELS:
        raise ImageReadError(file, f"image is too large ({width}x{height}, over {MAX_PIXELS // 1_000_000} MP)")


def _upright(picture: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a damaged EXIF block leaves the picture as stored."""
    try:
        # in place: a copy of a 196-megapixel photo is 588 MB more at the peak
        ImageOps.exif_transpose(picture, in_place=True)
    except (ValueError, TypeError, KeyError, SyntaxError, struct.error):
        pass
    return picture


def _pillow_to_array(file: Path, picture: Image.Image) -> np.ndarray:
    mode = picture.mode
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return _scale_to_uint8(np.asarray(picture))[..., None]
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in picture.info):
        target = "RGBA"
    elif mode in ("1", "L"):
        target = "L"
    else:
        target = "RGB"
    try:
        converted = picture if mode == target else picture.convert(target)  # convert() copies even then
    except ValueError:
        raise ImageReadError(file, f"unsupported colour mode {mode}") from None
    array = np.asarray(converted)
    return array[..., None] if array.ndim == 2 else array


def _decode_with_opencv(file: Path) -> np.ndarray:
    """Fallback decoder for files Pillow does not recognise (float TIFF, HDR, ...)."""
    data = np.fromfile(file, dtype=np.uint8)
    # OpenCV logs its own complaint about a bad file to stderr; ours is the one the user sees.
    previous_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    finally:
        cv2.utils.logging.setLogLevel(previous_level)
    if decoded is None or decoded.size == 0:
        raise ImageReadError(file, "not an image (unrecognised or corrupt file)")
    _check_size(file, (decoded.shape[1], decoded.shape[0]))
    pixels = _scale_to_uint8(decoded)
    if pixels.ndim == 2:
        return pixels[..., None]
    channels = pixels.shape[2]
    if channels == 1:
        return pixels
    if channels == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    raise ImageReadError(file, f"unsupported number of colour channels ({channels})")


def _scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map 16-bit, 32-bit integer and float samples to uint8.

    uint16 covers 0..65535. Other integers are taken as 8-bit when they fit, else as 16-bit.
    Floats are taken as 0..1 when they fit, else as 0..255 (clipped); NaN becomes 0.
    """
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * 255
    if np.issubdtype(values.dtype, np.floating):
        finite = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(finite.max()) if finite.size else 0.0
        scaled = finite * 255.0 if peak <= 1.0 else finite
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if values.dtype == np.uint16 or (values.size and int(values.max()) > 255):
        return np.rint(np.clip(values, 0, 65535) / 257.0).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


def _flatten_alpha(pixels: np.ndarray, background: int) -> np.ndarray:
    """HxWx{1,3,4} uint8 -> HxWx3 RGB, compositing any alpha over a uniform `background` level."""
    channels = pixels.shape[2]
    if channels == 4:
        alpha = pixels[..., 3:4].astype(np.float32) / 255.0
        color = pixels[..., :3].astype(np.float32)
        blended = color * alpha + float(background) * (1.0 - alpha)
        return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    if channels == 1:
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    return np.ascontiguousarray(pixels)


def _describe_decode_error(error: OSError) -> str:
    message = str(error)
    lowered = message.lower()
    if "truncated" in lowered or "premature end" in lowered or "broken data stream" in lowered:
        return "truncated or damaged file"
    if isinstance(error, PermissionError):
        return "permission denied"
    return f"could not decode image ({message})"


def _to_pillow(target: Path, image: np.ndarray, image_format: str) -> Image.Image:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageWriteError(target, "image must be a uint8 numpy array")
    if image.ndim == 2:
        return Image.fromarray(image, mode="L")
    if image.ndim == 3 and image.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    if image.ndim == 3 and image.shape[2] == 4:
        if image_format == "JPEG":
            raise ImageWriteError(target, "JPEG cannot store transparency: save as .png, .webp or .tif")
        return Image.fromarray(np.ascontiguousarray(image), mode="RGBA")
    raise ImageWriteError(target, f"cannot write an array of shape {image.shape} as an image")


def _same_file(first: Path, second: Path) -> bool:
    try:
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
    except OSError:
        pass
    return first.resolve() == second.resolve()
