"""Put generated pixels into the photo without touching anything outside the hole.

The guarantee every caller relies on: a pixel outside the hole mask is bit-identical to the
input. Seams are hidden by feathering *inward*: the blend weight rises from the hole's edge to 1
over `feather_px` pixels inside it, and is exactly 0 outside.
"""

from __future__ import annotations

import cv2
import numpy as np

from facestudio.alignment import crop_coverage, crop_footprint, warp_from_crop


def grow_mask(mask: np.ndarray, px: int) -> np.ndarray:
    """Dilate an HxW 0/255 mask by a disc of radius `px` (so occluder edges get filled too)."""
    hole = mask > 0
    grown = np.where(hole, 255, 0).astype(np.uint8)
    if px <= 0 or not hole.any():
        return grown
    # Work on the hole's bounding box plus the growth: a small hole in a 100 MP photo stays cheap.
    rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    reach = int(np.ceil(px)) + 1
    top, bottom = max(0, rows[0] - reach), min(hole.shape[0], rows[-1] + 1 + reach)
    left, right = max(0, cols[0] - reach), min(hole.shape[1], cols[-1] + 1 + reach)
    window = np.where(hole[top:bottom, left:right], 0, 255).astype(np.uint8)
    distance_to_hole = cv2.distanceTransform(window, cv2.DIST_L2, 5)
    grown[top:bottom, left:right] = np.where(distance_to_hole <= px, 255, 0)
    return grown


def feather_inward(mask: np.ndarray, feather_px: float) -> np.ndarray:
    """HxW float32 blend weight: 0 outside the hole, rising from 1/feather_px at its edge to 1
    at `feather_px` pixels inside; a plain 0/1 step when `feather_px` <= 1."""
    hole = mask > 0
    if feather_px <= 1:
        return hole.astype(np.float32)
    distance_to_keep = cv2.distanceTransform(np.where(hole, 255, 0).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(distance_to_keep / float(feather_px), 0.0, 1.0).astype(np.float32) * hole


def paste_back(
    image: np.ndarray,
    crop_result: np.ndarray,
    matrix: np.ndarray,
    hole_mask: np.ndarray,
    feather_px: float = 4.0,
) -> np.ndarray:
    """A copy of `image` (HxWx3 uint8) with the filled crop warped back and blended in, only
    inside `hole_mask` (HxW, 255 = hole) and only where the crop covers the photo.

    `crop_result` is the size x size x 3 uint8 crop made with the photo -> crop `matrix`.
    """
    result = image.copy()
    size = crop_result.shape[0]
    x0, y0, x1, y1 = crop_footprint(matrix, size, image.shape)
    if x1 <= x0 or y1 <= y0:
        return result
    hole = hole_mask[y0:y1, x0:x1] > 0
    if not hole.any():
        return result

    weight = _feather_window(hole_mask, (x0, y0, x1, y1), feather_px)
    weight *= crop_coverage(matrix, size, (x0, y0, x1, y1))
    patch = warp_from_crop(crop_result, matrix, (x0, y0, x1, y1)).astype(np.float32)
    region = image[y0:y1, x0:x1]
    alpha = weight[..., None]
    blended = np.rint(region.astype(np.float32) * (1.0 - alpha) + patch * alpha).astype(np.uint8)
    result[y0:y1, x0:x1] = np.where((hole & (weight > 0))[..., None], blended, region)
    return result


def _feather_window(hole_mask: np.ndarray, footprint: tuple[int, int, int, int], feather_px: float) -> np.ndarray:
    """`feather_inward` over the footprint only, reading just the margin the distances need."""
    x0, y0, x1, y1 = footprint
    height, width = hole_mask.shape[:2]
    margin = int(np.ceil(max(feather_px, 1.0))) + 2
    left, top = max(0, x0 - margin), max(0, y0 - margin)
    right, bottom = min(width, x1 + margin), min(height, y1 + margin)
    weight = feather_inward(hole_mask[top:bottom, left:right], feather_px)
    return weight[y0 - top : y1 - top, x0 - left : x1 - left].copy()
