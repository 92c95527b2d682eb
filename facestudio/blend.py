"""Put filled pixels into the photo: every hole pixel from a fill, every other pixel untouched.

Two guarantees every caller relies on:
- outside the hole, the result is bit-identical to the input;
- inside the hole, no pixel keeps anything of what was there (the occluder): each one comes from
  a fill, the generator's where a face crop covers it and the base fill (Telea) elsewhere.

Seams are hidden with what lies *inside* the fills, never by mixing the hole's old pixels back:
- the generator's fill is matched to the photo at the hole's edge by a smooth correction (the
  difference between the photo and the generator's own output on a ring of known pixels around
  the hole, interpolated into the hole by a pull-push membrane: Poisson-like, low frequency only);
- where a crop's coverage ends, the generator's fill fades into the base fill over a ramp, and
  where several crops overlap their fills are averaged by coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from facestudio.alignment import Footprint, crop_footprint, similarity_scale, warp_from_crop

# Ramp (in crop px) over which a crop's fill fades into the base fill at the crop's edge.
EDGE_RAMP_CROP_PX = 6.0
# Width (in crop px) of the ring of known pixels around the hole on which the fill is matched.
RING_CROP_PX = 3.0


# A crop whose channels differ by less than this on average (0-255) is a black-and-white photo.
GREY_SPREAD = 2.0


def keep_grey(fill: np.ndarray, crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`fill` (HxWx3 float32) made grey when its crop (HxWx3 uint8) is a black-and-white photo outside
    `hole` (HxW, nonzero = hole): the generator learnt from colour photos and tints the holes it fills in
    grey ones."""
    known = np.asarray(hole) == 0
    if np.count_nonzero(known) < 16:
        return fill
    channels = crop[known].astype(np.int16)
    spread = float(np.abs(channels[:, 0] - channels[:, 1]).mean() + np.abs(channels[:, 1] - channels[:, 2]).mean())
    if spread >= GREY_SPREAD:
        return fill
    luma = fill @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(luma[..., None], 3, axis=2).astype(np.float32)


@dataclass(eq=False)
class CropFill:
    """A face crop's fill: the generator's whole output (size x size x 3 float32 in [0, 255], not
    composited with the known pixels) and the photo -> crop matrix of that crop."""

    pixels: np.ndarray
    matrix: np.ndarray = field(repr=False)

    @property
    def size(self) -> int:
        return int(self.pixels.shape[0])


def grow_mask(mask: np.ndarray, px: int) -> np.ndarray:
    """Dilate an HxW 0/255 mask by a disc of radius `px` (so occluder edges get filled too)."""
    hole = mask > 0
    grown = np.where(hole, 255, 0).astype(np.uint8)
    if px <= 0 or not hole.any():
        return grown
    # Work on the hole's bounding box plus the growth: a small hole in a 100 MP photo stays cheap.
    top, bottom, left, right = _bounding_window(hole, int(np.ceil(px)) + 1)
    window = np.where(hole[top:bottom, left:right], 0, 255).astype(np.uint8)
    distance_to_hole = cv2.distanceTransform(window, cv2.DIST_L2, 5)
    grown[top:bottom, left:right] = np.where(distance_to_hole <= px, 255, 0)
    return grown


def composite_fills(
    image: np.ndarray,
    hole_mask: np.ndarray,
    base_fill: np.ndarray,
    fills: list[CropFill],
    edge_ramp_crop_px: float = EDGE_RAMP_CROP_PX,
    ring_crop_px: float = RING_CROP_PX,
) -> np.ndarray:
    """A copy of `image` (HxWx3 uint8) whose hole pixels (`hole_mask` HxW, 255 = hole) come from the
    crop `fills`, matched to the photo at the hole's edge, and from `base_fill` (HxWx3 uint8, e.g.
    Telea over the whole hole) where no crop covers them; pixels outside the hole are unchanged.
    """
    hole = hole_mask > 0
    result = image.copy()
    if not hole.any():
        return result
    scales = [similarity_scale(fill.matrix) for fill in fills]
    reach = max([ring_crop_px / scale for scale in scales] + [1.0])
    top, bottom, left, right = _bounding_window(hole, int(np.ceil(reach)) + 2)
    window = (left, top, right, bottom)
    hole_w = hole[top:bottom, left:right]
    photo_w = image[top:bottom, left:right].astype(np.float32)
    total = np.zeros(photo_w.shape, np.float32)
    weight = np.zeros(hole_w.shape, np.float32)
    for fill, scale in zip(fills, scales):
        footprint = _intersect(crop_footprint(fill.matrix, fill.size, image.shape), window)
        if footprint is None:
            continue
        x0, y0, x1, y1 = footprint
        rows, cols = slice(y0 - top, y1 - top), slice(x0 - left, x1 - left)
        hole_f = hole_w[rows, cols]
        if not hole_f.any():
            continue
        cover = coverage_weight(fill.matrix, fill.size, footprint, edge_ramp_crop_px)
        patch = warp_from_crop(fill.pixels.astype(np.float32), fill.matrix, footprint)
        patch += boundary_correction(photo_w[rows, cols], patch, hole_f, cover >= 1.0, ring_crop_px / scale)
        total[rows, cols] += cover[..., None] * patch
        weight[rows, cols] += cover
    alpha = np.clip(weight, 0.0, 1.0)[..., None]
    generated = total / np.maximum(weight, 1e-6)[..., None]
    mixed = alpha * generated + (1.0 - alpha) * base_fill[top:bottom, left:right].astype(np.float32)
    filled = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    result[top:bottom, left:right][hole_w] = filled[hole_w]
    return result


