"""Synthetic occlusions for training and evaluating the segmenter and the inpainter.

    assets = OccluderAssets.load(data_root, split="train")
    sample = synthesize(face_crop, landmarks68, rng, assets=assets)      # a random training kind
    sample.image, sample.mask, sample.kind                             # HxWx3 uint8, HxW {0,255}, str

Every kind is placed by the face's 68 dlib landmarks (so it works on any image size and any
face position), jittered in scale, pose, colour and texture, drawn with anti-aliased edges, and,
where a real object would, casts a soft shadow on the face. The mask is exact: 255 where the
occluder's alpha is >= 0.5 (for blur and pixelation, the patch); shadows darken the face but
are not in the mask (they hide nothing). Outside the occluder and its shadow (never farther than
`SHADOW_REACH` face units, one unit being the distance between the eye centres) the image is
unchanged.

Held out of training: `HELDOUT_KINDS` (painters a model never sees) and, with
`OccluderAssets.load(..., split="test")`, mask templates and textures the train split lacks.
`EVAL_KINDS` = those kinds whose occluders are all unseen in training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from training.occluders import censor, fitted, hair, handheld, hands, overlays, shapes, worn
from training.occluders.assets import OccluderAssets
from training.occluders.canvas import Canvas
from training.occluders.face import FaceGeometry

Painter = Callable[[Canvas, FaceGeometry, np.random.Generator, "OccluderAssets | None"], None]

# name -> painter; the order is the order of KINDS (and of the contact sheet).
PAINTERS: dict[str, Painter] = {
    "mask_template": fitted.paint_mask_template,
    "mask_textured": fitted.paint_mask_textured,
    "eyeglasses": fitted.paint_eyeglasses,
    "sunglasses": fitted.paint_sunglasses,
    "cap": fitted.paint_cap,
    "hat_brim": worn.paint_hat_brim,
    "scarf": worn.paint_scarf,
    "balaclava": worn.paint_balaclava,
    "hand_over_mouth": hands.paint_hand_over_mouth,
    "hand_over_eyes": hands.paint_hand_over_eyes,
    "fingers": hands.paint_fingers,
    "phone": handheld.paint_phone,
    "microphone": handheld.paint_microphone,
    "cup": handheld.paint_cup,
    "bandage": worn.paint_bandage,
    "eye_patch": worn.paint_eye_patch,
    "hair_strands": hair.paint_hair_strands,
    "emoji": overlays.paint_emoji,
    "sticker": overlays.paint_sticker,
    "text": overlays.paint_text,
    "blur_patch": censor.paint_blur_patch,
    "pixelation": censor.paint_pixelation,
    "brush_strokes": shapes.paint_brush_strokes,
    "boxes": shapes.paint_boxes,
    "blobs": shapes.paint_blobs,
}
KINDS: tuple[str, ...] = tuple(PAINTERS)
ASSET_KINDS: tuple[str, ...] = ("mask_template", "mask_textured", "eyeglasses", "sunglasses", "cap")
# One unseen occluder per face region: hand-held at the mouth (microphone, cup), over an eye
# (eye_patch), and anywhere (sticker). Their look-alikes (phone, sunglasses, emoji) stay in training.
HELDOUT_KINDS: tuple[str, ...] = ("microphone", "cup", "eye_patch", "sticker")
TRAIN_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k not in HELDOUT_KINDS)
# With split="test" assets these two draw only held-out templates and textures.
EVAL_KINDS: tuple[str, ...] = HELDOUT_KINDS + ("mask_template", "mask_textured")
SHADOW_REACH = 0.5  # face units: no shadow darkens anything farther than this from its occluder
MIN_MASK_AREA = 0.01  # face units squared: a sample with a smaller mask is redrawn
MAX_ATTEMPTS = 4


@dataclass(frozen=True)
class Occlusion:
    """An occluded face: `image` HxWx3 uint8 RGB, `mask` HxW uint8 (255 = occluder), its `kind`."""

    image: np.ndarray
    mask: np.ndarray
    kind: str


def kinds_for(assets: OccluderAssets | None) -> tuple[str, ...]:
    """The kinds to draw from by default: `TRAIN_KINDS` for train assets, `EVAL_KINDS` for test
    assets, and without assets the training kinds that need no occluder images."""
    if assets is None:
        return tuple(k for k in TRAIN_KINDS if k not in ASSET_KINDS)
    return EVAL_KINDS if assets.split == "test" else TRAIN_KINDS


def synthesize(
    image: np.ndarray,
    landmarks68: np.ndarray,
    rng: np.random.Generator,
    kind: str | None = None,
    assets: OccluderAssets | None = None,
    kinds: Sequence[str] | None = None,
) -> Occlusion:
    """Occlude the face in `image` (HxWx3 uint8 RGB) whose dlib landmarks are `landmarks68`
    (68x2, image px) with one occluder of `kind` (None: drawn at random from `kinds`, by default
    `kinds_for(assets)`). Deterministic for a given `rng` state. If the occluder lands (almost)
    outside the image it is redrawn, up to MAX_ATTEMPTS times."""
    _check_image(image)
    face = FaceGeometry.from_landmarks(landmarks68, image.shape)
    if kind is None:
        pool = tuple(kinds) if kinds is not None else kinds_for(assets)
        if not pool:
            raise ValueError("kinds is empty: nothing to draw an occlusion kind from")
        kind = pool[int(rng.integers(len(pool)))]
    painter = PAINTERS.get(kind)
    if painter is None:
        raise ValueError(f"unknown occlusion kind {kind!r}; known kinds: {', '.join(KINDS)}")
    min_pixels = max(4.0, MIN_MASK_AREA * face.unit**2)
    for _ in range(MAX_ATTEMPTS):
        canvas = _new_canvas(image, face, rng)
        painter(canvas, face, rng, assets)
        occluded, mask = canvas.composite()
        if np.count_nonzero(mask) >= min_pixels:
            break
    return Occlusion(occluded, mask, kind)


def synthesize_many(
    image: np.ndarray,
    landmarks68: np.ndarray,
    rng: np.random.Generator,
    count: int = 2,
    assets: OccluderAssets | None = None,
    kinds: Sequence[str] | None = None,
) -> Occlusion:
    """Several occluders on one face (e.g. sunglasses and a mask), painted one over the other;
    the mask is their union and `kind` their names joined by '+'."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    current, names = image, []
    union = np.zeros(image.shape[:2], np.uint8)
    for _ in range(count):
        sample = synthesize(current, landmarks68, rng, assets=assets, kinds=kinds)
        current, names = sample.image, names + [sample.kind]
        np.maximum(union, sample.mask, out=union)
    return Occlusion(current, union, "+".join(names))


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image must be an HxWx3 uint8 RGB array, got shape {shape} dtype {dtype}")


def _new_canvas(image: np.ndarray, face: FaceGeometry, rng: np.random.Generator) -> Canvas:
    """A blank layer with per-sample photo matching: exposure gain and sensor-like grain."""
    canvas = Canvas(image)
    canvas.max_shadow_reach = SHADOW_REACH * face.unit
    centre = face.to_image(np.array([0.0, 0.5])).round().astype(int)
    radius = int(max(2, face.unit * 0.8))
    height, width = image.shape[:2]
    y0, y1 = np.clip([centre[1] - radius, centre[1] + radius], 0, height)
    x0, x1 = np.clip([centre[0] - radius, centre[0] + radius], 0, width)
    region = image[y0:y1, x0:x1] if (y1 > y0 and x1 > x0) else image
    brightness = float(region.mean()) if region.size else 128.0
    canvas.lighting = float(np.clip((brightness / 140.0) ** 0.35 * rng.uniform(0.92, 1.08), 0.6, 1.15))
    canvas.grain = float(rng.uniform(0.5, 4.0))
    canvas.grain_offset = (int(rng.integers(256)), int(rng.integers(256)))
    return canvas
