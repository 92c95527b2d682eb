"""Pixel rules of the mask tools: which pixels a brush, lasso or fill touches."""

from __future__ import annotations

import numpy as np

from facestudio.gui import mask_ops


def test_smallest_brush_paints_exactly_the_pixel_under_the_point():
    mask = np.zeros((40, 60), np.uint8)
    rect = mask_ops.paint_segment(mask, (17.3, 9.8), (17.3, 9.8), radius=0.5)
    assert np.argwhere(mask).tolist() == [[9, 17]]
    x, y, w, h = rect
    assert x <= 17 < x + w and y <= 9 < y + h


def test_hard_segment_covers_pixels_whose_centres_are_within_the_radius():
    mask = np.zeros((50, 50), np.uint8)
    mask_ops.paint_segment(mask, (10.5, 20.5), (30.5, 20.5), radius=2.0)
    assert mask[20, 8:33].min() == 255 and mask[20, 7] == 0 and mask[20, 33] == 0
    assert mask[18, 10:31].min() == 255 and mask[22, 10:31].min() == 255
    assert not mask[17].any() and not mask[23].any()
    assert set(np.unique(mask)) == {0, 255}


def test_soft_brush_fades_from_the_centre_and_the_eraser_takes_it_back():
    mask = np.zeros((41, 41), np.uint8)
    mask_ops.paint_segment(mask, (20.5, 20.5), (20.5, 20.5), radius=10.0, hardness=0.0)
    row = mask[20, 20:32].astype(int)
    assert row[0] > 200 and row[-1] == 0
    assert all(a >= b for a, b in zip(row, row[1:]))
    assert 0 < mask[20, 27] < 255
    mask_ops.paint_segment(mask, (20.5, 20.5), (20.5, 20.5), radius=12.0, erase=True)
    assert not mask.any()


def test_lasso_fills_the_pixels_whose_centres_are_inside():
    mask = np.zeros((40, 40), np.uint8)
    rect = mask_ops.fill_polygon(mask, [(10, 10), (20, 10), (20, 20), (10, 20)], 255)
    assert np.count_nonzero(mask) == 100
    assert mask[10:20, 10:20].min() == 255
    assert rect[0] <= 10 and rect[1] <= 10


def test_flood_fill_fills_an_outlined_hole_and_not_the_outside():
    import cv2

    mask = np.zeros((60, 60), np.uint8)
    cv2.circle(mask, (30, 30), 15, 255, thickness=2)
    inside_before = np.count_nonzero(mask == 0)
    rect = mask_ops.flood_fill(mask, (30.2, 30.7), 255)
    assert mask[30, 30] == 255 and mask[2, 2] == 0
    assert rect != mask_ops.EMPTY
    assert np.count_nonzero(mask == 0) < inside_before
    assert mask_ops.flood_fill(mask, (30, 30), 255) == mask_ops.EMPTY  # already that value


def test_grow_shrink_and_invert():
    mask = np.zeros((30, 30), np.uint8)
    mask[10:20, 10:20] = 255
    grown = mask.copy()
    mask_ops.grow(grown, 2)
    assert grown[8, 15] == 255 and grown[7, 15] == 0
    shrunk = mask.copy()
    mask_ops.shrink(shrunk, 2)
    assert shrunk[12, 15] == 255 and shrunk[11, 15] == 0
    inverted = mask.copy()
    mask_ops.invert(inverted)
    assert np.array_equal(inverted, 255 - mask)
    assert mask_ops.area_percent(mask) == 100 * 100 / 900
