"""Per-case scores of the end-to-end evaluation: one fixed photo against its truth.

Every function takes whole photos (HxWx3 uint8 RGB) and the hole mask the app was given (HxW,
nonzero = hole), so they judge exactly what the user saves. The noisy input is the photo the app
was given: the truth with the hole filled by noise standing in for an occluder, so that whatever
of the occluder survives in the output can be measured (`content_left`).

    scores = score_case(output, noisy, truth, mask)         # dict of the measures below
    score_case(truth, noisy, truth, mask)["content_left"]   # 0.0: nothing of the noise is left
    score_case(noisy, noisy, truth, mask)["content_left"]   # 1.0: the noise is kept whole

Undefined measures (an empty hole, a hole too thin to erode, a flat truth) are NaN, and an exact
fill's PSNR is infinite; summaries decide what to do with them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from facestudio import metrics

SHARPNESS_ERODE_PX = 2  # the hole is shrunk by this much before comparing sharpness: its edge is not the fill
MEASURES = ("psnr_hole", "ssim", "content_left", "sharpness", "outside_changed")


def hole_psnr(output: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) of the output against the truth over the hole's pixels (inf when identical there)."""
    return metrics.psnr(output, truth, mask)


def image_ssim(output: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Whole-image SSIM; with `valid` (HxW bool), the SSIM map averaged over the valid pixels only,
    so a photo's padding (SCUT's white bars) does not count as photo."""
    if valid is None or bool(np.all(valid)):
        return metrics.ssim(output, truth)
    return metrics.ssim(output, truth, valid.astype(np.uint8))


def content_left(output: np.ndarray, noisy: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """How much of the hole's noise survives: the least-squares slope of (output - truth) on
    (noisy - truth) over the hole's pixels and channels, with the truth's own values held fixed
    (a second regressor; each channel centred).

    0 when the output ignores the noise (the truth, or any fill made without the hole's pixels), 1
    when the noise is kept whole. Why the truth is held fixed: (noisy - truth) contains -truth, and
    every fill that misses some of the truth's variation in the hole (a smooth fill over a shaded
    cheek) has an error that also contains -truth, so the plain slope credits it with "kept noise"
    it never saw (OpenCV Telea, which never reads hole pixels, scored ~0.16 that way). Regressing on
    both leaves, by Frisch-Waugh, the slope on the part of (noisy - truth) the truth does not explain:
    the noise itself. NaN when there is no such part (an empty hole, or noise that is -truth + const).
    """
    hole = _hole(mask, truth)
    if not hole.any():
        return math.nan
    base = truth[hole].astype(np.float64)
    x = noisy[hole].astype(np.float64) - base
    y = output[hole].astype(np.float64) - base
    t = base - base.mean(axis=0)
    x -= x.mean(axis=0)
    y -= y.mean(axis=0)
    truth_energy = float((t * t).sum())
    noise = x - (float((x * t).sum()) / truth_energy) * t if truth_energy > 0.0 else x
    spread = float((noise * noise).sum())
    if spread <= 1e-9 * max(float((x * x).sum()), 1e-12):
        return math.nan
    return float((noise * y).sum() / spread)


def sharpness_ratio(
    output: np.ndarray, truth: np.ndarray, mask: np.ndarray, erode_px: int = SHARPNESS_ERODE_PX
) -> float:
    """Mean |Laplacian| (grey, 3x3) of the output over that of the truth inside the hole shrunk by
    `erode_px`: < 1 is a blurrier fill than the photo, > 1 a noisier one (e.g. surviving noise).
    NaN when the shrunk hole is empty or the truth is flat there."""
    hole = _hole(mask, truth).astype(np.uint8)
    if erode_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        # Pixels beyond the photo's edge count as outside the hole: a hole touching the frame shrinks there too.
        hole = cv2.erode(hole, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    inside = hole > 0
    if not inside.any():
        return math.nan
    reference = _laplacian_energy(truth, inside)
    if reference <= 0.0:
        return math.nan
    return _laplacian_energy(output, inside) / reference


def outside_changed(output: np.ndarray, given: np.ndarray, mask: np.ndarray) -> int:
    """Pixels outside the hole where the output differs from the photo the app was given (must be 0:
    the API promises every other pixel back unchanged)."""
    if output.shape != given.shape:
        raise ValueError(f"shapes differ: {output.shape} vs {given.shape}")
    differs = np.any(output != given, axis=2) if output.ndim == 3 else output != given
    return int(np.count_nonzero(differs & (np.asarray(mask) == 0)))


def score_case(
    output: np.ndarray,
    noisy: np.ndarray,
    truth: np.ndarray,
    mask: np.ndarray,
    valid: np.ndarray | None = None,
) -> dict[str, float]:
    """Every image measure of one output (see MEASURES); `valid` limits SSIM to real photo pixels."""
    return {
        "psnr_hole": hole_psnr(output, truth, mask),
        "ssim": image_ssim(output, truth, valid),
        "content_left": content_left(output, noisy, truth, mask),
        "sharpness": sharpness_ratio(output, truth, mask),
        "outside_changed": float(outside_changed(output, noisy, mask)),
    }


def _hole(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    hole = np.asarray(mask) > 0
    if hole.shape != image.shape[:2]:
        raise ValueError(f"mask shape {hole.shape} does not match image shape {image.shape[:2]}")
    return hole


def _laplacian_energy(image: np.ndarray, inside: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    laplacian = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=3)
    return float(np.abs(laplacian[inside]).mean())
