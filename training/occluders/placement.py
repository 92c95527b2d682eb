"""Placing shapes and shadows in face units (see `training.occluders.face`)."""

from __future__ import annotations

import numpy as np

from training.occluders.canvas import Canvas
from training.occluders.face import FaceGeometry


def rotation(angle: float) -> np.ndarray:
    """2x2 rotation by `angle` radians (clockwise on screen: image y points down)."""
    cos, sin = np.cos(angle), np.sin(angle)
    return np.array([[cos, -sin], [sin, cos]])


def place(face: FaceGeometry, centre: np.ndarray, angle: float, local: np.ndarray) -> np.ndarray:
    """Shape points given around the origin (face units), turned by `angle` within the face frame
    and moved to `centre` (face units) -> image px."""
    return face.to_image(np.asarray(centre) + np.asarray(local) @ rotation(angle).T)


def similarity(scale: float, angle: float, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 image matrix scaling by `scale`, turning by `angle` and sending `source` to `target`
    (both image px): how a real occluder image is put on the face."""
    linear = scale * rotation(angle)
    return np.hstack([linear, (np.asarray(target) - linear @ np.asarray(source))[:, None]])


def rounded_rectangle(width: float, height: float, radius: float, corner_points: int = 6) -> np.ndarray:
    """Outline (Nx2) of a rounded rectangle centred on the origin."""
    radius = min(radius, width / 2, height / 2)
    corners = [
        (width / 2 - radius, height / 2 - radius, 0.0),
        (-width / 2 + radius, height / 2 - radius, 90.0),
        (-width / 2 + radius, -height / 2 + radius, 180.0),
        (width / 2 - radius, -height / 2 + radius, 270.0),
    ]
    points = []
    for cx, cy, start in corners:
        t = np.radians(np.linspace(start, start + 90.0, corner_points))
        points.append(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1))
    return np.concatenate(points)


def cast_shadow(
    canvas: Canvas,
    face: FaceGeometry,
    rng: np.random.Generator,
    strength: tuple[float, float],
    distance: tuple[float, float],
    blur: tuple[float, float],
    caster: np.ndarray | None = None,
) -> None:
    """A shadow of the occluder (or of `caster`) falling down the face, a little to one side (light
    from above). Ranges are drawn uniformly; `distance` and `blur` are in face units."""
    direction = face.axis_y + rng.normal(0.0, 0.35) * face.axis_x
    offset = direction * face.unit * rng.uniform(*distance)
    canvas.add_shadow(rng.uniform(*strength), (offset[0], offset[1]), face.unit * rng.uniform(*blur), caster)
