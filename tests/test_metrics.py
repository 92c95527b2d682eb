"""Quality measures against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facestudio import metrics


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reference, a result that differs by 10 in the top half only, and the top-half mask."""
    reference = np.random.default_rng(0).integers(20, 230, (32, 32, 3), dtype=np.uint8)
    result = reference.copy()
    result[:16] += 10
    hole = np.zeros((32, 32), np.uint8)
    hole[:16] = 255
    return result, reference, hole


def test_psnr_known_values(pair) -> None:
    result, reference, hole = pair
    # MSE 100 on half the pixels: 50 overall, 100 in the hole
    assert metrics.psnr(result, reference) == pytest.approx(10 * math.log10(255**2 / 50))
    assert metrics.psnr(result, reference, hole) == pytest.approx(10 * math.log10(255**2 / 100))
    assert metrics.psnr(reference, reference) == math.inf
    assert metrics.psnr(result, reference, 255 - hole) == math.inf
    assert metrics.mse(result, reference) == pytest.approx(50)


def test_l1_known_values(pair) -> None:
    result, reference, hole = pair
    assert metrics.l1(result, reference) == pytest.approx(5 / 255)
    assert metrics.l1(result, reference, hole) == pytest.approx(10 / 255)


def test_ssim_identical_is_one_and_hole_is_lower(pair) -> None:
    result, reference, hole = pair
    assert metrics.ssim(reference, reference) == pytest.approx(1.0)
    whole, inside, outside = (
        metrics.ssim(result, reference),
        metrics.ssim(result, reference, hole),
        metrics.ssim(result, reference, 255 - hole),
    )
    assert inside < whole < outside <= 1.0


def test_ssim_of_a_constant_shift_matches_the_formula() -> None:
    """Flat images a and b: SSIM = (2ab + C1) / (a^2 + b^2 + C1) (the structure terms are 1)."""
    a, b = np.full((16, 16), 100, np.uint8), np.full((16, 16), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    assert metrics.ssim(b, a) == pytest.approx(expected, rel=1e-6)


def test_iou_and_dice_known_values() -> None:
    first = np.zeros((10, 10), np.uint8)
    second = np.zeros((10, 10), np.uint8)
    first[:, :6] = 255  # 60 px
    second[:, 4:] = 255  # 60 px, overlap 20
    assert metrics.iou(first, second) == pytest.approx(20 / 100)
    assert metrics.dice(first, second) == pytest.approx(40 / 120)
    empty = np.zeros((10, 10), np.uint8)
    assert metrics.iou(empty, empty) == 1.0 and metrics.dice(empty, empty) == 1.0
    assert metrics.iou(first, empty) == 0.0 and metrics.dice(first, empty) == 0.0


def test_empty_hole_gives_nan_not_an_error(pair) -> None:
    result, reference, _ = pair
    empty = np.zeros((32, 32), np.uint8)
    assert math.isnan(metrics.psnr(result, reference, empty))
    assert math.isnan(metrics.ssim(result, reference, empty))
    assert math.isnan(metrics.l1(result, reference, empty))


def test_shape_mismatch_is_an_error(pair) -> None:
    result, reference, _ = pair
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(result[:10], reference)


def test_compare_to_reference(pair) -> None:
    result, reference, hole = pair
    scores = metrics.compare_to_reference(result, reference, hole)
    assert set(scores) == {"psnr", "ssim", "l1", "psnr_hole", "ssim_hole", "l1_hole"}
    assert scores["psnr_hole"] < scores["psnr"]
    with_masks = metrics.compare_to_reference(result, reference, hole, true_mask=hole, found_mask=hole)
    assert with_masks["iou"] == 1.0 and with_masks["dice"] == 1.0
    assert all(isinstance(value, float) for value in with_masks.values())
