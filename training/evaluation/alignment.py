"""Face alignment end to end: what the crop each way of finding the face gives does to the app's quality.

The rest of the evaluation scores the models on the data cache's aligned crops, i.e. with perfect
alignment. Here each test face, wearing its held-out occluder case (`cases.make_cases`, the same case
the crop-level tables score), is warped into a larger photo at a random scale (face box
`face_box` px), position and roll (up to `max_roll` degrees) on a background from
`training.scenes.random_background`, into which the face's blurred edges are carried so that the
crop's square outline does not show; its five landmarks and occlusion mask in the photo are known. The app's own `Pipeline.auto_fix(photo, faces=[face])` then runs with the face framed three ways:

    true landmarks    the known five points: the geometry the models were trained on
    learned detector  the learned detector's face matching the true box (IoU >= 0.3), its five points
    Haar              the Haar cascade's matching face, its five points estimated from the box

Scored in photo space: IoU and Dice of auto_fix's mask against the true mask; hole PSNR of the
fixed photo against the clean photo inside the true mask, for the generator and for Telea filling
the same (segmented, grown) mask; for the detectors, the share of faces found and the landmark
error (mean distance of the five points over the true inter-ocular distance). A missed face counts
in the found share only; each detector's row also gives its difference from the true landmarks on
the faces it found, so that missing the hard faces does not pass for better alignment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facestudio import metrics
from facestudio.api import Pipeline, load_pipeline
from facestudio.detection import box_from_landmarks, five_point_landmarks
from facestudio.faces import Face, FaceDetector, build_face_detector
from facestudio.models.checkpoint import CheckpointError
from training.data import FaceCache
from training.evaluate_detector import match_faces
from training.evaluation.cases import HELDOUT, EvalFace, HoleCase, evaluation_order, load_faces, make_cases
from training.evaluation.scores import PSNR_CAP_DB
from training.occluders.assets import OccluderAssets
from training.scenes import ClutterBank, random_background

TRUE_LANDMARKS, LEARNED, HAAR = "true landmarks", "learned detector", "Haar (landmarks from box)"
METHODS = ("gan", "telea")  # auto_fix methods whose fills are scored
NEEDED_MODELS = ("segmenter", "encoder", "generator")
MATCH_IOU = 0.3  # a detected box must overlap the true face box this much to be that face (issue 4's rule)
EDGE_FEATHER = 1.5 / 128.0  # the pasted crop fades into its surroundings over this share of its side
SURROUND = 0.4  # the face's blurred edges reach this share of the crop side into the background
SURROUND_BLUR = 3.0 / 128.0  # Gaussian sigma of those edges, share of the crop side
_PLACEMENT_SALT = 7919  # keeps the photo's randomness apart from the cases' (cases.py salts 0-4)


@dataclass(frozen=True)
class AlignmentConfig:
    """How many test faces, the seed (face order and placement), the photo size (px) and face geometry."""

    n: int = 100
    seed: int = 0
    height: int = 384
    width: int = 512
    face_box: tuple[float, float] = (80.0, 250.0)  # side of the face box in the photo, px (log-uniform)
    max_roll: float = 20.0  # degrees


@dataclass(frozen=True)
class FacePhoto:
    """A test face put into a photo: what the app is given and the truths it is scored against.

    image / clean: HxWx3 uint8 photo with the occluded / the clean face; mask: HxW uint8, 255 where
    the occluder shows; landmarks: the true five points (5x2 float32, photo px); matrix: the 2x3
    crop -> photo warp that placed the face.
    """

    case: HoleCase
    image: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray

    @property
    def box(self) -> np.ndarray:
        """The true face box (x, y, side, side), in the detector's box convention."""
        return box_from_landmarks(self.landmarks)

    def true_face(self) -> Face:
        return Face(box=tuple(self.box), landmarks=self.landmarks, source="truth")


@dataclass
class FramingScores:
    """One face under one framing: found or not, and if found its landmark error and quality scores."""

    found: bool
    landmark_error: float = math.nan
    iou: float = math.nan
    dice: float = math.nan
    psnr_hole: dict[str, float] = field(default_factory=dict)  # auto_fix method -> dB in the true mask


