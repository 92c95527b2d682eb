"""Free-form occluders: brush strokes, boxes, blobs, filled with colours, gradients, prints or
textures. They teach the segmenter that anything unlike skin in front of a face is an occluder,
whatever its shape."""

from __future__ import annotations

import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import Canvas, blank, draw_polyline, fill_polygons
from training.occluders.face import FaceGeometry
from training.occluders.fills import random_fill
from training.occluders.placement import cast_shadow, place, rounded_rectangle

FACE_AREA = (np.array([-0.9, -0.5]), np.array([0.9, 1.5]))  # where shapes are centred, face units
BLOB_ANGLES = np.linspace(0, 2 * np.pi, 40, endpoint=False)


def paint_brush_strokes(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """One to three painted strokes (scribbles, graffiti) wandering across the face."""
    for _ in range(int(rng.integers(1, 4))):
        point = rng.uniform(*FACE_AREA)
        heading = rng.uniform(0, 2 * np.pi)
        points = [point]
        for _ in range(int(rng.integers(3, 9))):
            heading += rng.normal(0.0, 0.9)
            point = point + rng.uniform(0.15, 0.55) * np.array([np.cos(heading), np.sin(heading)])
            points.append(point)
        stroke = draw_polyline(blank(canvas.shape), face.to_image(np.array(points)), face.unit * rng.uniform(0.08, 0.3))
        canvas.paint(stroke, random_fill(canvas.shape, rng, face.unit, assets), opacity=rng.uniform(0.9, 1.0))
    canvas.lighting, canvas.grain = 1.0, canvas.grain * 0.5  # paint on the photo, or on glass in front
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.01)


def paint_boxes(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A black censor bar over the eyes or the mouth, or one to three boxes of any fill."""
    if rng.random() < 0.35:
        height = rng.normal(0.0, 0.05) if rng.random() < 0.7 else rng.uniform(0.9, 1.05)
        bar = rounded_rectangle(rng.uniform(2.0, 2.8), rng.uniform(0.35, 0.6), 0.0)
        centre = np.array([rng.normal(0, 0.05), height])
        coverage = fill_polygons(blank(canvas.shape), [place(face, centre, rng.normal(0, 0.04), bar)])
        canvas.paint(coverage, np.full(3, rng.uniform(0, 25)))
        canvas.lighting, canvas.grain = 1.0, 0.0
        return
    for _ in range(int(rng.integers(1, 4))):
        box = rounded_rectangle(rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2), 0.0)
        corners = place(face, rng.uniform(*FACE_AREA), rng.uniform(-np.pi, np.pi), box)
        coverage = fill_polygons(blank(canvas.shape), [corners])
        canvas.paint(coverage, random_fill(canvas.shape, rng, face.unit, assets))
    if rng.random() < 0.4:  # as if paper notes were held in front of the face
        cast_shadow(canvas, face, rng, (0.2, 0.4), (0.03, 0.1), (0.03, 0.07))


def paint_blobs(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """One to three smooth irregular blobs (paint, mud, foliage-like shapes)."""
    for _ in range(int(rng.integers(1, 4))):
        wobble = np.ones_like(BLOB_ANGLES)
        for harmonic in range(2, 6):
            wobble += rng.uniform(0.0, 0.6 / harmonic) * np.cos(harmonic * BLOB_ANGLES + rng.uniform(0, 2 * np.pi))
        radius = rng.uniform(0.25, 0.8) * np.maximum(wobble, 0.2)
        outline = np.stack([np.cos(BLOB_ANGLES) * rng.uniform(0.6, 1.4), np.sin(BLOB_ANGLES)], axis=1) * radius[:, None]
        boundary = place(face, rng.uniform(*FACE_AREA), rng.uniform(-np.pi, np.pi), outline)
        coverage = fill_polygons(blank(canvas.shape), [boundary])
        canvas.paint(coverage, random_fill(canvas.shape, rng, face.unit, assets))
    if rng.random() < 0.5:
        cast_shadow(canvas, face, rng, (0.2, 0.4), (0.03, 0.1), (0.03, 0.07))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.015)
