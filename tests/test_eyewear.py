"""Completing the mask of dark lenses the segmenter only outlined (facestudio.eyewear)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio.alignment import CANONICAL_LANDMARKS
from facestudio.eyewear import complete_lenses
from facestudio.faces import Face, face_crop
from facestudio.imageio import read_image


@pytest.fixture(scope="module")
def crop(face_paths: list[Path]) -> np.ndarray:
    """A real face's 128 px canonical crop (the faces of the test set are aligned at their landmarks)."""
    image = read_image(face_paths[0])
    side = image.shape[0]
    face = Face(box=(0, 0, side, side), landmarks=CANONICAL_LANDMARKS * side)
    return face_crop(image, face, 128).image


def glasses(crop: np.ndarray, lens_value: int | None, gap: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`crop` with round glasses drawn over the canonical eyes (frames black; lenses `lens_value` grey,
    or clear), the frames' mask (as a segmenter would mark them, with a `gap` px break) and the lenses."""
    image = crop.copy()
    frames = np.zeros(crop.shape[:2], np.uint8)
    lenses = np.zeros(crop.shape[:2], np.uint8)
    for x, y in (CANONICAL_LANDMARKS[:2] * 128).astype(int):
        cv2.circle(lenses, (int(x), int(y)), 15, 255, -1)
        cv2.circle(frames, (int(x), int(y)), 17, 255, 4)
    cv2.line(frames, (50, 38), (78, 38), 255, 3)
    if gap:
        frames[:, 38 - gap // 2: 38 + (gap + 1) // 2] = 0  # a break in the left lens' frame
    lens = (lenses > 0) & (frames == 0)
    if lens_value is not None:
        image[lens] = lens_value
    image[frames > 0] = 10
    return image, frames > 0, lens


def test_dark_lenses_inside_the_frames_join_the_mask(crop: np.ndarray) -> None:
    image, frames, lens = glasses(crop, lens_value=25)
    completed = complete_lenses(frames, image)
    assert completed[frames].all()  # nothing the segmenter marked is dropped
    assert completed[lens].mean() > 0.98
    assert completed[~frames & ~lens].mean() < 0.01  # and nothing else is added


def test_a_reflection_on_a_dark_lens_does_not_keep_it(crop: np.ndarray) -> None:
    image, frames, lens = glasses(crop, lens_value=25)
    for x, y in (CANONICAL_LANDMARKS[:2] * 128).astype(int):
        cv2.ellipse(image, (int(x) - 4, int(y) - 5), (4, 2), 30, 0, 360, (235, 235, 235), -1)  # a highlight
    assert complete_lenses(frames, image)[lens].mean() > 0.98


def test_a_small_break_in_the_frame_is_bridged(crop: np.ndarray) -> None:
    image, frames, lens = glasses(crop, lens_value=25, gap=3)
    assert complete_lenses(frames, image)[lens].mean() > 0.95


def test_clear_glasses_keep_the_eyes_they_show(crop: np.ndarray) -> None:
    image, frames, lens = glasses(crop, lens_value=None)
    completed = complete_lenses(frames, image)
    assert completed[lens].mean() < 0.05
    assert np.array_equal(complete_lenses(np.zeros_like(frames), image), np.zeros_like(frames))


def test_the_eye_slit_of_a_balaclava_keeps_the_eyes_in_it(crop: np.ndarray) -> None:
    image = crop.copy()
    hood = np.zeros(crop.shape[:2], bool)
    hood[10:118, 8:120] = True
    slit = np.zeros_like(hood)
    slit[30:48, 22:106] = True  # one opening across both eyes
    hood &= ~slit
    image[hood] = (200, 200, 200)
    image[slit] = (image[slit] * 0.3).astype(np.uint8)  # the eyes in the hood's shadow
    completed = complete_lenses(hood, image)
    assert completed[slit].mean() < 0.05  # (closing the frame gaps rounds its corners off, no more)
