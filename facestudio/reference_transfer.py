"""Carry a reference photo's detail into a generator fill.

The generator paints the hole's shapes and shading from the visible face, but its fills are soft, and a
soft eye is anybody's eye. The reference photo holds this person's own eyelids, brows and lips. Here it
is aligned to the face (an affine fit of its five landmarks onto the face's, inside the canonical crop
both already share), its colours are matched to the skin around the hole (mean and spread in Lab), and
in the hole the fill's lightness detail finer than DETAIL_SIGMA (the grey image minus its Gaussian
blur) is replaced by the reference's. The fill keeps the face's own light, colour and pose; the
reference gives the eyes and mouth their shapes. Where the reference's own face is covered (its
glasses, a hand: the segmenter's mask of it), nothing is taken from it.

Measured on ROF people never trained on (`python -m training.evaluate_reference`): see training/README.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from facestudio.alignment import similarity_to_canonical
from facestudio.face import Face

DETAIL_SIGMA = 10.0 / 128.0  # lightness detail finer than this share of the crop side comes from the reference
RING = 9.0 / 128.0  # colours are matched on a ring this wide (share of the crop side) around the hole
MAX_CONTRAST_GAIN = 1.5  # the reference's contrast may be raised at most this much to match the face's
MAX_STRETCH = 0.25  # a landmark fit that stretches the reference more than this is not used


def crop_landmarks(face: Face, size: int) -> np.ndarray:
    """The face's five landmarks in its canonical `size` px crop."""
    matrix = similarity_to_canonical(face.landmarks, size)
    return np.asarray(face.landmarks, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def reference_warp(reference_face: Face, face: Face, size: int) -> np.ndarray | None:
    """The 2x3 affine taking the reference's `size` px canonical crop onto the face's (its five landmarks
    onto the face's, least median of squares), or None where both crops' canonical geometry is the best
    guess (no fit, or an implausible one)."""
    source = crop_landmarks(reference_face, size).astype(np.float32)
    target = crop_landmarks(face, size).astype(np.float32)
    matrix, _ = cv2.estimateAffine2D(source, target, method=cv2.LMEDS)
    return matrix if matrix is not None and plausible_warp(matrix) else None


def plausible_warp(matrix: np.ndarray, max_stretch: float = MAX_STRETCH) -> bool:
    """Whether an affine between two canonical crops is a small correction (scales within `max_stretch` of
    1), not a landmark fit gone wrong (a face in profile, a landmark off), which would smear the detail."""
    scales = np.linalg.svd(np.asarray(matrix, np.float64)[:, :2], compute_uv=False)
    return bool(scales.min() > 1.0 - max_stretch and scales.max() < 1.0 + max_stretch)


def match_colours(reference: np.ndarray, crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`reference` with each Lab channel's mean and spread on the ring around `hole` made the crop's."""
    side = crop.shape[0]
    width = max(3, int(round(RING * side)) | 1)
    ring = (cv2.dilate(hole.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))) > 0) & ~hole
    if np.count_nonzero(ring) < 16:
        ring = ~hole
        if np.count_nonzero(ring) < 16:
            return reference
    face_lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    reference_lab = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    for channel in range(3):
        wanted, have = face_lab[..., channel][ring], reference_lab[..., channel][ring]
        gain = min(MAX_CONTRAST_GAIN, float(wanted.std()) / (float(have.std()) + 1e-3))
        reference_lab[..., channel] = (reference_lab[..., channel] - have.mean()) * gain + wanted.mean()
    return cv2.cvtColor(np.clip(reference_lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def add_reference_detail(fill: np.ndarray, crop: np.ndarray, hole: np.ndarray, reference_crop: np.ndarray,
                         reference_face: Face, face: Face, reference_occluded: np.ndarray | None = None) -> np.ndarray:
    """The generator's `fill` (size x size x 3 float32, [0, 255]) with its lightness detail in `hole`
    (size x size, nonzero = hole) and around it replaced by the reference's; `crop` is the face's
    canonical crop, `reference_occluded` (size x size bool, in the reference crop) what covers the
    reference's own face: its glasses or hand must not be carried over, so there the fill keeps its own."""
    hole = np.asarray(hole) > 0
    if not hole.any():
        return fill
    size = crop.shape[0]
    matrix = reference_warp(reference_face, face, size)
    warped = reference_crop if matrix is None else cv2.warpAffine(
        reference_crop, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    reference = match_colours(warped, crop, hole)
    sigma = DETAIL_SIGMA * size
    # detail in lightness only: a colour photo's reference must not tint a grey photo's fill, nor add colour noise
    lightness = cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY).astype(np.float32)
    own = cv2.cvtColor(np.clip(fill, 0.0, 255.0).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    change = (lightness - cv2.GaussianBlur(lightness, (0, 0), sigma)) - (own - cv2.GaussianBlur(own, (0, 0), sigma))
    if reference_occluded is not None and np.any(reference_occluded):
        covered = np.asarray(reference_occluded, np.float32)
        if matrix is not None:
            covered = cv2.warpAffine(covered, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
        covered = cv2.GaussianBlur(cv2.dilate(covered, np.ones((3, 3), np.uint8), iterations=max(1, size // 64)),
                                   (0, 0), max(1.0, size / 128.0))
        change *= 1.0 - np.clip(covered, 0.0, 1.0)
    return np.clip(fill + change[..., None], 0.0, 255.0).astype(np.float32)
