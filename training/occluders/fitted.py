"""Real occluder images fitted to the face: MaskTheFace templates, glasses, sunglasses, a cap.

Templates are fitted with a homography from their six masks.cfg anchors to six points found on
the face (nose bridge, the jaw at nose-bridge height, the jaw lower down, under the chin), the
view (front, left, right) chosen to match the head's turn. Glasses go eye-to-eye with a
similarity; the cap sits on the forehead above the brows.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.occluders.assets import GlassesImage, MaskTemplate, OccluderAssets
from training.occluders.canvas import Canvas, as_field, gradient, pixel_grid, shaded
from training.occluders.colours import hsv_colour, jitter, object_colour
from training.occluders.face import CHIN, NOSE_BRIDGE_TOP, NOSE_TIP, FaceGeometry
from training.occluders.fills import pattern_field, texture_field
from training.occluders.placement import cast_shadow, similarity

SUNGLASS_LENS_TINTS = np.array(  # dark greys, brown, green, blue; mirrored gold, blue, pink
    [[18, 18, 22], [30, 28, 26], [62, 42, 26], [30, 46, 32], [26, 36, 62], [48, 48, 52], [170, 130, 60],
     [70, 120, 185], [140, 60, 90]],
    dtype=np.float64,
)
FRAME_COLOURS = np.array(  # black, tortoise browns, gold, silver, red, navy
    [[20, 20, 20], [35, 30, 28], [90, 60, 35], [60, 40, 30], [190, 160, 90], [170, 170, 175], [130, 25, 30],
     [30, 50, 110]],
    dtype=np.float64,
)
RIGID_FAMILIES = ("gas",)  # respirators: never re-made in a printed cloth


def require_assets(assets: OccluderAssets | None, kind: str) -> OccluderAssets:
    if assets is None:
        raise ValueError(
            f"occlusion kind {kind!r} pastes real occluder images: pass assets=OccluderAssets.load(data_root)"
        )
    return assets


def warp_rgba(rgba: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp premultiplied RGBA uint8 by a 2x3 or 3x3 matrix into (3xHxW float32 colour, HxW
    float32 alpha 0..1), both still premultiplied."""
    size = (shape[1], shape[0])
    if matrix.shape == (3, 3):
        warped = cv2.warpPerspective(rgba, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    else:
        warped = cv2.warpAffine(rgba, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    planes = np.stack(cv2.split(warped)).astype(np.float32)
    return planes[:3], planes[3] * np.float32(1.0 / 255.0)


def shading_of(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxW brightness of a premultiplied layer relative to its mean (folds, pleats): ~1 on
    average where opaque, scaled by alpha elsewhere."""
    luminance = colour.mean(axis=0)
    mean = float(luminance.sum() / max(float(alpha.sum()), 1e-6))
    return luminance / max(mean, 1.0)


# ---- face-mask templates --------------------------------------------------------------------


def mask_anchor_points(face: FaceGeometry, rng: np.random.Generator) -> np.ndarray:
    """Six face points (image px) matching masks.cfg anchors a..f: a, c the jaw at the height of
    b on the nose bridge; e under the chin; d, f the jaw between the two."""
    bridge_top, nose_tip, chin = face.landmark(NOSE_BRIDGE_TOP), face.landmark(NOSE_TIP), face.landmark(CHIN)
    b = bridge_top + rng.uniform(0.3, 0.55) * (nose_tip - bridge_top)
    e = chin + np.array([rng.normal(0.0, 0.03), rng.uniform(0.02, 0.12)])
    lower = b[1] + rng.uniform(0.58, 0.66) * (e[1] - b[1])
    widen = np.array([rng.uniform(0.0, 0.08), 0.0])  # masks stand off the cheeks a little
    a, c = face.jaw_point_at(b[1], -1) - widen, face.jaw_point_at(b[1], +1) + widen
    d, f = face.jaw_point_at(lower, -1) - widen, face.jaw_point_at(lower, +1) + widen
    return face.to_image(np.array([a, b, c, d, e, f]))


def choose_template(
    assets: OccluderAssets, face: FaceGeometry, rng: np.random.Generator, cloth_only: bool = False
) -> MaskTemplate:
    """A random template family (`cloth_only`: not a rubber respirator), in the view whose nose
    position best matches the head's turn."""
    families = sorted({t.family for t in assets.templates if not (cloth_only and t.family in RIGID_FAMILIES)})
    family = families[rng.integers(len(families))]
    views = [t for t in assets.templates if t.family == family]
    turn = face.yaw_ratio()
    return min(views, key=lambda t: abs(t.nose_ratio() - turn))


def fit_template(
    canvas: Canvas, face: FaceGeometry, template: MaskTemplate, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The template warped onto the face: (premultiplied colour 3xHxW, alpha HxW)."""
    homography, _ = cv2.findHomography(template.anchors, mask_anchor_points(face, rng), 0)
    if homography is None:
        raise ValueError(f"mask template {template.name}: its anchors do not define a homography")
    return warp_rgba(template.rgba, homography, canvas.shape)


def paint_mask_template(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A MaskTheFace template, in its own colours (jittered) or dyed a plain colour."""
    assets = require_assets(assets, "mask_template")
    colour, alpha = fit_template(canvas, face, choose_template(assets, face, rng), rng)
    if rng.random() < 0.3:
        colour = shaded(object_colour(rng) * (225.0 / 255.0), shading_of(colour, alpha) * alpha)
    else:
        colour = colour * as_field(jitter(np.ones(3), rng, 0.12))
    canvas.paint_premultiplied(colour, alpha)
    _mask_shadow(canvas, face, rng)


def paint_mask_textured(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A MaskTheFace template re-made in a patterned cloth (MaskTheFace's textures), its folds kept."""
    assets = require_assets(assets, "mask_textured")
    colour, alpha = fit_template(canvas, face, choose_template(assets, face, rng, cloth_only=True), rng)
    if rng.random() < 0.8:
        texture = assets.textures[rng.integers(len(assets.textures))]
        cloth = texture_field(canvas.shape, texture, rng, face.unit * rng.uniform(0.8, 2.5))
    else:
        cloth = pattern_field(canvas.shape, rng, face.unit * rng.uniform(0.1, 0.3))
    shading = np.clip(shading_of(colour, alpha), 0.0, 1.6) ** np.float32(0.8)
    canvas.paint_premultiplied(cloth * (shading * alpha), alpha)
    _mask_shadow(canvas, face, rng)


def _mask_shadow(canvas: Canvas, face: FaceGeometry, rng: np.random.Generator) -> None:
    """A mask lies on the face: a faint, tight shadow along its edges."""
    cast_shadow(canvas, face, rng, (0.12, 0.3), (0.01, 0.04), (0.03, 0.07))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.012)


# ---- glasses --------------------------------------------------------------------------------


def glasses_matrix(face: FaceGeometry, glasses: GlassesImage, rng: np.random.Generator) -> np.ndarray:
    """2x3 similarity putting the lens centres on the eye centres (with size and pose jitter)."""
    shift = np.array([rng.normal(0, 0.03), rng.uniform(-0.04, 0.1)])
    eyes = face.to_image(np.array([[-0.5, 0.0], [0.5, 0.0]]) * rng.uniform(1.0, 1.12) + shift)
    source = glasses.lens_centres
    source_vector, target_vector = source[1] - source[0], eyes[1] - eyes[0]
    scale = np.hypot(*target_vector) / np.hypot(*source_vector)
    angle = np.arctan2(target_vector[1], target_vector[0]) - np.arctan2(source_vector[1], source_vector[0])
    return similarity(scale, angle + rng.normal(0, 0.03), source.mean(axis=0), eyes.mean(axis=0))


def paint_eyeglasses(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """Clear eyeglasses: only the frame occludes; it casts a soft shadow."""
    glasses = require_assets(assets, "eyeglasses").eyeglasses
    _, alpha = warp_rgba(glasses.rgba, glasses_matrix(face, glasses, rng), canvas.shape)
    frame = jitter(FRAME_COLOURS[rng.integers(len(FRAME_COLOURS))], rng, 0.15)
    top, bottom = face.to_image(np.array([[0.0, -0.3], [0.0, 0.3]]))
    canvas.paint(alpha, gradient(canvas.shape, top, bottom, frame * 1.25, frame * 0.8))
    cast_shadow(canvas, face, rng, (0.2, 0.4), (0.03, 0.08), (0.02, 0.05))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.01)


def paint_sunglasses(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """Sunglasses with tinted (dark, gradient or mirrored) lenses, a coloured frame and a glint."""
    glasses = require_assets(assets, "sunglasses").sunglasses
    matrix = glasses_matrix(face, glasses, rng)
    _, alpha = warp_rgba(glasses.rgba, matrix, canvas.shape)
    lens = cv2.warpAffine(glasses.lens, matrix, canvas.shape[::-1], flags=cv2.INTER_LINEAR)
    lens_alpha = np.minimum(lens.astype(np.float32) * np.float32(1.0 / 255.0), alpha)
    top, bottom = face.to_image(np.array([[0.0, -0.25], [0.0, 0.3]]))
    tint = jitter(SUNGLASS_LENS_TINTS[rng.integers(len(SUNGLASS_LENS_TINTS))], rng, 0.15)
    lens_colour = gradient(canvas.shape, top, bottom, tint * rng.uniform(0.5, 1.0), tint * rng.uniform(1.0, 1.8))
    canvas.paint(alpha, jitter(FRAME_COLOURS[rng.integers(len(FRAME_COLOURS))], rng, 0.15))
    canvas.paint(lens_alpha, lens_colour, opacity=rng.uniform(0.85, 1.0))
    glint_start, glint_end = face.to_image(np.array([[-0.8, -0.3], [-0.5, 0.3]]) + [rng.uniform(0, 0.6), 0])
    glint = np.exp(-((_distance_to_line(canvas.shape, glint_start, glint_end) / (face.unit * 0.08)) ** 2))
    canvas.tint(lens_alpha * glint, (255.0, 255.0, 255.0), rng.uniform(0.05, 0.3))
    cast_shadow(canvas, face, rng, (0.25, 0.45), (0.04, 0.1), (0.03, 0.06))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.01)


def _distance_to_line(shape: tuple[int, int], start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """HxW float32 distance (px) of each pixel to the infinite line through start and end."""
    xs, ys = pixel_grid(shape)
    direction = (end - start) / max(float(np.hypot(*(end - start))), 1e-6)
    dx, dy = np.float32(direction[0]), np.float32(direction[1])
    return np.abs((xs - np.float32(start[0])) * dy - (ys - np.float32(start[1])) * dx)


# ---- cap ------------------------------------------------------------------------------------


def paint_cap(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A baseball cap low on the forehead, in its own colour or dyed; its brim shades the face."""
    cap = require_assets(assets, "cap").cap
    face_width = face.unit * (face.landmark(16)[0] - face.landmark(0)[0])
    scale = face_width * rng.uniform(1.15, 1.45) / cap.width
    brim = face.to_image(np.array([rng.normal(0.0, 0.08), rng.uniform(-0.4, 0.0)]))
    matrix = similarity(scale, face.roll + rng.normal(0.0, 0.08), cap.brim, brim)
    colour, alpha = warp_rgba(cap.rgba, matrix, canvas.shape)
    if rng.random() < 0.6:
        dye = hsv_colour(rng.uniform(0, 6), rng.uniform(0.0, 0.8), rng.uniform(60, 240)) * (200.0 / 255.0)
        colour = shaded(dye, shading_of(colour, alpha) * alpha)
    canvas.paint_premultiplied(colour, alpha)
    cast_shadow(canvas, face, rng, (0.35, 0.6), (0.1, 0.2), (0.06, 0.1))
    canvas.edge_softness = face.unit * rng.uniform(0.0, 0.012)
