"""Hair falling over the face: locks flowing from the hairline, textured with fine strands, and
loose strands straying beyond them, in the person's own hair colour or a palette colour."""

from __future__ import annotations

import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import Canvas, blank, draw_polylines, fill_polygons
from training.occluders.colours import hair_colour, jitter
from training.occluders.face import FaceGeometry

BEZIER_STEPS = np.linspace(0.0, 1.0, 12)[:, None]


def quadratic_bezier(start: np.ndarray, control: np.ndarray, end: np.ndarray) -> np.ndarray:
    """12 points along the quadratic Bezier curve start -> end pulled towards `control`; with
    Nx2 arguments, N curves (Nx12x2)."""
    t = BEZIER_STEPS
    start, control, end = (np.asarray(p, np.float64)[..., None, :] for p in (start, control, end))
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end


def paint_hair_strands(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """One to three locks of hair over the forehead and eyes, with strays."""
    colour = own_hair_colour(canvas.image, face, rng) if rng.random() < 0.5 else None
    colour = hair_colour(rng) if colour is None else colour
    # Strays are painted fully opaque: drawn 1 px wide they are aliased, as an anti-aliased 1 px
    # line can stay below alpha 0.5 everywhere, i.e. be seen but missing from the mask.
    stray_width = max(1.0, face.unit * 0.015)
    locks, dark, light, strays = (blank(canvas.shape) for _ in range(4))
    for _ in range(int(rng.integers(1, 4))):
        root = np.array([rng.normal(0.0, 0.45), rng.uniform(-1.6, -1.3)])
        tip = np.array([root[0] + rng.normal(0.0, 0.45), rng.uniform(-0.3, 0.9)])
        bend = (root + tip) / 2 + np.array([rng.normal(0.0, 0.35), rng.normal(0.0, 0.1)])
        widths = np.array([rng.uniform(0.3, 0.9), 0.0, rng.uniform(0.05, 0.5)])  # at root, bend, tip
        widths[1] = widths[[0, 2]].mean()
        if rng.random() < 0.85:
            # the lock's two edges: its centre line (root, bend, tip) shifted sideways by half its width
            half = np.array([0.45, 0.44, 0.4]) * widths
            left = quadratic_bezier(root - [half[0], 0.0], bend - [half[1], 0.0], tip - [half[2], 0.0])
            right = quadratic_bezier(root + [half[0], 0.0], bend + [half[1], 0.0], tip + [half[2], 0.0])
            fill_polygons(locks, [face.to_image(np.concatenate([left, right[::-1]]))])
        # Texture: darker and lighter strands along the lock.
        across = rng.uniform(-0.5, 0.5, (int(rng.integers(20, 50)), 1))
        strands = _strands(face, root, bend, tip, widths, across, rng, spread=(0.05, 0.04, 0.04), lift=(0.0, 0.3))
        darker = rng.random(len(strands)) < 0.5
        for plane, chosen in ((dark, darker), (light, ~darker)):
            draw_polylines(plane, strands[chosen], 1.0)
        across = rng.uniform(-0.6, 0.6, (int(rng.integers(1, 7)), 1))
        loose = _strands(face, root, bend, tip, widths, across, rng, spread=(0.05, 0.15, 0.15), lift=(-0.15, 0.4))
        draw_polylines(strays, loose, stray_width, antialiased=stray_width >= 2.0)
    canvas.paint(strays, jitter(colour, rng, 0.1))
    canvas.paint(locks, colour)
    canvas.tint(dark, colour * 0.55, rng.uniform(0.4, 0.7))
    canvas.tint(light, np.minimum(colour * 1.4 + 12.0, 255.0), rng.uniform(0.3, 0.6))
    offset = face.axis_y * face.unit * rng.uniform(0.01, 0.03)
    canvas.add_shadow(rng.uniform(0.1, 0.25), (offset[0], offset[1]), face.unit * rng.uniform(0.02, 0.04))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.008)


def _strands(
    face: FaceGeometry,
    root: np.ndarray,
    bend: np.ndarray,
    tip: np.ndarray,
    widths: np.ndarray,
    across: np.ndarray,
    rng: np.random.Generator,
    spread: tuple[float, float, float],
    lift: tuple[float, float],
) -> np.ndarray:
    """Strands (Nx12x2 image px) following a lock, at `across` (Nx1, -0.5..0.5 of its width), their
    root, bend and tip scattered by `spread` (face units) and their ends raised by `lift`."""
    column = (len(across), 1)
    start = root + np.hstack([across * widths[0], rng.normal(0.0, spread[0], column)])
    bend_x = across * widths[1] + rng.normal(0.0, spread[1], column)
    control = bend + np.hstack([bend_x, rng.normal(0.0, spread[1] * 0.7, column)])
    end = tip + np.hstack([across * widths[2] + rng.normal(0.0, spread[2], column), -rng.uniform(*lift, column)])
    return face.to_image(quadratic_bezier(start, control, end))


def own_hair_colour(image: np.ndarray, face: FaceGeometry, rng: np.random.Generator) -> np.ndarray | None:
    """Median colour just above the forehead (usually the person's hair), or None when that spot
    is outside the image or too bright to be hair (a background, a bald head)."""
    height, width = image.shape[:2]
    x, y = face.to_image(np.array([rng.normal(0.0, 0.2), rng.uniform(-1.35, -1.1)])).round().astype(int)
    radius = max(1, int(face.unit * 0.08))
    if not (radius <= x < width - radius and radius <= y < height - radius):
        return None
    patch = image[y - radius : y + radius + 1, x - radius : x + radius + 1].reshape(-1, 3)
    colour = np.median(patch, axis=0).astype(np.float64)
    return colour if colour.mean() < 180.0 else None
