"""The encoder identity backend's threshold, derived from pairs of held-out faces.

Same person: each test-split face against its mirror image, and against itself behind a synthetic
occluder (`training.occlusion`, the test split's held-out kinds and assets, kinds in turn).
Different people: every pair of two different faces. The cache keeps no identity labels (UTK file
names carry none; the CelebA crops come from "Face Mask 12K" without their identity ids), so two
rows are taken as two people; a person photographed twice would count as a "different" pair.

Vectors come from `Pipeline.embed`, the code the app runs, and distances from the encoder
backend's formula (`facestudio.identity.encoder_backend`). The cache's crops are aligned already:
with "aligned" framing the pipeline gets a detector that finds nothing, so `embed` takes each crop
as the aligned face (the vectors `training.evaluation.models` computes, to float precision);
"detected" framing lets the app's Haar detector re-frame each crop, as `facestudio identity` does
on crop files. The threshold maximises balanced accuracy over a grid (ties: the larger).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facestudio.api import Pipeline
from facestudio.faces import Face, HaarFaceDetector
from facestudio.identity import IdentityResult
from training.evaluation.cases import EvalFace
from training.occlusion import kinds_for, synthesize
from training.occluders.assets import OccluderAssets

MIRROR, OCCLUDED, DIFFERENT = "mirror", "occluded", "different"
PAIR_KINDS = (MIRROR, OCCLUDED, DIFFERENT)
FRAMINGS = ("aligned", "detected")
MAX_DISTANCE = 2.0  # cosine distance of opposite unit vectors
_OCCLUSION_SALT = 1  # keeps a face's occluder draw apart from other draws seeded by (seed, row)

# (image_a, image_b) -> the judge's verdict, or None when it could not compare them
PairJudge = Callable[[np.ndarray, np.ndarray], "IdentityResult | None"]


class NoFaceDetector:
    """A detector that finds nothing, so `Pipeline.embed` takes the whole image as the aligned crop."""

    def detect(self, image: np.ndarray) -> list[Face]:
        return []


def calibration_pipeline(weights_dir: Path, framing: str = "aligned", device: str = "cpu") -> Pipeline:
    """The app's Pipeline on `weights_dir`, framing crops as given ("aligned") or by Haar ("detected")."""
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}: use one of {', '.join(FRAMINGS)}")
    detector = NoFaceDetector() if framing == "aligned" else HaarFaceDetector()
    return Pipeline(device=device, weights_dir=weights_dir, detector=detector)


def checkpoint_sha256(path: Path, digits: int = 16) -> str:
    """First `digits` hex digits of the file's sha256: which checkpoint was calibrated."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:digits]


@dataclass(frozen=True)
class FaceVariants:
    """A test face, its mirror image and its occluded version (HxWx3 uint8 RGB aligned crops)."""

    face: EvalFace
    mirror: np.ndarray
    occluded: np.ndarray
    occluder: str  # the occlusion kind


def face_variants(faces: Sequence[EvalFace], assets: OccluderAssets, seed: int) -> list[FaceVariants]:
    """Each face with its mirror and an occluder of the assets' split kinds, kinds in turn over the faces;
    a face's occluder depends on (seed, its row) only."""
    kinds = kinds_for(assets)
    variants = []
    for face in faces:
        rng = np.random.default_rng([seed, face.row, _OCCLUSION_SALT])
        occlusion = synthesize(face.clean, face.landmarks, rng, kind=kinds[face.index % len(kinds)], assets=assets)
        mirror = np.ascontiguousarray(face.clean[:, ::-1])
        variants.append(FaceVariants(face, mirror, occlusion.image, occlusion.kind))
    return variants


def embed(pipeline: Pipeline, images: Sequence[np.ndarray]) -> np.ndarray:
    """Nx`D` float32 unit identity vectors, one `Pipeline.embed` per image (the app's path)."""
    return np.stack([pipeline.embed(image) for image in images]).astype(np.float32)


