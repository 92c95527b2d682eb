"""Pixel operations on a mask layer (HxW uint8, 255 = hole), in place, each returning the rectangle it touched.

Kept free of widgets so that tools, menu actions and tests share one exact definition of what a brush
dab or a lasso does to the pixels. Rectangles are (x, y, w, h) tuples in image pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from facestudio.api import grow_mask

Rect = tuple[int, int, int, int]
EMPTY: Rect = (0, 0, 0, 0)


def segment_bounds(shape: tuple[int, ...], p0: tuple[float, float], p1: tuple[float, float], radius: float) -> Rect:
    """The pixels a brush segment of this radius can touch, clipped to the mask."""
    r = brush_radius(radius)
    x0 = max(0, int(np.floor(min(p0[0], p1[0]) - r)))
    y0 = max(0, int(np.floor(min(p0[1], p1[1]) - r)))
    x1 = min(shape[1], int(np.ceil(max(p0[0], p1[0]) + r)) + 1)
    y1 = min(shape[0], int(np.ceil(max(p0[1], p1[1]) + r)) + 1)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else EMPTY


def brush_radius(radius: float) -> float:
    """At least half a pixel's diagonal, so the smallest brush still paints the pixel under the cursor."""
    return max(float(radius), 0.71)


def paint_segment(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float,
                  hardness: float = 1.0, erase: bool = False) -> Rect:
    """Paint (or erase) a round brush dragged from p0 to p1; points are in image pixel units.

    A pixel is covered by its distance from its centre to the segment. Hardness 1 gives a hard edge;
    lower hardness fades the outer part of the radius linearly, and the stroke keeps the stronger
    of old and new values (the weaker for the eraser), so repeated dabs do not accumulate.
    """
    x, y, w, h = segment_bounds(mask.shape, p0, p1, radius)
    if w == 0:
        return EMPTY
    r = brush_radius(radius)
    cy, cx = np.ogrid[y:y + h, x:x + w]
    px, py = cx + 0.5, cy + 0.5
    ax, ay = float(p0[0]), float(p0[1])
    dx, dy = float(p1[0]) - ax, float(p1[1]) - ay
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
        dist = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
    else:
        dist = np.hypot(px - ax, py - ay)
    hardness = float(np.clip(hardness, 0.0, 1.0))
    inner = r * hardness
    if hardness >= 1.0:
        strength = np.where(dist <= r, 255, 0).astype(np.uint8)
    else:
        strength = (np.clip((r - dist) / max(r - inner, 1e-6), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    region = mask[y:y + h, x:x + w]
    if erase:
        np.minimum(region, 255 - strength, out=region)
    else:
        np.maximum(region, strength, out=region)
    return (x, y, w, h)


def fill_rect(mask: np.ndarray, rect: Rect, value: int) -> Rect:
    x, y, w, h = clip_rect(mask.shape, rect)
    mask[y:y + h, x:x + w] = value
    return (x, y, w, h)


def fill_polygon(mask: np.ndarray, points: list[tuple[float, float]], value: int) -> Rect:
    """Fill a closed polygon (lasso); pixels whose centre lies inside are set to `value`."""
    if len(points) < 3:
        return EMPTY
    pts = np.asarray(points, np.float64)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 1
    x, y, w, h = clip_rect(mask.shape, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
    if w == 0:
        return EMPTY
    from skimage.draw import polygon

    # skimage puts pixel (r, c)'s centre at integer (r, c); ours is at (x + 0.5, y + 0.5)
    rows, cols = polygon(pts[:, 1] - y - 0.5, pts[:, 0] - x - 0.5, shape=(h, w))
    mask[y + rows, x + cols] = value
    return (x, y, w, h)


def flood_fill(mask: np.ndarray, point: tuple[float, float], value: int) -> Rect:
    """Set the 4-connected region of equal mask values under `point` to `value` (fills an outlined hole)."""
    px, py = int(np.floor(point[0])), int(np.floor(point[1]))
    if not (0 <= px < mask.shape[1] and 0 <= py < mask.shape[0]) or mask[py, px] == value:
        return EMPTY
    _, _, _, rect = cv2.floodFill(mask, None, (px, py), int(value), loDiff=0, upDiff=0, flags=4)
    return tuple(int(v) for v in rect)  # type: ignore[return-value]


def invert(mask: np.ndarray) -> None:
    np.subtract(255, mask, out=mask)


def grow(mask: np.ndarray, pixels: int) -> None:
    """Grow the hole by `pixels` (a disc), e.g. to cover an occluder's soft edge before inpainting.

    The engine's own growth (`grow_mask`, what auto_fix applies), so Grow in the editor and the automatic
    fix widen a hole alike; like the engine, it counts every nonzero pixel as hole and leaves 0 or 255.
    """
    mask[...] = grow_mask(mask, pixels)


def shrink(mask: np.ndarray, pixels: int) -> None:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    mask[...] = cv2.erode(mask, kernel)


def clip_rect(shape: tuple[int, ...], rect: Rect) -> Rect:
    x, y, w, h = rect
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(shape[1], x + w), min(shape[0], y + h)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else EMPTY


def area_percent(mask: np.ndarray) -> float:
    """Share of the photo marked as hole (values >= 128), in percent."""
    return float(np.count_nonzero(mask >= 128)) * 100.0 / max(1, mask.size)
