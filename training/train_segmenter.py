"""Train the occlusion segmenter: occluded face crop -> mask of what hides the face.

    python -m training.train_segmenter --data data_cache --out runs/segmenter --max-minutes 8 \\
        [--resume] [--workers 4] [--export resources/weights/segmenter.pt] [--set optim.lr=2e-3]

Loss: BCE + Dice on synthetic occlusions (training.occlusion, train kinds and assets), with a share
of unoccluded faces so that a clean face gives an empty mask. Validation: IoU and Dice at 0.5 on
a fixed set of validation faces (unseen faces, train occluder kinds).
"""

from __future__ import annotations

from typing import Any

import torch

from facestudio.models import OcclusionSegmenter
from training.loop import common_arguments, images_to_model, resolve_config, save_image_grid, to_device
from training.losses import segmentation_loss
from training.occluded_trainer import OccludedFacesTrainer


class SegmenterTrainer(OccludedFacesTrainer):
    name = "segmenter"
    export_model = "segmenter"

    default_lr = 2e-3
    default_weight_decay = 1e-4
    default_clean_share = 0.1
    default_val_samples = 512
    validate_with_clean_faces = True  # a clean face must give an empty mask

    def make_model(self) -> OcclusionSegmenter:
        return OcclusionSegmenter(**self.config.get("model", {}))

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        loss_config = self.config.get("loss", {})
        batch = self.augment(to_device(batch, self.device), image_keys=("occluded",))
        x = images_to_model(batch["occluded"], self.channels_last)
        target = batch["mask"].float()
        with self.autocast():
            logits = self.model(x)
        loss, parts = segmentation_loss(logits, target, float(loss_config.get("bce", 1.0)),
                                        float(loss_config.get("dice", 1.0)))
        self.step_optimizer(loss)
        return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}

    def validate(self) -> dict[str, float]:
        model = self.models["segmenter"]
        intersections, unions, dices, accuracies, empties = [], [], [], [], []
        shown = None
        for batch in self.val_batches:
            batch = to_device(batch, self.device)
            with self.autocast():
                logits = model(images_to_model(batch["occluded"], self.channels_last))
            predicted = logits.float() > 0
            target = batch["mask"] > 0
            inter = (predicted & target).flatten(1).sum(1).float()
            union = (predicted | target).flatten(1).sum(1).float()
            total = predicted.flatten(1).sum(1).float() + target.flatten(1).sum(1).float()
            occluded = target.flatten(1).any(1)
            intersections.append(inter[occluded])
            unions.append(union[occluded])
            dices.append((2 * inter / total.clamp(min=1))[occluded])
            accuracies.append((predicted == target).float().flatten(1).mean(1))
            empties.append(predicted.flatten(1).float().mean(1)[~occluded])
            if shown is None:
                shown = (batch, torch.sigmoid(logits.float()))
        inter, union = torch.cat(intersections), torch.cat(unions)
        metrics = {
            "iou": float((inter / union.clamp(min=1)).mean()),
            "iou_pooled": float(inter.sum() / union.sum().clamp(min=1)),
            "dice": float(torch.cat(dices).mean()),
            "pixel_accuracy": float(torch.cat(accuracies).mean()),
        }
        empty = torch.cat(empties)
        if len(empty):
            metrics["false_positive_area_clean"] = float(empty.mean())
        if shown is not None:
            batch, probability = shown
            rows = [[images_to_model(batch["occluded"][i:i + 1])[0], batch["mask"][i].float(), probability[i]]
                    for i in range(min(8, len(probability)))]
            save_image_grid(self.sample_path(), rows)
        return metrics


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = common_arguments("segmenter", __doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    return SegmenterTrainer(args, resolve_config(args)).run()


if __name__ == "__main__":
    main()