def cosine_distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise distance of unit vectors as the encoder backend measures it: 1 - cosine, in [0, 2]."""
    dots = np.sum(np.asarray(first, np.float64) * np.asarray(second, np.float64), axis=1)
    return np.clip(1.0 - dots, 0.0, MAX_DISTANCE)


@dataclass(frozen=True)
class PairDistances:
    """Encoder distances: `mirror[i]`, `occluded[i]` of face i to its clean crop (`occluders[i]` its
    occluder kind); `different` over every pair (i, j), i < j, in `different_pairs`."""

    mirror: np.ndarray
    occluded: np.ndarray
    occluders: tuple[str, ...]
    different: np.ndarray
    different_pairs: np.ndarray  # Px2 face indices

    @property
    def same(self) -> np.ndarray:
        return np.concatenate([self.mirror, self.occluded])

    def of(self, kind: str) -> np.ndarray:
        """The distances of one pair kind: "mirror", "occluded" or "different"."""
        return {MIRROR: self.mirror, OCCLUDED: self.occluded, DIFFERENT: self.different}[kind]


def pair_distances(pipeline: Pipeline, variants: Sequence[FaceVariants]) -> PairDistances:
    """Encoder distances of the same-person and different-people pairs of `variants` (two faces at least)."""
    if len(variants) < 2:
        raise ValueError(f"need two faces at least for pairs of different people, got {len(variants)}")
    clean = embed(pipeline, [v.face.clean for v in variants])
    mirror = embed(pipeline, [v.mirror for v in variants])
    occluded = embed(pipeline, [v.occluded for v in variants])
    first, second = np.triu_indices(len(variants), k=1)
    return PairDistances(
        mirror=cosine_distances(mirror, clean),
        occluded=cosine_distances(occluded, clean),
        occluders=tuple(v.occluder for v in variants),
        different=cosine_distances(clean[first], clean[second]),
        different_pairs=np.stack([first, second], axis=1),
    )


def reframing_shift(aligned: Pipeline, detected: Pipeline, images: Sequence[np.ndarray]) -> dict[str, float]:
    """How far the app's Haar framing moves a crop's vector from the aligned crop's: the share of
    crops Haar finds a face in and quantiles of the distance between the two vectors."""
    found = np.mean([len(detected.detect(image)) > 0 for image in images])
    shift = cosine_distances(embed(aligned, images), embed(detected, images))
    return {"haar_found_share": float(found), **quantiles(shift)}


def quantiles(distances: np.ndarray) -> dict[str, float]:
    """Count, mean and the 5/50/95 % quantiles of a set of distances."""
    values = np.asarray(distances, np.float64)
    q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
    return {"count": int(values.size), "mean": float(values.mean()), "p05": float(q05), "median": float(q50),
            "p95": float(q95)}


@dataclass(frozen=True)
class OperatingPoint:
    """The verdicts at one threshold: share of same-person pairs accepted (distance <= threshold)
    and of different-people pairs rejected (distance > threshold)."""

    threshold: float
    same_accepted: float
    different_rejected: float

    @property
    def balanced_accuracy(self) -> float:
        return (self.same_accepted + self.different_rejected) / 2.0


def threshold_grid(step: float) -> np.ndarray:
    """Thresholds 0, step, 2 step, ... up to the largest cosine distance, 2."""
    if not 0.0 < step <= 1.0:
        raise ValueError(f"threshold step must be in (0, 1], got {step}")
    count = int(np.ceil(MAX_DISTANCE / step - 1e-9))
    return np.round(np.minimum(np.arange(count + 1) * step, MAX_DISTANCE), 9)


def accepted_share(distances: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, the share of `distances` at or under it (judged the same person)."""
    ordered = np.sort(np.asarray(distances, np.float64))
    if ordered.size == 0:
        raise ValueError("no distances to judge")
    return np.searchsorted(ordered, thresholds, side="right") / ordered.size


def operating_point(same: np.ndarray, different: np.ndarray, threshold: float) -> OperatingPoint:
    """The verdicts on `same` and `different` pairs at one threshold."""
    grid = np.array([threshold], np.float64)
    return OperatingPoint(float(threshold), float(accepted_share(same, grid)[0]),
                          float(1.0 - accepted_share(different, grid)[0]))


def choose_threshold(same: np.ndarray, different: np.ndarray, step: float) -> OperatingPoint:
    """The grid threshold with the best balanced accuracy; of equally good ones, the largest.

    Balanced, so that the many different-people pairs (N^2/2 against 2N same-person pairs) do not
    outweigh the same-person ones; the largest of ties, so that a gap between separable sets is
    closed from the same-person side (an edit that keeps the person should not be flagged).
    """
    grid = threshold_grid(step)
    accepted = accepted_share(same, grid)
    rejected = 1.0 - accepted_share(different, grid)
    balanced = (accepted + rejected) / 2.0
    best = len(grid) - 1 - int(np.argmax(balanced[::-1]))
    return OperatingPoint(float(grid[best]), float(accepted[best]), float(rejected[best]))


def table_thresholds(chosen: float, step: float, rows: int = 10) -> np.ndarray:
    """Thresholds for a printed table: 0 to twice the chosen one at a round stride (1, 2 or 5 times a
    power of ten, a multiple of `step`), about `rows` of them, and the chosen one."""
    span = max(2.0 * chosen, rows * step)
    raw = span / rows
    power = 10.0 ** np.floor(np.log10(raw))
    stride = next(factor * power for factor in (1.0, 2.0, 5.0, 10.0) if factor * power >= raw - 1e-12)
    stride = max(step, np.round(stride / step) * step)
    thresholds = np.arange(0.0, span + stride / 2.0, stride)
    return np.unique(np.round(np.clip(np.append(thresholds, chosen), 0.0, MAX_DISTANCE), 9))


