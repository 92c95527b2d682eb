"""Faces in a photo: detection, the choice of detector, and the aligned square crop each model works on.

A detector is anything with `detect(image) -> list[Face]` (the `FaceDetector` protocol). Two ship:
the learned one (`facestudio.detection.LearnedFaceDetector`, weights `detector.pt`), which also finds
occluded faces, and OpenCV's Haar cascade here, which needs no weights. `build_face_detector` picks
one by name ("auto": the learned one when its weights are there, else Haar). A face known only by
its box (a Haar box, one a person drew) gets its five landmarks estimated from the box. The
lower-level steps that get no face (segment, embed, inpaint) take the whole photo as one
already-aligned face crop (`whole_image_face`), which is what a tight face photo (UTK, CelebA) is.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from facestudio.alignment import CANONICAL_LANDMARKS, similarity_to_canonical, warp_to_crop
from facestudio.face import Box, Face, landmarks_from_box  # apart, so detection.py makes Faces without this module

DETECTOR_CHOICES = ("auto", "learned", "haar")
DETECTOR_WEIGHTS = "detector.pt"  # the learned detector's checkpoint, in the weights folder


@dataclass(eq=False)
class FaceCrop:
    """An aligned square crop of a face and the photo -> crop similarity that made it."""

    image: np.ndarray  # size x size x 3 uint8 RGB
    matrix: np.ndarray = field(repr=False)  # 2x3 float64, photo px -> crop px
    size: int


@runtime_checkable
class FaceDetector(Protocol):
    """What the pipeline needs from a face detector."""

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 uint8 RGB image, best first."""
        ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, with landmarks estimated from the box.

    Weight-free, but it misses many occluded faces (face masks hide the mouth and nose features
    the cascade looks for; about 4 in 10 of the real masked faces in shared/data), profiles and
    small faces; issue 4's learned detector replaces it. The photo is edge-padded so faces cut
    by the frame are found too; their boxes may reach outside the photo. Photos are searched with
    their longest side (padding included) at most `max_side`, so in large photos the smallest
    face found is about 24 px at that scale (about 130 px in a 4000 px photo).
    """

    def __init__(
        self,
        min_size: int = 40,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        max_side: int = 1024,
        overlap_iou: float = 0.3,
        pad_fraction: float = 0.2,
    ) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"{path}: OpenCV Haar cascade missing (needs an OpenCV 4.x wheel)")
        self.min_size = min_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side
        self.overlap_iou = overlap_iou
        self.pad_fraction = pad_fraction
        self._lock = threading.Lock()  # one CascadeClassifier is not safe to share across threads

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 uint8 RGB image, highest cascade score first."""
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        # Edge-replicated padding lets the cascade's window fit faces that touch the frame
        # (tight face photos): on UTK crops it lifts detection from ~60 % to ~97 %.
        pad = int(round(self.pad_fraction * max(gray.shape[:2])))
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        factor = min(1.0, self.max_side / max(gray.shape[:2]))
        if factor < 1.0:
            gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        min_side = max(24, int(round(self.min_size * factor)))  # 24 px: the cascade's own window
        with self._lock:
            boxes, _, weights = self._cascade.detectMultiScale3(
                gray,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(min_side, min_side),
                outputRejectLevels=True,
            )
        if len(boxes) == 0:
            return []
        scores = np.asarray(weights, dtype=np.float64).reshape(-1)
        boxes_px = np.round(np.asarray(boxes, dtype=np.float64) / factor).astype(int)
        boxes_px[:, :2] -= pad
        keep = _suppress_overlaps(boxes_px, scores, self.overlap_iou)
        return [
            Face(box=tuple(boxes_px[i]), landmarks=landmarks_from_box(boxes_px[i]), score=scores[i], source="haar")
            for i in keep
        ]


def check_detector_choice(choice: str) -> str:
    """`choice` itself when it names a detector; ValueError saying the choices otherwise."""
    if choice not in DETECTOR_CHOICES:
        raise ValueError(f"unknown face detector {choice!r}: use one of {', '.join(DETECTOR_CHOICES)}")
    return choice


def detector_name(choice: str, weights_dir: str | os.PathLike[str]) -> str:
    """Which detector a choice means: "learned" or "haar" ("auto": learned when `detector.pt` is there)."""
    if check_detector_choice(choice) == "auto":
        return "learned" if (Path(weights_dir) / DETECTOR_WEIGHTS).is_file() else "haar"
    return choice


def build_face_detector(choice: str, weights_dir: str | os.PathLike[str], device: str = "cpu") -> FaceDetector:
    """The face detector `choice` names ("auto", "learned", "haar"), ready to run on `device`.

    The learned one loads `<weights_dir>/detector.pt` now (torch is imported only then); a missing or
    bad file raises facestudio.models.checkpoint.CheckpointError naming it.
    """
    if detector_name(choice, weights_dir) == "haar":
        return HaarFaceDetector()
    from facestudio.detection import LearnedFaceDetector

    return LearnedFaceDetector(Path(weights_dir) / DETECTOR_WEIGHTS, device)


def whole_image_face(image: np.ndarray) -> Face:
    """The fallback face: the photo itself taken as an aligned crop, padded to a centred square."""
    height, width = image.shape[:2]
    side = max(height, width)
    x, y = (width - side) / 2.0, (height - side) / 2.0
    landmarks = CANONICAL_LANDMARKS * side + np.float32([x, y])
    return Face(box=(int(round(x)), int(round(y)), side, side), landmarks=landmarks, score=0.0, source="whole-image")


