"""Compositing fills into the photo: nothing of the hole kept, nothing outside changed; mask growth; Telea."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio.alignment import CANONICAL_LANDMARKS, similarity_to_canonical, warp_to_crop
from facestudio.blend import CropFill, composite_fills, coverage_weight, grow_mask, membrane_fill
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


def noise_slope(result: np.ndarray, truth: np.ndarray, damaged: np.ndarray, hole: np.ndarray) -> float:
    """Least-squares slope of (result - truth) on the hole's old pixels: 0 when none of them survives."""
    error = (result.astype(np.float64) - truth)[hole].ravel()
    old = damaged.astype(np.float64)[hole].ravel()
    old, error = old - old.mean(), error - error.mean()
    return float((error * old).sum() / (old * old).sum())


def rotated_crop_matrix(centre: tuple[float, float], side: float, degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (CANONICAL_LANDMARKS - 0.5) * side @ rotation.T + centre
    return similarity_to_canonical(landmarks, 128)


def crop_fill_of(photo: np.ndarray, matrix: np.ndarray, offset: float = 0.0) -> CropFill:
    """A 'generator output' that reproduces the photo's crop, shifted in brightness by `offset`."""
    return CropFill(warp_to_crop(photo, matrix, 128).astype(np.float32) + offset, matrix)


@pytest.mark.parametrize("hole_at", ["inside", "crop edge", "photo edge"])
def test_composite_keeps_nothing_of_the_hole(face_paths: list[Path], hole_at: str) -> None:
    """Noise in the hole never comes back, wherever the hole lies; outside it nothing changes."""
    truth = np.full((300, 360, 3), 90, np.uint8)
    truth[50:250, 80:280] = read_image(face_paths[0])
    matrix = rotated_crop_matrix((180, 150), 150, 10)
    centre = {"inside": (180, 150), "crop edge": (180 + 95, 150), "photo edge": (355, 290)}[hole_at]
    hole = disc_mask(truth.shape[:2], centre, 40)
    rng = np.random.default_rng(1)
    damaged = truth.copy()
    damaged[hole > 0] = rng.integers(0, 256, (np.count_nonzero(hole), 3))
    base = telea_inpaint(damaged, hole)
    fill = CropFill(warp_to_crop(truth, matrix, 128).astype(np.float32) * 0.9 + 10, matrix)
    result = composite_fills(damaged, hole, base, [fill])
    inside = hole > 0
    assert np.array_equal(result[~inside], damaged[~inside])
    assert abs(noise_slope(result, truth, damaged, inside)) <= 0.005
    assert (result[inside] != damaged[inside]).any(axis=1).all()


def test_hole_no_crop_covers_is_the_base_fill(face_paths: list[Path]) -> None:
    photo = np.full((300, 360, 3), 90, np.uint8)
    photo[50:250, 80:280] = read_image(face_paths[0])
    matrix = rotated_crop_matrix((180, 150), 120, 0)
    hole = np.zeros(photo.shape[:2], np.uint8)
    hole[0:20, 0:20] = 255
    hole[140:160, 170:190] = 255
    base = np.full_like(photo, 7)
    result = composite_fills(photo, hole, base, [crop_fill_of(photo, matrix)])
    assert (result[0:20, 0:20] == 7).all()
    assert (result[140:160, 170:190] != 7).any()


def test_fill_is_matched_to_the_photo_at_the_hole_edge(face_paths: list[Path]) -> None:
    """A fill 40 levels too bright is brought back to the photo's level by the boundary correction,
    and a fill that already matches comes through (almost) unchanged."""
    photo = read_image(face_paths[2])
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 180 + 10, 128)
    hole = disc_mask(photo.shape[:2], (100, 100), 30)
    inside = hole > 0
    base = np.zeros_like(photo)
    bright = composite_fills(photo, hole, base, [crop_fill_of(photo, matrix, offset=40.0)])
    exact = composite_fills(photo, hole, base, [crop_fill_of(photo, matrix)])
    assert np.abs(bright[inside].astype(int) - photo[inside]).mean() < 6.0
    assert np.abs(exact[inside].astype(int) - photo[inside]).mean() < 4.0
    uncorrected = np.clip(crop_fill_of(photo, matrix, 40.0).pixels, 0, 255)
    assert np.abs(warp_to_crop(bright, matrix, 128).astype(int) - uncorrected).mean() > 1.0


def test_fill_fades_into_the_base_where_the_crop_ends() -> None:
    photo = np.full((200, 200, 3), 200, np.uint8)  # the fill matches the photo: no correction
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 128 + 36, 128)  # crop covers x, y in 36..163
    hole = np.zeros((200, 200), np.uint8)
    hole[90:110, 0:200] = 255
    fill = CropFill(np.full((128, 128, 3), 200.0, np.float32), matrix)
    result = composite_fills(photo, hole, np.full_like(photo, 100), [fill])
    row = result[100, :, 0].astype(int)
    assert (row[:30] == 100).all() and (row[170:] == 100).all()
    assert np.all(np.diff(row[30:70]) >= 0) and row[100] == 200  # a ramp, no step
    assert 100 < row[39] < 200


def test_membrane_fill_keeps_known_values_and_interpolates_smoothly() -> None:
    values = np.zeros((64, 64, 1), np.float32)
    weight = np.zeros((64, 64), np.float32)
    values[:, :8], weight[:, :8] = 10.0, 1.0
    values[:, 56:], weight[:, 56:] = 50.0, 1.0
    filled = membrane_fill(values, weight)[..., 0]
    assert np.allclose(filled[:, :8], 10.0) and np.allclose(filled[:, 56:], 50.0)
    middle = filled[32, 8:56]
    assert np.all(np.diff(middle) >= -1e-3) and 20 < middle[24] < 40
    assert np.allclose(membrane_fill(np.full((40, 50, 3), 3.0, np.float32), weight[:40, :50]), 3.0, atol=1e-4)


def test_coverage_weight_is_one_inside_and_ramps_to_zero_at_the_crop_edge() -> None:
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 128 + 36, 128)
    weight = coverage_weight(matrix, 128, (0, 0, 200, 200), 6.0)
    assert weight[100, 100] == pytest.approx(1.0)
    assert weight[10, 10] == 0.0 and weight[100, 195] == 0.0
    assert 0.0 < weight[100, 38] < 1.0


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
