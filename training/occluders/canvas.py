"""An RGBA occluder layer over a face image, and the drawing primitives painters share.

Painters never touch the face image: they paint coverage (anti-aliased, 0..1) and colour into a
premultiplied float32 layer and ask for shadows. `Canvas.composite` then darkens the image under
the shadows, lays the occluder over it and derives the mask as "occluder alpha >= 0.5", so image
and mask always agree. Everything is cv2 + numpy on full-size float32 planes: at 128 px a plane
costs tens of microseconds per operation, which keeps a whole sample within a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

SUBPIXEL_BITS = 4  # cv2 drawing coordinates in 1/16 px
_SUBPIXEL = float(1 << SUBPIXEL_BITS)
GRAIN_TILE_SIZE = 256
MASK_THRESHOLD = 0.5

Colour = np.ndarray | tuple[float, float, float]  # an RGB triple (0..255) or a colour field


@dataclass
class Shadow:
    """A soft shadow: `caster` alpha (HxW float32, None = the whole occluder layer) moved by
    `offset` px (dx, dy), blurred by `sigma` px, darkening the image by up to `strength`."""

    strength: float
    offset: tuple[float, float]
    sigma: float
    caster: np.ndarray | None = None

    def reach(self) -> float:
        """How far (px) beyond the caster this shadow can darken anything."""
        return float(np.hypot(*self.offset)) + 3.0 * self.sigma + 1.0


@dataclass
class Canvas:
    """Occluder layer being painted over `image` (HxWx3 uint8 RGB, never modified).

    Colour is stored planar (3xHxW): numpy broadcasts an HxW coverage over a leading channel
    axis several times faster than over a trailing axis of 3. Colours given to `paint` are RGB
    triples or *colour fields*: arrays broadcastable to 3xHxW (see `as_field`).
    """

    image: np.ndarray
    color: np.ndarray = field(init=False)  # 3xHxW float32, premultiplied by alpha, 0..255
    alpha: np.ndarray = field(init=False)  # HxW float32, 0..1
    shadows: list[Shadow] = field(default_factory=list, init=False)
    edge_softness: float = 0.0  # extra Gaussian blur (px) of the whole layer: photographic edges
    lighting: float = 1.0  # gain on the occluder colour to match the photo's exposure
    grain: float = 0.0  # std of photo-like noise added to the occluder, in 0..255 levels
    grain_offset: tuple[int, int] = (0, 0)
    max_shadow_reach: float = float("inf")  # px; shadows are shrunk to stay within it

    def __post_init__(self) -> None:
        height, width = self.image.shape[:2]
        self.color = np.zeros((3, height, width), np.float32)
        self.alpha = np.zeros((height, width), np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.alpha.shape

    def paint(self, coverage: np.ndarray, colour: Colour, opacity: float = 1.0) -> None:
        """Lay `colour` over the layer where `coverage` (HxW: uint8 0..255 or float 0..1) says,
        times `opacity` ("over" compositing)."""
        cover = _as_unit_float(coverage)
        if opacity != 1.0:
            cover = cover * np.float32(opacity)
        keep = 1.0 - cover
        self.color *= keep
        self.color += as_field(colour) * cover
        self.alpha *= keep
        self.alpha += cover

    def paint_premultiplied(self, colour: np.ndarray, alpha: np.ndarray) -> None:
        """Lay a premultiplied layer (3xHxW float32 colour, HxW float32 alpha 0..1) over this one."""
        keep = 1.0 - alpha
        self.color *= keep
        self.color += colour
        self.alpha *= keep
        self.alpha += alpha

    def tint(self, coverage: np.ndarray, colour: Colour, amount: float) -> None:
        """Mix `colour` into what is already painted, where `coverage` says, without adding alpha
        (for details drawn on an occluder: seams, highlights, print)."""
        weight = _as_unit_float(coverage) * np.float32(amount)
        # premultiplied: colour*alpha is the target, so details appear only on painted pixels
        self.color += (as_field(colour) * self.alpha - self.color) * weight

    def add_shadow(
        self, strength: float, offset: tuple[float, float], sigma: float, caster: np.ndarray | None = None
    ) -> None:
        """Ask for a shadow of the occluder (or of `caster`, HxW coverage) on the face; offset and
        blur are scaled down together if they would reach beyond `max_shadow_reach`."""
        caster_alpha = None if caster is None else _as_unit_float(caster).copy()
        shadow = Shadow(float(strength), (float(offset[0]), float(offset[1])), max(float(sigma), 0.3), caster_alpha)
        if shadow.reach() > self.max_shadow_reach:
            shrink = max(self.max_shadow_reach - 1.0, 0.0) / (shadow.reach() - 1.0)
            shadow.offset = (shadow.offset[0] * shrink, shadow.offset[1] * shrink)
            shadow.sigma = max(shadow.sigma * shrink, 0.3)
        self.shadows.append(shadow)

    def composite(self) -> tuple[np.ndarray, np.ndarray]:
        """(occluded image HxWx3 uint8, mask HxW uint8 {0,255}) from the painted layer."""
        color, alpha = self.color, self.alpha
        if self.edge_softness > 0.05:
            color = np.stack([gaussian_blur(plane, self.edge_softness) for plane in color])
            alpha = gaussian_blur(alpha, self.edge_softness)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        out = planar(self.image)
        light = self._shadow_light(alpha)
        out *= (1.0 - alpha) if light is None else light * (1.0 - alpha)
        if self.lighting != 1.0:
            color = color * np.float32(self.lighting)
        out += color
        if self.grain > 0.0:
            out += grain_field(self.shape, self.grain_offset) * (np.float32(self.grain) * alpha)
        out += 0.5  # round: where nothing was painted, the uint8 input comes back exactly
        np.clip(out, 0.0, 255.0, out=out)
        mask = np.where(alpha >= MASK_THRESHOLD, np.uint8(255), np.uint8(0))
        return cv2.merge(list(out.astype(np.uint8))), mask

    def _shadow_light(self, alpha: np.ndarray) -> np.ndarray | None:
        """HxW float32 light left by all shadows together (1 = untouched), or None."""
        if not self.shadows:
            return None
        light = np.ones(self.shape, np.float32)
        for shadow in self.shadows:
            caster = alpha if shadow.caster is None else shadow.caster
            moved = translate(caster, shadow.offset)
            light *= 1.0 - np.float32(shadow.strength) * gaussian_blur(moved, shadow.sigma)
        return light


def as_field(colour: Colour) -> np.ndarray:
    """An RGB triple as a 3x1x1 float32 colour field; a colour field passes through."""
    colour = np.asarray(colour, dtype=np.float32)
    return colour.reshape(3, 1, 1) if colour.ndim == 1 else colour


def shaded(colour: Colour, shading: np.ndarray) -> np.ndarray:
    """3xHxW colour field: a colour times an HxW brightness factor."""
    return as_field(colour) * shading.astype(np.float32, copy=False)


def planar(image: np.ndarray) -> np.ndarray:
    """HxWx3 image -> 3xHxW float32 (the canvas layout)."""
    return np.stack(cv2.split(image)).astype(np.float32)


def _as_unit_float(coverage: np.ndarray) -> np.ndarray:
    if coverage.dtype == np.uint8:
        return coverage.astype(np.float32) * np.float32(1.0 / 255.0)
    return coverage.astype(np.float32, copy=False)


def gaussian_blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a kernel cut at 3 sigma, so its reach is bounded and known."""
    radius = max(1, int(np.ceil(3.0 * sigma)))
    return cv2.GaussianBlur(plane, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_CONSTANT)


