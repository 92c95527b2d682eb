"""Datasets over the training data cache (`training.prepare_data`) and GPU-side batch augmentation.

A sample starts from a cached 128 px aligned crop, gets a small random similarity warp (so the
models tolerate imperfect alignment at inference), then a synthetic occluder (`training.occlusion`)
placed by the warped landmarks. Workers return uint8 tensors (4x less to copy than float); the
training step converts them on the device with `training.loop.images_to_model` after
`BatchAugment` (kornia) has applied the same colour jitter, blur and flip to every image of a
sample and the flip to its mask, so input, target and mask stay consistent.

Sample keys (every dataset here):
    occluded  3xHxW uint8   the face with the occluder (what a photo shows)
    clean     3xHxW uint8   the same face without it (the target)
    mask      1xHxW uint8   1 = occluded / hole, 0 = keep
    descriptor 128 float32  identity target: the clean face's dlib descriptor, centred and
                            L2-normalised (see `centred_descriptors`)
    age       float32       years / 100, -1 unknown
    gender    int64         0 male, 1 female, -1 unknown
    race      int64         0-4 as UTKFace, -1 unknown
    kind      str           occlusion kind ("none" for an unoccluded sample, "free_form" for a hole)
    index     int64         row in meta.npz
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

NO_OCCLUSION = "none"
FREE_FORM = "free_form"


class FaceCache:
    """The aligned crops and meta.npz of a data cache, crops held in memory as JPEG bytes.

    Loading the ~35 MB of JPEG bytes once in the parent process lets DataLoader workers share them
    (fork) and decode in ~0.1 ms without touching the disk.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root / "meta.npz"
        if not meta_path.is_file():
            raise SystemExit(f"{meta_path}: data cache not found; build it with `python -m training.prepare_data`")
        with np.load(meta_path) as meta:
            self.names = meta["names"]
            self.sources = meta["source"]
            self.splits = meta["split"]
            self.detectors = meta["detector"]  # "hog": dlib found the face; "box": landmarks fitted in a fixed box
            self.landmarks = meta["landmarks68"].astype(np.float32)
            descriptors = meta["descriptor"].astype(np.float32)
            self.age = meta["age"].astype(np.float32)
            self.gender = meta["gender"].astype(np.int64)
            self.race = meta["race"].astype(np.int64)
            self.crop_size = int(meta["crop_size"])
            self.jpeg_quality = int(meta["jpeg_quality"]) if "jpeg_quality" in meta.files else None
        self.descriptor_mean, self.descriptors = centred_descriptors(descriptors, self.splits == "train")
        self._jpegs: list[np.ndarray] = []
        for source, name in zip(self.sources, self.names):
            path = self.root / "faces" / source / f"{name}.jpg"
            try:
                self._jpegs.append(np.fromfile(path, dtype=np.uint8))
            except OSError as exc:
                raise SystemExit(f"{path}: cached face missing ({exc.strerror}); rebuild the cache") from exc

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, split: str) -> np.ndarray:
        """Rows of meta.npz in a split ("train", "val", "test")."""
        return np.flatnonzero(self.splits == split)

    def image(self, index: int) -> np.ndarray:
        """The aligned crop, HxWx3 uint8 RGB."""
        bgr = cv2.imdecode(self._jpegs[index], cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{self.root / 'faces' / self.sources[index] / self.names[index]}.jpg: cannot decode")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def facts(self, split: str) -> dict[str, Any]:
        """What a checkpoint's metadata says about the data it was trained on."""
        rows = self.indices(split)
        return {
            "cache": str(self.root),
            "split": split,
            "faces": int(len(rows)),
            "sources": {str(s): int((self.sources[rows] == s).sum()) for s in np.unique(self.sources)},
            "crop_size": self.crop_size,
            "jpeg_quality": self.jpeg_quality,
            "identity_target": "unit dlib descriptor minus descriptor_mean (train split), renormalised",
            "descriptor_mean": [round(float(v), 6) for v in self.descriptor_mean],
        }


def centred_descriptors(descriptors: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, identity targets): unit dlib descriptors minus their mean over the `reference` rows,
    renormalised.

    Unit dlib descriptors share one dominant direction (cosine ~0.92 with their mean, ~0.84
    between any two people), so a student that outputs the mean already scores a cosine of 0.92
    while identifying nobody. Centred, two people are at cosine ~0 and the loss measures identity.
    """
    unit = descriptors / np.linalg.norm(descriptors, axis=1, keepdims=True).clip(1e-6)
    mean = unit[reference].mean(axis=0) if reference.any() else unit.mean(axis=0)
    centred = unit - mean
    return mean.astype(np.float32), (centred / np.linalg.norm(centred, axis=1, keepdims=True).clip(1e-6)).astype(np.float32)


@dataclass(frozen=True)
class Jitter:
    """Random similarity about the crop centre: rotation (deg), scale range, shift (share of size)."""

    rotation: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.06

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> "Jitter | None":
        if config is None or config is False:
            return None
        config = dict(config)
        if "scale" in config:
            config["scale"] = tuple(config["scale"])
        return cls(**config)

    def matrix(self, rng: np.random.Generator, size: int) -> np.ndarray:
        angle = rng.uniform(-self.rotation, self.rotation)
        scale = rng.uniform(*self.scale)
        centre = (size - 1) / 2.0
        matrix = cv2.getRotationMatrix2D((centre, centre), angle, scale)
        matrix[:, 2] += rng.uniform(-self.shift, self.shift, size=2) * size
        return matrix


@dataclass(frozen=True)
class PhotoCompression:
    """JPEG re-encoding of the occluded view, as every photo the app opens has been.

    The synthesizer pastes occluders onto decoded faces, so without this an occluder is the one region
    free of JPEG artefacts: a segmenter learns that cue and loses a third of its IoU on re-encoded
    photos (0.92 -> 0.61 at quality 75, measured on held-out faces).
    """

    probability: float = 0.0
    quality: tuple[int, int] = (35, 95)
    # Real photos' faces are often small (the face-mask photos: 26-150 px): the app upsamples them to
    # the crop, blurred and blocky. With `small_probability` the face is first shrunk to a side drawn
    # from `small_side`, JPEG-encoded there, and scaled back up.
    small_probability: float = 0.0
    small_side: tuple[int, int] = (28, 100)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> "PhotoCompression | None":
        if not config or not (float(config.get("probability", 0.0)) or float(config.get("small_probability", 0.0))):
            return None
        return cls(
            float(config.get("probability", 0.0)),
            tuple(config.get("quality", cls.quality)),
            float(config.get("small_probability", 0.0)),
            tuple(config.get("small_side", cls.small_side)),
        )

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """`image` (HxWx3 uint8 RGB) decoded from a JPEG of random quality, with `probability`,
        and taken through a smaller photo first with `small_probability`."""
        size = image.shape[1], image.shape[0]
        small = rng.random() < self.small_probability
        if small:
            side = int(rng.integers(self.small_side[0], self.small_side[1] + 1))
            scale = min(1.0, side / max(size))
            image = cv2.resize(image, (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))),
                               interpolation=cv2.INTER_AREA)
        if rng.random() < self.probability:
            quality = int(rng.integers(self.quality[0], self.quality[1] + 1))
            ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()
        if small:
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC)
        return image


def warp_face(image: np.ndarray, landmarks: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image (edges replicated, as the cache's crops are) and landmarks through a 2x3 matrix."""
    size = (image.shape[1], image.shape[0])
    warped = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped, landmarks @ matrix[:, :2].T + matrix[:, 2]


def binary_mask(mask: np.ndarray) -> np.ndarray:
    """HxW {0,1} uint8 from a {0,255} uint8, bool or [0,1] float mask."""
    mask = np.asarray(mask)
    if mask.dtype == np.uint8:
        return (mask >= 128).astype(np.uint8)
    return (mask >= 0.5).astype(np.uint8)


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class OccludedFaces(Dataset):
    """Faces of one split with a synthetic occlusion each (segmenter and encoder training).

    `deterministic` (validation and test) draws every sample's randomness from (seed, index), so the
    same faces get the same occlusions at every validation; otherwise each draw is new. The split's
    assets and kinds follow `training.occlusion`: `test` uses the held-out kinds and assets.
    """

    def __init__(
        self,
        cache: FaceCache,
        split: str,
        assets: Any = None,
        kinds: Sequence[str] | None = None,
        jitter: Jitter | None = Jitter(),
        clean_share: float = 0.0,
        deterministic: bool = False,
        seed: int = 0,
        compression: PhotoCompression | None = None,
    ) -> None:
        from training.occlusion import OccluderAssets, kinds_for

        self.cache = cache
        self.split = split
        self.rows = cache.indices(split)
        if len(self.rows) == 0:
            raise SystemExit(f"{cache.root}: no faces in split {split!r}")
        if assets is None:
            assets = OccluderAssets.load(cache.root, split="test" if split == "test" else "train")
        self.assets = assets
        # train: TRAIN_KINDS; test: the kinds whose occluders training never saw (held-out kinds and assets)
        self.kinds = tuple(kinds) if kinds is not None else kinds_for(assets)
        self.jitter = jitter
        self.clean_share = clean_share
        self.deterministic = deterministic
        self.seed = seed
        self.compression = compression

    def __len__(self) -> int:
        return len(self.rows)

    def rng(self, item: int) -> np.random.Generator:
        if self.deterministic:
            return np.random.default_rng([self.seed, item])
        # torch's RNG is seeded differently in every worker and epoch by the DataLoader
        return np.random.default_rng([self.seed, item, int(torch.randint(0, 2**62, ()).item())])

    def face(self, item: int, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
        """(row, jittered crop, its landmarks)."""
        row = int(self.rows[item])
        image = self.cache.image(row)
        landmarks = self.cache.landmarks[row]
        if self.jitter is not None:
            image, landmarks = warp_face(image, landmarks, self.jitter.matrix(rng, image.shape[0]))
        return row, image, landmarks

    def occlude(self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator):
        """(occluded image, {0,1} mask, kind) from the synthesizer, or the face unchanged."""
        from training.occlusion import synthesize

        if self.clean_share and rng.random() < self.clean_share:
            return image, np.zeros(image.shape[:2], np.uint8), NO_OCCLUSION
        occlusion = synthesize(image, landmarks, rng, assets=self.assets, kinds=self.kinds)
        return occlusion.image, binary_mask(occlusion.mask), occlusion.kind

    def __getitem__(self, item: int) -> dict[str, Any]:
        rng = self.rng(item)
        row, clean, landmarks = self.face(item, rng)
        occluded, mask, kind = self.occlude(clean, landmarks, rng)
        if self.compression is not None:
            occluded = self.compression(occluded, rng)
        return self.sample(row, clean, occluded, mask, kind)

    def sample(self, row: int, clean: np.ndarray, occluded: np.ndarray, mask: np.ndarray, kind: str) -> dict[str, Any]:
        cache = self.cache
        return {
            "occluded": _chw(occluded),
            "clean": _chw(clean),
            "mask": torch.from_numpy(np.ascontiguousarray(mask[None])),
            "descriptor": torch.from_numpy(cache.descriptors[row]),
            "age": torch.tensor(cache.age[row] / 100.0 if cache.age[row] >= 0 else -1.0, dtype=torch.float32),
            "gender": torch.tensor(cache.gender[row]),
            "race": torch.tensor(cache.race[row]),
            "kind": kind,
            "index": torch.tensor(row),
        }


class InpaintingFaces(OccludedFaces):
    """Faces with a hole to fill: an occluder's shape (grown by a few px, as the app grows a
    segmented mask) or a free-form/box hole from `training.masks.mixed_mask`, about half each.

    For a free-form hole, `occluded` shows a flat random paint in the hole: something unknown
    covers the face there, which is what the identity encoder will see in the app.
    """

    def __init__(
        self,
        cache: FaceCache,
        split: str,
        assets: Any = None,
        kinds: Sequence[str] | None = None,
        jitter: Jitter | None = Jitter(),
        free_form_share: float = 0.5,
        area_range: tuple[float, float] = (0.05, 0.45),
        grow_pixels: tuple[int, int] = (0, 3),
        deterministic: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(cache, split, assets, kinds, jitter, 0.0, deterministic, seed)
        self.free_form_share = free_form_share
        self.area_range = tuple(area_range)
        self.grow_pixels = tuple(grow_pixels)

    def __getitem__(self, item: int) -> dict[str, Any]:
        from training.masks import mixed_mask

        rng = self.rng(item)
        row, clean, landmarks = self.face(item, rng)
        height, width = clean.shape[:2]
        if rng.random() < self.free_form_share:
            mask = binary_mask(mixed_mask(height, width, rng, self.area_range))
            paint = rng.integers(0, 256, size=3).astype(np.float32)
            noise = rng.normal(0.0, 12.0, size=clean.shape).astype(np.float32)
            painted = np.clip(paint + noise, 0, 255).astype(np.uint8)
            occluded = np.where(mask[..., None] > 0, painted, clean)
            kind = FREE_FORM
        else:
            occluded, mask, kind = self.occlude(clean, landmarks, rng)
            grow = int(rng.integers(self.grow_pixels[0], self.grow_pixels[1] + 1))
            if grow > 0:
                mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
        return self.sample(row, clean, occluded, mask, kind)


class BatchAugment(nn.Module):
    """Photometric and flip augmentation of whole batches with kornia, on whatever device they are.

    Every image key of a batch gets the same colour jitter, blur and flip (one set of random
    parameters per sample, shared across keys); the mask gets the same flip. Runs in fp32 on
    images in [0, 1]; returns uint8-range float tensors ready for `images_to_model`.
    """

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        import kornia.augmentation as K

        config = dict(config or {})
        jitter = config.get("color_jitter", [0.25, 0.25, 0.25, 0.03])
        self.jitter = K.ColorJitter(*jitter, p=float(config.get("color_jitter_p", 0.8)))
        sigma = tuple(config.get("blur_sigma", [0.1, 1.2]))
        self.blur = K.RandomGaussianBlur((5, 5), sigma, p=float(config.get("blur_p", 0.2)))
        self.flip = K.RandomHorizontalFlip(p=float(config.get("flip_p", 0.5)))
        self.gray = K.RandomGrayscale(p=float(config.get("grayscale_p", 0.05)))

    @torch.no_grad()
    def forward(self, batch: dict[str, Any], image_keys: Sequence[str] = ("occluded", "clean"),
                mask_keys: Sequence[str] = ("mask",)) -> dict[str, Any]:
        batch = dict(batch)
        images = {k: batch[k].float() / 255.0 for k in image_keys if k in batch}
        if not images:
            return batch
        shape = next(iter(images.values())).shape
        params = {name: op.forward_parameters(shape) for name, op in
                  (("jitter", self.jitter), ("blur", self.blur), ("gray", self.gray), ("flip", self.flip))}
        for key, image in images.items():
            image = self.jitter(image, params=params["jitter"])
            image = self.gray(image, params=params["gray"])
            image = self.blur(image, params=params["blur"])
            image = self.flip(image, params=params["flip"])
            batch[key] = (image.clamp(0, 1) * 255.0)
        for key in mask_keys:
            if key in batch:
                batch[key] = self.flip(batch[key].float(), params=params["flip"]).round()
        return batch
