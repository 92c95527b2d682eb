"""The embedded sample: a public-domain portrait with an occlusion drawn on it, so its truth is known.

scikit-image ships the astronaut photo (Eileen Collins, NASA, public domain). The app draws a surgical
face mask over her nose and mouth itself, so the clean photo is the reference and the drawn pixels are the
true mask: the first auto-fix a new user runs can be scored with PSNR/SSIM/IoU/Dice at once. A face mask
rather than sunglasses because the default (Haar) detector needs the eyes to find the face.
No Qt here: the engine, the CLI and the tests can use the sample too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Eye centres of the astronaut photo (dlib 68-point landmarks, means of points 36-41 and 42-47).
_LEFT_EYE = (203.2, 101.5)
_RIGHT_EYE = (246.5, 104.2)
_LENS_AXES = (21, 15)            # half-width, half-height of one lens in pixels
_LENS_DROP = 3.0                 # lenses sit slightly below the eye centres
_TEMPLE_ENDS = ((173, 99), (277, 103))
# Face-mask outline: top edge over the nose bridge and cheeks, then along the jaw (dlib points 13..3).
_FACE_MASK_OUTLINE = (
    (182, 121), (203, 114), (225, 110), (247, 114), (268, 120), (266, 144), (261, 155), (254, 165),
    (244, 172), (232, 178), (221, 179), (209, 177), (199, 170), (190, 161), (184, 151), (181, 139),
)
_STRAP_ENDS = (((182, 124), (176, 110)), ((268, 123), (273, 108)))


@dataclass(frozen=True)
class Sample:
    """An occluded photo with its clean reference and the exact mask of what was drawn."""

    image: np.ndarray        # HxWx3 uint8 RGB, with the occlusion
    reference: np.ndarray    # HxWx3 uint8 RGB, the clean photo
    true_mask: np.ndarray    # HxW uint8, 255 where the occlusion was drawn
    name: str


def load_sample(occluder: str = "face-mask") -> Sample:
    """Build the sample (same pixels every time): the astronaut wearing a drawn "face-mask" or "sunglasses"."""
    reference = _astronaut()
    if occluder == "sunglasses":
        lens_mask, frame_mask = _sunglasses_masks(reference.shape[:2])
        image = _paint_sunglasses(reference, lens_mask, frame_mask)
        true_mask = np.where((lens_mask | frame_mask) > 0, 255, 0).astype(np.uint8)
    elif occluder == "face-mask":
        true_mask = _face_mask_mask(reference.shape[:2])
        image = _paint_face_mask(reference, true_mask)
    else:
        raise ValueError(f"unknown sample occluder {occluder!r}: use 'face-mask' or 'sunglasses'")
    return Sample(image=image, reference=reference, true_mask=true_mask, name=f"astronaut-{occluder}")


def _face_mask_mask(shape: tuple[int, int]) -> np.ndarray:
    """HxW uint8 (255 = mask): the mask body plus its ear straps."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.array(_FACE_MASK_OUTLINE, np.int32)], 255, lineType=cv2.LINE_8)
    for start, end in _STRAP_ENDS:
        cv2.line(mask, start, end, 255, thickness=2, lineType=cv2.LINE_8)
    return mask


def _paint_face_mask(reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A pale blue surgical mask: three horizontal pleats, shaded towards the jaw, white straps."""
    height, width = mask.shape
    ys = np.mgrid[0:height, 0:width][0].astype(np.float32)
    top, bottom = 110.0, 179.0
    depth = np.clip((ys - top) / (bottom - top), 0.0, 1.0)
    colour = np.array([168, 206, 228], np.float32)[None, None, :] * (1.0 - 0.25 * depth[..., None])
    for pleat in (128.0, 142.0, 156.0):  # soft dark lines where the fabric folds
        colour *= (1.0 - 0.18 * np.exp(-((ys - pleat) ** 2) / 3.0))[..., None]
    image = reference.copy()
    inside = mask > 0
    image[inside] = np.clip(colour[inside], 0, 255).astype(np.uint8)
    for start, end in _STRAP_ENDS:
        cv2.line(image, start, end, (236, 238, 240), thickness=2, lineType=cv2.LINE_8)
    return image


def _astronaut() -> np.ndarray:
    """scikit-image's astronaut photo, 512x512x3 uint8 RGB.

    Read straight from the file scikit-image ships: `skimage.data.astronaut()` gives the same pixels but
    spends over a second importing image I/O plugins, which the editor's first start cannot afford.
    """
    from importlib.resources import files

    shipped = files("skimage.data") / "astronaut.png"
    if shipped.is_file():
        pixels = cv2.imdecode(np.frombuffer(shipped.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        if pixels is not None:
            return np.ascontiguousarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB))
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, :3])


def _sunglasses_masks(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Binary masks (uint8 0/1) of the two lenses and of the frame (rims, bridge, temples)."""
    lens = np.zeros(shape, np.uint8)
    frame = np.zeros(shape, np.uint8)
    angle = float(np.degrees(np.arctan2(_RIGHT_EYE[1] - _LEFT_EYE[1], _RIGHT_EYE[0] - _LEFT_EYE[0])))
    centres = [(round(x), round(y + _LENS_DROP)) for x, y in (_LEFT_EYE, _RIGHT_EYE)]
    for centre in centres:
        cv2.ellipse(lens, centre, _LENS_AXES, angle, 0, 360, 1, thickness=-1, lineType=cv2.LINE_8)
        cv2.ellipse(frame, centre, _LENS_AXES, angle, 0, 360, 1, thickness=3, lineType=cv2.LINE_8)
    (lx, ly), (rx, ry) = centres
    half_width = _LENS_AXES[0]
    cv2.line(frame, (lx + half_width - 2, ly - 6), (rx - half_width + 2, ry - 6), 1, thickness=3)
    cv2.line(frame, (lx - half_width + 1, ly - 4), _TEMPLE_ENDS[0], 1, thickness=3)
    cv2.line(frame, (rx + half_width - 1, ry - 4), _TEMPLE_ENDS[1], 1, thickness=3)
    return lens, frame


def _paint_sunglasses(reference: np.ndarray, lens: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Dark tinted lenses (lighter towards the bottom, one glint) and a near-black frame."""
    height, width = lens.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    top, bottom = _LEFT_EYE[1] - _LENS_AXES[1], _LEFT_EYE[1] + _LENS_AXES[1] + _LENS_DROP
    gradient = np.clip((ys - top) / (bottom - top), 0.0, 1.0)[..., None]
    tint = np.array([18, 20, 28], np.float32) + gradient * np.array([34, 36, 44], np.float32)
    # a faint trace of the eyes behind the glass keeps the lenses from looking flat
    tint += 0.06 * reference.astype(np.float32)
    glint = np.exp(-(((xs - ys * 0.6) - (_LEFT_EYE[0] - 60.0 - 12.0)) ** 2) / 18.0)
    glint_right = np.exp(-(((xs - ys * 0.6) - (_RIGHT_EYE[0] - 62.0 - 12.0)) ** 2) / 18.0)
    tint += 70.0 * np.maximum(glint, glint_right)[..., None] * (ys < _LEFT_EYE[1] + 2)[..., None]
    image = reference.copy()
    lens_pixels = lens > 0
    image[lens_pixels] = np.clip(tint[lens_pixels], 0, 255).astype(np.uint8)
    image[frame > 0] = (12, 12, 14)
    return image
