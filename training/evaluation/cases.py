"""The evaluation set: test-split faces, each with the same holes for every method to fill.

Faces come from the data cache's `test` split (never trained on), in an order shuffled by the
seed; the first `n` are evaluated and the first `gallery` form the clean identification gallery,
so probe i's true match is gallery entry i. Every evaluated face gets one case per group:

    heldout_occluders   an occluder of a kind held out of training (`EVAL_KINDS`, test assets)
    all_occluders       an occluder of any kind (`KINDS`, test assets: unseen templates/textures)
    free_form_*         a free-form/box hole from `training.masks` per hole-area bucket

Occluder kinds go round-robin over the shuffled faces, so every kind gets the same share. Each
case draws its randomness from (seed, face row, group): a face's cases do not depend on `n`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from training.masks import HOLE_AREA_BUCKETS, mixed_mask
from training.occlusion import EVAL_KINDS, KINDS, synthesize
from training.occluders.assets import OccluderAssets

if TYPE_CHECKING:
    from training.data import FaceCache

HELDOUT = "heldout_occluders"
ALL_KINDS = "all_occluders"
OCCLUDER_GROUPS: dict[str, tuple[str, ...]] = {HELDOUT: EVAL_KINDS, ALL_KINDS: KINDS}
FREE_FORM_KIND = "free_form"
TEST_SPLIT = "test"


def bucket_group(bucket: tuple[float, float]) -> str:
    """Group name of a hole-area bucket: (0.05, 0.15) -> "free_form_05_15"."""
    low, high = (int(round(100 * edge)) for edge in bucket)
    return f"free_form_{low:02d}_{high:02d}"


def bucket_label(bucket: tuple[float, float]) -> str:
    """Human label of a hole-area bucket: (0.05, 0.15) -> "5-15 %"."""
    low, high = (int(round(100 * edge)) for edge in bucket)
    return f"{low}-{high} %"


FREE_FORM_GROUPS: dict[str, tuple[float, float]] = {bucket_group(b): b for b in HOLE_AREA_BUCKETS}
GROUPS: tuple[str, ...] = (*FREE_FORM_GROUPS, HELDOUT, ALL_KINDS)
_GROUP_SALT = {group: index for index, group in enumerate(GROUPS)}


@dataclass(frozen=True)
class EvalFace:
    """One evaluated (or gallery) face: `index` is its place in the evaluation order and gallery."""

    index: int
    row: int  # row of meta.npz
    name: str
    clean: np.ndarray  # 128x128x3 uint8 RGB aligned crop: the truth
    landmarks: np.ndarray  # 68x2 float32, crop px
    gender: int  # 0 male, 1 female, -1 unknown


@dataclass(frozen=True)
class HoleCase:
    """A face with a hole: `image` is what a method sees (occluder or paint in the hole), `mask`
    is HxW uint8 with 255 = hole, `kind` the occluder kind or "free_form"."""

    face: EvalFace
    group: str
    kind: str
    image: np.ndarray
    mask: np.ndarray

    @property
    def truth(self) -> np.ndarray:
        return self.face.clean

    @property
    def area(self) -> float:
        """Share of the crop that is hole."""
        return float(np.count_nonzero(self.mask)) / self.mask.size

    @property
    def is_occluder(self) -> bool:
        return self.group in OCCLUDER_GROUPS


def evaluation_order(cache: FaceCache, seed: int) -> np.ndarray:
    """Rows of the test split in the evaluation order (a seeded shuffle)."""
    rows = cache.indices(TEST_SPLIT)
    if len(rows) == 0:
        raise SystemExit(f"{cache.root / 'meta.npz'}: no faces in the test split")
    return np.random.default_rng(seed).permutation(rows)


def load_faces(cache: FaceCache, rows: Sequence[int], start: int = 0) -> list[EvalFace]:
    """The faces at `rows`, numbered from `start` in evaluation order."""
    return [
        EvalFace(
            index=start + offset,
            row=int(row),
            name=str(cache.names[row]),
            clean=cache.image(int(row)),
            landmarks=cache.landmarks[row],
            gender=int(cache.gender[row]),
        )
        for offset, row in enumerate(rows)
    ]


def make_cases(face: EvalFace, assets: OccluderAssets, seed: int) -> list[HoleCase]:
    """The face's cases, one per group of `GROUPS`, in that order."""
    cases = []
    for group, bucket in FREE_FORM_GROUPS.items():
        rng = _rng(seed, face, group)
        mask = mixed_mask(*face.clean.shape[:2], rng, area_range=bucket)
        cases.append(HoleCase(face, group, FREE_FORM_KIND, paint_hole(face.clean, mask, rng), mask))
    for group, kinds in OCCLUDER_GROUPS.items():
        kind = kinds[face.index % len(kinds)]
        occlusion = synthesize(face.clean, face.landmarks, _rng(seed, face, group), kind=kind, assets=assets)
        mask = np.where(occlusion.mask > 0, 255, 0).astype(np.uint8)
        cases.append(HoleCase(face, group, occlusion.kind, occlusion.image, mask))
    return cases


def paint_hole(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` with a flat random colour plus grain in the hole, as inpainting training shows a
    free-form hole (training.data.InpaintingFaces): something unknown covers the face there."""
    paint = rng.integers(0, 256, size=3).astype(np.float32)
    noise = rng.normal(0.0, 12.0, size=image.shape).astype(np.float32)
    painted = np.clip(paint + noise, 0, 255).astype(np.uint8)
    return np.where(mask[..., None] > 0, painted, image)


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rng(seed: int, face: EvalFace, group: str) -> np.random.Generator:
    return np.random.default_rng([seed, face.row, _GROUP_SALT[group]])
