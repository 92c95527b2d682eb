"""The checkpoints under test, run on 128 px aligned crops the way the app runs them.

Models are loaded by `facestudio.api.Pipeline.model` (the app's loader, device and eval mode).
On an aligned crop the app's steps reduce to these, batched here:

- segment: the app's mask of the crop (`Pipeline.segment_crops`: hysteresis, dark lenses completed);
- encode: the encoder's identity vector and gender head on the crop;
- inpaint: the generator on the crop with the hole zeroed, conditioned on the encoder's vector of
  the crop as shown (occluder included), its output composited into the hole only
  (`Pipeline._generate`). The app then pastes the crop into the photo with a 3 px inward feather;
  a crop *is* the photo here, so the hard composite is what is scored.

A weights folder may lack some checkpoints while models are still training: `available` says
which ones are there, and the evaluation skips what needs a missing one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from facestudio.api import Pipeline, load_pipeline
from facestudio.models.checkpoint import CheckpointError
from facestudio.tensors import images_to_tensor, tensor_to_uint8

KINDS = ("segmenter", "encoder", "generator")


class TrainedModels:
    """Batched crop-level inference with the checkpoints of one weights folder."""

    def __init__(self, weights_dir: Path, device: str = "cpu", batch_size: int = 16) -> None:
        self.weights_dir = Path(weights_dir)
        if not self.weights_dir.is_dir():
            raise SystemExit(f"{self.weights_dir}: weights folder not found (pass --weights)")
        self.batch_size = batch_size
        self.pipeline: Pipeline = load_pipeline(device=device, weights_dir=self.weights_dir)
        self.available = tuple(kind for kind in KINDS if (self.weights_dir / f"{kind}.pt").is_file())
        try:
            self.pipeline.load_models(self.available)
        except CheckpointError as error:
            raise SystemExit(str(error)) from None
        if "generator" in self.available and "encoder" not in self.available:
            # The generator is conditioned on the encoder's vector: without it, it cannot run.
            self.available = tuple(kind for kind in self.available if kind != "generator")

    def has(self, kind: str) -> bool:
        return kind in self.available

    def checkpoints(self) -> dict[str, dict[str, object]]:
        """File, size and sha256 (first 16 hex digits) of each checkpoint: which weights were scored."""
        facts = {}
        for kind in self.available:
            path = self.weights_dir / f"{kind}.pt"
            facts[kind] = {
                "file": str(path),
                "bytes": path.stat().st_size,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
            }
        return facts

    @torch.inference_mode()
    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """HxW uint8 masks (255 = occluded) of HxWx3 uint8 crops."""
        masks = []
        for start in range(0, len(images), self.batch_size):
            chunk = [np.ascontiguousarray(image) for image in images[start : start + self.batch_size]]
            masks.extend(mask.astype(np.uint8) * 255 for mask in self.pipeline.segment_crops(chunk))
        return masks

    @torch.inference_mode()
    def encode(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(Nx128 float32 unit identity vectors, N predicted genders 0 male / 1 female) of crops."""
        encoder = self.pipeline.model("encoder")
        vectors, genders = [], []
        for start in range(0, len(images), self.batch_size):
            batch = self._tensor(images[start : start + self.batch_size])
            identity, attributes = encoder.forward_with_attributes(batch)
            vectors.append(identity.float().to("cpu").numpy())
            genders.append(attributes["gender"].argmax(dim=1).to("cpu").numpy())
        vectors = np.concatenate(vectors)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32), np.concatenate(genders).astype(np.int64)

    @torch.inference_mode()
    def inpaint(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The crops with their masks' 255 pixels filled by the generator; other pixels unchanged."""
        generator = self.pipeline.model("generator")
        identities, _ = self.encode(images)
        filled = []
        for start in range(0, len(images), self.batch_size):
            stop = start + self.batch_size
            pixels = self._tensor(images[start:stop])
            holes = torch.from_numpy(np.stack(masks[start:stop]) > 0).to(pixels.device)[:, None].to(pixels.dtype)
            identity = torch.from_numpy(identities[start:stop]).to(pixels.device)
            known = pixels * (1.0 - holes)
            composite = generator(known, holes, identity) * holes + known
            out = tensor_to_uint8(composite)
            filled.extend(out.permute(0, 2, 3, 1).to("cpu").numpy())
        # Outside the hole the input itself, bit for bit, as the app guarantees.
        return [np.where(mask[..., None] > 0, fill, image) for image, mask, fill in zip(images, masks, filled)]

    def _tensor(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """NCHW float32 in [-1, 1] on the pipeline's device."""
        return images_to_tensor(crops, self.pipeline.device)
