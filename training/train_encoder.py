"""Train the face encoder: an OCCLUDED face -> the identity vector of the CLEAN face.

    python -m training.train_encoder --data data_cache --out runs/encoder --max-minutes 8 \\
        [--resume] [--workers 4] [--export resources/weights/encoder.pt]

Distillation: the EfficientNet-B0 encoder learns to reproduce the dlib ResNet descriptor of the
clean face (centred and normalised, see training.data.centred_descriptors), from the occluded face and from the clean face alike (cosine + MSE
+ relational loss over the batch), with UTK's gender, age and race as auxiliary heads.
Validation on a fixed set of validation faces: top-1 identification of occluded probes against
a gallery of the same people's clean faces, cosine to the teacher, gender accuracy and age error.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from facestudio.models import FaceEncoder
from training.loop import common_arguments, images_to_model, resolve_config, save_image_grid, to_device
from training.losses import attribute_loss, distillation_loss
from training.occluded_trainer import OccludedFacesTrainer


class EncoderTrainer(OccludedFacesTrainer):
    name = "encoder"
    export_model = "encoder"

    default_lr = 1e-3
    default_weight_decay = 0.02
    default_clean_share = 0.0
    default_val_samples = 500

    def make_model(self) -> FaceEncoder:
        return FaceEncoder(**self.config.get("model", {}))

    def wrap_for_training(self, model: FaceEncoder) -> torch.nn.Module:
        return WithAttributes(model)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        weights = self.config.get("loss", {})
        batch = self.augment(to_device(batch, self.device))
        # occluded and clean views of the same faces in one batch: both must map to the clean descriptor
        x = images_to_model(torch.cat([batch["occluded"], batch["clean"]]), self.channels_last)
        teacher = batch["descriptor"].repeat(2, 1)
        with self.autocast():
            identity, attributes = self.model(x)
        distill, parts = distillation_loss(identity, teacher, float(weights.get("cosine", 1.0)),
                                           float(weights.get("mse", 1.0)), float(weights.get("relation", 1.0)))
        attribute = attribute_loss(attributes, batch["gender"].repeat(2), batch["age"].repeat(2),
                                   batch["race"].repeat(2))
        loss = distill + sum(float(weights.get(name, 0.1)) * value for name, value in attribute.items())
        self.step_optimizer(loss)
        return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()},
                **{k: v.item() for k, v in attribute.items()}}

    def validate(self) -> dict[str, float]:
        model = self.models["encoder"]
        probes, gallery, teachers, genders, gender_labels, ages, age_labels = [], [], [], [], [], [], []
        images = []
        for batch in self.val_batches:
            batch = to_device(batch, self.device)
            with self.autocast():
                probe, attributes = model.forward_with_attributes(images_to_model(batch["occluded"], self.channels_last))
                clean = model(images_to_model(batch["clean"], self.channels_last))
            probes.append(probe.float())
            gallery.append(clean.float())
            teachers.append(batch["descriptor"])
            genders.append(attributes["gender"].float().argmax(1))
            gender_labels.append(batch["gender"])
            ages.append(attributes["age"].float().squeeze(1))
            age_labels.append(batch["age"])
            images.append((batch["occluded"].cpu(), batch["clean"].cpu()))
        probes, gallery, teachers = torch.cat(probes), torch.cat(gallery), F.normalize(torch.cat(teachers), dim=1)
        similarity = probes @ gallery.T
        best = similarity.argmax(1)
        truth = torch.arange(len(probes), device=probes.device)
        genders, gender_labels = torch.cat(genders), torch.cat(gender_labels)
        ages, age_labels = torch.cat(ages), torch.cat(age_labels)
        known_gender, known_age = gender_labels >= 0, age_labels >= 0
        metrics = {
            "top1_occluded_vs_clean": float((best == truth).float().mean()),
            "top1_occluded_vs_teacher": float(((probes @ teachers.T).argmax(1) == truth).float().mean()),
            "cosine_occluded_teacher": float((probes * teachers).sum(1).mean()),
            "cosine_clean_teacher": float((gallery * teachers).sum(1).mean()),
            "gallery_size": float(len(probes)),
        }
        if known_gender.any():
            metrics["gender_accuracy_occluded"] = float((genders == gender_labels)[known_gender].float().mean())
        if known_age.any():
            metrics["age_mae_years"] = float(100 * (ages - age_labels)[known_age].abs().mean())
        occluded = torch.cat([o for o, _ in images])
        clean = torch.cat([c for _, c in images])
        rows = [[images_to_model(occluded[i:i + 1])[0], images_to_model(clean[i:i + 1])[0],
                 images_to_model(clean[int(best[i]):int(best[i]) + 1])[0]] for i in range(min(8, len(probes)))]
        save_image_grid(self.sample_path(), rows)  # probe, its clean face, the face it was matched to
        return metrics


class WithAttributes(torch.nn.Module):
    """`forward` = the encoder's `forward_with_attributes`: DDP synchronises gradients only
    through `forward`, so this is what gets wrapped."""

    def __init__(self, encoder: FaceEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor):
        return self.encoder.forward_with_attributes(x)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = common_arguments("encoder", __doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    return EncoderTrainer(args, resolve_config(args)).run()


if __name__ == "__main__":
    main()
