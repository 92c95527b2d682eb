"""The set-up the segmenter and encoder trainers share: one model, AdamW, synthetic occlusions of cached faces.

Both learn from `training.data.OccludedFaces` (train split, train occluder kinds) and validate on a fixed,
deterministic set of validation faces; they differ only in the model, its defaults and what a step computes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from training.data import BatchAugment, FaceCache, Jitter, OccludedFaces, PhotoCompression
from training.loop import Trainer, collect_batches, make_loader


class OccludedFacesTrainer(Trainer):
    """A Trainer of one model named `name` on occluded faces. Subclasses give `make_model` and the defaults."""

    default_lr = 1e-3
    default_weight_decay = 0.02
    default_clean_share = 0.0
    default_val_samples = 500
    validate_with_clean_faces = False  # whether the validation set holds the unoccluded share too

    def make_model(self) -> nn.Module:
        raise NotImplementedError

    def wrap_for_training(self, model: nn.Module) -> nn.Module:
        """What `self.model` runs in a step (and DDP wraps): the model itself unless a subclass says otherwise."""
        return model

    def build(self) -> None:
        config = self.config
        data, optim = config.get("data", {}), config.get("optim", {})
        cache = FaceCache(self.args.data)
        self.data_facts = cache.facts("train")
        clean_share = float(data.get("clean_share", self.default_clean_share))
        # data.extra_kinds: kinds drawn more often (each listing adds one more share), e.g. eyewear,
        # which real photos show far more often than one kind in two dozen.
        extra = tuple(data.get("extra_kinds") or ())
        kinds = None
        if extra:
            from training.occlusion import TRAIN_KINDS

            unknown = sorted(set(extra) - set(TRAIN_KINDS))
            if unknown:
                raise SystemExit(f"data.extra_kinds: not training kinds: {', '.join(unknown)}")
            kinds = TRAIN_KINDS + extra
        self.train_set = OccludedFaces(cache, "train", jitter=Jitter.from_config(data.get("jitter", {})),
                                       clean_share=clean_share, seed=self.seed, kinds=kinds,
                                       compression=PhotoCompression.from_config(data.get("compression")))
        model = self.prepare(self.make_model())
        self.models[self.name] = model
        self.model = self.distribute(self.wrap_for_training(model))
        self.optimizers[self.name] = torch.optim.AdamW(
            model.parameters(), lr=float(optim.get("lr", self.default_lr)),
            weight_decay=float(optim.get("weight_decay", self.default_weight_decay)),
            betas=tuple(optim.get("betas", (0.9, 0.99))))
        self.scalers[self.name] = self.make_scaler()
        self.augment = BatchAugment(config.get("augment"))
        if self.processes.is_main:
            # Validation photos are compressed like the training ones (deterministically), when they are.
            val_set = OccludedFaces(cache, "val", jitter=None, deterministic=True, seed=12345,
                                    clean_share=clean_share if self.validate_with_clean_faces else 0.0,
                                    compression=PhotoCompression.from_config(data.get("compression")))
            self.val_batches = collect_batches(val_set, int(config["train"].get("val_samples", self.default_val_samples)),
                                               int(data.get("batch_size", 32)), int(data.get("workers", 2)))

    def train_loader(self) -> DataLoader:
        data = self.config.get("data", {})
        return make_loader(self.train_set, int(data.get("batch_size", 32)), int(data.get("workers", 2)),
                           self.processes, self.seed)

    def step_optimizer(self, loss: torch.Tensor) -> None:
        """One optimiser step of the model on `loss` (gradient clipping from `optim.grad_clip`)."""
        self.optimizer_step(loss, self.optimizers[self.name], self.scalers[self.name],
                            list(self.models[self.name].parameters()), self.config.get("optim", {}).get("grad_clip"))
