"""Censoring edits of the photo itself: a blurred patch, a pixelated (mosaic) patch. The mask
is the patch: what it hides is gone even though its colours come from the face."""

from __future__ import annotations

import cv2
import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import Canvas, blank, ellipse_points, fill_polygons, gaussian_blur, planar
from training.occluders.face import FaceGeometry
from training.occluders.overlays import digital
from training.occluders.placement import place, rounded_rectangle


def patch_region(canvas: Canvas, face: FaceGeometry, rng: np.random.Generator) -> np.ndarray:
    """HxW uint8 coverage of a censoring patch: a band over the eyes, the whole face, the mouth,
    or a box anywhere on the face."""
    choice = rng.random()
    if choice < 0.3:
        centre, angle = np.array([rng.normal(0, 0.05), rng.normal(0.0, 0.06)]), rng.normal(0, 0.05)
        outline = rounded_rectangle(rng.uniform(1.8, 2.6), rng.uniform(0.4, 0.7), rng.uniform(0.0, 0.2))
    elif choice < 0.5:
        centre, angle = np.array([0.0, 0.55]), 0.0
        outline = ellipse_points(np.zeros(2), (rng.uniform(1.0, 1.3), rng.uniform(1.2, 1.5)), 0.0)
    elif choice < 0.7:
        centre, angle = np.array([rng.normal(0, 0.05), rng.uniform(0.9, 1.1)]), rng.normal(0, 0.1)
        outline = ellipse_points(np.zeros(2), (rng.uniform(0.55, 0.8), rng.uniform(0.3, 0.45)), 0.0)
    else:
        centre, angle = rng.uniform([-0.7, -0.4], [0.7, 1.3]), rng.uniform(-0.5, 0.5)
        outline = rounded_rectangle(rng.uniform(0.4, 1.2), rng.uniform(0.4, 1.2), rng.uniform(0.0, 0.3))
    return fill_polygons(blank(canvas.shape), [place(face, centre, angle, outline)])


def paint_blur_patch(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A region of the photo blurred beyond recognition."""
    digital(canvas)
    sigma = face.unit * rng.uniform(0.08, 0.22)
    # Blur a shrunken copy: the look of a wide Gaussian at a fraction of the cost.
    factor = max(1.0, sigma / 2.0)
    height, width = canvas.shape
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(canvas.image, small_size, interpolation=cv2.INTER_AREA)
    small = gaussian_blur(small.astype(np.float32), sigma / factor)
    blurred = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    canvas.paint(patch_region(canvas, face, rng), planar(blurred))


def paint_pixelation(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A mosaic over part of the face, its blocks aligned to the image grid as censoring tools do.
    The region is made of whole blocks (hard edges), so the mask is exactly the pixelated area."""
    digital(canvas)
    block = max(2, int(round(face.unit * rng.uniform(0.1, 0.3))))
    height, width = canvas.shape
    rows, cols = -(-height // block), -(-width // block)

    def to_blocks(plane: np.ndarray, border: int) -> np.ndarray:  # block means, rows x cols
        padded = cv2.copyMakeBorder(plane, 0, rows * block - height, 0, cols * block - width, border)
        return cv2.resize(padded, (cols, rows), interpolation=cv2.INTER_AREA)

    def to_pixels(blocks: np.ndarray) -> np.ndarray:
        return cv2.resize(blocks, (cols * block, rows * block), interpolation=cv2.INTER_NEAREST)[:height, :width]

    mosaic = to_pixels(to_blocks(canvas.image, cv2.BORDER_REPLICATE))
    region = to_blocks(patch_region(canvas, face, rng), cv2.BORDER_CONSTANT)
    coverage = to_pixels(np.where(region >= 128, np.uint8(255), np.uint8(0)))
    canvas.paint(coverage, planar(mosaic))
