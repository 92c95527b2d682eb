"""Graphics added to the picture rather than standing in front of the face: emoji, stickers,
text. They are pasted as drawn: no photo grain, no exposure match, no shadow (except a sticker's
drop shadow, which is part of the graphic)."""

from __future__ import annotations

import cv2
import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import Canvas, blank, draw_polyline, ellipse_points, fill_polygons, gradient
from training.occluders.colours import jitter, object_colour, vivid_colour
from training.occluders.face import FaceGeometry
from training.occluders.fills import random_fill
from training.occluders.placement import place, rotation, rounded_rectangle, similarity

EMOJI_YELLOW = np.array([255.0, 204.0, 60.0])
EMOJI_INK = np.array([70.0, 42.0, 20.0])
EMOJI_RED = np.array([225.0, 40.0, 60.0])
STICKER_BORDER = np.array([250.0, 250.0, 248.0])
WORDS = (
    "HELLO", "LOL", "OMG", "SALE", "2019", "#tbt", "wow", "NO", "YES", "Summer", "Anna", "JOHN", "sample", "PROOF",
    "(c) photo", "CONFIDENTIAL", "Happy B-day", "TEAM", "best day", "12:45", "VOTE", "like", "Paris", "xoxo", "404",
)
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
)
# Where graphics go, in face units: an eye, the other eye, the mouth, the nose.
OVERLAY_TARGETS = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, 1.0], [0.0, 0.45]])
WHOLE_FACE = np.array([0.0, 0.6])


def digital(canvas: Canvas) -> None:
    """Mark the layer as a digital overlay: pasted as is, no exposure match, no grain."""
    canvas.lighting, canvas.grain = 1.0, 0.0


def overlay_target(rng: np.random.Generator) -> np.ndarray:
    """A face feature (or, one time in three, anywhere on the face), in face units."""
    if rng.random() < 0.3:
        return rng.uniform([-0.9, -0.6], [0.9, 1.5])
    return OVERLAY_TARGETS[rng.integers(len(OVERLAY_TARGETS))] + rng.normal(0, 0.1, 2)


def heart_points(count: int = 40) -> np.ndarray:
    """A heart outline of about unit radius centred on the origin."""
    t = np.linspace(0.0, 2 * np.pi, count, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y + 2.5], axis=1) / 16.0