def place_in_photo(case: HoleCase, background: np.ndarray, rng: np.random.Generator,
                   config: AlignmentConfig = AlignmentConfig()) -> FacePhoto:
    """Warp the case's crop (and its clean face and mask) onto `background` at a random scale,
    position and roll, its blurred edges carried outwards into the background (`_surround`)."""
    crop = case.image.shape[0]
    five = five_point_landmarks(case.face.landmarks)
    side = math.exp(rng.uniform(*np.log(config.face_box)))
    scale = side / box_from_landmarks(five)[2]
    roll = math.radians(rng.uniform(-config.max_roll, config.max_roll))
    rotation = scale * np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    # Keep the whole crop in the photo where it fits, so the true mask is never cut by the frame.
    half_extent = 0.5 * crop * scale * (abs(math.cos(roll)) + abs(math.sin(roll)))
    height, width = background.shape[:2]
    centre = np.array([_uniform_inside(rng, half_extent, width), _uniform_inside(rng, half_extent, height)])
    matrix = np.hstack([rotation, (centre - rotation @ np.full(2, (crop - 1) / 2.0))[:, None]])

    size = (width, height)
    alpha = _warp(_feathered_square(crop, EDGE_FEATHER * crop), matrix, size)[..., None]
    backdrop = _surround(case.truth, background, alpha[..., 0], matrix, SURROUND * crop * scale)

    def composite(face: np.ndarray) -> np.ndarray:
        blended = backdrop + alpha * (_warp(face.astype(np.float32), matrix, size) - backdrop)
        return np.clip(np.round(blended), 0, 255).astype(np.uint8)

    visible = (_warp(case.mask.astype(np.float32), matrix, size) >= 127.5) & (alpha[..., 0] >= 0.5)
    return FacePhoto(
        case=case,
        image=composite(case.image),
        clean=composite(case.truth),
        mask=np.where(visible, 255, 0).astype(np.uint8),
        landmarks=(five @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32),
        matrix=matrix,
    )


def face_case(face: EvalFace, assets: OccluderAssets, seed: int) -> HoleCase:
    """The face's held-out occluder case, the very one the crop-level tables score."""
    return next(case for case in make_cases(face, assets, seed) if case.group == HELDOUT)


def compose_photo(case: HoleCase, clutter: ClutterBank, config: AlignmentConfig) -> FacePhoto:
    """The case's photo: background and placement drawn from (seed, face row), independent of `n`."""
    rng = np.random.default_rng([config.seed, case.face.row, _PLACEMENT_SALT])
    background = random_background(rng, config.height, config.width, clutter)
    return place_in_photo(case, background, rng, config)


def frame_face(photo: FacePhoto, detector: FaceDetector | None) -> Face | None:
    """The face to fix: the true one (`detector` None), else the detected face matching the true box
    (IoU >= MATCH_IOU, best score first), or None when the detector misses it."""
    if detector is None:
        return photo.true_face()
    found = detector.detect(photo.image)
    if not found:
        return None
    boxes = np.array([face.box for face in found], dtype=np.float64)
    scores = np.array([face.score for face in found])
    matched, _ = match_faces(boxes, scores, photo.box[None], MATCH_IOU)
    return found[matched[0]] if matched[0] >= 0 else None


def score_framing(pipeline: Pipeline, photo: FacePhoto, face: Face | None) -> FramingScores:
    """auto_fix of the photo with `face` (each method in METHODS), scored against the photo's truths."""
    if face is None:
        return FramingScores(found=False)
    eyes = np.linalg.norm(photo.landmarks[1] - photo.landmarks[0])
    scores = FramingScores(
        found=True, landmark_error=float(np.linalg.norm(face.landmarks - photo.landmarks, axis=1).mean() / eyes)
    )
    for method in METHODS:
        fixed = pipeline.auto_fix(photo.image, method=method, faces=[face])
        psnr = metrics.psnr(fixed.image, photo.clean, photo.mask)
        scores.psnr_hole[method] = PSNR_CAP_DB if math.isinf(psnr) else psnr
        if method == METHODS[0]:
            scores.iou = metrics.iou(fixed.mask, photo.mask)
            scores.dice = metrics.dice(fixed.mask, photo.mask)
    return scores


@dataclass
class AlignmentResult:
    """Per framing, one FramingScores per evaluated face (same order); framings skipped, with why."""

    faces: int
    scores: dict[str, list[FramingScores]]
    skipped: dict[str, str]
    wall_s: float
    cpu_s: float