def face_crop(image: np.ndarray, face: Face, size: int, border: int = cv2.BORDER_REFLECT) -> FaceCrop:
    """The aligned `size` px crop of `face` in an HxWx3 photo."""
    matrix = similarity_to_canonical(face.landmarks, size)
    return FaceCrop(image=warp_to_crop(image, matrix, size, border=border), matrix=matrix, size=size)


def box_iou(first: Box | np.ndarray, second: Box | np.ndarray) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = (float(v) for v in first)
    bx, by, bw, bh = (float(v) for v in second)
    overlap_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    overlap_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    overlap = overlap_w * overlap_h
    union = aw * ah + bw * bh - overlap
    return overlap / union if union > 0 else 0.0


def _suppress_overlaps(boxes: np.ndarray, scores: np.ndarray, max_iou: float) -> list[int]:
    """Indices of boxes kept by greedy non-maximum suppression, best score first.

    A box mostly inside a better one (a second detection of the same face at another scale)
    is dropped too, even when their IoU is small.
    """
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(
            box_iou(boxes[index], boxes[other]) <= max_iou and _inside_fraction(boxes[index], boxes[other]) < 0.7
            for other in kept
        ):
            kept.append(int(index))
    return kept


def _inside_fraction(inner: np.ndarray, outer: np.ndarray) -> float:
    """Fraction of `inner`'s area that lies inside `outer`."""
    ix, iy, iw, ih = (float(v) for v in inner)
    ox, oy, ow, oh = (float(v) for v in outer)
    overlap_w = max(0.0, min(ix + iw, ox + ow) - max(ix, ox))
    overlap_h = max(0.0, min(iy + ih, oy + oh) - max(iy, oy))
    return overlap_w * overlap_h / (iw * ih) if iw * ih > 0 else 0.0


# --------------------------------------------------------------------------------------------- tight crops
# A photo in which the detector finds no face is taken for a tight face crop (one face filling it) only when it is
# smaller than the smallest camera frame (640x480) and near-square, as face crops are (UTK 200 px, CelebA 26-156,
# AAF ~300, SCUT 320, the real masked crops of shared/data 25-563, ROF <= 256, a 400x300 stretched face), and the
# learned detector saw a face-sized weak candidate in it (score >= its WEAK_FACE_THRESHOLD, 0.05; side >= 0.2 of
# the photo's shorter side). Measured with the shipped detector on what benchmarks/detect_tight.py draws (25
# held-out faces per source in four framings, 120 photos of each real folder): all 111 crops it missed held such
# a candidate, against 8 of 59 face-free 256 px photos (41 of 59 held a weaker or smaller one); a candidate whose
# box overlaps the frame (IoU >= 0.3) was there in 1 of 3 missed crops, but also in 3 / 2 of 25 face-free
# 1280x960 / 640x480 scenes (scores up to 0.27), so scenes are never taken for crops: NoFaceError there.
TIGHT_CROP_MAX_SIDE = 600
TIGHT_CROP_MAX_ASPECT = 1.5  # longest side over shortest
TIGHT_CROP_MIN_FACE = 0.2  # a weak candidate counts when its side is at least this share of the shorter side
TIGHT_CROP_FRAME_IOU = 0.3  # a weak candidate whose box overlaps the whole photo this much is its face


def looks_like_tight_crop(shape: tuple[int, ...]) -> bool:
    """Whether a photo of this shape (H, W, ...) may be a tight face crop: small and near-square."""
    longest, shortest = max(shape[:2]), min(shape[:2])
    return 0 < longest <= TIGHT_CROP_MAX_SIDE and longest <= TIGHT_CROP_MAX_ASPECT * shortest


def tight_crop_face(image: np.ndarray, detector: FaceDetector) -> Face | None:
    """The face of a tight face crop in which `detector` found none, or None.

    Only small near-square photos qualify (`looks_like_tight_crop`), and only with a detector that reports weak
    candidates (`weak_faces`: the learned one; Haar has none, so with it nothing changes). The face is the best
    weak candidate whose box covers the photo (it keeps the detector's landmarks; source "<detector>-tight-crop"),
    else, when some face-sized weak candidate shows there is a face-like thing at all, the whole photo taken as
    an aligned face crop (`whole_image_face`, source "tight-crop"). A photo without one (a flat or textured
    picture with no face-sized candidate) gets None. A wrong guess costs a repaint of what the segmenter believes
    occludes the guessed face, which is why scenes (large or wide photos) always get None, and the caller asks
    for a face box.
    """
    weak_faces = getattr(detector, "weak_faces", None)
    if not callable(weak_faces) or not looks_like_tight_crop(image.shape):
        return None
    height, width = image.shape[:2]
    candidates = [face for face in weak_faces(image) if face.box[2] >= TIGHT_CROP_MIN_FACE * min(height, width)]
    if not candidates:
        return None
    covering = [face for face in candidates if box_iou(face.box, (0, 0, width, height)) >= TIGHT_CROP_FRAME_IOU]
    if covering:
        face = max(covering, key=lambda candidate: candidate.score)
        face.source = f"{face.source}-tight-crop"
        return face
    face = whole_image_face(image)
    face.source = "tight-crop"
    return face


def find_faces(detector: FaceDetector, image: np.ndarray) -> list[Face]:
    """`detector`'s faces in `image`; when it finds none, the tight-crop fallback's face (`tight_crop_face`), if any."""
    faces = detector.detect(image)
    if faces:
        return faces
    face = tight_crop_face(image, detector)
    return [face] if face is not None else []
