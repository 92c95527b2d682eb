"""Objects held in front of the face, drawn procedurally: phone, microphone, cup.

Each is a few anti-aliased shapes in face units with shading that suits its material (a glossy
screen, cylinders for handles and mugs, a lit mesh ball), sometimes with the hand that holds it.
"""

from __future__ import annotations

import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import (
    Canvas, as_field, blank, capsule_polygon, cylinder_shading, draw_polyline, ellipse_points, fill_polygons,
    gaussian_blur, gradient, pixel_grid, shaded,
)
from training.occluders.colours import jitter, object_colour, skin_tone, vivid_colour
from training.occluders.face import FaceGeometry
from training.occluders.fills import pattern_field, texture_field
from training.occluders.hands import HandPose, draw_hand
from training.occluders.placement import cast_shadow, place, rounded_rectangle

PAPER_CUP_COLOURS = (np.array([245.0, 242.0, 235.0]), np.array([200.0, 160.0, 115.0]))  # white, kraft
CLOSED_FIST = (False, False, False, False)


def paint_phone(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A smartphone held in front of the face (screen or back towards the camera), or at an ear."""
    width = rng.uniform(0.95, 1.25)
    height = width * rng.uniform(1.9, 2.15)
    choice = rng.random()
    if choice < 0.4:  # in front of the lower face
        centre = np.array([rng.normal(0, 0.25), rng.uniform(0.8, 1.3)])
        angle = rng.normal(0, 0.4) + (np.pi / 2 if rng.random() < 0.3 else 0.0)
    elif choice < 0.75:  # taking a picture: in front of an eye or half the face
        centre = np.array([rng.choice([-0.45, 0.45]) + rng.normal(0, 0.1), rng.uniform(-0.1, 0.4)])
        angle = rng.normal(0, 0.2) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
    else:  # at an ear, over the cheek
        side = rng.choice([-1.0, 1.0])
        centre, angle = np.array([side * rng.uniform(0.95, 1.2), rng.uniform(0.2, 0.6)]), side * rng.uniform(-0.5, 0.1)
    body = rounded_rectangle(width, height, width * rng.uniform(0.1, 0.18))
    phone = blank(canvas.shape)
    fill_polygons(phone, [place(face, centre, angle, body)])
    corner_a, corner_b = place(face, centre, angle, np.array([[-width / 2, -height / 2], [width / 2, height / 2]]))
    if rng.random() < 0.5:  # the screen: black glass with a sheen, sometimes lit
        glass = np.array([rng.uniform(8, 30)] * 3) + rng.uniform(0, 15, 3)
        canvas.paint(phone, gradient(canvas.shape, corner_a, corner_b, glass * 2.2, glass))
        if rng.random() < 0.4:
            screen = blank(canvas.shape)
            glass_outline = rounded_rectangle(width * 0.92, height * 0.94, width * 0.08)
            fill_polygons(screen, [place(face, centre, angle, glass_outline)])
            canvas.tint(screen, jitter(vivid_colour(rng), rng), rng.uniform(0.3, 0.7))
    else:  # the back: a case and a camera block
        case = object_colour(rng)
        canvas.paint(phone, gradient(canvas.shape, corner_a, corner_b, case * 1.1, case * 0.85))
        camera, lenses = blank(canvas.shape), blank(canvas.shape)
        block = np.array([-width * 0.22 * rng.choice([-1, 1]), -height * 0.36])
        block_outline = block + rounded_rectangle(width * 0.38, width * 0.38, width * 0.08)
        fill_polygons(camera, [place(face, centre, angle, block_outline)])
        canvas.tint(camera, (25.0, 25.0, 28.0), 0.9)
        for dy in (-0.09, 0.09):
            lens = ellipse_points(block + [0.0, dy * width], (width * 0.07, width * 0.07), 0.0, count=16)
            fill_polygons(lenses, [place(face, centre, angle, lens)])
        canvas.tint(lenses, (70.0, 80.0, 95.0), 0.8)
    rim = blank(canvas.shape)
    draw_polyline(rim, place(face, centre, angle, body), max(1.0, face.unit * 0.025), closed=True)
    canvas.tint(rim, np.full(3, rng.uniform(120, 220)), 0.5)
    if choice < 0.75 and rng.random() < 0.6:
        _fingertips_round_edge(canvas, face, rng, centre, angle, width, height)
    cast_shadow(canvas, face, rng, (0.3, 0.5), (0.05, 0.12), (0.05, 0.09))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.012)


def _fingertips_round_edge(
    canvas: Canvas,
    face: FaceGeometry,
    rng: np.random.Generator,
    centre: np.ndarray,
    angle: float,
    width: float,
    height: float,
) -> None:
    """Two to four fingers of the hand behind an object, curling round one of its long edges."""
    fingers = blank(canvas.shape)
    side = rng.choice([-1.0, 1.0])
    count = int(rng.integers(2, 5))
    for index in range(count):
        y = ((index - (count - 1) / 2) * 0.2 + rng.normal(0, 0.03)) * height / 2
        start = np.array([side * (width / 2 + 0.45), y + rng.normal(0, 0.08)])
        end = np.array([side * (width / 2 - rng.uniform(0.06, 0.16)), y])
        fill_polygons(fingers, [place(face, centre, angle, capsule_polygon(start, end, 0.2, 0.17))])
    volume = gaussian_blur(fingers.astype(np.float32) * np.float32(1.0 / 255.0), max(0.5, face.unit * 0.04))
    canvas.paint(fingers, shaded(skin_tone(canvas.image, face, rng), np.float32(0.7) + np.float32(0.3) * volume))


def paint_microphone(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A handheld microphone in front of the mouth: a mesh ball head on a tapered handle, often in
    a fist."""
    radius = rng.uniform(0.28, 0.42)
    head = np.array([rng.normal(0.0, 0.2), rng.uniform(0.75, 1.15)])
    direction = np.pi / 2 + rng.normal(0.0, 0.4)  # the handle runs down from the head
    along = np.array([np.cos(direction), np.sin(direction)])
    handle_end = head + along * 3.0
    handle, band, ball = blank(canvas.shape), blank(canvas.shape), blank(canvas.shape)
    handle_outline = capsule_polygon(head + along * radius * 0.6, handle_end, radius * 1.15, radius * 0.75)
    band_start, band_end = head + along * radius * 0.7, head + along * radius * 1.1
    band_outline = capsule_polygon(band_start, band_end, radius * 1.2, radius * 1.15)
    fill_polygons(handle, [face.to_image(handle_outline)])
    fill_polygons(band, [face.to_image(band_outline)])
    fill_polygons(ball, [face.to_image(ellipse_points(head, (radius, radius), 0.0))])
    axis_start, axis_end = face.to_image(np.array([head, handle_end]))
    handle_colour = np.full(3, rng.uniform(150, 200) if rng.random() < 0.4 else rng.uniform(15, 40))  # metal or black
    roundness = cylinder_shading(canvas.shape, axis_start, axis_end, face.unit * radius * 0.6, rng.uniform(-0.5, 0.5))
    canvas.paint(handle, shaded(handle_colour, roundness))
    canvas.tint(band, np.full(3, rng.uniform(20, 200)), 0.8)
    # The grille: a square wire mesh, lit from the upper left like a sphere.
    u, v = face.pixel_coordinates()
    frequency = np.float32(1.0 / (radius * rng.uniform(0.12, 0.2)))
    wires = (((u * frequency) % 1.0) < 0.35) | (((v * frequency) % 1.0) < 0.35)
    xs, ys = pixel_grid(canvas.shape)
    light = face.to_image(head + np.array([-0.4, -0.4]) * radius)
    distance = np.sqrt((xs - np.float32(light[0])) ** 2 + (ys - np.float32(light[1])) ** 2)
    sphere = np.clip(1.25 - distance / np.float32(face.unit * radius * 1.8), 0.35, 1.2)
    grille = np.full(3, rng.uniform(120, 200))
    canvas.paint(ball, shaded(grille, np.where(wires, np.float32(1.0), np.float32(0.45)) * sphere))
    if rng.random() < 0.5:
        grip = head + along * rng.uniform(1.1, 1.5)
        across = direction + np.pi / 2 * rng.choice([-1, 1])
        mirrored = bool(rng.random() < 0.5)
        pose = HandPose(grip, np.array([0.45, 0.0]), across, rng.uniform(1.9, 2.3), mirrored, CLOSED_FIST, True)
        draw_hand(canvas, face, rng, pose)
    cast_shadow(canvas, face, rng, (0.25, 0.45), (0.03, 0.08), (0.04, 0.07))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.012)