def run_alignment(
    cache: FaceCache,
    assets: OccluderAssets,
    pipeline: Pipeline,
    detectors: dict[str, FaceDetector],
    config: AlignmentConfig = AlignmentConfig(),
    skipped: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> AlignmentResult:
    """Score the first `config.n` test faces (evaluation order) under the true landmarks and each of
    `detectors` (framing name -> detector)."""
    wall, cpu = time.perf_counter(), time.process_time()
    clutter = ClutterBank.load(None)  # scikit-image's bundled photos: no file of ours as a backdrop
    framings = {TRUE_LANDMARKS: None, **detectors}
    scores: dict[str, list[FramingScores]] = {name: [] for name in framings}
    rows = evaluation_order(cache, config.seed)[: config.n]
    for face in load_faces(cache, rows):
        photo = compose_photo(face_case(face, assets, config.seed), clutter, config)
        for name, detector in framings.items():
            scores[name].append(score_framing(pipeline, photo, frame_face(photo, detector)))
        if progress is not None and ((face.index + 1) % 25 == 0 or face.index + 1 == len(rows)):
            progress(f"alignment: {face.index + 1}/{len(rows)} faces, {time.perf_counter() - wall:.0f} s")
    return AlignmentResult(len(rows), scores, dict(skipped or {}), time.perf_counter() - wall,
                           time.process_time() - cpu)


def evaluate_alignment(
    cache: FaceCache,
    assets: OccluderAssets,
    weights_dir: Path,
    device: str,
    config: AlignmentConfig,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The alignment section of results.json for the checkpoints in `weights_dir`.

    Needs segmenter, encoder and generator (auto_fix runs all three); the learned detector framing
    needs detector.pt and is skipped, with the reason, without it. A bad checkpoint is one clear error.
    """
    missing = [kind for kind in NEEDED_MODELS if not (weights_dir / f"{kind}.pt").is_file()]
    if missing:
        return {"not_measured": f"needs {' and '.join(f'{kind}.pt' for kind in missing)} in the weights folder"}
    pipeline = load_pipeline(device=device, weights_dir=weights_dir, detector="haar")
    detectors: dict[str, FaceDetector] = {}
    skipped: dict[str, str] = {}
    try:
        pipeline.load_models(NEEDED_MODELS)
        if (weights_dir / "detector.pt").is_file():
            detectors[LEARNED] = build_face_detector("learned", weights_dir, pipeline.device)
        else:
            skipped[LEARNED] = "no detector.pt in the weights folder"
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    detectors[HAAR] = build_face_detector("haar", weights_dir)
    return summarize_alignment(run_alignment(cache, assets, pipeline, detectors, config, skipped, progress), config)


def summarize_alignment(result: AlignmentResult, config: AlignmentConfig) -> dict[str, Any]:
    """Per framing: faces found, mean landmark error, IoU, Dice, hole PSNR per method and the gain
    over Telea (means over found faces), and the difference from the true landmarks on those faces."""
    truth = result.scores[TRUE_LANDMARKS]
    framings: dict[str, Any] = {}
    for name, scores in result.scores.items():
        found = [i for i, score in enumerate(scores) if score.found]
        entry: dict[str, Any] = {
            "faces": result.faces,
            "found": len(found),
            "found_share": len(found) / result.faces if result.faces else None,
            "landmark_error": _mean(scores[i].landmark_error for i in found),
            "iou": _mean(scores[i].iou for i in found),
            "dice": _mean(scores[i].dice for i in found),
            "psnr_hole": {method: _mean(scores[i].psnr_hole[method] for i in found) for method in METHODS},
        }
        entry["psnr_hole_gain_over_telea"] = _mean(
            scores[i].psnr_hole["gan"] - scores[i].psnr_hole["telea"] for i in found
        )
        if name != TRUE_LANDMARKS:
            entry["vs_true_landmarks"] = {
                "iou": _mean(scores[i].iou - truth[i].iou for i in found),
                "psnr_hole": _mean(scores[i].psnr_hole["gan"] - truth[i].psnr_hole["gan"] for i in found),
            }
        framings[name] = entry
    return {
        "faces": result.faces,
        "photo": [config.width, config.height],
        "face_box_px": list(config.face_box),
        "max_roll_degrees": config.max_roll,
        "framings": framings,
        "skipped_framings": result.skipped,
        "wall_s": result.wall_s,
        "cpu_s": result.cpu_s,
    }


def _mean(values: Iterable[float | None]) -> float | None:
    """Mean of the finite values, None when there are none."""
    kept = [value for value in values if value is not None and math.isfinite(value)]
    return float(np.mean(kept)) if kept else None


def _surround(face: np.ndarray, background: np.ndarray, alpha: np.ndarray, matrix: np.ndarray,
              reach: float) -> np.ndarray:
    """HxWx3 float32 backdrop: the clean face's blurred edges carried outwards (as a face's
    surroundings continue in a real photo), fading into `background` over `reach` photo px.

    Without it the crop's square outline is an edge no photo has, which the segmenter marks as
    occluded and which would be scored as alignment's fault.
    """
    blurred = cv2.GaussianBlur(face, (0, 0), SURROUND_BLUR * face.shape[0], borderType=cv2.BORDER_REPLICATE)
    height, width = background.shape[:2]
    carried = cv2.warpAffine(blurred.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    outside = cv2.distanceTransform(np.where(alpha > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    weight = np.clip(1.0 - outside / max(reach, 1.0), 0.0, 1.0)[..., None]
    return background.astype(np.float32) + weight * (carried - background.astype(np.float32))


def _uniform_inside(rng: np.random.Generator, half_extent: float, length: int) -> float:
    """A centre coordinate keeping +-half_extent inside [0, length - 1]; the middle when it cannot."""
    low, high = half_extent, length - 1 - half_extent
    return float(rng.uniform(low, high)) if high > low else (length - 1) / 2.0


def _feathered_square(size: int, feather: float) -> np.ndarray:
    """size x size float32 alpha: 1 inside, a linear ramp to 0 over the outer `feather` pixels."""
    ramp = np.clip((np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5) / feather, 0.0, 1.0)
    return np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)


def _warp(source: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`source` (crop px) into the photo (`size` = width, height) under the crop -> photo `matrix`, 0 outside."""
    return cv2.warpAffine(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

