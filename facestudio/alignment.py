"""Canonical face geometry and the photo <-> crop warps.

Every model sees a square crop made by a similarity warp (rotation, uniform scale, translation)
that sends five face landmarks to `CANONICAL_LANDMARKS`. The same 2x3 matrix, inverted, puts
crop pixels (masks, generated fills) back into the photo. Coordinates are OpenCV's: pixel
centres at integers, x right, y down; unit landmark coordinates are multiplied by the crop size.

Downscaling warps are anti-aliased: when a warp shrinks by more than 2x, the region it reads is
first reduced with area averaging, so a 3000 px face does not alias into a 128 px crop.
"""

from __future__ import annotations

import cv2
import numpy as np

# Five points: image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner.
CANONICAL_LANDMARKS = np.array(
    [[0.302, 0.301], [0.698, 0.301], [0.500, 0.505], [0.322, 0.691], [0.678, 0.691]], dtype=np.float32
)
# The same points relative to an OpenCV Haar frontalface_default box (x, y, w, h) -> x + u*w, y + v*h.
BOX_RELATIVE_LANDMARKS = np.array(
    [[0.260, 0.322], [0.740, 0.322], [0.500, 0.586], [0.278, 0.800], [0.722, 0.800]], dtype=np.float32
)

Footprint = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in photo pixels


def similarity_to_canonical(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 float64 matrix of the least-squares similarity sending `landmarks` (5x2 photo px) to the
    canonical points of a `size` px crop (closed-form Umeyama, no reflection)."""
    source = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    target = CANONICAL_LANDMARKS.astype(np.float64) * float(size)
    if source.shape != target.shape:
        raise ValueError(f"expected {len(target)} landmarks, got array of shape {np.shape(landmarks)}")
    return umeyama_similarity(source, target)


def umeyama_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2x3) mapping Nx2 `source` points onto Nx2 `target` points."""
    source_mean = source.mean(axis=0)
    target_mean = target.mean(axis=0)
    source_centred = source - source_mean
    target_centred = target - target_mean
    source_variance = float((source_centred**2).sum() / len(source))
    if source_variance < 1e-12:
        raise ValueError("landmarks are all at one point: cannot align the face")
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ reflection @ vt
    scale = float(np.trace(np.diag(singular) @ reflection)) / source_variance
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def similarity_scale(matrix: np.ndarray) -> float:
    """Uniform scale of a 2x3 similarity (crop px per photo px for a photo -> crop matrix)."""
    linear = np.asarray(matrix, dtype=np.float64)[:, :2]
    return float(np.sqrt(abs(np.linalg.det(linear))))


def warp_to_crop(
    image: np.ndarray,
    matrix: np.ndarray,
    size: int,
    border: int = cv2.BORDER_REFLECT,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """The `size` x `size` crop of `image` (HxW or HxWxC) under the photo -> crop `matrix`.

    Parts of the crop outside the photo are filled by `border` (reflection by default, so the
    models never see hard black edges).
    """
    return _warp(image, np.asarray(matrix, dtype=np.float64), (size, size), border, interpolation)


def crop_mask(mask: np.ndarray, matrix: np.ndarray, size: int, threshold: int = 128) -> np.ndarray:
    """The crop of an HxW 0/255 mask: uint8 0/255, 255 where the interpolated value >= `threshold`.

    Outside the photo counts as 0. `threshold=1` keeps every crop pixel the hole touches at all.
    """
    warped = _warp(mask, np.asarray(matrix, dtype=np.float64), (size, size), cv2.BORDER_CONSTANT, cv2.INTER_LINEAR)
    return np.where(warped >= threshold, 255, 0).astype(np.uint8)


def crop_footprint(matrix: np.ndarray, size: int, shape: tuple[int, ...]) -> Footprint:
    """Bounding box (x0, y0, x1, y1) of the crop's area in a photo of `shape`, clipped to it."""
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], dtype=np.float64)
    # Round away float noise so an integer-aligned crop maps to an exact integer footprint.
    mapped = np.round(corners @ inverse[:, :2].T + inverse[:, 2], 6)
    height, width = shape[:2]
    x0 = int(np.clip(np.floor(mapped[:, 0].min()), 0, width))
    y0 = int(np.clip(np.floor(mapped[:, 1].min()), 0, height))
    x1 = int(np.clip(np.ceil(mapped[:, 0].max()) + 1, 0, width))
    y1 = int(np.clip(np.ceil(mapped[:, 1].max()) + 1, 0, height))
    return x0, y0, max(x1, x0), max(y1, y0)