def star_points(points: int = 5, inner: float = 0.45) -> np.ndarray:
    """A star outline of unit outer radius centred on the origin."""
    t = np.linspace(-np.pi / 2, 3 * np.pi / 2, 2 * points, endpoint=False)
    radius = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def paint_emoji(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A yellow smiley over part of the face, or all of it as in privacy edits (smiling, laughing,
    winking, heart eyes, sunglasses)."""
    digital(canvas)
    if rng.random() < 0.15:
        target, radius = WHOLE_FACE + rng.normal(0, 0.08, 2), rng.uniform(0.9, 1.2)
    else:
        target, radius = overlay_target(rng), rng.uniform(0.35, 0.75)
    angle = rng.normal(0.0, 0.2)

    def at(points: np.ndarray) -> np.ndarray:  # emoji units (radius 1) -> image px
        return place(face, target, angle, np.asarray(points) * radius)

    circle = ellipse_points(np.zeros(2), (1.0, 1.0), 0.0, count=64)
    disc, rim, ink, red = (blank(canvas.shape) for _ in range(4))
    fill_polygons(disc, [at(circle)])
    light, dark = at(np.array([[-0.7, -0.7], [0.7, 0.8]]))
    yellow = jitter(EMOJI_YELLOW, rng, 0.05)
    canvas.paint(disc, gradient(canvas.shape, light, dark, np.minimum(yellow * 1.08, 255), yellow * [0.95, 0.75, 0.5]))
    draw_polyline(rim, at(circle), max(1.0, face.unit * radius * 0.03), closed=True)
    canvas.tint(rim, (200.0, 120.0, 20.0), 0.7)
    style = rng.choice(["smile", "laugh", "wink", "hearts", "cool"])
    stroke = max(1.0, face.unit * radius * 0.08)
    for index, eye in enumerate(np.array([[-0.33, -0.22], [0.33, -0.22]])):
        if style == "hearts":
            fill_polygons(red, [at(eye + heart_points() * 0.2)])
        elif style == "cool":
            fill_polygons(ink, [at(ellipse_points(eye, (0.26, 0.18), 0.0, count=24))])
        elif style == "wink" and index == 1:
            draw_polyline(ink, at(eye + np.array([[-0.12, 0.02], [0.0, -0.04], [0.12, 0.02]])), stroke * 0.8)
        else:
            fill_polygons(ink, [at(ellipse_points(eye, (0.09, 0.15), 0.0, count=20))])
    if style == "cool":
        draw_polyline(ink, at(np.array([[-0.75, -0.3], [0.75, -0.3]])), stroke * 0.6)
    if style == "laugh":  # open mouth with a tongue
        fill_polygons(ink, [at(ellipse_points(np.array([0.0, 0.2]), (0.5, 0.38), 0.0, 0.0, 180.0, 24))])
        fill_polygons(red, [at(ellipse_points(np.array([0.0, 0.48]), (0.22, 0.1), 0.0, count=16))])
    else:
        draw_polyline(ink, at(ellipse_points(np.zeros(2), (0.55, 0.5), 0.0, 25.0, 155.0, 20)), stroke)
    canvas.tint(ink, EMOJI_INK, 1.0)
    canvas.tint(red, EMOJI_RED, 1.0)


def paint_sticker(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """One to three die-cut stickers (star, heart, badge, label) with a white border, some with
    a word printed on them."""
    digital(canvas)
    for _ in range(int(rng.integers(1, 4))):
        shape = rng.choice(["star", "heart", "badge", "label"])
        if shape == "star":
            outline = star_points(int(rng.integers(5, 8)), rng.uniform(0.4, 0.6))
        elif shape == "heart":
            outline = heart_points()
        elif shape == "badge":
            outline = ellipse_points(np.zeros(2), (1.0, 1.0), 0.0)
        else:
            outline = rounded_rectangle(2.0, rng.uniform(0.8, 1.4), 0.3)
        size = rng.uniform(0.25, 0.7)
        centre, angle = overlay_target(rng), rng.uniform(-0.6, 0.6)
        border, sticker = blank(canvas.shape), blank(canvas.shape)
        fill_polygons(border, [place(face, centre, angle, outline * size * 1.12)])
        draw_polyline(border, place(face, centre, angle, outline * size * 1.12), face.unit * size * 0.12, closed=True)
        fill_polygons(sticker, [place(face, centre, angle, outline * size)])
        canvas.paint(border, jitter(STICKER_BORDER, rng, 0.02))
        fill = random_fill(canvas.shape, rng, face.unit, assets) if rng.random() < 0.5 else vivid_colour(rng)
        canvas.paint(sticker, fill)
        if shape in ("badge", "label") and rng.random() < 0.6:
            word = WORDS[rng.integers(len(WORDS))][:6]
            ink = jitter(object_colour(rng), rng)
            draw_text(canvas, face, rng, word, centre, angle, size * 0.5, ink, max_width=size * 1.6)
    if rng.random() < 0.5:
        offset = face.unit * rng.uniform(0.02, 0.05) * (face.axis_x + face.axis_y)
        canvas.add_shadow(rng.uniform(0.2, 0.35), (offset[0], offset[1]), face.unit * rng.uniform(0.02, 0.05))


def paint_text(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A caption, watermark or meme text (one or two lines) over the face, perhaps outlined."""
    digital(canvas)
    lines = 1 if rng.random() < 0.7 else 2
    height = rng.uniform(0.2, 0.45)
    centre = np.array([rng.normal(0.0, 0.25), rng.uniform(-0.5, 1.4)])
    angle = rng.normal(0.0, 0.12) if rng.random() < 0.7 else rng.uniform(-0.7, 0.7)
    colour = vivid_colour(rng) if rng.random() < 0.4 else np.full(3, 250.0 if rng.random() < 0.6 else 10.0)
    outline = (255.0 - colour) if rng.random() < 0.5 else None
    for line in range(lines):
        offset = rotation(angle) @ np.array([0.0, (line - (lines - 1) / 2) * height * 1.4])
        word = WORDS[rng.integers(len(WORDS))]
        draw_text(canvas, face, rng, word, centre + offset, angle, height, colour, outline, max_width=3.0)


def draw_text(
    canvas: Canvas,
    face: FaceGeometry,
    rng: np.random.Generator,
    text: str,
    centre: np.ndarray,
    angle: float,
    height: float,
    colour: np.ndarray,
    outline_colour: np.ndarray | None = None,
    max_width: float | None = None,
) -> None:
    """Paint `text` in a random Hershey font: cap height `height` and at most `max_width` wide
    (face units), centred on `centre`, turned by `angle` within the face frame. The text is
    drawn level into a small patch, then warped into place."""
    font = FONTS[rng.integers(len(FONTS))]
    (base_width, base_height), _ = cv2.getTextSize(text, font, 1.0, 2)
    height_px = face.unit * height
    scale = height_px / max(base_height, 1)
    if max_width is not None:
        scale = min(scale, face.unit * max_width / max(base_width, 1))
    thickness = max(1, int(round(height_px * rng.uniform(0.08, 0.16))))
    outer = thickness + max(2, int(round(height_px * 0.12))) if outline_colour is not None else thickness
    (width, text_height), baseline = cv2.getTextSize(text, font, scale, outer)
    pad = outer + 2
    patch_size = (width + 2 * pad, text_height + baseline + 2 * pad)
    origin = (pad, pad + text_height)
    middle = np.array(patch_size, np.float64) / 2.0
    matrix = similarity(1.0, face.roll + angle, middle, face.to_image(centre))
    for stroke, paint_colour in ((outer, outline_colour), (thickness, colour)):
        if paint_colour is None:
            continue
        patch = np.zeros(patch_size[::-1], np.uint8)
        cv2.putText(patch, text, origin, font, scale, 255, stroke, cv2.LINE_AA)
        canvas.paint(cv2.warpAffine(patch, matrix, canvas.shape[::-1], flags=cv2.INTER_LINEAR), paint_colour)