@dataclass(frozen=True)
class JudgedPair:
    """One pair shown to a second judge (DeepFace): its kind, faces and the encoder's distance."""

    kind: str
    image_a: np.ndarray
    image_b: np.ndarray
    encoder_distance: float


def judged_pairs(variants: Sequence[FaceVariants], distances: PairDistances, count: int) -> list[JudgedPair]:
    """`count` pairs, kinds in turn (mirror, occluded, different): the k-th of a kind uses face k, and
    for "different" faces k and k + 1 (k + 1 wrapping round)."""
    lookup = {tuple(pair): index for index, pair in enumerate(distances.different_pairs.tolist())}
    faces = len(variants)
    pairs = []
    for position in range(count):
        kind, k = PAIR_KINDS[position % len(PAIR_KINDS)], (position // len(PAIR_KINDS)) % faces
        clean = variants[k].face.clean
        if kind == MIRROR:
            pairs.append(JudgedPair(kind, clean, variants[k].mirror, float(distances.mirror[k])))
        elif kind == OCCLUDED:
            pairs.append(JudgedPair(kind, clean, variants[k].occluded, float(distances.occluded[k])))
        else:
            other = (k + 1) % faces
            distance = distances.different[lookup[(min(k, other), max(k, other))]]
            pairs.append(JudgedPair(kind, clean, variants[other].face.clean, float(distance)))
    return pairs


def agreement(pairs: Sequence[JudgedPair], threshold: float, judge: PairJudge) -> dict[str, object]:
    """How often the encoder's verdict at `threshold` matches the judge's, overall and per pair kind,
    and how often the judge itself is right (says "same" on same-person pairs, "different" on others)."""
    by_kind: dict[str, list[tuple[bool, bool]]] = {kind: [] for kind in PAIR_KINDS}
    judge_distances: dict[str, list[float]] = {kind: [] for kind in PAIR_KINDS}
    judge_thresholds: set[float] = set()
    unjudged = 0
    for pair in pairs:
        verdict = judge(pair.image_a, pair.image_b)
        if verdict is None:
            unjudged += 1
            continue
        by_kind[pair.kind].append((pair.encoder_distance <= threshold, verdict.same))
        judge_distances[pair.kind].append(verdict.distance)
        judge_thresholds.add(verdict.threshold)
    judged = [verdicts for kind in PAIR_KINDS for verdicts in by_kind[kind]]
    kinds = {}
    for kind in PAIR_KINDS:
        verdicts = by_kind[kind]
        truth = kind != DIFFERENT
        kinds[kind] = {
            "pairs": len(verdicts),
            "agreement": _share(encoder == other for encoder, other in verdicts),
            "encoder_right": _share(encoder == truth for encoder, _ in verdicts),
            "judge_right": _share(other == truth for _, other in verdicts),
            "judge_median_distance": float(np.median(judge_distances[kind])) if verdicts else None,
        }
    return {
        "pairs": len(pairs),
        "judged": len(judged),
        "unjudged": unjudged,
        "agreement": _share(encoder == other for encoder, other in judged),
        "judge_threshold": judge_thresholds.pop() if len(judge_thresholds) == 1 else None,
        "by_kind": kinds,
    }


def table_row(distances: PairDistances, threshold: float) -> dict[str, float]:
    """Verdict shares at one threshold: same-person pairs accepted (all, mirror, occluded), different
    people rejected, and the balanced accuracy."""
    overall = operating_point(distances.same, distances.different, threshold)
    return {
        "threshold": float(threshold),
        "same_accepted": overall.same_accepted,
        MIRROR: operating_point(distances.mirror, distances.different, threshold).same_accepted,
        OCCLUDED: operating_point(distances.occluded, distances.different, threshold).same_accepted,
        "different_rejected": overall.different_rejected,
        "balanced_accuracy": overall.balanced_accuracy,
    }


def accepted_by_occluder(distances: PairDistances, threshold: float) -> dict[str, dict[str, float]]:
    """Per occluder kind: how many faces wore it and the share still judged the same person."""
    kinds = np.array(distances.occluders)
    return {
        str(kind): {"count": int((kinds == kind).sum()),
                    "accepted": float(np.mean(distances.occluded[kinds == kind] <= threshold))}
        for kind in sorted(set(distances.occluders))
    }


def _share(flags) -> float | None:
    values = list(flags)
    return float(np.mean(values)) if values else None
