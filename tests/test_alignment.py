"""The canonical geometry and the photo <-> crop warps."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio.alignment import (
    BOX_RELATIVE_LANDMARKS,
    CANONICAL_LANDMARKS,
    crop_coverage,
    crop_footprint,
    crop_mask,
    mask_to_photo,
    similarity_scale,
    similarity_to_canonical,
    umeyama_similarity,
    warp_from_crop,
    warp_to_crop,
)
from facestudio.imageio import read_image


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_contract_constants() -> None:
    assert CANONICAL_LANDMARKS.shape == BOX_RELATIVE_LANDMARKS.shape == (5, 2)
    # symmetric about the vertical midline, eyes above nose above mouth
    assert np.allclose(CANONICAL_LANDMARKS[0, 0] + CANONICAL_LANDMARKS[1, 0], 1.0)
    assert CANONICAL_LANDMARKS[0, 1] < CANONICAL_LANDMARKS[2, 1] < CANONICAL_LANDMARKS[3, 1]


@pytest.mark.parametrize("size", [128, 256])
def test_canonical_landmarks_map_to_themselves(size: int) -> None:
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * size, size)
    assert np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-6)


def test_recovers_a_known_similarity() -> None:
    angle, scale, shift = np.deg2rad(23.0), 0.37, np.array([51.0, -12.5])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    truth = np.hstack([scale * rotation, shift[:, None]])
    photo_points = np.array([[10, 20], [200, 35], [90, 160], [30, 240], [180, 250]], np.float64)
    recovered = umeyama_similarity(photo_points, apply(truth, photo_points))
    assert np.allclose(recovered, truth, atol=1e-9)
    assert similarity_scale(recovered) == pytest.approx(scale)


def test_reflection_is_never_returned() -> None:
    mirrored = CANONICAL_LANDMARKS * 100 * np.array([-1, 1]) + 300
    matrix = similarity_to_canonical(mirrored, 128)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_degenerate_landmarks_are_refused() -> None:
    with pytest.raises(ValueError, match="one point"):
        similarity_to_canonical(np.full((5, 2), 7.0), 128)
    with pytest.raises(ValueError, match="5 landmarks"):
        similarity_to_canonical(np.zeros((4, 2)), 128)


def test_integer_translation_round_trip_is_exact(face_paths: list[Path]) -> None:
    photo = read_image(face_paths[0])
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 128 + (40, 30), 128)
    crop = warp_to_crop(photo, matrix, 128)
    assert np.array_equal(crop, photo[30:158, 40:168])
    footprint = crop_footprint(matrix, 128, photo.shape)
    assert footprint == (40, 30, 168, 158)
    x0, y0, x1, y1 = footprint
    assert np.array_equal(warp_from_crop(crop, matrix, footprint), photo[y0:y1, x0:x1])
    assert crop_coverage(matrix, 128, footprint).all()


def test_upscaled_crop_pastes_back_exactly(face_paths: list[Path]) -> None:
    photo = read_image(face_paths[1])
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 64 + (50, 60), 128)  # 2x zoom, grid-aligned
    crop = warp_to_crop(photo, matrix, 128)
    footprint = crop_footprint(matrix, 128, photo.shape)
    x0, y0, x1, y1 = footprint
    covered = crop_coverage(matrix, 128, footprint)
    back = warp_from_crop(crop, matrix, footprint)
    assert covered.sum() > 60 * 60
    assert np.array_equal(back[covered], photo[y0:y1, x0:x1][covered])


def test_rotated_round_trip_is_close_away_from_borders(face_paths: list[Path]) -> None:
    photo = read_image(face_paths[2])
    centre = np.array([100.0, 100.0])
    angle = np.deg2rad(17.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (CANONICAL_LANDMARKS - 0.5) * 150 @ rotation.T + centre
    matrix = similarity_to_canonical(landmarks, 256)  # upsampling crop keeps the detail
    crop = warp_to_crop(photo, matrix, 256)
    footprint = crop_footprint(matrix, 256, photo.shape)
    x0, y0, x1, y1 = footprint
    inner = cv2.erode(crop_coverage(matrix, 256, footprint).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    back = warp_from_crop(crop, matrix, footprint)
    error = np.abs(back.astype(int) - photo[y0:y1, x0:x1])[inner]
    assert inner.sum() > 5000
    assert error.mean() < 2.0 and np.percentile(error, 99) < 20


def test_crop_mask_and_mask_to_photo_round_trip() -> None:
    mask = np.zeros((300, 400), np.uint8)
    cv2.circle(mask, (210, 150), 40, 255, -1)
    landmarks = CANONICAL_LANDMARKS * 160 + (130, 70)
    matrix = similarity_to_canonical(landmarks, 128)
    small = crop_mask(mask, matrix, 128)
    assert set(np.unique(small)) == {0, 255}
    assert abs(np.count_nonzero(small) - np.pi * (40 * 0.8) ** 2) < 0.05 * np.pi * 32**2
    back = mask_to_photo(small, matrix, mask.shape)
    assert np.count_nonzero(back != mask) < 0.03 * np.count_nonzero(mask)
    everything = crop_mask(mask, matrix, 128, threshold=1)
    assert np.count_nonzero(everything) >= np.count_nonzero(small)


def test_crop_outside_the_photo_is_reflected_not_black() -> None:
    photo = np.full((100, 100, 3), 200, np.uint8)
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 128 - 30, 128)  # hangs off the top-left
    assert warp_to_crop(photo, matrix, 128).min() == 200
    assert crop_footprint(matrix, 128, photo.shape) == (0, 0, 98, 98)


def test_large_downscale_is_antialiased() -> None:
    ys, xs = np.mgrid[0:3000, 0:3000]
    checkerboard = (((xs + ys) % 2) * 255).astype(np.uint8)
    matrix = similarity_to_canonical(CANONICAL_LANDMARKS * 2000 + (400.3, 300.7), 128)
    crop = warp_to_crop(checkerboard, matrix, 128)
    assert abs(crop.mean() - 127.5) < 2 and crop.std() < 3  # a naive warp aliases to 0/255 stripes