def paint_cup(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A mug (with a handle, plain or printed) or a paper cup with a lid and sleeve, at the lips."""
    width = rng.uniform(0.95, 1.35)
    height = width * rng.uniform(0.95, 1.3)
    angle = rng.normal(0.0, 0.3)
    centre = np.array([rng.normal(0.0, 0.2), rng.uniform(0.7, 1.05) + height / 2])  # rim at the lips
    paper = rng.random() < 0.4
    top_width = width * (1.15 if paper else 1.0)
    rim_height = width * rng.uniform(0.06, 0.12)
    bottom = ellipse_points(np.array([0.0, height / 2]), (width / 2, rim_height), 0.0, 0.0, 180.0, 16)
    cup = blank(canvas.shape)
    top_edge = np.array([[-top_width / 2, -height / 2], [top_width / 2, -height / 2]])
    fill_polygons(cup, [place(face, centre, angle, np.concatenate([top_edge, bottom]))])
    colour = jitter(PAPER_CUP_COLOURS[int(rng.random() < 0.5)], rng, 0.06) if paper else object_colour(rng)
    axis_start, axis_end = place(face, centre, angle, np.array([[0.0, -height / 2], [0.0, height / 2]]))
    roundness = cylinder_shading(canvas.shape, axis_start, axis_end, face.unit * width / 2, rng.uniform(-0.6, 0.6))
    surface = as_field(colour)
    if not paper and rng.random() < 0.35:  # a printed mug
        if assets is not None and rng.random() < 0.6:
            texture = assets.textures[rng.integers(len(assets.textures))]
            surface = texture_field(canvas.shape, texture, rng, face.unit * rng.uniform(0.8, 1.6))
        else:
            surface = pattern_field(canvas.shape, rng, face.unit * rng.uniform(0.1, 0.3))
    if not paper:
        side = rng.choice([-1.0, 1.0])
        start, end = (-90.0, 90.0) if side > 0 else (90.0, 270.0)
        arc = ellipse_points(np.array([side * width / 2, 0.0]), (width * 0.3, height * 0.3), 0.0, start, end, 16)
        handle = blank(canvas.shape)
        draw_polyline(handle, place(face, centre, angle, arc), face.unit * width * rng.uniform(0.09, 0.13))
        canvas.paint(handle, colour * 0.85)
    canvas.paint(cup, surface * roundness)
    rim_outline = ellipse_points(np.array([0.0, -height / 2]), (top_width / 2, rim_height), 0.0)
    if paper:  # a plastic lid and a cardboard sleeve
        lid, sleeve = blank(canvas.shape), blank(canvas.shape)
        lid_outline = rounded_rectangle(top_width * 1.04, height * 0.12, height * 0.04) + [0.0, -height / 2]
        fill_polygons(lid, [place(face, centre, angle, lid_outline)])
        canvas.paint(lid, shaded(np.full(3, rng.uniform(20, 240)), roundness))
        sleeve_outline = np.array([[-0.54, -0.1], [0.54, -0.1], [0.5, 0.25], [-0.5, 0.25]]) * [width, height]
        fill_polygons(sleeve, [place(face, centre, angle, sleeve_outline)])
        canvas.tint(sleeve, jitter(np.array([150.0, 110.0, 70.0]), rng, 0.15), 0.9)
    else:  # the rim, and the drink inside
        rim, inside = blank(canvas.shape), blank(canvas.shape)
        fill_polygons(rim, [place(face, centre, angle, rim_outline)])
        canvas.paint(rim, colour * 1.05)
        fill_polygons(inside, [place(face, centre, angle, rim_outline * [0.9, 0.75] + [0.0, -height / 2 * 0.25])])
        canvas.tint(inside, jitter(np.array([70.0, 45.0, 30.0]), rng, 0.3), 0.85)
    cast_shadow(canvas, face, rng, (0.3, 0.5), (0.06, 0.14), (0.05, 0.09))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.012)
