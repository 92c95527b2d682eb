"""Hole masks for inpainting land in the requested hole-area range."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.masks import HOLE_AREA_BUCKETS, box_mask, free_form_mask, hole_fraction, mixed_mask

GENERATORS = (free_form_mask, box_mask, mixed_mask)


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.__name__)
@pytest.mark.parametrize("area_range", HOLE_AREA_BUCKETS + ((0.05, 0.45), (0.01, 0.02), (0.6, 0.7)))
def test_masks_hit_the_requested_area(generator, area_range) -> None:
    fractions = []
    for seed in range(25):
        for height, width in ((128, 128), (96, 160)):
            mask = generator(height, width, np.random.default_rng(seed), area_range)
            assert mask.shape == (height, width) and mask.dtype == np.uint8
            assert set(np.unique(mask)) <= {0, 255}
            fractions.append(hole_fraction(mask))
    fractions = np.array(fractions)
    assert np.all((fractions >= area_range[0]) & (fractions <= area_range[1])), (fractions.min(), fractions.max())
    # Spread over the range rather than piled at one end.
    assert fractions.max() - fractions.min() > 0.3 * (area_range[1] - area_range[0])


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.__name__)
def test_masks_are_deterministic_per_seed(generator) -> None:
    first = generator(128, 128, np.random.default_rng(11), (0.15, 0.3))
    again = generator(128, 128, np.random.default_rng(11), (0.15, 0.3))
    other = generator(128, 128, np.random.default_rng(12), (0.15, 0.3))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_shapes_differ_between_generators() -> None:
    # Box holes are rectangles (or unions of a few): each piece fills most of its bounding box;
    # brush strokes wander, so theirs are mostly empty.
    def box_fill(mask: np.ndarray) -> float:
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        boxes = stats[1:, cv2.CC_STAT_WIDTH] * stats[1:, cv2.CC_STAT_HEIGHT]
        return float(areas.sum() / boxes.sum())

    strokes = [box_fill(free_form_mask(128, 128, np.random.default_rng(s), (0.05, 0.15))) for s in range(20)]
    boxes = [box_fill(box_mask(128, 128, np.random.default_rng(s), (0.05, 0.15))) for s in range(20)]
    assert np.median(strokes) < 0.5 < np.median(boxes)


@pytest.mark.parametrize("area_range", [(0.0, 0.2), (0.3, 0.2), (0.5, 1.0)])
def test_invalid_area_range_is_refused(area_range) -> None:
    with pytest.raises(ValueError, match="area_range"):
        mixed_mask(64, 64, np.random.default_rng(0), area_range)