def translate(plane: np.ndarray, offset: tuple[float, float]) -> np.ndarray:
    """`plane` moved by (dx, dy) px, zeros coming in."""
    if abs(offset[0]) < 1e-3 and abs(offset[1]) < 1e-3:
        return plane
    matrix = np.array([[1.0, 0.0, offset[0]], [0.0, 1.0, offset[1]]])
    height, width = plane.shape[:2]
    return cv2.warpAffine(plane, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


# ---- coverage: shapes drawn into HxW uint8 planes, anti-aliased, with sub-pixel precision ----


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * _SUBPIXEL).astype(np.int32).reshape(-1, 1, 2)


def blank(shape: tuple[int, int]) -> np.ndarray:
    return np.zeros(shape, np.uint8)


def fill_polygons(plane: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """Fill polygons (each Nx2 image px) into `plane` with anti-aliased edges, as a union (one
    cv2.fillPoly call per polygon: a single call would cut overlaps out); returns plane."""
    for polygon in polygons:
        cv2.fillPoly(plane, [_fixed(polygon)], 255, cv2.LINE_AA, SUBPIXEL_BITS)
    return plane


def draw_polyline(
    plane: np.ndarray, points: np.ndarray, thickness: float, closed: bool = False, antialiased: bool = True
) -> np.ndarray:
    """Polyline (Nx2 image px) of `thickness` px with round joins and caps; anti-aliased unless
    asked not to (a 1 px anti-aliased line may nowhere reach full coverage); returns plane."""
    width = max(1, int(round(thickness)))
    line_type = cv2.LINE_AA if antialiased else cv2.LINE_8
    cv2.polylines(plane, [_fixed(points)], closed, 255, width, line_type, SUBPIXEL_BITS)
    return plane


def draw_polylines(plane: np.ndarray, curves: np.ndarray, thickness: float, antialiased: bool = True) -> np.ndarray:
    """Many open polylines (NxMx2 image px) in one call, as `draw_polyline`; returns plane."""
    if len(curves):
        width = max(1, int(round(thickness)))
        line_type = cv2.LINE_AA if antialiased else cv2.LINE_8
        fixed = np.round(np.asarray(curves, dtype=np.float64) * _SUBPIXEL).astype(np.int32)
        cv2.polylines(plane, list(fixed), False, 255, width, line_type, SUBPIXEL_BITS)
    return plane


def ellipse_points(
    centre: np.ndarray,
    axes: tuple[float, float],
    angle_deg: float,
    start: float = 0.0,
    end: float = 360.0,
    count: int = 48,
) -> np.ndarray:
    """Points (count x 2) on an ellipse arc from `start` to `end` degrees, in `centre`'s units."""
    cos_sin = _arc_table(float(start), float(end), int(count))
    a = np.radians(angle_deg)
    rotation = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    return (cos_sin * np.asarray(axes, dtype=np.float64)) @ rotation + np.asarray(centre, dtype=np.float64)


@lru_cache(maxsize=64)
def _arc_table(start: float, end: float, count: int) -> np.ndarray:
    t = np.radians(np.linspace(start, end, count, endpoint=(end - start) < 360.0))
    table = np.stack([np.cos(t), np.sin(t)], axis=1)
    table.flags.writeable = False
    return table


def capsule_polygon(
    start: np.ndarray, end: np.ndarray, start_width: float, end_width: float, cap_points: int = 7
) -> np.ndarray:
    """Outline (Nx2) of a tapered capsule with round ends (a finger, a strap, a handle), in the
    units of `start` and `end`. Widths are full widths."""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    direction = end - start
    along = direction / max(float(np.hypot(*direction)), 1e-6)
    normal = np.array([-along[1], along[0]])
    frame = np.stack([along, normal])  # what the cosines and the sines of the arc tables multiply
    tip = end + (end_width / 2) * (_arc_table(90.0, -90.0, cap_points) @ frame)
    base = start + (start_width / 2) * (_arc_table(-90.0, -270.0, cap_points) @ frame)
    return np.concatenate([tip, base])


# ---- colour fields and brightness maps ----------------------------------------------------------


@lru_cache(maxsize=16)
def pixel_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(xs 1xW, ys Hx1) float32 pixel coordinates, broadcastable to HxW."""
    height, width = shape
    xs, ys = np.arange(width, dtype=np.float32)[None, :], np.arange(height, dtype=np.float32)[:, None]
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def linear_ramp(shape: tuple[int, int], start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """HxW float32: 0 at `start`, 1 at `end` (image px), linear along start->end, clipped."""
    xs, ys = pixel_grid(shape)
    direction = np.asarray(end, np.float64) - np.asarray(start, np.float64)
    norm = float(direction @ direction) or 1.0
    dx, dy = np.float32(direction[0] / norm), np.float32(direction[1] / norm)
    ramp = (xs - np.float32(start[0])) * dx + (ys - np.float32(start[1])) * dy
    return np.clip(ramp, 0.0, 1.0)


def gradient(
    shape: tuple[int, int], start: np.ndarray, end: np.ndarray, colour0: Colour, colour1: Colour
) -> np.ndarray:
    """3xHxW float32 colour field from `colour0` at `start` to `colour1` at `end` (image px)."""
    ramp = linear_ramp(shape, start, end)
    c0 = as_field(colour0)
    return c0 + ramp * (as_field(colour1) - c0)


def cylinder_shading(
    shape: tuple[int, int], axis_start: np.ndarray, axis_end: np.ndarray, radius: float, light: float = 0.3
) -> np.ndarray:
    """HxW float32 brightness of a lit cylinder along axis_start->axis_end (image px): bright
    near the axis (shifted by `light`, -1..1 of the radius), darker towards both sides."""
    xs, ys = pixel_grid(shape)
    axis = np.asarray(axis_end, np.float64) - np.asarray(axis_start, np.float64)
    axis /= max(float(np.hypot(*axis)), 1e-6)
    normal = np.array([-axis[1], axis[0]], dtype=np.float32) / np.float32(max(radius, 1e-3))
    across = (xs - np.float32(axis_start[0])) * normal[0] + (ys - np.float32(axis_start[1])) * normal[1]
    across = np.clip(across - np.float32(light), -1.0, 1.0)
    return (0.55 + 0.5 * np.sqrt(np.maximum(1.0 - across * across, 0.0))).astype(np.float32)


@lru_cache(maxsize=1)
def _grain_tile() -> np.ndarray:
    # A fixed tile (seeded) rather than fresh noise per sample: drawing 3 normals per pixel per
    # sample would cost more than all the painting; a random offset into the tile is enough.
    size = GRAIN_TILE_SIZE
    tile = np.random.default_rng(20240611).normal(0.0, 1.0, (3, size, size)).astype(np.float32)
    tile = np.tile(tile, (1, 2, 2))
    tile.flags.writeable = False
    return tile


def grain_field(shape: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    """3xHxW float32 unit-variance noise (repeating every 256 px), shifted by `offset` (dx, dy)."""
    height, width = shape
    x, y = offset[0] % GRAIN_TILE_SIZE, offset[1] % GRAIN_TILE_SIZE
    tile = _grain_tile()
    if height > GRAIN_TILE_SIZE or width > GRAIN_TILE_SIZE:
        reps = (1, -(-height // GRAIN_TILE_SIZE) + 1, -(-width // GRAIN_TILE_SIZE) + 1)
        tile = np.tile(tile[:, :GRAIN_TILE_SIZE, :GRAIN_TILE_SIZE], reps)
    return tile[:, y : y + height, x : x + width]
