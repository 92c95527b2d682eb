"""Find a face with dlib and cut the 150 px "face chip" that dlib's ResNet descriptor was trained on.

DeepFace's own detectors frame a face differently in a photo, in a tight crop and in its mirror
image (Haar boxes jitter; neither adds the margin dlib's descriptor expects), which moved the
distance of a face to its own mirror image past the "same person" threshold on UTK faces. dlib's
HOG detector, its 5-point landmarks and `get_face_chip` give the descriptor the framing it was
trained on, whatever the photo: on 16 UTK faces a face against its mirror image, or against itself
pasted into a larger photo, stayed below 0.02 cosine distance, while different people stayed
above 0.08 (the "Dlib" threshold is 0.07).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from facestudio.identity.dlib_models import FIVE_POINT_PREDICTOR, import_dlib, model_file

CHIP_SIZE = 150  # the descriptor's input side
CHIP_PADDING = 0.25  # dlib's default margin around the landmarks for the descriptor
# Detection runs on the photo shrunk to this longer side. Faces of 80 px and more are found there
# directly (~0.05 s on one core); when none is, the detector looks again at twice the size, which
# finds faces down to 40 px (1/16 of the longer side) in ~0.3 s.
DETECT_MAX_SIDE = 640
# Replicated border added before detection, as a fraction of the longer side: a tight crop, whose
# face touches the frame, is found only with some margin around it.
DETECT_BORDER = 0.25
# Landmarks and the chip are taken from a square window this many face sides wide around the face,
# shrunk so that the face is at most LANDMARK_FACE_SIDE px (the chip is 150 px anyway).
WINDOW_FACE_SIDES = 3.0
LANDMARK_FACE_SIDE = 300.0

_BACKEND = "deepface"
_lock = threading.Lock()


@dataclass(frozen=True)
class FaceBox:
    """A face's box in photo pixels (floats; may reach past the photo's edges)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def side(self) -> float:
        return max(self.right - self.left, self.bottom - self.top)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0


def find_face(image: np.ndarray) -> FaceBox | None:
    """The largest face dlib's HOG detector finds in an HxWx3 uint8 RGB image, or None."""
    height, width = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    border = round(DETECT_BORDER * max(small.shape[:2]))
    framed = cv2.copyMakeBorder(np.ascontiguousarray(small), border, border, border, border, cv2.BORDER_REPLICATE)
    detector, _ = _dlib_models()
    with _lock:
        found = detector(framed, 0) or detector(framed, 1)
    if not found:
        return None
    best = max(found, key=lambda rect: rect.area())
    return FaceBox(
        left=(best.left() - border) / scale,
        top=(best.top() - border) / scale,
        right=(best.right() + 1 - border) / scale,
        bottom=(best.bottom() + 1 - border) / scale,
    )


def face_chip(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """The CHIP_SIZE x CHIP_SIZE x 3 uint8 RGB chip of the face in `box`, aligned by its 5 landmarks."""
    window, origin, scale = _window_around(image, box)
    dlib = import_dlib(_BACKEND)
    rect = dlib.rectangle(
        round((box.left - origin[0]) * scale),
        round((box.top - origin[1]) * scale),
        round((box.right - origin[0]) * scale) - 1,
        round((box.bottom - origin[1]) * scale) - 1,
    )
    _, predictor = _dlib_models()
    with _lock:
        landmarks = predictor(window, rect)
        chip = dlib.get_face_chip(window, landmarks, size=CHIP_SIZE, padding=CHIP_PADDING)
    return np.ascontiguousarray(chip)


def _window_around(image: np.ndarray, box: FaceBox) -> tuple[np.ndarray, tuple[int, int], float]:
    """A square window WINDOW_FACE_SIDES faces wide around `box`, edges replicated where it leaves
    the photo, shrunk so the face is at most LANDMARK_FACE_SIDE px: (window, its top-left corner
    in photo pixels, photo -> window scale)."""
    height, width = image.shape[:2]
    half = WINDOW_FACE_SIDES * box.side / 2.0
    centre_x, centre_y = box.centre
    x0, y0 = int(np.floor(centre_x - half)), int(np.floor(centre_y - half))
    x1, y1 = int(np.ceil(centre_x + half)), int(np.ceil(centre_y + half))
    inside = image[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)]
    scale = min(1.0, LANDMARK_FACE_SIDE / max(box.side, 1.0))
    if scale < 1.0:
        inside = cv2.resize(inside, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    margins = [round(max(0, edge) * scale) for edge in (-y0, y1 - height, -x0, x1 - width)]
    window = cv2.copyMakeBorder(np.ascontiguousarray(inside), *margins, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(window), (x0, y0), scale


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any]:
    """dlib's HOG face detector and 5-point landmark predictor, loaded once."""
    dlib = import_dlib(_BACKEND)
    predictor = dlib.shape_predictor(str(model_file(FIVE_POINT_PREDICTOR, _BACKEND)))
    return dlib.get_frontal_face_detector(), predictor
