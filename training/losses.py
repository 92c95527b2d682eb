"""Loss functions of the three training scripts.

Images are Nx3xHxW in [-1, 1], masks Nx1xHxW in {0, 1} with 1 = hole/occluded (docs/ARCHITECTURE.md).
There is no VGG here (no torchvision): the perceptual loss compares intermediate features of the
frozen, trained face encoder (EfficientNet-B0), which also gives the identity loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------- adversarial


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """SN-PatchGAN hinge loss for the discriminator: mean relu(1 - D(real)) + mean relu(1 + D(fake))."""
    return F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean()


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss for the generator: -mean D(fake)."""
    return -fake_logits.float().mean()


def feature_matching_loss(fake_features: list[torch.Tensor], real_features: list[torch.Tensor]) -> torch.Tensor:
    """pix2pixHD's feature matching: mean L1 between the discriminator's activations on the generated and
    the real image, averaged over its layers. It gives the generator a dense signal of what the
    discriminator sees (edges, texture statistics) rather than one logit per patch; real features are
    targets (detached)."""
    losses = [(f.float() - r.detach().float()).abs().mean() for f, r in zip(fake_features, real_features)]
    return torch.stack(losses).mean()


# ----------------------------------------------------------------------------- reconstruction


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1 inside the hole, L1 outside it), each averaged over its own pixels so that the two stay
    comparable whatever the hole's size."""
    error = (prediction.float() - target.float()).abs().mean(dim=1, keepdim=True)
    mask = mask.float()
    hole = (error * mask).sum() / mask.sum().clamp(min=1.0)
    valid = (error * (1.0 - mask)).sum() / (1.0 - mask).sum().clamp(min=1.0)
    return hole, valid


def gradient_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between image gradients (Sobel), inside the mask when given: penalises blurry fills that
    plain L1 accepts."""
    from kornia.filters import spatial_gradient

    difference = (spatial_gradient(prediction.float()) - spatial_gradient(target.float())).abs().mean(dim=(1, 2))
    if mask is None:
        return difference.mean()
    mask = mask.float()
    return (difference * mask).sum() / mask.sum().clamp(min=1.0)


def ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(1 - SSIM) / 2 over the whole image, on images mapped to [0, 1]."""
    import kornia

    return kornia.losses.ssim_loss((prediction.float() + 1) / 2, (target.float() + 1) / 2, window_size=7)


# ----------------------------------------------------------------------------- identity


class EncoderFeatures(nn.Module):
    """A frozen FaceEncoder giving identity vectors and intermediate backbone features in one pass.

    Forward hooks catch the output of the last EfficientNet block of each resolution stage (1/4,
    1/8, 1/16 for B0), which serve as the perceptual-loss features.
    """

    def __init__(self, encoder: nn.Module, stages: int = 3) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self._features: list[torch.Tensor] = []
        blocks = list(encoder.backbone._blocks)
        ends = [i for i in range(len(blocks) - 1) if _stride(blocks[i + 1]) > 1]
        self._hooks = [blocks[i].register_forward_hook(self._keep) for i in ends[1:1 + stages]]

    def _keep(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self._features.append(output)

    def train(self, mode: bool = True) -> "EncoderFeatures":
        return super().train(False)  # always eval: batch norm statistics stay frozen

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(identity Nx128, [features at 1/4, 1/8, 1/16])."""
        self._features = []
        identity = self.encoder(x)
        features, self._features = self._features, []
        return identity, features


def _stride(block: nn.Module) -> int:
    stride = block._depthwise_conv.stride
    return int(stride[0] if isinstance(stride, (tuple, list)) else stride)


def identity_loss(identity: torch.Tensor, target_identity: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity between identity vectors, averaged over the batch."""
    return (1.0 - F.cosine_similarity(identity.float(), target_identity.float(), dim=1)).mean()


def feature_loss(features: list[torch.Tensor], target_features: list[torch.Tensor]) -> torch.Tensor:
    """Perceptual loss: mean L1 between corresponding feature maps, averaged over the levels."""
    losses = [(f.float() - t.float()).abs().mean() for f, t in zip(features, target_features)]
    return torch.stack(losses).mean()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """NxCxC channel correlations of NxCxHxW features, divided by H*W: texture statistics with the
    layout averaged out (Gatys et al.)."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def style_loss(features: list[torch.Tensor], target_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between the Gram matrices of corresponding feature maps, averaged over the levels: a fill
    whose texture is too smooth (a blurry skin patch, hair without strands) has weaker channel
    correlations than the truth, which plain L1 and feature L1 forgive."""
    losses = [(gram_matrix(f) - gram_matrix(t.detach())).abs().mean() for f, t in zip(features, target_features)]
    return torch.stack(losses).mean()


# ----------------------------------------------------------------------------- segmentation


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per sample, averaged; `smooth` keeps empty masks (no occluder) well defined."""
    probability = torch.sigmoid(logits.float()).flatten(1)
    target = target.float().flatten(1)
    intersection = (probability * target).sum(dim=1)
    total = probability.sum(dim=1) + target.sum(dim=1)
    return (1.0 - (2.0 * intersection + smooth) / (total + smooth)).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, bce_weight: float = 1.0,
                      dice_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted BCE + Dice; returns (total, parts)."""
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float())
    dice = dice_loss(logits, target)
    return bce_weight * bce + dice_weight * dice, {"bce": bce, "dice": dice}


# ----------------------------------------------------------------------------- encoder distillation


def distillation_loss(identity: torch.Tensor, teacher: torch.Tensor, cosine_weight: float = 1.0,
                      mse_weight: float = 1.0, relation_weight: float = 1.0
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Make the encoder's identity vector reproduce the dlib descriptor (centred, unit: training.data).

    cosine: 1 - cos(identity, teacher); mse: squared distance, summed over the vector;
    relation: MSE between the batch's pairwise cosine matrices (student vs teacher), which keeps
    the teacher's geometry between different people, what identification depends on.
    """
    identity = identity.float()
    teacher = F.normalize(teacher.float(), dim=1)
    cosine = (1.0 - F.cosine_similarity(identity, teacher, dim=1)).mean()
    mse = (identity - teacher).pow(2).sum(dim=1).mean()
    relation = F.mse_loss(identity @ identity.T, teacher @ teacher.T)
    total = cosine_weight * cosine + mse_weight * mse + relation_weight * relation
    return total, {"cosine": cosine, "mse": mse, "relation": relation}


def attribute_loss(predictions: dict[str, torch.Tensor], gender: torch.Tensor, age: torch.Tensor,
                   race: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gender and race cross-entropy and age L1 (years / 100) on the samples whose label is known
    (UTK faces; CelebA has none: -1); a loss with no labelled sample in the batch is zero."""
    losses = {}
    for name, labels in (("gender", gender), ("race", race)):
        known = labels >= 0
        logits = predictions[name].float()
        losses[name] = F.cross_entropy(logits[known], labels[known]) if known.any() else logits.sum() * 0.0
    known = age >= 0
    estimate = predictions["age"].float().squeeze(1)
    losses["age"] = (estimate[known] - age[known]).abs().mean() if known.any() else estimate.sum() * 0.0
    return losses
