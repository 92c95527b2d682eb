"""Reference photos for the inpainter: another photo of the same person, aligned to the same crop.

`WithReference` wraps any dataset of `training.data` samples and adds:
    reference      3xHxW uint8  another photo of the person in the canonical crop (zeros when none)
    has_reference  bool         whether this sample has one (a share of samples has none, so the
                                generator keeps working without a reference)

Two sources of references, as the reference-photo issue asks:
- real pairs: a different clean photo of the same person (the ROF cache built with
  `python -m training.prepare_data --sources rof --out data_cache_rof`, named KIND__PERSON__STEM),
  mildly re-lit and flipped;
- self-references for faces whose person has no other photo: the same face mirrored, warped, re-lit,
  blurred and re-sampled, so that copying the reference's pixels into the hole does not pay, while
  its eyes, brows and mouth still say whose they are.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from training.data import FaceCache, Jitter, warp_face
from training.prepare_data import DETECTOR_HOG

ROF_NEUTRAL = "neutral"
SELF_JITTER = Jitter(rotation=10.0, scale=(0.9, 1.1), shift=0.06)
PAIR_JITTER = Jitter(rotation=3.0, scale=(0.97, 1.03), shift=0.02)


def person_of(name: str) -> str | None:
    """The person of a ROF cache name (KIND__PERSON__STEM), else None."""
    parts = str(name).split("__")
    return parts[1] if len(parts) == 3 else None


def kind_of(name: str) -> str | None:
    """The photo kind of a ROF cache name ("neutral", "sunglasses", "masked"), else None."""
    parts = str(name).split("__")
    return parts[0] if len(parts) == 3 else None


def clean_rows_by_person(cache: FaceCache, rows: np.ndarray) -> dict[str, list[int]]:
    """Rows of clean (neutral) ROF photos per person, for people with at least two of them. Only faces
    dlib's detector found: landmarks fitted in the fallback box can be far off, and so would the crop."""
    people: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        name = cache.names[int(row)]
        if kind_of(name) == ROF_NEUTRAL and cache.detectors[int(row)] == DETECTOR_HOG:
            people[person_of(name)].append(int(row))
    return {person: found for person, found in people.items() if len(found) >= 2}


def relight(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Another exposure and white balance: per-channel gain, gamma and a soft light ramp across the face."""
    x = image.astype(np.float32) / 255.0
    gain = 1.0 + strength * rng.uniform(-0.2, 0.2, size=3).astype(np.float32)
    gamma = float(np.exp(strength * rng.uniform(-0.35, 0.35)))
    height, width = image.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * np.linspace(-1, 1, width)[None, :] + np.sin(angle) * np.linspace(-1, 1, height)[:, None])
    light = 1.0 + strength * rng.uniform(0.0, 0.25) * ramp.astype(np.float32)
    x = np.clip(x * gain, 0, 1) ** gamma * light[..., None]
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur and/or a lower resolution, as an old or small photo would have."""
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.4, 1.5)))
    if rng.random() < 0.4:
        side = image.shape[0]
        small = max(24, int(side / rng.uniform(1.3, 2.8)))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (side, side),
                           interpolation=cv2.INTER_LINEAR)
    return image


def self_reference(cache: FaceCache, row: int, rng: np.random.Generator) -> np.ndarray:
    """The face itself made into another photo of the person: mirrored, warped, re-lit, degraded."""
    image = cache.image(row)
    image, _ = warp_face(image, cache.landmarks[row], SELF_JITTER.matrix(rng, image.shape[0]))
    if rng.random() < 0.5:
        image = image[:, ::-1]
    return degrade(relight(np.ascontiguousarray(image), rng), rng)


def pair_reference(cache: FaceCache, row: int, rng: np.random.Generator) -> np.ndarray:
    """Another real photo of the person, with a small re-alignment error and another exposure."""
    image = cache.image(row)
    image, _ = warp_face(image, cache.landmarks[row], PAIR_JITTER.matrix(rng, image.shape[0]))
    if rng.random() < 0.5:
        image = image[:, ::-1]
    return relight(np.ascontiguousarray(image), rng, strength=0.5)


class WithReference(Dataset):
    """A dataset of `training.data` samples with a reference photo added to each (see module doc).

    `pairs`: person -> clean rows of `dataset.cache` (from `clean_rows_by_person`); a sample whose
    person has other clean photos takes one of them, any other sample a self-reference.
    `none_share`: the share of samples without a reference.
    """

    def __init__(self, dataset: Any, pairs: dict[str, list[int]] | None = None, none_share: float = 0.25,
                 deterministic: bool = False, seed: int = 0) -> None:
        self.dataset = dataset
        self.cache: FaceCache = dataset.cache
        self.pairs = pairs or {}
        self.none_share = float(none_share)
        self.deterministic = deterministic
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: int) -> dict[str, Any]:
        sample = self.dataset[item]
        rng = np.random.default_rng((self.seed, 7, item) if self.deterministic else None)
        row = int(sample["index"])
        reference = np.zeros((*sample["clean"].shape[1:], 3), np.uint8)
        has = rng.random() >= self.none_share
        if has:
            others = [r for r in self.pairs.get(person_of(self.cache.names[row]), []) if r != row]
            if others:
                reference = pair_reference(self.cache, int(rng.choice(others)), rng)
            else:
                reference = self_reference(self.cache, row, rng)
        sample["reference"] = torch.from_numpy(np.ascontiguousarray(reference)).permute(2, 0, 1).contiguous()
        sample["has_reference"] = torch.tensor(bool(has))
        return sample
