"""Things worn on the face or head, drawn procedurally: hat brim, scarf, bandage, eye patch.

Each is a few anti-aliased shapes in face units with shading that suits its material (a felt or
straw brim whose underside is in shade, cloth folds, a plaster's pad and holes, a leather patch).
"""

from __future__ import annotations

import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import (
    Canvas, as_field, blank, draw_polyline, ellipse_points, fill_polygons, gradient, linear_ramp,
)
from training.occluders.colours import jitter, object_colour, vivid_colour
from training.occluders.face import FaceGeometry
from training.occluders.fills import pattern_field, texture_field
from training.occluders.placement import cast_shadow, place, rotation, rounded_rectangle

STRAW = np.array([214.0, 184.0, 124.0])
PLASTER_COLOURS = (np.array([226.0, 186.0, 150.0]), np.array([240.0, 238.0, 232.0]))  # tan, white
# Where plasters go (face units): cheeks, nose bridge, forehead, chin, brows, jaw.
BANDAGE_SPOTS = np.array(
    [[-0.55, 0.45], [0.55, 0.45], [0.0, 0.15], [-0.3, -0.6], [0.3, -0.6], [0.0, 1.45], [-0.5, -0.35], [0.5, -0.35],
     [-0.75, 0.9], [0.75, 0.9]]
)


