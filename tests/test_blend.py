"""Pasting fills back: only inside the hole, feathered inward; mask growth; Telea."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio.alignment import CANONICAL_LANDMARKS, similarity_to_canonical, warp_to_crop
from facestudio.blend import feather_inward, grow_mask, paste_back
from facestudio.classic import telea_inpaint
from facestudio.imageio import read_image


def disc_mask(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre, radius, 255, -1)
    return mask


def test_grow_mask_dilates_by_a_disc() -> None:
    mask = np.zeros((101, 101), np.uint8)
    mask[50, 50] = 255
    grown = grow_mask(mask, 10)
    assert set(np.unique(grown)) == {0, 255}
    assert abs(np.count_nonzero(grown) - np.pi * 10**2) < 0.1 * np.pi * 10**2
    assert grown[50, 60] == 255 and grown[50, 62] == 0
    assert np.array_equal(grow_mask(mask, 0), mask)
    assert not grow_mask(np.zeros_like(mask), 5).any()


def test_grow_mask_near_the_border_matches_a_whole_image_distance_transform() -> None:
    mask = np.zeros((120, 160), np.uint8)
    mask[2:9, 150:158] = 255
    cv2.circle(mask, (40, 100), 6, 255, -1)
    whole = cv2.distanceTransform(np.where(mask > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    assert np.array_equal(grow_mask(mask, 7), np.where(whole <= 7, 255, 0).astype(np.uint8))


def test_feather_is_zero_outside_and_rises_inward() -> None:
    mask = disc_mask((100, 100), (50, 50), 30)
    weight = feather_inward(mask, 6)
    assert weight.dtype == np.float32
    assert (weight[mask == 0] == 0).all()
    assert weight[50, 50] == 1.0
    assert 0 < weight[50, 20] < 0.5  # on the rim
    assert np.array_equal(feather_inward(mask, 0) > 0, mask > 0)


def test_paste_back_changes_only_hole_pixels(face_paths: list[Path]) -> None:
    photo = np.full((400, 500, 3), 60, np.uint8)
    photo[100:300, 150:350] = read_image(face_paths[0])
    angle = np.deg2rad(12)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (CANONICAL_LANDMARKS - 0.5) * 200 @ rotation.T + (250, 200)
    matrix = similarity_to_canonical(landmarks, 128)
    fill = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    hole = disc_mask(photo.shape[:2], (250, 210), 45)
    hole[0:20, 0:20] = 255  # a hole part no crop covers: must stay as it was
    result = paste_back(photo, fill, matrix, hole, feather_px=5)
    assert np.array_equal(result[hole == 0], photo[hole == 0])
    assert np.array_equal(result[0:20, 0:20], photo[0:20, 0:20])
    deep_inside = disc_mask(photo.shape[:2], (250, 210), 35) > 0
    assert (result[deep_inside] != photo[deep_inside]).any(axis=1).mean() > 0.9


def test_paste_back_deep_inside_is_the_crop_itself() -> None:
    photo = np.zeros((256, 256, 3), np.uint8)
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 128 + 64, 128)  # 1:1, integer shift
    fill = np.full((128, 128, 3), 200, np.uint8)
    hole = disc_mask((256, 256), (128, 128), 40)
    result = paste_back(photo, fill, matrix, hole, feather_px=8)
    assert (result[128, 128] == 200).all()
    rim = result[128, 128 - 40]
    assert 0 < int(rim[0]) < 100


def test_paste_back_with_empty_hole_returns_a_copy() -> None:
    photo = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 40 + 5, 128)
    result = paste_back(photo, np.zeros((128, 128, 3), np.uint8), matrix, np.zeros((50, 60), np.uint8))
    assert np.array_equal(result, photo) and result is not photo


def test_telea_fills_a_hole_from_its_surroundings(face_paths: list[Path]) -> None:
    photo = read_image(face_paths[1])
    hole = disc_mask(photo.shape[:2], (100, 120), 12)
    damaged = photo.copy()
    damaged[hole > 0] = (255, 0, 255)
    filled = telea_inpaint(damaged, hole)
    assert np.array_equal(filled[hole == 0], damaged[hole == 0])
    error_filled = np.abs(filled[hole > 0].astype(int) - photo[hole > 0]).mean()
    error_damaged = np.abs(damaged[hole > 0].astype(int) - photo[hole > 0]).mean()
    assert error_filled < 0.25 * error_damaged
    # working on the hole's bounding box gives what OpenCV gives on the whole photo
    assert np.array_equal(filled, cv2.inpaint(damaged, hole, 5, cv2.INPAINT_TELEA))


def test_telea_on_a_flat_image_is_flat_and_rejects_size_mismatch() -> None:
    image = np.full((80, 90, 3), 77, np.uint8)
    hole = disc_mask((80, 90), (45, 40), 15)
    image[hole > 0] = 0
    assert np.abs(telea_inpaint(image, hole).astype(int) - 77).max() <= 4  # Telea's gradient terms wobble a little
    with pytest.raises(ValueError, match="mask is"):
        telea_inpaint(image, hole[:, :10])


def test_warped_crop_blends_back_seamlessly_at_1_to_1(face_paths: list[Path]) -> None:
    """Pasting an unmodified crop back leaves the photo (almost) as it was: no seam, no shift."""
    photo = read_image(face_paths[2])
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 180 + 10, 128)
    crop = warp_to_crop(photo, matrix, 128)
    hole = disc_mask(photo.shape[:2], (100, 100), 50)
    result = paste_back(photo, crop, matrix, hole, feather_px=4)
    assert np.abs(result.astype(int) - photo).mean() < 2.0
