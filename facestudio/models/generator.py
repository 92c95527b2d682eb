"""Identity-conditioned inpainting generator.

One-stage DeepFill-v2-style network sized for CPU inference: a gated-conv encoder down to 1/8
resolution, a bottleneck where a dilated gated-conv branch (conditioned by FiLM on the identity
vector) runs beside a contextual-attention branch that copies visible-face features into the hole,
and a gated-conv decoder with U-Net skips from every encoder level. Layers above 1/8 resolution are
depthwise-separable by default, which is where most of the pixels are.

With `reference=True` the encoder also sees a reference photo of the same person, aligned to the same
canonical crop, and a plane saying whether there is one: a fill that has never seen the person cannot
know their eyes, another photo of them can. A checkpoint without the reference input loads into a
reference generator with those input weights at zero, so it starts out exactly as that checkpoint.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from facestudio.models.layers import ContextualAttention, FiLM, GatedConv2d

__all__ = ["InpaintGenerator"]

BASE_INPUTS = 5  # known RGB, mask, constant plane
REFERENCE_INPUTS = 4  # reference RGB, reference-present plane


class InpaintGenerator(nn.Module):
    """`(image_with_hole Nx3 [-1,1], mask Nx1 {0,1} 1=hole, identity NxD) -> Nx3 [-1,1]`.

    The output is a full-image prediction; callers composite `out * mask + image * (1 - mask)`.
    Fully convolutional: any H, W; multiples of 8 run as they are, other sizes are padded and
    cropped. Channel widths (c = `base_channels`): c/2 at full resolution, 2c at 1/2, 4c at 1/4,
    `bottleneck_channels` at 1/8, where the identity enters through FiLM.
    """

    def __init__(
        self,
        base_channels: int = 32,
        identity_dim: int = 128,
        bottleneck_channels: int = 128,
        dilations: Sequence[int] = (2, 4, 8, 1),
        attention_matching_positions: int = 256,
        separable: bool = True,
        reference: bool = False,
    ) -> None:
        super().__init__()
        dilations = [int(d) for d in dilations]
        self.config: dict[str, Any] = {
            "base_channels": base_channels,
            "identity_dim": identity_dim,
            "bottleneck_channels": bottleneck_channels,
            "dilations": dilations,
            "attention_matching_positions": attention_matching_positions,
            "separable": separable,
            "reference": bool(reference),
        }
        c, b = base_channels, bottleneck_channels
        sep = separable

        # Encoder. Input: image with the hole zeroed, the mask, and a constant plane (border cue); with
        # `reference`, also the aligned reference (zeros when there is none) and a plane: 1 = there is one.
        self.enc0 = GatedConv2d(REFERENCE_INPUTS + BASE_INPUTS if reference else BASE_INPUTS, c // 2, 3)
        self.enc1 = nn.Sequential(GatedConv2d(c // 2, 2 * c, 3, stride=2, separable=sep),
                                  GatedConv2d(2 * c, 2 * c, 3, separable=sep))
        self.enc2 = nn.Sequential(GatedConv2d(2 * c, 4 * c, 3, stride=2, separable=sep),
                                  GatedConv2d(4 * c, 4 * c, 3, separable=sep))
        self.enc3 = GatedConv2d(4 * c, b, 3, stride=2)

        # Bottleneck at 1/8: dilated branch with identity FiLM, contextual-attention branch.
        self.dilated = nn.ModuleList(GatedConv2d(b, b, 3, dilation=d) for d in dilations)
        self.dilated_film = nn.ModuleList(FiLM(identity_dim, b) for _ in dilations)
        self.attention_in = GatedConv2d(b, b, 3, activation="relu")
        self.attention = ContextualAttention(max_matching_positions=attention_matching_positions)
        self.attention_out = GatedConv2d(b, b, 3)
        self.merge = GatedConv2d(3 * b, b, 1)
        self.merge_film = FiLM(identity_dim, b)

        # Decoder with a skip from every encoder level.
        self.dec2 = nn.Sequential(GatedConv2d(b + 4 * c, 2 * c, 3, separable=sep),
                                  GatedConv2d(2 * c, 2 * c, 3, separable=sep))
        self.dec1 = nn.Sequential(GatedConv2d(2 * c + 2 * c, c, 3, separable=sep),
                                  GatedConv2d(c, c, 3, separable=sep))
        # Full resolution holds most pixels: mix the skip with a 1x1 gated conv, draw with a 3x3.
        self.dec0 = GatedConv2d(c + c // 2, c // 2, 1)
        self.to_rgb = nn.Conv2d(c // 2, 3, 3, padding=1)

    @property
    def uses_reference(self) -> bool:
        return bool(self.config.get("reference"))

    def forward(self, image: torch.Tensor, mask: torch.Tensor, identity: torch.Tensor,
                reference: torch.Tensor | None = None) -> torch.Tensor:
        """`reference`: Nx3 [-1,1] aligned reference photos, or None; with a reference generator, a
        sample whose reference is all zeros (after `present`) counts as having none. Ignored otherwise."""
        height, width = image.shape[-2:]
        pad_h, pad_w = (-height) % 8, (-width) % 8
        if reference is not None and not self.uses_reference:
            raise ValueError("this generator was built without a reference input")
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
            mask = F.pad(mask, (0, pad_w, 0, pad_h))
            if reference is not None:
                reference = F.pad(reference, (0, pad_w, 0, pad_h), mode="replicate")
        mask = mask.to(image.dtype)
        known = image * (1.0 - mask)
        planes = [known, mask, torch.ones_like(mask)]
        if self.uses_reference:
            if reference is None:
                planes += [torch.zeros_like(image), torch.zeros_like(mask)]
            else:
                reference = reference.to(image.dtype)
                present = (reference.flatten(1).abs().amax(dim=1) > 0).to(image.dtype)[:, None, None, None]
                planes += [reference, present.expand_as(mask)]
        x = torch.cat(planes, dim=1)
        x = x.contiguous(memory_format=torch.channels_last)  # faster oneDNN convs on CPU

        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)

        dilated = e3
        for conv, film in zip(self.dilated, self.dilated_film):
            dilated = film(conv(dilated), identity)
        attended = self.attention_in(e3)
        attended = self.attention_out(self.attention(attended, attended, mask))
        bottleneck = self.merge(torch.cat([dilated, attended, e3], dim=1))
        bottleneck = self.merge_film(bottleneck, identity)

        d2 = self.dec2(torch.cat([_upsample_to(bottleneck, e2), e2], dim=1))
        d1 = self.dec1(torch.cat([_upsample_to(d2, e1), e1], dim=1))
        d0 = self.dec0(torch.cat([_upsample_to(d1, e0), e0], dim=1))
        out = torch.tanh(self.to_rgb(d0))
        return out[:, :, :height, :width].contiguous()


    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        """A checkpoint without the reference input fits a reference generator: the reference's input
        weights start at zero, so the network computes exactly what the checkpoint did."""
        key = prefix + "enc0.conv.weight"
        weight = state_dict.get(key)
        if self.uses_reference and weight is not None and weight.shape[1] == BASE_INPUTS:
            extra = weight.new_zeros(weight.shape[0], REFERENCE_INPUTS, *weight.shape[2:])
            state_dict[key] = torch.cat([weight, extra], dim=1)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


def _upsample_to(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=reference.shape[-2:], mode="nearest")
