"""Synthetic photos for training and testing the face detector: faces, many of them occluded, on varied scenes.

A scene is a background (procedural gradients, noise, shapes, textures, or one of the natural photos that
scikit-image ships) with 0-4 faces from the training data cache pasted at random scales (12 px to the whole
frame), positions, rotations (+-30 degrees) and lighting, ~60 % of them wearing an occluder from the occlusion
synthesizer; non-face clutter (occluder objects alone, texture patches) is pasted the same way so that "a pasted
patch" never means "a face". Ground truth comes from the five landmarks carried through each paste:
`facestudio.detection.box_from_landmarks` turns them into the face box (the box convention of the detector).

    python -m training.scenes --data data_cache --out scenes.png     # a contact sheet to look at
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from facestudio.detection import box_from_landmarks, five_point_landmarks

# Landmark index order after a horizontal flip: image-left and image-right swap (dlib 68-point scheme).
_FLIP_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)
# scikit-image sample photos that have shipped inside its wheel for many releases (no download) and show no
# human face (astronaut and lfw_subset do, so they are left out).
SKIMAGE_BACKGROUNDS = (
    "coffee", "chelsea", "rocket", "camera", "brick", "grass", "gravel", "moon", "text", "page", "colorwheel",
    "coins", "clock", "logo", "horse",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

Occluder = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------------------------- sources
@dataclass
class FaceBank:
    """Aligned face crops of one split of the data cache, kept JPEG-encoded in memory, with 68 landmarks each."""

    encoded: list[np.ndarray]
    landmarks68: np.ndarray  # N x 68 x 2 float32, crop pixels
    names: list[str]

    @classmethod
    def load(cls, cache_dir: str | Path, splits: tuple[str, ...] = ("train",), limit: int | None = None) -> FaceBank:
        """Faces of `splits` from `cache_dir` (data_cache/ made by training.prepare_data)."""
        cache_dir = Path(cache_dir)
        meta_path = cache_dir / "meta.npz"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: no face cache here (run python -m training.prepare_data)")
        with np.load(meta_path) as archive:  # read each column once: indexing an NpzFile re-reads the array
            meta = {key: archive[key] for key in ("split", "source", "names", "landmarks68")}
        chosen = np.flatnonzero(np.isin(meta["split"], splits))[:limit]
        encoded, landmarks, names = [], [], []
        for index in chosen:
            path = cache_dir / "faces" / str(meta["source"][index]) / f"{meta['names'][index]}.jpg"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: listed in {meta_path} but missing")
            encoded.append(np.fromfile(path, dtype=np.uint8))
            landmarks.append(meta["landmarks68"][index].astype(np.float32))
            names.append(f"{meta['source'][index]}/{meta['names'][index]}")
        if not encoded:
            raise ValueError(f"{meta_path}: no faces in split(s) {', '.join(splits)}")
        return cls(encoded, np.stack(landmarks), names)

    def __len__(self) -> int:
        return len(self.encoded)

    def face(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(RGB crop HxWx3 uint8, 68x2 landmarks) of face `index`."""
        bgr = cv2.imdecode(self.encoded[index], cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.landmarks68[index].copy()


@dataclass
class ClutterBank:
    """Non-face images for backgrounds and distractors: natural photos, textures (RGB) and occluder cut-outs (RGBA)."""

    photos: list[np.ndarray] = field(default_factory=list)
    cutouts: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def load(cls, occluders_dir: str | Path | None) -> ClutterBank:
        """scikit-image's bundled photos plus the textures and RGBA objects under `occluders_dir` (if given)."""
        bank = cls()
        from skimage import data as skdata

        for name in SKIMAGE_BACKGROUNDS:
            try:
                image = np.asarray(getattr(skdata, name)())
            except Exception:  # noqa: BLE001 - a sample missing from this scikit-image build is simply not used
                continue
            bank.photos.append(_as_rgb(image))
        if occluders_dir is not None and Path(occluders_dir).is_dir():
            for path in sorted(Path(occluders_dir).rglob("*")):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                if image is None:
                    continue
                if image.ndim == 2:
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                if image.shape[2] == 4 and (image[..., 3] < 250).mean() > 0.05:  # a cut-out object
                    bank.cutouts.append(cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA))
                else:
                    bank.photos.append(cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_BGR2RGB))
        if not bank.photos:
            raise RuntimeError("no background photos: neither scikit-image samples nor occluder textures were found")
        return bank


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Any sample image (bool, float, gray, RGBA) -> HxWx3 uint8."""
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def load_occluder(occluders_dir: str | Path, split: str = "train", kinds: tuple[str, ...] | None = None) -> Occluder:
    """The occlusion synthesizer (training.occlusion) as `occlude(image, landmarks68, rng) -> (image, mask)`.

    `split` "train" draws the training kinds and assets, "test" the held-out ones; `kinds` narrows the choice.
    """
    from training.occlusion import OccluderAssets, synthesize

    assets = OccluderAssets.load(occluders_dir, split)

    def occlude(image: np.ndarray, landmarks68: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        result = synthesize(image, landmarks68, rng, assets=assets, kinds=kinds)
        return result.image, result.mask

    return occlude


# --------------------------------------------------------------------------------------------- backgrounds
def random_background(rng: np.random.Generator, height: int, width: int, clutter: ClutterBank) -> np.ndarray:
    """A varied HxWx3 uint8 background: a photo crop, gradient, noise, texture, shapes, or a mix."""
    kind = rng.choice(["photo", "gradient", "noise", "shapes"], p=[0.5, 0.15, 0.15, 0.2])
    if kind == "photo":
        image = _photo_crop(rng, clutter.photos[rng.integers(len(clutter.photos))], height, width)
    elif kind == "gradient":
        image = _gradient(rng, height, width)
    elif kind == "noise":
        image = _smooth_noise(rng, height, width)
    else:
        image = _gradient(rng, height, width) if rng.random() < 0.5 else _smooth_noise(rng, height, width)
    if rng.random() < 0.4 or kind == "shapes":
        _draw_shapes(rng, image, int(rng.integers(3, 25)))
    return image


def _photo_crop(rng: np.random.Generator, photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """A random region of `photo` resized to the background size, randomly flipped and tinted."""
    ph, pw = photo.shape[:2]
    zoom = rng.uniform(0.3, 1.0)
    ch, cw = max(8, int(ph * zoom)), max(8, int(pw * zoom))
    y, x = rng.integers(0, ph - ch + 1), rng.integers(0, pw - cw + 1)
    crop = cv2.resize(photo[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.5:
        crop = crop[::-1]
    table = np.clip(np.arange(256, dtype=np.float32)[:, None] * rng.uniform(0.7, 1.3, size=3), 0, 255)
    return cv2.LUT(np.ascontiguousarray(crop), table.astype(np.uint8)[None])


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A linear two-colour gradient at a random angle (bilinear resize of a 2x2 corner image is exact)."""
    angle = rng.uniform(0, 2 * np.pi)
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)
    t = corners @ np.array([np.cos(angle), np.sin(angle)], np.float32)
    t = ((t - t.min()) / max(1e-6, float(t.max() - t.min()))).reshape(2, 2)
    start, end = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
    small = (start + t[..., None] * (end - start)).astype(np.float32)
    # INTER_LINEAR on a 2x2 image with the corners at the pixel centres: map them to the frame's corners.
    matrix = np.array([[(width - 1), 0, 0], [0, (height - 1), 0]], np.float64)
    return cv2.warpAffine(small, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Multi-octave value noise: blotchy, cloud-like or grainy depending on the octaves drawn."""
    image = np.zeros((height, width, 3), np.float32)
    weight_total = 0.0
    for octave in range(int(rng.integers(1, 5))):
        cells = int(rng.integers(2, 8)) * 2**octave
        small = rng.uniform(0, 255, size=(cells, max(2, cells * width // height), 3)).astype(np.float32)
        weight = 0.5**octave
        image += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        weight_total += weight
    return np.clip(image / weight_total, 0, 255).astype(np.uint8)


def _draw_shapes(rng: np.random.Generator, image: np.ndarray, count: int) -> None:
    """Filled and outlined circles, rectangles, polygons and lines in random colours, drawn in place."""
    height, width = image.shape[:2]
    scale = max(height, width)
    for _ in range(count):
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        thickness = -1 if rng.random() < 0.5 else int(rng.integers(1, 6))
        shape = rng.integers(4)
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        size = int(scale * rng.uniform(0.02, 0.3))
        if shape == 0:
            cv2.circle(image, centre, size, colour, thickness, cv2.LINE_AA)
        elif shape == 1:
            cv2.rectangle(image, centre, (centre[0] + size, centre[1] + int(size * rng.uniform(0.3, 2))), colour,
                          thickness, cv2.LINE_AA)
        elif shape == 2:
            points = (np.array(centre) + rng.normal(0, size, size=(int(rng.integers(3, 7)), 2))).astype(np.int32)
            if thickness < 0:
                cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
            else:
                cv2.polylines(image, [points], True, colour, thickness, cv2.LINE_AA)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(image, centre, end, colour, max(1, thickness), cv2.LINE_AA)


# --------------------------------------------------------------------------------------------- pasting
def _paste(scene: np.ndarray, patch: np.ndarray, alpha: np.ndarray, matrix: np.ndarray) -> None:
    """Blend `patch` (hxwx3 uint8) with `alpha` (hxw float32 0..1) into `scene` under the 2x3 `matrix`, in place.

    Only the scene region the warped patch covers is touched, so pasting is cheap even on large scenes.
    """
    h, w = patch.shape[:2]
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ matrix[:, :2].T + matrix[:, 2]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, scene.shape[1]), min(y1, scene.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    local = matrix.copy()
    local[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    shrinking = np.sqrt(abs(np.linalg.det(matrix[:, :2]))) < 0.7
    flags = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    warped = cv2.warpAffine(patch, local, size, flags=flags, borderMode=cv2.BORDER_REFLECT)
    weight = cv2.warpAffine(alpha, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    region = scene[y0:y1, x0:x1].astype(np.float32)
    scene[y0:y1, x0:x1] = (region + weight * (warped.astype(np.float32) - region)).astype(np.uint8)


def patch_alpha(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A soft-edged hxw float32 alpha for a pasted patch: ellipse, rounded box or the whole patch."""
    alpha = np.zeros((height, width), np.float32)
    shape = rng.choice(["ellipse", "rounded", "full"], p=[0.5, 0.3, 0.2])
    if shape == "ellipse":
        axes = (int(width * rng.uniform(0.42, 0.52)), int(height * rng.uniform(0.45, 0.55)))
        cv2.ellipse(alpha, (width // 2, int(height * rng.uniform(0.47, 0.53))), axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    elif shape == "rounded":
        radius = int(min(height, width) * rng.uniform(0.1, 0.3))
        inset = int(min(height, width) * rng.uniform(0.0, 0.05))
        cv2.rectangle(alpha, (inset + radius, inset), (width - inset - radius, height - inset), 1.0, -1)
        cv2.rectangle(alpha, (inset, inset + radius), (width - inset, height - inset - radius), 1.0, -1)
        for cx in (inset + radius, width - inset - radius):
            for cy in (inset + radius, height - inset - radius):
                cv2.circle(alpha, (cx, cy), radius, 1.0, -1, cv2.LINE_AA)
    else:
        alpha[:] = 1.0
    feather = rng.uniform(0.0, 0.12) * min(height, width)
    if feather < 1.0:
        return alpha
    if shape == "full":  # a linear ramp over the outer `feather` pixels
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        edge = np.minimum(np.minimum(xs, width - 1 - xs), np.minimum(ys, height - 1 - ys))
        return np.clip((edge + 1) / feather, 0, 1)
    return cv2.GaussianBlur(alpha, (0, 0), feather / 2)


def _face_lighting(rng: np.random.Generator, face: np.ndarray) -> np.ndarray:
    """Per-face colour, contrast, gamma (one lookup table per channel) and a linear shading ramp (side light)."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    curve = (levels ** rng.uniform(0.7, 1.4) - 0.5) * rng.uniform(0.6, 1.3) + 0.5 + rng.uniform(-0.15, 0.15)
    table = np.clip(curve[:, None] * rng.uniform(0.85, 1.15, size=3)[None, :] * 255, 0, 255).astype(np.uint8)
    if rng.random() < 0.08:
        face = cv2.cvtColor(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    image = cv2.LUT(np.ascontiguousarray(face), table[None])
    if rng.random() < 0.5:
        h, w = image.shape[:2]
        angle = rng.uniform(0, 2 * np.pi)
        strength = rng.uniform(0.2, 0.9)
        ramp = (np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :] * np.cos(angle)
                + np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None] * np.sin(angle)) * strength + 1.0
        image = cv2.multiply(image, cv2.merge([ramp, ramp, ramp]), dtype=cv2.CV_8U)
    return image


def _flip_face(face: np.ndarray, landmarks68: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flipped = np.ascontiguousarray(face[:, ::-1])
    points = landmarks68[_FLIP_68].copy()
    points[:, 0] = face.shape[1] - 1 - points[:, 0]
    return flipped, points


def _placement(
    rng: np.random.Generator, side: float, height: int, width: int, taken: list[np.ndarray]
) -> np.ndarray | None:
    """A face-box centre for a face of `side` px, mostly inside the frame and clear of other faces."""
    for _ in range(12):
        # A face may hang over the edge by up to 20 % of its side (more only when it is bigger than the frame).
        margin_x = side * 0.3 if side < width else width / 2
        margin_y = side * 0.3 if side < height else height / 2
        cx = rng.uniform(margin_x, max(margin_x, width - margin_x))
        cy = rng.uniform(margin_y, max(margin_y, height - margin_y))
        box = np.array([cx - side / 2, cy - side / 2, side, side])
        if all(_overlap_fraction(box, other) < 0.15 for other in taken):
            return np.array([cx, cy])
    return None


def _overlap_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """Overlap area over the smaller box's area."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / max(1e-6, min(a[2] * a[3], b[2] * b[3]))


# --------------------------------------------------------------------------------------------- scenes
@dataclass
class Scene:
    """A composed photo and its faces: boxes Nx4 (x, y, side, side), landmarks Nx5x2, occluded N, all photo px."""

    image: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    occluded: np.ndarray


@dataclass
class SceneConfig:
    """How scenes are drawn; the defaults are the training distribution."""

    height: int = 384
    width: int = 384
    min_face: float = 12.0  # face box side, px
    max_face_fraction: float = 1.0  # of the shorter scene side
    face_counts: tuple[float, ...] = (0.12, 0.38, 0.22, 0.15, 0.13)  # P(0 faces), P(1), ... P(4)
    occlusion_rate: float = 0.6
    max_roll: float = 30.0  # degrees
    clutter_max: int = 3
    degrade: bool = True  # blur, noise, JPEG
    # Widenings for photos the detector met in use (issue 13); all off by default, so scenes drawn with the
    # defaults (benchmarks/detect.py, evaluate_detector) stay what they were.
    tight_crop_rate: float = 0.0  # share of scenes that are a tight crop: one face filling (or cut by) the frame
    tight_crop_sides: tuple[float, float] = (0.7, 1.3)  # its face box side over the frame side
    stretch_rate: float = 0.0  # share of faces scaled anisotropically (a photo resized to another aspect)
    max_stretch: float = 1.5  # width-over-height stretch drawn log-uniform in [1 / max_stretch, max_stretch]
    plain_mask_rate: float = 0.0  # share of occluded faces wearing a drawn real-style mask (plain colour, pleats)
    look_down_rate: float = 0.0  # share of faces tilted down (perspective: forehead near, chin far, squashed)


class SceneComposer:
    """Draws random `Scene`s from a `FaceBank`, a `ClutterBank` and an occluder (see module docstring)."""

    def __init__(self, faces: FaceBank, clutter: ClutterBank, occlude: Occluder | None, config: SceneConfig) -> None:
        self.faces, self.clutter, self.occlude, self.config = faces, clutter, occlude, config

    def compose(self, rng: np.random.Generator) -> Scene:
        cfg = self.config
        if cfg.tight_crop_rate > 0 and rng.random() < cfg.tight_crop_rate:
            return self._compose_tight_crop(rng)
        image = random_background(rng, cfg.height, cfg.width, self.clutter)
        self._add_clutter(rng, image, int(rng.integers(0, cfg.clutter_max + 1)))
        count = int(rng.choice(len(cfg.face_counts), p=np.asarray(cfg.face_counts) / sum(cfg.face_counts)))
        boxes, landmarks, occluded = [], [], []
        for side in self._face_sides(rng, count):
            centre = _placement(rng, side, cfg.height, cfg.width, boxes)
            if centre is None:
                continue
            face_landmarks, was_occluded = self._paste_face(rng, image, side, centre)
            boxes.append(box_from_landmarks(face_landmarks))
            landmarks.append(face_landmarks)
            occluded.append(was_occluded)
        if cfg.degrade:
            image = degrade(rng, image)
        return Scene(
            image=image,
            boxes=np.array(boxes, np.float32).reshape(-1, 4),
            landmarks=np.array(landmarks, np.float32).reshape(-1, 5, 2),
            occluded=np.array(occluded, bool),
        )

    def _compose_tight_crop(self, rng: np.random.Generator) -> Scene:
        """A tight face crop: one face whose box is 0.7-1.3x the frame (so the frame often cuts forehead, chin or
        cheeks), off-centre by up to 15 % of its side, pasted whole (its own photo around it, no soft edge)."""
        cfg = self.config
        image = random_background(rng, cfg.height, cfg.width, self.clutter)
        low, high = cfg.tight_crop_sides
        side = min(cfg.height, cfg.width) * float(np.exp(rng.uniform(np.log(low), np.log(high))))
        centre = np.array([cfg.width / 2, cfg.height / 2]) + rng.uniform(-0.15, 0.15, size=2) * side
        landmarks, occluded = self._paste_face(rng, image, side, centre, whole=True)
        if cfg.degrade:
            image = degrade(rng, image)
        return Scene(image=image, boxes=box_from_landmarks(landmarks)[None].astype(np.float32),
                     landmarks=landmarks[None].astype(np.float32), occluded=np.array([occluded], bool))

    def _face_sides(self, rng: np.random.Generator, count: int) -> list[float]:
        """Face box sides, log-uniform from min_face to the frame; several faces in a scene are smaller."""
        cfg = self.config
        largest = cfg.max_face_fraction * min(cfg.height, cfg.width) / (1.0 if count <= 1 else np.sqrt(count))
        low, high = np.log(cfg.min_face), np.log(max(cfg.min_face + 1, largest))
        return sorted((float(np.exp(rng.uniform(low, high))) for _ in range(count)), reverse=True)

    def _paste_face(
        self, rng: np.random.Generator, scene: np.ndarray, side: float, centre: np.ndarray, whole: bool = False
    ) -> tuple[np.ndarray, bool]:
        """Paste a random face with its box of `side` px centred at `centre`; return its 5 landmarks, occluded.

        `whole`: paste the face photo without a soft-edged cut-out (a tight crop shows its own photo around it).
        """
        cfg = self.config
        face, landmarks68 = self.faces.face(int(rng.integers(len(self.faces))))
        if rng.random() < 0.5:
            face, landmarks68 = _flip_face(face, landmarks68)
        # The occluder draws from its own generator, so the same seed gives the same scene with or without it.
        occluded = self.occlude is not None and rng.random() < cfg.occlusion_rate
        occluder_rng = np.random.default_rng(int(rng.integers(2**63)))
        if occluded:
            if cfg.plain_mask_rate > 0 and rng.random() < cfg.plain_mask_rate:
                face = paint_plain_mask(face, landmarks68, occluder_rng)
            else:
                face, _ = self.occlude(face, landmarks68, occluder_rng)
        face = _face_lighting(rng, face)
        if cfg.look_down_rate > 0 and rng.random() < cfg.look_down_rate:
            face, landmarks68 = look_down(face, landmarks68, rng)
        five = five_point_landmarks(landmarks68)
        source_box = box_from_landmarks(five)
        source_centre = source_box[:2] + source_box[2:] / 2
        scale = side / source_box[2]
        roll = np.deg2rad(rng.uniform(-cfg.max_roll, cfg.max_roll))
        rotation = scale * np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
        if cfg.stretch_rate > 0 and rng.random() < cfg.stretch_rate:
            aspect = float(np.exp(rng.uniform(-np.log(cfg.max_stretch), np.log(cfg.max_stretch))))
            rotation = np.diag([np.sqrt(aspect), 1.0 / np.sqrt(aspect)]) @ rotation  # the photo's axes, after roll
        matrix = np.hstack([rotation, (centre - rotation @ source_centre)[:, None]])
        alpha = np.ones(face.shape[:2], np.float32) if whole else patch_alpha(rng, *face.shape[:2])
        _paste(scene, face, alpha, matrix)
        return (five @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32), occluded

    def _add_clutter(self, rng: np.random.Generator, scene: np.ndarray, count: int) -> None:
        """Non-face patches pasted like faces: occluder objects on their own, photo and texture pieces."""
        height, width = scene.shape[:2]
        for _ in range(count):
            side = float(np.exp(rng.uniform(np.log(12), np.log(0.8 * min(height, width)))))
            if self.clutter.cutouts and rng.random() < 0.5:
                cutout = self.clutter.cutouts[rng.integers(len(self.clutter.cutouts))]
                patch, alpha = cutout[..., :3], cutout[..., 3].astype(np.float32) / 255.0
            else:
                photo = self.clutter.photos[rng.integers(len(self.clutter.photos))]
                size = int(rng.integers(24, max(25, min(photo.shape[:2]))))
                y, x = rng.integers(0, photo.shape[0] - size + 1), rng.integers(0, photo.shape[1] - size + 1)
                patch = photo[y:y + size, x:x + size]
                if size > 2 * side:  # light and blend at about the pasted size, not the photo's
                    size = int(np.ceil(side))
                    patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
                patch = np.ascontiguousarray(patch)
                alpha = patch_alpha(rng, size, size)
            patch = _face_lighting(rng, patch)
            scale = side / max(patch.shape[:2])
            angle = rng.uniform(-np.pi, np.pi)
            rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            centre = np.array([rng.uniform(0, width), rng.uniform(0, height)])
            patch_centre = np.array([patch.shape[1], patch.shape[0]]) / 2
            matrix = np.hstack([rotation, (centre - rotation @ patch_centre)[:, None]])
            _paste(scene, patch, alpha, matrix)


# Colours of real face masks (RGB): white, surgical blue, light blue, black, grey, navy, pink, beige, green.
PLAIN_MASK_COLOURS = np.array([[235, 235, 232], [150, 190, 225], [190, 215, 235], [30, 30, 32], [130, 130, 135],
                               [40, 50, 85], [230, 185, 200], [215, 195, 170], [120, 175, 150]], np.float32)


def paint_plain_mask(face: np.ndarray, landmarks68: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A real-style face mask drawn from the landmarks: nose bridge to under the chin, cheek to cheek, one plain
    colour (real masks' palette, jittered) with soft shading, optional pleats and ear loops; returns a new crop."""
    points = np.asarray(landmarks68, np.float64)
    unit = float(np.linalg.norm(points[16] - points[0]))
    down = points[8] - points[27]
    down /= max(1e-6, float(np.linalg.norm(down)))
    top = points[27] + down * unit * rng.uniform(0.1, 0.3)  # nose bridge
    jaw = points[1:16].copy()
    jaw[2:-2] += down * unit * rng.uniform(0.02, 0.12)  # the mask hangs below the chin
    outline = np.vstack([points[1] - down * unit * 0.05, top, points[15] - down * unit * 0.05, jaw[::-1]])
    height, width = face.shape[:2]
    coverage = np.zeros((height, width), np.float32)
    cv2.fillPoly(coverage, [np.round(outline * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    colour = np.clip(PLAIN_MASK_COLOURS[rng.integers(len(PLAIN_MASK_COLOURS))] * rng.uniform(0.85, 1.1)
                     + rng.normal(0, 8, size=3), 0, 255)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Shading: lighter across the nose ridge, darker towards the cheeks and under the chin.
    across = np.abs((xs - top[0]) / max(1.0, unit / 2))
    shade = 1.05 - 0.25 * np.clip(across, 0, 1.5) ** 2 * rng.uniform(0.3, 1.0)
    mask_rgb = np.clip(colour[None, None, :] * shade[..., None], 0, 255)
    if rng.random() < 0.5:  # surgical pleats: darker horizontal bands
        for level in rng.uniform(0.25, 0.85, size=int(rng.integers(2, 4))):
            y = top[1] + level * (points[8][1] - top[1])
            band = np.exp(-((ys - y) ** 2) / (2 * max(0.6, unit * 0.012) ** 2))
            mask_rgb *= (1 - 0.25 * band)[..., None]
    texture = rng.normal(0, rng.uniform(1, 6), size=(height, width, 1)).astype(np.float32)
    mask_rgb = np.clip(mask_rgb + texture, 0, 255)
    coverage = cv2.GaussianBlur(coverage, (0, 0), max(0.5, unit * 0.01))[..., None]
    out = face.astype(np.float32) * (1 - coverage) + mask_rgb * coverage
    if rng.random() < 0.6:  # ear loops
        loop_colour = tuple(float(c) for c in colour * 0.9)
        for corner, ear in ((points[1], points[0]), (points[15], points[16])):
            tip = ear - down * unit * rng.uniform(0.05, 0.25)
            cv2.line(out, tuple(int(v) for v in np.round(corner)), tuple(int(v) for v in np.round(tip)), loop_colour,
                     max(1, int(round(unit * 0.012))), cv2.LINE_AA)
    return np.clip(out, 0, 255).astype(np.uint8)


def look_down(face: np.ndarray, landmarks68: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The face crop tilted down (pitch): a perspective warp that keeps the top edge, narrows and raises the bottom
    one (forehead near the camera, chin far and foreshortened); landmarks follow."""
    height, width = face.shape[:2]
    narrow, squash = rng.uniform(0.04, 0.18), rng.uniform(0.72, 0.95)
    source = np.float32([[0, 0], [width, 0], [0, height], [width, height]])
    target = np.float32([[0, 0], [width, 0], [narrow * width, squash * height],
                         [(1 - narrow) * width, squash * height]])
    homography = cv2.getPerspectiveTransform(source, target)
    warped = cv2.warpPerspective(face, homography, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
    moved = cv2.perspectiveTransform(np.asarray(landmarks68, np.float32)[None], homography)[0]
    return warped, moved


def degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Camera and compression damage: blur (focus or motion), sensor noise, JPEG artefacts, global tone."""
    out = image
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.0))
    elif rng.random() < 0.1:
        length = int(rng.integers(3, 9))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0 / length
        rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        out = cv2.filter2D(out, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < 0.5:
        gain, bias = rng.uniform(0.6, 1.3), rng.uniform(-30, 30)
        out = cv2.convertScaleAbs(out, alpha=gain, beta=bias)
    if rng.random() < 0.3:
        noise = rng.standard_normal(size=out.shape, dtype=np.float32) * rng.uniform(2, 12)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
        if ok:
            out = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------------------------- contact sheet
def draw_scene(scene: Scene) -> np.ndarray:
    """The scene with its ground-truth boxes (red occluded, green clean) and landmarks drawn, RGB uint8."""
    canvas = scene.image.copy()
    for box, points, occluded in zip(scene.boxes, scene.landmarks, scene.occluded):
        colour = (255, 40, 40) if occluded else (40, 220, 40)
        x, y, w, h = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, 1)
        for px, py in points:
            cv2.circle(canvas, (int(round(px)), int(round(py))), 2, (255, 255, 0), -1)
    return canvas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render a contact sheet of synthetic detector scenes.")
    parser.add_argument("--data", default="data_cache", help="the training data cache (meta.npz, faces/, occluders/)")
    parser.add_argument("--out", default="scenes.png")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = Path(args.data)
    composer = SceneComposer(
        FaceBank.load(data, ("train",)), ClutterBank.load(data / "occluders"), load_occluder(data / "occluders"),
        SceneConfig(),
    )
    rng = np.random.default_rng(args.seed)
    tiles = [draw_scene(composer.compose(rng)) for _ in range(args.count)]
    columns = 4
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(args.out, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