def warp_from_crop(
    crop: np.ndarray,
    matrix: np.ndarray,
    footprint: Footprint,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Warp a crop back into the photo: the patch covering `footprint` (see `crop_footprint`).

    Photo pixels beyond the crop's edge get the nearest crop pixel; use `crop_coverage` to know
    which pixels the crop really covers.
    """
    x0, y0, x1, y1 = footprint
    return _warp(crop, _crop_to_patch(matrix, footprint), (x1 - x0, y1 - y0), cv2.BORDER_REPLICATE, interpolation)


def crop_coverage(matrix: np.ndarray, size: int, footprint: Footprint) -> np.ndarray:
    """Bool patch over `footprint`: True where the photo pixel maps inside the crop's pixel grid."""
    x0, y0, x1, y1 = footprint
    ones = np.full((size, size), 255, dtype=np.uint8)
    warped = cv2.warpAffine(
        ones,
        _crop_to_patch(matrix, footprint),
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return warped == 255


def mask_to_photo(
    mask_crop: np.ndarray, matrix: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None = None
) -> np.ndarray:
    """Put a crop's 0/255 mask into a photo of `shape`: HxW uint8 0/255, 0 outside the crop.

    With `out` (an HxW uint8 mask), the crop's mask is OR-ed into it in place and `out` returned,
    so the masks of many faces build one photo mask without a full-size copy each.
    """
    size = mask_crop.shape[0]
    photo_mask = np.zeros(shape[:2], dtype=np.uint8) if out is None else out
    footprint = crop_footprint(matrix, size, shape)
    x0, y0, x1, y1 = footprint
    if x1 <= x0 or y1 <= y0:
        return photo_mask
    patch = _warp(mask_crop, _crop_to_patch(matrix, footprint), (x1 - x0, y1 - y0), cv2.BORDER_CONSTANT, cv2.INTER_LINEAR)
    photo_mask[y0:y1, x0:x1] |= np.where(patch >= 128, 255, 0).astype(np.uint8)
    return photo_mask


def _crop_to_patch(matrix: np.ndarray, footprint: Footprint) -> np.ndarray:
    """The crop -> patch matrix: the inverse of photo -> crop, shifted to the footprint's origin."""
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    inverse[:, 2] -= (footprint[0], footprint[1])
    return inverse


def _warp(
    source: np.ndarray,
    matrix: np.ndarray,
    out_size: tuple[int, int],
    border: int,
    interpolation: int,
) -> np.ndarray:
    """cv2.warpAffine with area pre-reduction of the region read when the warp shrinks > 2x."""
    scale = similarity_scale(matrix)
    if scale < 0.5 - 1e-6 and interpolation != cv2.INTER_NEAREST:
        source, matrix = _reduce_source(source, matrix, out_size, scale)
    return cv2.warpAffine(source, matrix, out_size, flags=interpolation, borderMode=border, borderValue=0)


def _reduce_source(
    source: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int], scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Area-shrink the part of `source` the warp reads (plus the margin reflected borders read) by
    ~`scale`, and return it with the matrix re-expressed in its coordinates."""
    width, height = out_size
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=np.float64)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    low, high = mapped.min(axis=0), mapped.max(axis=0)
    source_height, source_width = source.shape[:2]
    # A reflected border reads as far inside the photo as the warp reaches outside it.
    overhang = max(0.0, -low[0], -low[1], high[0] - source_width, high[1] - source_height)
    margin = overhang + 2.0 / scale
    left = int(np.clip(np.floor(low[0] - margin), 0, source_width - 1))
    top = int(np.clip(np.floor(low[1] - margin), 0, source_height - 1))
    right = int(np.clip(np.ceil(high[0] + margin) + 1, left + 1, source_width))
    bottom = int(np.clip(np.ceil(high[1] + margin) + 1, top + 1, source_height))
    region = source[top:bottom, left:right]
    reduced_width = max(1, int(round(region.shape[1] * scale)))
    reduced_height = max(1, int(round(region.shape[0] * scale)))
    reduced = cv2.resize(region, (reduced_width, reduced_height), interpolation=cv2.INTER_AREA)
    factor_x = reduced_width / region.shape[1]
    factor_y = reduced_height / region.shape[0]
    # cv2.resize maps reduced pixel u to region pixel (u + 0.5) / f - 0.5.
    to_source = np.array(
        [[1.0 / factor_x, 0.0, 0.5 / factor_x - 0.5 + left], [0.0, 1.0 / factor_y, 0.5 / factor_y - 0.5 + top]]
    )
    combined = matrix[:, :2] @ to_source[:, :2]
    offset = matrix[:, :2] @ to_source[:, 2] + matrix[:, 2]
    return reduced, np.hstack([combined, offset[:, None]])
