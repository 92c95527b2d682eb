"""Colour fields that occluders are filled with: textures, printed patterns, gradients."""

from __future__ import annotations

import cv2
import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import as_field, gradient, pixel_grid, planar
from training.occluders.colours import object_colour, vivid_colour


def texture_field(shape: tuple[int, int], texture: np.ndarray, rng: np.random.Generator, period: float) -> np.ndarray:
    """3xHxW float32 colour field: `texture` (RGB uint8) scaled so its longer side is `period` px,
    at a random angle and offset, mirrored beyond its edges."""
    height, width = shape
    scale = max(texture.shape[:2]) / max(period, 1.0)
    angle = rng.uniform(-np.pi, np.pi) if rng.random() < 0.5 else rng.normal(0.0, 0.15)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    offset = rng.uniform(0, texture.shape[1]), rng.uniform(0, texture.shape[0])
    to_texture = np.array([[cos, -sin, offset[0]], [sin, cos, offset[1]]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return planar(cv2.warpAffine(texture, to_texture, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT))


def pattern_field(shape: tuple[int, int], rng: np.random.Generator, period: float) -> np.ndarray:
    """3xHxW float32 printed pattern of two colours: stripes, checks or dots, `period` px apart."""
    xs, ys = pixel_grid(shape)
    angle = rng.uniform(0, np.pi)
    cos, sin = np.float32(np.cos(angle) / period), np.float32(np.sin(angle) / period)
    u = xs * cos + ys * sin + np.float32(rng.random())
    v = ys * cos - xs * sin + np.float32(rng.random())
    kind = rng.integers(3)
    if kind == 0:
        on = (u % 1.0) < rng.uniform(0.3, 0.6)
    elif kind == 1:
        on = ((u % 1.0) < 0.5) ^ ((v % 1.0) < 0.5)
    else:
        on = ((u % 1.0) - 0.5) ** 2 + ((v % 1.0) - 0.5) ** 2 < rng.uniform(0.04, 0.12)
    return np.where(on, as_field(vivid_colour(rng)), as_field(object_colour(rng)))


def random_fill(
    shape: tuple[int, int], rng: np.random.Generator, unit: float, assets: OccluderAssets | None
) -> np.ndarray:
    """A colour field for a generic occluder: flat colour, a gradient, a printed pattern, or
    (with assets) a texture; `unit` is the face unit in px, which sets the pattern scale."""
    choice = rng.random()
    if choice < 0.35:
        return as_field(object_colour(rng))
    if choice < 0.55:
        height, width = shape
        start = rng.uniform(0, [width, height])
        end = rng.uniform(0, [width, height])
        return gradient(shape, start, end, object_colour(rng), object_colour(rng))
    if choice < 0.75 or assets is None:
        return pattern_field(shape, rng, unit * rng.uniform(0.12, 0.45))
    texture = assets.textures[rng.integers(len(assets.textures))]
    return texture_field(shape, texture, rng, unit * rng.uniform(0.8, 3.0))
