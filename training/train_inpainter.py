"""Train the inpainter: identity-conditioned generator + SN-PatchGAN discriminator.

    python -m training.train_inpainter --data data_cache --out runs/inpainter --max-minutes 8 \\
        [--encoder runs/encoder/encoder.pt] [--resume] [--workers 6] [--export resources/weights/generator.pt]

Holes are occluder-shaped (synthetic occluders, grown by a few px) or free-form/box, about half
each, 5-45 % of the crop. The generator is conditioned on an identity vector: with `--encoder`
(a shipped encoder checkpoint) it is the frozen encoder's vector of the OCCLUDED input, as in the
app; without it, the centred, normalised dlib descriptor of the clean face plus noise, which the encoder is
distilled to approximate, so the generator can train before an encoder exists. Losses: L1 in the
hole and outside (weighted), gradient and SSIM terms, identity (cosine) and perceptual (EfficientNet
feature L1) through the frozen encoder when given, and the hinge adversarial loss, which ramps in
after a warm-up. The exported generator is an exponential moving average of the trained one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from facestudio.models import InpaintGenerator, PatchDiscriminator
from training.data import FREE_FORM, BatchAugment, FaceCache, InpaintingFaces, Jitter
from training.loop import (ModelEma, Trainer, collect_batches, common_arguments, images_to_model, make_loader,
                           resolve_config, save_image_grid, to_device, unwrap)
from training.losses import (EncoderFeatures, feature_loss, feature_matching_loss, gradient_loss,
                             hinge_discriminator_loss, hinge_generator_loss, identity_loss, masked_l1, ssim_loss,
                             style_loss)


class InpainterTrainer(Trainer):
    name = "inpainter"
    export_model = "generator_ema"

    def build(self) -> None:
        config = self.config
        data, optim, model_config = config.get("data", {}), config.get("optim", {}), config.get("model", {})
        cache = FaceCache(self.args.data)
        self.data_facts = cache.facts("train")
        self.train_set = InpaintingFaces(cache, "train", jitter=Jitter.from_config(data.get("jitter", {})),
                                         seed=self.seed, **self.hole_settings())
        generator = self.prepare(InpaintGenerator(**model_config.get("generator", {})))
        discriminator = self.prepare(PatchDiscriminator(**model_config.get("discriminator", {})))
        self.models["generator"] = generator
        self.models["discriminator"] = discriminator
        self.emas["generator_ema"] = ModelEma(generator, float(config["train"].get("ema_decay", 0.999)))
        self.generator = self.distribute(generator)
        self.discriminator = self.distribute(discriminator)
        betas = tuple(optim.get("betas", (0.5, 0.9)))
        self.optimizers["generator"] = torch.optim.Adam(generator.parameters(), lr=float(optim.get("lr", 5e-4)),
                                                        betas=betas)
        self.optimizers["discriminator"] = torch.optim.Adam(
            discriminator.parameters(), lr=float(optim.get("discriminator_lr", optim.get("lr", 5e-4))), betas=betas)
        self.scalers["generator"] = self.make_scaler()
        self.scalers["discriminator"] = self.make_scaler()
        self.discriminators = {"discriminator": self.discriminator}
        if int(model_config.get("discriminator_scales", 1)) > 1:  # a second one sees the image at half size
            full = model_config.get("discriminator", {})
            half = self.prepare(PatchDiscriminator(**{**full, "num_layers": max(1, int(full.get("num_layers", 5)) - 1),
                                                     **model_config.get("discriminator_half", {})}))
            self.models["discriminator_half"] = half
            self.discriminators["discriminator_half"] = self.distribute(half)
            self.optimizers["discriminator_half"] = torch.optim.Adam(
                half.parameters(), lr=float(optim.get("discriminator_lr", optim.get("lr", 5e-4))), betas=betas)
            self.scalers["discriminator_half"] = self.make_scaler()
        self.augment = BatchAugment(config.get("augment"))
        self.features = self._load_encoder(self.args.encoder)
        self.data_facts["identity_source"] = (f"encoder {self.args.encoder}" if self.features is not None
                                              else "dlib descriptor of the clean face + noise")
        if self.processes.is_main:
            val_sets = self.validation_sets(cache)
            per_set = int(config["train"].get("val_samples", 256)) // len(val_sets)
            batch_size, workers = int(data.get("batch_size", 16)), int(data.get("workers", 2))
            self.val_batches = [batch for val_set in val_sets
                                for batch in collect_batches(val_set, per_set, batch_size, workers)]
            self.telea = telea_scores(self.val_batches)

    def hole_settings(self) -> dict[str, Any]:
        """InpaintingFaces' hole arguments from the config's data section."""
        data = self.config.get("data", {})
        return dict(free_form_share=float(data.get("free_form_share", 0.5)),
                    area_range=tuple(data.get("area_range", (0.05, 0.45))),
                    grow_pixels=tuple(data.get("grow_pixels", (0, 3))))

    def validation_sets(self, cache: FaceCache) -> list[Any]:
        """The datasets validation draws its samples from, equal shares of `train.val_samples` each."""
        return [InpaintingFaces(cache, "val", jitter=None, deterministic=True, seed=12345, **self.hole_settings())]

    def _load_encoder(self, path: Path | None) -> EncoderFeatures | None:
        if path is None:
            if self.processes.is_main:
                print("[inpainter] no --encoder: conditioning on the dlib descriptor, no identity/perceptual loss",
                      flush=True)
            return None
        from training.export import load_model

        return EncoderFeatures(self.prepare(load_model(path, "encoder", str(self.device))))

    def train_loader(self):
        data = self.config.get("data", {})
        return make_loader(self.train_set, int(data.get("batch_size", 16)), int(data.get("workers", 2)),
                           self.processes, self.seed)

    @torch.no_grad()
    def identity(self, batch: dict[str, Any], occluded: torch.Tensor, noise: float) -> torch.Tensor:
        """The conditioning vector: encoder(occluded) when an encoder is loaded, else the noisy descriptor."""
        if self.features is not None:
            with self.autocast():
                return self.features(occluded)[0].float()
        descriptor = batch["descriptor"].float()
        if noise > 0:
            descriptor = descriptor + noise * torch.randn_like(descriptor)
        return F.normalize(descriptor, dim=1)

    def conditioning(self, batch: dict[str, Any], occluded: torch.Tensor, noise: float) -> tuple[torch.Tensor, ...]:
        """What the generator takes beside the photo and the hole: here the identity vector alone
        (training.train_reference adds the reference photo)."""
        return (self.identity(batch, occluded, noise),)

    def adversarial_weight(self) -> float:
        """0 before `loss.adversarial_start` steps, then a linear ramp to `loss.adversarial` over
        `loss.adversarial_ramp` steps."""
        weights = self.config.get("loss", {})
        start, ramp = int(weights.get("adversarial_start", 1000)), int(weights.get("adversarial_ramp", 1000))
        if self.step < start:
            return 0.0
        return float(weights.get("adversarial", 0.1)) * min(1.0, (self.step - start + 1) / max(1, ramp))

    @staticmethod
    def scaled(name: str, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What discriminator `name` sees: the image and mask as they are, or at half size for the
        half-scale one (a pixel of the half mask is hole where any of its four is)."""
        if name != "discriminator_half":
            return image, mask
        return F.avg_pool2d(image, 2), F.max_pool2d(mask, 2)

    def train_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        weights = self.config.get("loss", {})
        clip = self.config.get("optim", {}).get("grad_clip")
        batch = self.augment(to_device(batch, self.device))
        clean = images_to_model(batch["clean"], self.channels_last)
        occluded = images_to_model(batch["occluded"], self.channels_last)
        mask = batch["mask"].float()
        inputs = self.conditioning(batch, occluded, float(self.config["train"].get("identity_noise", 0.05)))
        with self.autocast():
            output = self.generator(occluded, mask, *inputs)
        output = output.float()
        composite = output * mask + occluded * (1.0 - mask)
        report: dict[str, torch.Tensor] = {}  # 0-d tensors: reporting them makes the step wait for nothing

        adversarial = self.adversarial_weight()
        if adversarial > 0:
            d_losses, d_reals, d_fakes = [], [], []
            for name, discriminator in self.discriminators.items():
                images, masks = self.scaled(name, torch.cat([clean, composite.detach()]), torch.cat([mask, mask]))
                with self.autocast():
                    logits = discriminator(images, masks)
                real_logits, fake_logits = logits.float().chunk(2)
                d_loss = hinge_discriminator_loss(real_logits, fake_logits)
                self.optimizer_step(d_loss, self.optimizers[name], self.scalers[name],
                                    list(self.models[name].parameters()), clip)
                d_losses.append(d_loss.detach())
                d_reals.append(real_logits.detach().mean())
                d_fakes.append(fake_logits.detach().mean())
            report["d_loss"] = torch.stack(d_losses).mean()
            report["d_real"] = torch.stack(d_reals).mean()
            report["d_fake"] = torch.stack(d_fakes).mean()

        hole, valid = masked_l1(output, clean, mask)
        loss = float(weights.get("l1_hole", 6.0)) * hole + float(weights.get("l1_valid", 1.0)) * valid
        report.update(l1_hole=hole.detach(), l1_valid=valid.detach())
        if weights.get("gradient", 0):
            grad = gradient_loss(composite, clean, mask)
            loss = loss + float(weights["gradient"]) * grad
            report["gradient"] = grad.detach()
        if weights.get("ssim", 0):
            ssim = ssim_loss(composite, clean)
            loss = loss + float(weights["ssim"]) * ssim
            report["ssim"] = ssim.detach()
        if self.features is not None and (weights.get("identity", 0) or weights.get("perceptual", 0)
                                          or weights.get("style", 0)):
            with torch.no_grad(), self.autocast():
                target_identity, target_features = self.features(clean)
            with self.autocast():
                result_identity, result_features = self.features(composite)
            ident = identity_loss(result_identity, target_identity)
            perceptual = feature_loss(result_features, target_features)
            loss = loss + float(weights.get("identity", 0)) * ident + float(weights.get("perceptual", 0)) * perceptual
            report.update(identity=ident.detach(), perceptual=perceptual.detach())
            if weights.get("style", 0):  # texture: Gram matrices of the two finest levels (1/4, 1/8)
                style = style_loss(result_features[:2], target_features[:2])
                loss = loss + float(weights["style"]) * style
                report["style"] = style.detach()
        if adversarial > 0:
            loss = loss + self.adversarial_terms(composite, clean, mask, adversarial, report)
        self.optimizer_step(loss, self.optimizers["generator"], self.scalers["generator"],
                            list(self.models["generator"].parameters()), clip)
        self.emas["generator_ema"].update(self.models["generator"])
        report["loss"] = loss.detach()
        return report

    def adversarial_terms(self, composite: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor,
                          adversarial: float, report: dict[str, torch.Tensor]) -> torch.Tensor:
        """The generator's adversarial loss, averaged over the discriminators (one or two scales), plus
        `loss.feature_matching` times the adversarial ramp's progress times the L1 between the
        discriminators' features of the composite and of the truth."""
        matching_weight = float(self.config.get("loss", {}).get("feature_matching", 0.0))
        ramp = adversarial / max(float(self.config.get("loss", {}).get("adversarial", 0.1)), 1e-12)
        g_adv, matching = [], []
        for name, discriminator in self.discriminators.items():
            discriminator = unwrap(discriminator)  # no DDP sync for D here
            image, small_mask = self.scaled(name, composite, mask)
            with self.autocast():
                if matching_weight:
                    fake_logits, fake_features = discriminator(image, small_mask, features=True)
                    with torch.no_grad():
                        _, real_features = discriminator(self.scaled(name, clean, mask)[0], small_mask, features=True)
                    matching.append(feature_matching_loss(fake_features, real_features))
                else:
                    fake_logits = discriminator(image, small_mask)
            g_adv.append(hinge_generator_loss(fake_logits))
        g_adv = torch.stack(g_adv).mean()
        report["g_adv"] = g_adv.detach()
        total = adversarial * g_adv
        if matching:
            matching = torch.stack(matching).mean()
            report["feature_matching"] = matching.detach()
            total = total + matching_weight * ramp * matching
        return total

    def validate(self) -> dict[str, float]:
        generator = self.emas["generator_ema"].model
        sums: dict[str, list[torch.Tensor]] = {k: [] for k in ("psnr", "psnr_hole", "l1_hole", "ssim", "sharpness",
                                                               "free")}
        identities = []
        shown = None
        for batch in self.val_batches:
            batch = to_device(batch, self.device)
            clean = images_to_model(batch["clean"], self.channels_last)
            occluded = images_to_model(batch["occluded"], self.channels_last)
            mask = batch["mask"].float()
            inputs = self.conditioning(batch, occluded, 0.0)
            with self.autocast():
                output = generator(occluded, mask, *inputs).float()
            composite = output * mask + occluded * (1.0 - mask)
            scores = image_scores(composite, clean, mask)
            for key, value in scores.items():
                sums[key].append(value)
            sums["free"].append(torch.tensor([k == FREE_FORM for k in batch["kind"]], device=self.device))
            if self.features is not None:
                with self.autocast():
                    a, _ = self.features(composite)
                    b, _ = self.features(clean)
                identities.append(F.cosine_similarity(a.float(), b.float(), dim=1))
            if shown is None:
                shown = (occluded * (1 - mask), mask, composite, clean)
        scores = {k: torch.cat(v) for k, v in sums.items()}
        free = scores.pop("free")
        metrics = {k: float(v.nanmean()) for k, v in scores.items()}  # sharpness is NaN for a hole erased by erosion
        for name, select in (("free_form", free), ("occluder", ~free)):
            if select.any():
                metrics[f"psnr_hole_{name}"] = float(scores["psnr_hole"][select].mean())
        metrics["psnr_hole_gain_over_telea"] = metrics["psnr_hole"] - self.telea["psnr_hole"]
        if identities:
            metrics["identity_cosine"] = float(torch.cat(identities).mean())
        holes, masks, composites, cleans = shown
        rows = [[holes[i], masks[i], composites[i], cleans[i]] for i in range(min(8, len(masks)))]
        save_image_grid(self.sample_path(), rows)  # input, mask, result, truth
        return metrics


