"""Carry a reference photo's detail into a generator fill.

The generator paints the hole's shapes and shading from the visible face, but its fills are soft, and a
soft eye is anybody's eye. The reference photo holds this person's own eyelids, brows and lips. Here it
is aligned to the face (an affine fit of its five landmarks onto the face's, inside the canonical crop
both already share), its colours are matched to the skin around the hole (mean and spread in Lab), and
its fine detail in lightness (the grey image minus its Gaussian blur) is added to the fill in the hole. The fill keeps
the face's own light and pose; the reference contributes only what the fill lacks.

Measured on ROF people never trained on (`python -m training.evaluate_reference`): see training/README.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from facestudio.alignment import similarity_to_canonical
from facestudio.face import Face

DETAIL_SIGMA = 3.0 / 128.0  # detail finer than this share of the crop side comes from the reference
RING = 9.0 / 128.0  # colours are matched on a ring this wide (share of the crop side) around the hole
MAX_CONTRAST_GAIN = 1.5  # the reference's contrast may be raised at most this much to match the face's
MAX_STRETCH = 0.25  # a landmark fit that stretches the reference more than this is not used


def crop_landmarks(face: Face, size: int) -> np.ndarray:
    """The face's five landmarks in its canonical `size` px crop."""
    matrix = similarity_to_canonical(face.landmarks, size)
    return np.asarray(face.landmarks, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def aligned_reference(reference_crop: np.ndarray, reference_face: Face, face: Face) -> np.ndarray:
    """The reference's canonical crop warped so its five landmarks land on the face's (least-median affine)."""
    size = reference_crop.shape[0]
    source = crop_landmarks(reference_face, size).astype(np.float32)
    target = crop_landmarks(face, size).astype(np.float32)
    matrix, _ = cv2.estimateAffine2D(source, target, method=cv2.LMEDS)
    if matrix is None or not plausible_warp(matrix):
        return reference_crop  # both crops are in the canonical geometry already
    return cv2.warpAffine(reference_crop, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


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
                         reference_face: Face, face: Face) -> np.ndarray:
    """The generator's `fill` (size x size x 3 float32, [0, 255]) with the reference's fine detail added in
    `hole` (size x size, nonzero = hole) and the pixels around it; `crop` is the face's canonical crop."""
    hole = np.asarray(hole) > 0
    if not hole.any():
        return fill
    reference = match_colours(aligned_reference(reference_crop, reference_face, face), crop, hole)
    # detail in lightness only: a colour photo's reference must not tint a grey photo's fill, nor add colour noise
    lightness = cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = lightness - cv2.GaussianBlur(lightness, (0, 0), DETAIL_SIGMA * crop.shape[0])
    return np.clip(fill + detail[..., None], 0.0, 255.0).astype(np.float32)