def paint_hat_brim(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A wide-brimmed hat pulled low: the brim hides the forehead (perhaps the brows) and its
    shadow falls over the eyes."""
    brim_bottom = rng.uniform(-0.6, -0.15)
    half_width, thickness = rng.uniform(1.8, 2.8), rng.uniform(0.12, 0.3)
    centre = np.array([rng.normal(0.0, 0.1), brim_bottom - thickness])
    angle = rng.normal(0.0, 0.08)
    crown = rng.uniform(1.0, 1.4)  # half width
    brim, crown_plane, band = blank(canvas.shape), blank(canvas.shape), blank(canvas.shape)
    fill_polygons(brim, [place(face, centre, angle, ellipse_points(np.zeros(2), (half_width, thickness), 0.0))])
    crown_outline = np.array([[-crown, 0.0], [-crown * 0.9, -3.0], [crown * 0.9, -3.0], [crown, 0.0]])
    fill_polygons(crown_plane, [place(face, centre, angle, crown_outline)])
    band_top = -rng.uniform(0.1, 0.22)
    band_outline = np.array([[-crown, 0.0], [-crown, band_top], [crown, band_top], [crown, 0.0]])
    fill_polygons(band, [place(face, centre, angle, band_outline)])
    if rng.random() < 0.3:  # straw
        colour = jitter(STRAW, rng, 0.1)
        material = pattern_field(canvas.shape, rng, face.unit * rng.uniform(0.05, 0.1)) * 0.15 + as_field(colour) * 0.85
    else:
        colour = object_colour(rng)
        top, bottom = face.to_image(np.array([[0.0, centre[1] - 1.0], [0.0, brim_bottom]]))
        material = gradient(canvas.shape, top, bottom, colour * 1.1, colour * 0.8)
    canvas.paint(crown_plane, material)
    canvas.paint(band, jitter(object_colour(rng), rng))
    # The brim's underside: darker towards the crown, with a lit front edge.
    under_top, under_edge = face.to_image(np.array([centre - [0.0, thickness * 0.5], centre + [0.0, thickness]]))
    darkness = np.float32(rng.uniform(0.35, 0.6)) + np.float32(0.35) * linear_ramp(canvas.shape, under_top, under_edge)
    canvas.paint(brim, material * darkness)
    edge = blank(canvas.shape)
    front_edge = ellipse_points(np.zeros(2), (half_width, thickness), 0.0, 0.0, 180.0, 32)
    draw_polyline(edge, place(face, centre, angle, front_edge), max(1.0, face.unit * 0.03))
    canvas.tint(edge, np.minimum(colour * 1.3 + 20.0, 255.0), rng.uniform(0.2, 0.5))
    cast_shadow(canvas, face, rng, (0.4, 0.65), (0.12, 0.25), (0.06, 0.1), caster=brim)
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.012)


def paint_scarf(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A scarf or neck gaiter pulled up over the mouth (perhaps the nose), with folds and a hem."""
    top, sag = rng.uniform(0.5, 0.95), rng.uniform(0.04, 0.2)
    xs = np.linspace(-2.4, 2.4, 25)
    wave = rng.uniform(0.0, 0.04) * np.sin(xs * rng.uniform(3, 7) + rng.uniform(0, 6))
    edge = np.stack([xs + rng.normal(0, 0.05), top + sag * xs**2 + wave], axis=1) @ rotation(rng.normal(0.0, 0.06)).T
    cloth = blank(canvas.shape)
    fill_polygons(cloth, [face.to_image(np.concatenate([edge, [[2.4, 5.0], [-2.4, 5.0]]]))])
    fabric = _cloth(canvas, face, rng, assets, (0.45, 0.75), (0.8, 2.0), (0.12, 0.4))
    # Folds: soft dark bands roughly parallel to the top edge.
    u, v = face.pixel_coordinates()
    below_edge = v - np.float32(top) - np.float32(sag) * u * u
    period, slant = np.float32(rng.uniform(0.15, 0.35)), np.float32(rng.normal(0, 1.5))
    phase = below_edge / period * np.float32(2 * np.pi) + u * slant
    folds = 1.0 - np.float32(rng.uniform(0.1, 0.25)) * np.sin(phase) ** 2
    canvas.paint(cloth, fabric * folds)
    hem = blank(canvas.shape)
    draw_polyline(hem, face.to_image(edge + [0.0, 0.04]), max(1.0, face.unit * rng.uniform(0.03, 0.07)))
    canvas.tint(hem, (0.0, 0.0, 0.0) if rng.random() < 0.5 else (255.0, 255.0, 255.0), rng.uniform(0.1, 0.25))
    cast_shadow(canvas, face, rng, (0.15, 0.3), (0.0, 0.04), (0.04, 0.08))
    canvas.edge_softness = face.unit * rng.uniform(0.005, 0.02)


def paint_bandage(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """Adhesive plasters on the face: a strip (or a crossed pair) with a pad and breathing holes."""
    spot = BANDAGE_SPOTS[rng.integers(len(BANDAGE_SPOTS))] + rng.normal(0, 0.06, 2)
    length = rng.uniform(0.6, 1.0)
    width = length * rng.uniform(0.26, 0.36)
    base_angle = rng.uniform(-np.pi, np.pi) if rng.random() < 0.6 else rng.normal(0.0, 0.2)
    angles = [base_angle] if rng.random() < 0.7 else [base_angle + np.pi / 4, base_angle - np.pi / 4]
    if rng.random() < 0.85:
        colour = jitter(PLASTER_COLOURS[int(rng.random() < 0.3)], rng, 0.06)
    else:  # children's plasters
        colour = vivid_colour(rng)
    hole_positions = [(x, y) for x in np.linspace(-0.4, 0.4, 8) if abs(x) > 0.2 for y in (-0.2, 0.2)]
    for angle in angles:
        strip, pad, holes = blank(canvas.shape), blank(canvas.shape), blank(canvas.shape)
        fill_polygons(strip, [place(face, spot, angle, rounded_rectangle(length, width, width * 0.45))])
        ends = place(face, spot, angle, np.array([[-length / 2, 0.0], [length / 2, 0.0]]))
        canvas.paint(strip, gradient(canvas.shape, ends[0], ends[1], colour * 1.05, colour * 0.93))
        fill_polygons(pad, [place(face, spot, angle, rounded_rectangle(length * 0.34, width * 0.7, width * 0.1))])
        canvas.tint(pad, np.minimum(colour * 1.12 + 10, 255), 0.6)
        for x, y in hole_positions:
            hole = ellipse_points(np.array([x * length, y * width]), (0.015, 0.015), 0.0, count=6)
            fill_polygons(holes, [place(face, spot, angle, hole)])
        canvas.tint(holes, colour * 0.75, 0.5)
    cast_shadow(canvas, face, rng, (0.08, 0.2), (0.01, 0.03), (0.02, 0.04))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.01)


def paint_eye_patch(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """An eye patch over one eye: black with straps, or a white medical pad taped on."""
    side = rng.choice([-1.0, 1.0])
    centre = np.array([side * 0.5 + rng.normal(0, 0.04), rng.uniform(-0.02, 0.08)])
    axes = (rng.uniform(0.3, 0.4), rng.uniform(0.24, 0.32))
    tilt = rng.normal(0.0, 0.15)
    outline = ellipse_points(np.zeros(2), axes, 0.0)
    outline[:, 1] += np.where(outline[:, 1] > 0, outline[:, 1] * 0.25, 0.0)  # fuller at the bottom
    patch = blank(canvas.shape)
    fill_polygons(patch, [place(face, centre, tilt, outline)])
    top, bottom = face.to_image(np.array([centre - [0, axes[1]], centre + [0, axes[1]]]))
    if rng.random() < 0.65:  # pirate patch with straps round the head
        leather = np.full(3, rng.uniform(10, 40)) + rng.uniform(0, 10, 3)
        straps = blank(canvas.shape)
        thickness = face.unit * rng.uniform(0.04, 0.07)
        outer = centre + np.array([side * axes[0] * 0.9, -axes[1] * 0.3])
        inner = centre + np.array([-side * axes[0] * 0.8, -axes[1] * 0.6])
        round_the_head = outer + np.array([[0.0, 0.0], [side * 0.8, -0.15], [side * 1.6, -0.2]])
        over_the_forehead = inner + np.array([[0.0, 0.0], [-side * 0.6, -0.35], [-side * 1.5, -0.9]])
        draw_polyline(straps, face.to_image(round_the_head), thickness)
        draw_polyline(straps, face.to_image(over_the_forehead), thickness)
        canvas.paint(straps, leather * 1.3)
        canvas.paint(patch, gradient(canvas.shape, top, bottom, leather * 2.0, leather * 0.8))
        stitches = blank(canvas.shape)
        draw_polyline(stitches, place(face, centre, tilt, outline * 0.85), max(1.0, face.unit * 0.015), closed=True)
        canvas.tint(stitches, leather * 3.0, 0.4)
    else:  # medical pad with two strips of tape
        pad = jitter(np.array([238.0, 236.0, 228.0]), rng, 0.04)
        canvas.paint(patch, gradient(canvas.shape, top, bottom, pad, pad * 0.9))
        tape = blank(canvas.shape)
        for angle in (rng.normal(0.6, 0.15), rng.normal(-0.6, 0.15)):
            fill_polygons(tape, [place(face, centre, angle + tilt, rounded_rectangle(axes[0] * 2.4, 0.11, 0.02))])
        canvas.paint(tape, jitter(np.array([228.0, 214.0, 190.0]), rng, 0.06), opacity=0.95)
    cast_shadow(canvas, face, rng, (0.2, 0.35), (0.02, 0.06), (0.03, 0.06))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.01)


def paint_balaclava(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A balaclava, ski mask or full-face covering: cloth over the whole head and neck but an opening
    for the eyes (one band, or two eye holes, perhaps a mouth hole). Real masked photos show them in
    any colour, knitted or printed; without this kind the segmenter left them all in place."""
    head = blank(canvas.shape)
    centre = np.array([rng.normal(0.0, 0.05), rng.uniform(0.2, 0.45)])
    axes = (rng.uniform(1.15, 1.5), rng.uniform(1.9, 2.4))
    fill_polygons(head, [place(face, centre, rng.normal(0.0, 0.05), ellipse_points(np.zeros(2), axes, 0.0))])
    neck = np.array([[-1.0, 1.2], [1.0, 1.2], [1.3, 6.0], [-1.3, 6.0]])
    fill_polygons(head, [face.to_image(neck)])
    opening = blank(canvas.shape)
    eye_line = np.array([rng.normal(0.0, 0.04), rng.uniform(-0.08, 0.06)])
    if rng.random() < 0.6:  # one band over both eyes
        band = rounded_rectangle(rng.uniform(1.5, 2.2), rng.uniform(0.4, 0.75), rng.uniform(0.05, 0.3))
        fill_polygons(opening, [place(face, eye_line, rng.normal(0.0, 0.03), band)])
    else:
        axes_eye = (rng.uniform(0.25, 0.36), rng.uniform(0.16, 0.26))
        for side in (-0.5, 0.5):
            fill_polygons(opening, [place(face, eye_line + [side, 0.0], 0.0, ellipse_points(np.zeros(2), axes_eye, 0.0))])
        if rng.random() < 0.4:
            mouth = ellipse_points(np.zeros(2), (rng.uniform(0.3, 0.45), rng.uniform(0.12, 0.2)), 0.0)
            fill_polygons(opening, [place(face, np.array([0.0, rng.uniform(0.9, 1.0)]), 0.0, mouth)])
    cloth = np.clip(head.astype(np.int16) - opening.astype(np.int16), 0, 255).astype(np.uint8)
    fabric = _cloth(canvas, face, rng, assets, (0.35, 0.6), (0.8, 2.5), (0.1, 0.4))
    # Knit ribs running down the head, and the head's roundness darkening the sides.
    u, v = face.pixel_coordinates()
    ribs = 1.0 - np.float32(rng.uniform(0.0, 0.2)) * np.sin(u * np.float32(2 * np.pi / rng.uniform(0.05, 0.15))) ** 2
    round_head = 1.0 - np.float32(rng.uniform(0.1, 0.3)) * np.clip(np.abs(u) / np.float32(axes[0]), 0, 1) ** 2
    canvas.paint(cloth, fabric * (ribs * round_head))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.015)


def _cloth(canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None,
           shares: tuple[float, float], texture_units: tuple[float, float],
           pattern_units: tuple[float, float]) -> np.ndarray:
    """A fabric's colour field: a real texture (below shares[0], with assets), a printed pattern (below
    shares[1]) or a plain colour; sizes in face units."""
    choice = rng.random()
    if choice < shares[0] and assets is not None:
        texture = assets.textures[rng.integers(len(assets.textures))]
        return texture_field(canvas.shape, texture, rng, face.unit * rng.uniform(*texture_units))
    if choice < shares[1]:
        return pattern_field(canvas.shape, rng, face.unit * rng.uniform(*pattern_units))
    return as_field(object_colour(rng))