def image_scores(result: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image PSNR (whole and in the hole, on [0, 255]), L1 in the hole (on [0, 1]), SSIM and sharpness:
    mean |Laplacian| of the grey result over the truth's, in the hole shrunk by 2 px (< 1: a blurrier fill;
    as `training.evaluation.end_to_end_scores.sharpness_ratio` measures it on photos; NaN: no hole left)."""
    import kornia

    result01, truth01 = (result.float() + 1) / 2, (truth.float() + 1) / 2
    error = (result01 - truth01).pow(2).mean(dim=1, keepdim=True)
    area = mask.flatten(1).sum(1).clamp(min=1)
    mse_whole = error.flatten(1).mean(1)
    mse_hole = (error * mask).flatten(1).sum(1) / area
    l1_hole = ((result01 - truth01).abs().mean(dim=1, keepdim=True) * mask).flatten(1).sum(1) / area
    ssim = kornia.metrics.ssim(result01.clamp(0, 1), truth01, window_size=7).flatten(1).mean(1)
    inside = 1.0 - F.max_pool2d(1.0 - mask.float(), 5, stride=1, padding=2)  # eroded by 2 px
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=result.device)
    energies = [(F.conv2d(image.mean(dim=1, keepdim=True), laplacian.view(1, 1, 3, 3), padding=1).abs() * inside)
                .flatten(1).sum(1) for image in (result01.clamp(0, 1), truth01)]
    sharpness = torch.where(energies[1] > 0, energies[0] / energies[1].clamp(min=1e-12), torch.nan)
    return {
        "psnr": 10 * torch.log10(1.0 / mse_whole.clamp(min=1e-10)),
        "psnr_hole": 10 * torch.log10(1.0 / mse_hole.clamp(min=1e-10)),
        "l1_hole": l1_hole,
        "ssim": ssim,
        "sharpness": sharpness,
    }


def telea_scores(batches: list[dict[str, Any]]) -> dict[str, float]:
    """OpenCV Telea on the validation holes, the baseline the generator must beat."""
    results, truths, masks = [], [], []
    for batch in batches:
        for occluded, clean, mask in zip(batch["occluded"], batch["clean"], batch["mask"]):
            image = occluded.permute(1, 2, 0).numpy()
            hole = (mask[0].numpy() > 0).astype(np.uint8) * 255
            filled = cv2.inpaint(np.ascontiguousarray(image), hole, 5, cv2.INPAINT_TELEA)
            results.append(torch.from_numpy(filled).permute(2, 0, 1))
            truths.append(clean)
            masks.append(mask)
    scores = image_scores(images_to_model(torch.stack(results)), images_to_model(torch.stack(truths)),
                          torch.stack(masks).float())
    return {k: float(v.nanmean()) for k, v in scores.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = common_arguments("inpainter", __doc__.split("\n\n")[0])
    parser.add_argument("--encoder", type=Path, default=None,
                        help="encoder checkpoint: condition on its vector and add identity/perceptual losses")
    args = parser.parse_args(argv)
    return InpainterTrainer(args, resolve_config(args)).run()


if __name__ == "__main__":
    main()
