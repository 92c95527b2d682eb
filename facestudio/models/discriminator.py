"""SN-PatchGAN discriminator (Yu et al. 2019): one real/fake logit per overlapping image patch.

Used only for training the inpainter. Spectral normalisation on every convolution keeps the
discriminator Lipschitz, so a plain hinge loss trains stably without gradient penalties.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from facestudio.models.layers import spectral_norm

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """`(image Nx3 [-1,1], mask Nx1 {0,1}) -> patch logits Nx1x(H/2^L)x(W/2^L)`.

    `num_layers` spectral-normalised 5x5 stride-2 convolutions with LeakyReLU(0.2), widths
    base, 2*base, 4*base, then 4*base (capped at `max_channels`), and a final spectral-normalised
    3x3 convolution to one logit per cell. With the default 5 layers a 128 px input gives 4x4
    patches and 256 px gives 8x8.
    """

    def __init__(self, base_channels: int = 64, num_layers: int = 5, max_channels: int = 256) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("num_layers must be at least 1")
        self.config: dict[str, Any] = {
            "base_channels": base_channels,
            "num_layers": num_layers,
            "max_channels": max_channels,
        }
        layers: list[nn.Module] = []
        in_channels = 4
        for i in range(num_layers):
            out_channels = min(base_channels * 2 ** min(i, 2), max_channels)
            layers += [
                spectral_norm(nn.Conv2d(in_channels, out_channels, 5, stride=2, padding=2)),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            in_channels = out_channels
        layers.append(spectral_norm(nn.Conv2d(in_channels, 1, 3, padding=1)))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, features: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Patch logits; with `features`, (logits, the activation after every stride-2 layer), which
        the generator's feature-matching loss compares between real and generated images."""
        x = torch.cat([image, mask.to(image.dtype)], dim=1)
        if not features:
            return self.layers(x)
        kept = []
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                kept.append(x)
        return x, kept
