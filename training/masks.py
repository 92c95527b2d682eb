"""Generic hole masks for inpainting training and evaluation, with a controlled hole area.

    mask = mixed_mask(128, 128, rng, area_range=(0.15, 0.30))   # HxW uint8, 255 = hole

Every generator keeps adding shapes (free-form brush strokes in the DeepFill v2 / LaMa style, or
rectangles) until the hole covers a fraction of the image drawn from `area_range`, and never
keeps a shape that would push it past the range's upper end, so the result always lands inside
the range. That is what fills the evaluation's hole-area buckets evenly (`HOLE_AREA_BUCKETS`).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

HOLE_AREA_BUCKETS: tuple[tuple[float, float], ...] = ((0.05, 0.15), (0.15, 0.30), (0.30, 0.45))
DEFAULT_AREA_RANGE = (0.05, 0.45)
MAX_SHAPES = 400

ShapeDrawer = Callable[[np.ndarray, np.random.Generator, float], None]


def free_form_mask(
    height: int, width: int, rng: np.random.Generator, area_range: tuple[float, float] = DEFAULT_AREA_RANGE
) -> np.ndarray:
    """Brush strokes: random walks with round joins and random widths."""
    return _grow_mask(height, width, rng, area_range, (_stroke,))


def box_mask(
    height: int, width: int, rng: np.random.Generator, area_range: tuple[float, float] = DEFAULT_AREA_RANGE
) -> np.ndarray:
    """Axis-aligned rectangles of random aspect ratio (one when the area allows, else a few)."""
    return _grow_mask(height, width, rng, area_range, (_box,))


def mixed_mask(
    height: int, width: int, rng: np.random.Generator, area_range: tuple[float, float] = DEFAULT_AREA_RANGE
) -> np.ndarray:
    """Strokes only, boxes only, or both, at random: the default mask for inpainting training."""
    choice = rng.random()
    drawers: tuple[ShapeDrawer, ...] = (_stroke,) if choice < 0.4 else (_box,) if choice < 0.7 else (_stroke, _box)
    return _grow_mask(height, width, rng, area_range, drawers)


def hole_fraction(mask: np.ndarray) -> float:
    """Fraction of the image that is hole (mask > 0)."""
    return float(np.count_nonzero(mask)) / mask.size


def _check(height: int, width: int, area_range: tuple[float, float]) -> tuple[float, float]:
    low, high = float(area_range[0]), float(area_range[1])
    if not 0.0 < low <= high < 1.0:
        raise ValueError(f"area_range must satisfy 0 < low <= high < 1, got {area_range}")
    if height < 4 or width < 4:
        raise ValueError(f"mask size must be at least 4x4, got {height}x{width}")
    if np.floor(high * height * width) < np.ceil(low * height * width):
        raise ValueError(f"area_range {area_range} holds no whole pixel count of a {height}x{width} mask")
    return low, high


def _grow_mask(
    height: int,
    width: int,
    rng: np.random.Generator,
    area_range: tuple[float, float],
    drawers: tuple[ShapeDrawer, ...],
) -> np.ndarray:
    """Add shapes until the hole fraction reaches a target drawn from the range; a shape that
    would overshoot the range is dropped and the next ones are drawn smaller."""
    low, high = _check(height, width, area_range)
    total = height * width
    target = rng.uniform(low, high)
    mask = np.zeros((height, width), np.uint8)
    scale = 1.0
    area = 0
    for _ in range(MAX_SHAPES):
        candidate = mask.copy()
        drawers[int(rng.integers(len(drawers)))](candidate, rng, scale)
        candidate_area = np.count_nonzero(candidate)
        if candidate_area > high * total:
            scale *= 0.7  # too big a step: smaller shapes from now on
            continue
        mask, area = candidate, candidate_area
        if area >= target * total:
            break
    if area < low * total:  # only when shapes kept overshooting: grow pixel rings instead
        mask = _dilate_into_range(mask, low * total, high * total, rng)
    return mask


def _dilate_into_range(mask: np.ndarray, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    if not mask.any():
        mask[rng.integers(mask.shape[0]), rng.integers(mask.shape[1])] = 255
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    while np.count_nonzero(mask) < low:
        grown = cv2.dilate(mask, cross)
        if np.count_nonzero(grown) <= high:
            mask = grown
            continue
        # A whole ring would overshoot: add just enough of its pixels to reach the lower end.
        ring = np.flatnonzero((grown > 0) & (mask == 0))
        needed = int(np.ceil(low - np.count_nonzero(mask)))
        mask.reshape(-1)[ring[:needed]] = 255
    return mask


def _stroke(mask: np.ndarray, rng: np.random.Generator, scale: float) -> None:
    """One free-form brush stroke (DeepFill v2 style): a random walk drawn with a round brush."""
    height, width = mask.shape
    size = min(height, width)
    brush = max(1, int(round(size * rng.uniform(0.03, 0.1) * scale)))
    points = [np.array([rng.uniform(0, width), rng.uniform(0, height)])]
    angle = rng.uniform(0, 2 * np.pi)
    for _ in range(int(rng.integers(2, 8))):
        angle += rng.uniform(-np.pi / 2, np.pi / 2) + (np.pi if rng.random() < 0.2 else 0.0)
        step = size * rng.uniform(0.05, 0.3) * max(scale, 0.3)
        points.append(np.clip(points[-1] + step * np.array([np.cos(angle), np.sin(angle)]), 0, [width - 1, height - 1]))
    cv2.polylines(mask, [np.round(np.array(points)).astype(np.int32).reshape(-1, 1, 2)], False, 255, brush, cv2.LINE_8)


def _box(mask: np.ndarray, rng: np.random.Generator, scale: float) -> None:
    """One axis-aligned rectangle, up to ~40 % of the image at scale 1."""
    height, width = mask.shape
    area = height * width * rng.uniform(0.02, 0.4) * scale * scale
    aspect = np.exp(rng.uniform(np.log(0.4), np.log(2.5)))
    box_width = int(np.clip(round(np.sqrt(area * aspect)), 1, width))
    box_height = int(np.clip(round(area / max(box_width, 1)), 1, height))
    x = int(rng.integers(0, width - box_width + 1))
    y = int(rng.integers(0, height - box_height + 1))
    mask[y : y + box_height, x : x + box_width] = 255
