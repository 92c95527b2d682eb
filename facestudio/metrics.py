"""Image and mask quality measures for evaluating fills against a clean reference.

Images are HxWx3 (or HxW) uint8; masks HxW with nonzero = hole. "In the hole" variants average
over hole pixels only, which is what matters for inpainting: whole-image scores are dominated by
the untouched outside. A measure over an empty region is NaN (undefined), except IoU and Dice of
two empty masks, which agree perfectly (1.0).
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

DATA_RANGE = 255.0


def psnr(result: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical pixels), over the image or the hole."""
    _check_same_shape(result, reference)
    if mask is None:
        if np.array_equal(result, reference):
            return math.inf
        return float(peak_signal_noise_ratio(reference, result, data_range=DATA_RANGE))
    error = _masked_squared_error(result, reference, mask)
    if error is None:
        return math.nan
    return math.inf if error == 0 else float(10.0 * math.log10(DATA_RANGE**2 / error))


def mse(result: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error in 0..255 units, over the image or the hole."""
    _check_same_shape(result, reference)
    if mask is None:
        return float(mean_squared_error(reference.astype(np.float64), result.astype(np.float64)))
    error = _masked_squared_error(result, reference, mask)
    return math.nan if error is None else error


def ssim(result: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Structural similarity (scikit-image, uniform 7x7 windows) over the image or, with
    a mask, the SSIM map averaged over hole pixels."""
    _check_same_shape(result, reference)
    if mask is not None and not np.any(mask):
        return math.nan
    smallest = min(result.shape[:2])
    window = min(7, smallest if smallest % 2 else smallest - 1)
    if window < 3:
        return math.nan
    channel_axis = 2 if result.ndim == 3 else None
    score, ssim_map = structural_similarity(
        reference, result, data_range=DATA_RANGE, channel_axis=channel_axis, win_size=window, full=True
    )
    if mask is None:
        return float(score)
    per_pixel = ssim_map.mean(axis=2) if ssim_map.ndim == 3 else ssim_map
    return float(per_pixel[np.asarray(mask) > 0].mean())


def l1(result: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute difference on a 0..1 scale, over the image or the hole."""
    _check_same_shape(result, reference)
    difference = np.abs(result.astype(np.float64) - reference.astype(np.float64)) / DATA_RANGE
    if mask is None:
        return float(difference.mean())
    hole = np.asarray(mask) > 0
    if not hole.any():
        return math.nan
    return float(difference[hole].mean())


def iou(predicted: np.ndarray, true: np.ndarray) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    _check_same_shape(predicted, true)
    first, second = np.asarray(predicted) > 0, np.asarray(true) > 0
    union = np.count_nonzero(first | second)
    return 1.0 if union == 0 else float(np.count_nonzero(first & second) / union)


def dice(predicted: np.ndarray, true: np.ndarray) -> float:
    """Dice coefficient (F1) of two masks (1.0 when both are empty)."""
    _check_same_shape(predicted, true)
    first, second = np.asarray(predicted) > 0, np.asarray(true) > 0
    total = np.count_nonzero(first) + np.count_nonzero(second)
    return 1.0 if total == 0 else float(2.0 * np.count_nonzero(first & second) / total)


def compare_to_reference(
    result: np.ndarray,
    reference: np.ndarray,
    hole_mask: np.ndarray,
    true_mask: np.ndarray | None = None,
    found_mask: np.ndarray | None = None,
) -> dict[str, float]:
    """Every measure of a fill against its clean reference; mask IoU/Dice when both masks are given."""
    scores = {
        "psnr": psnr(result, reference),
        "ssim": ssim(result, reference),
        "l1": l1(result, reference),
        "psnr_hole": psnr(result, reference, hole_mask),
        "ssim_hole": ssim(result, reference, hole_mask),
        "l1_hole": l1(result, reference, hole_mask),
    }
    if true_mask is not None and found_mask is not None:
        scores["iou"] = iou(found_mask, true_mask)
        scores["dice"] = dice(found_mask, true_mask)
    return scores


def _masked_squared_error(result: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float | None:
    hole = np.asarray(mask) > 0
    if hole.shape != result.shape[:2]:
        raise ValueError(f"mask shape {hole.shape} does not match image shape {result.shape[:2]}")
    if not hole.any():
        return None
    difference = result.astype(np.float64) - reference.astype(np.float64)
    return float((difference[hole] ** 2).mean())


def _check_same_shape(first: np.ndarray, second: np.ndarray) -> None:
    if np.shape(first) != np.shape(second):
        raise ValueError(f"shapes differ: {np.shape(first)} vs {np.shape(second)}")