def coverage_weight(matrix: np.ndarray, size: int, footprint: Footprint, ramp_crop_px: float) -> np.ndarray:
    """Float32 patch over `footprint`: 1 where the photo pixel maps deeper than `ramp_crop_px` inside
    the crop, falling linearly to 0 at the crop's edge, 0 outside it."""
    x0, y0, x1, y1 = footprint
    inside = np.arange(size, dtype=np.float32) + 0.5
    to_edge = np.minimum(inside, size - inside)
    ramp = np.clip(np.minimum.outer(to_edge, to_edge) / max(ramp_crop_px, 1e-3), 0.0, 1.0).astype(np.float32)
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    inverse[:, 2] -= (x0, y0)
    return cv2.warpAffine(ramp, inverse, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def boundary_correction(
    photo: np.ndarray, fill: np.ndarray, hole: np.ndarray, usable: np.ndarray, ring_px: float
) -> np.ndarray:
    """HxWx3 float32 offset that makes `fill` meet `photo` at the hole's edge.

    The offset is `photo - fill` measured on the known pixels within `ring_px` of the hole (and
    `usable`, i.e. well inside the crop), carried smoothly into the hole by `membrane_fill`: a low
    frequency colour/brightness match that keeps the fill's own detail. Zero where nothing is known.
    """
    known = ~hole & usable
    if not known.any():
        return np.zeros(fill.shape, np.float32)
    distance = cv2.distanceTransform(np.where(hole, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    ring = known & (distance <= max(ring_px, 1.0))
    if not ring.any():
        return np.zeros(fill.shape, np.float32)
    return membrane_fill(photo - fill, ring.astype(np.float32))


def membrane_fill(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """HxWxC float32: `values` where `weight` is 1, a smooth interpolation of them elsewhere.

    Pull-push over a Gaussian pyramid (normalised convolution at every scale, then coarse-to-fine
    filling), a fast stand-in for solving Laplace's equation with the known values as boundary.
    """
    values = values.astype(np.float32)
    weight = np.clip(weight.astype(np.float32), 0.0, 1.0)
    levels = [(values * weight[..., None], weight)]
    while min(levels[-1][1].shape) > 2:
        premultiplied, support = levels[-1]
        levels.append((_as_3d(cv2.pyrDown(premultiplied)), cv2.pyrDown(support)))
    premultiplied, support = levels[-1]
    estimate = premultiplied / np.maximum(support, 1e-6)[..., None]
    for premultiplied, support in reversed(levels[:-1]):
        height, width = support.shape
        coarse = _as_3d(cv2.pyrUp(estimate, dstsize=(width, height)))
        confidence = np.clip(support, 0.0, 1.0)[..., None]
        local = premultiplied / np.maximum(support, 1e-6)[..., None]
        estimate = confidence * local + (1.0 - confidence) * coarse
    return estimate.astype(np.float32)


def _as_3d(array: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of length 1: put it back."""
    return array[..., None] if array.ndim == 2 else array


def _bounding_window(hole: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the hole's bounding box grown by `margin`, clipped to the photo."""
    rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    top, bottom = max(0, rows[0] - margin), min(hole.shape[0], rows[-1] + 1 + margin)
    left, right = max(0, cols[0] - margin), min(hole.shape[1], cols[-1] + 1 + margin)
    return int(top), int(bottom), int(left), int(right)


def _intersect(footprint: Footprint, window: Footprint) -> Footprint | None:
    x0, y0 = max(footprint[0], window[0]), max(footprint[1], window[1])
    x1, y1 = min(footprint[2], window[2]), min(footprint[3], window[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
