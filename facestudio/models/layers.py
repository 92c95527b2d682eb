"""Building blocks shared by the FaceStudio networks.

Gated convolutions (Yu et al. 2019, "Free-Form Image Inpainting with Gated Convolution") let the
inpainter learn per-pixel, per-channel how much to trust its input, which matters where the input is
a hole. Contextual attention (Yu et al. 2018, "Generative Image Inpainting with Contextual
Attention") copies feature patches from the visible part of the face into the hole. FiLM (Perez et
al. 2018) injects the identity vector into the feature maps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ContextualAttention",
    "FiLM",
    "GatedConv2d",
    "GatedDeconv2d",
    "SeparableConv2d",
    "make_activation",
    "spectral_norm",
]


def make_activation(name: str | None) -> nn.Module:
    """Return the activation module called `name` ("elu", "lrelu", "relu", "silu" or None)."""
    if name is None or name == "none":
        return nn.Identity()
    activations = {
        "elu": lambda: nn.ELU(),
        "lrelu": lambda: nn.LeakyReLU(0.2),
        "relu": lambda: nn.ReLU(),
        "silu": lambda: nn.SiLU(),
    }
    if name not in activations:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(activations)} or None")
    return activations[name]()


def spectral_norm(module: nn.Module, name: str = "weight") -> nn.Module:
    """Wrap `module` so its `name` parameter is divided by its largest singular value.

    Uses the parametrization API, whose state dict holds only tensors (weights-only loadable).
    """
    return nn.utils.parametrizations.spectral_norm(module, name=name)


class SeparableConv2d(nn.Module):
    """Depthwise kxk convolution followed by a pointwise 1x1 convolution (MobileNet style).

    Costs about k*k + out_channels multiply-adds per input channel and pixel instead of
    k*k*out_channels, which is what keeps the high-resolution layers cheap on a CPU.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class GatedConv2d(nn.Module):
    """Convolution whose output is `activation(feature) * sigmoid(gate)`.

    Feature and gate come from one convolution with twice the output channels (one kernel launch).
    With `separable=True` that convolution is depthwise-separable. Weights start as N(0, g^2/fan_in)
    with g = 2.2 (depthwise kernels: g = 1), which keeps the activation scale roughly constant
    through a stack of ELU-gated layers; PyTorch's default init shrinks it about 2x per layer.
    """

    init_gain = 2.2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        activation: str | None = "elu",
        separable: bool = False,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        if separable and kernel_size > 1:
            self.conv: nn.Module = SeparableConv2d(
                in_channels, 2 * out_channels, kernel_size, stride=stride, dilation=dilation
            )
        else:
            padding = dilation * (kernel_size - 1) // 2
            self.conv = nn.Conv2d(
                in_channels,
                2 * out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
            )
        self.activation = make_activation(activation)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.conv.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                gain = 1.0 if module.groups > 1 else self.init_gain
                nn.init.normal_(module.weight, std=gain / math.sqrt(fan_in))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature, gate = self.conv(x).split(self.out_channels, dim=1)
        return self.activation(feature) * torch.sigmoid(gate)


class GatedDeconv2d(nn.Module):
    """Upsample (nearest, x`scale_factor`) then a gated convolution: no checkerboard artefacts."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        scale_factor: int = 2,
        activation: str | None = "elu",
        separable: bool = False,
    ) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.conv = GatedConv2d(
            in_channels, out_channels, kernel_size, activation=activation, separable=separable
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")
        return self.conv(x)


class FiLM(nn.Module):
    """Feature-wise linear modulation: `x * (1 + gamma(c)) + beta(c)` per channel.

    The projection starts at zero so that an untrained FiLM is the identity and conditioning is
    learnt on top of a working unconditioned path.
    """

    def __init__(self, condition_dim: int, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.projection = nn.Linear(condition_dim, 2 * num_features)
        nn.init.zeros_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.projection(condition).split(self.num_features, dim=1)
        return x * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]


class ContextualAttention(nn.Module):
    """Fill the hole's features with a softmax-weighted sum of known-region feature patches.

    For every location, its 3x3 patch of `foreground` features is compared with every 3x3 patch of
    `background` features by normalised cross-correlation (cosine similarity); patches touching the
    hole (or the image border) are never used as sources. The scores, times `softmax_scale`, go
    through a softmax over sources, and the output is the overlap-averaged weighted sum of the
    source patches. Matching runs on a grid `rate` times coarser than the input (average-pooled),
    and reconstruction pastes full-resolution 2*rate patches, as in DeepFill; `rate` is chosen so
    the matching grid holds at most `max_matching_positions` cells, which bounds the cost at any
    input size. Parameter-free, batched, any H and W.
    """

    def __init__(
        self,
        softmax_scale: float = 10.0,
        max_matching_positions: int = 256,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        if max_matching_positions < 1:
            raise ValueError("max_matching_positions must be at least 1")
        self.softmax_scale = softmax_scale
        self.max_matching_positions = max_matching_positions
        self.eps = eps

    def matching_rate(self, height: int, width: int) -> int:
        """Smallest power-of-two downsampling whose grid has at most `max_matching_positions` cells."""
        rate = 1
        while -(-height // rate) * -(-width // rate) > self.max_matching_positions:
            rate *= 2
        return rate

    def forward(
        self,
        foreground: torch.Tensor,
        background: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Return features shaped like `foreground`.

        foreground, background: NxCxHxW. mask: Nx1xhxw, 1 = hole, any resolution; a feature cell
        counts as hole when any mask pixel inside it does.
        """
        height, width = foreground.shape[-2:]
        hole = _resize_mask_max(mask.to(foreground.dtype), height, width)
        rate = self.matching_rate(height, width)
        pad_h, pad_w = (-height) % rate, (-width) % rate
        if pad_h or pad_w:
            foreground = F.pad(foreground, (0, pad_w, 0, pad_h))
            background = F.pad(background, (0, pad_w, 0, pad_h))
            hole = F.pad(hole, (0, pad_w, 0, pad_h), value=1.0)

        if rate == 1:
            raw_kernel, raw_padding = 3, 1
            fg_small, bg_small, hole_small = foreground, background, hole
        else:
            raw_kernel, raw_padding = 2 * rate, rate // 2
            fg_small = F.avg_pool2d(foreground, rate)
            bg_small = F.avg_pool2d(background, rate)
            hole_small = F.max_pool2d(hole, rate)
        full_size = foreground.shape[-2:]

        # Reconstruction patches from the full-resolution background, one per matching cell.
        raw_patches = F.unfold(background, raw_kernel, padding=raw_padding, stride=rate)  # N, C*k*k, L
        keys = F.unfold(bg_small, 3, padding=1)  # N, C*9, L
        keys = keys / keys.norm(dim=1, keepdim=True).clamp_min(self.eps)
        queries = F.unfold(fg_small, 3, padding=1)
        queries = queries / queries.norm(dim=1, keepdim=True).clamp_min(self.eps)
        scores = torch.bmm(queries.transpose(1, 2), keys)  # N, L_query, L_source

        # A source is valid only if its whole 3x3 patch is known and inside the image.
        source_hole = F.max_pool2d(F.pad(hole_small, (1, 1, 1, 1), value=1.0), 3, stride=1)
        valid_source = source_hole.flatten(1) < 0.5  # N, L_source
        scores = scores.masked_fill(~valid_source[:, None, :], float("-inf"))
        has_source = valid_source.any(dim=1)  # N
        # Rows of a sample without any valid source would be all -inf; neutralise, then fall back.
        scores = torch.where(has_source[:, None, None], scores, torch.zeros_like(scores))
        attention = torch.softmax(scores * self.softmax_scale, dim=2)

        patches = torch.bmm(raw_patches, attention.transpose(1, 2))  # N, C*k*k, L_query
        output = F.fold(patches, full_size, raw_kernel, padding=raw_padding, stride=rate)
        overlap = F.fold(
            torch.ones_like(patches[:1]), full_size, raw_kernel, padding=raw_padding, stride=rate
        )
        output = output / overlap
        output = torch.where(has_source[:, None, None, None], output, foreground)
        return output[:, :, :height, :width]


def _resize_mask_max(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize an Nx1xhxw {0,1} mask to height x width; a cell is 1 if any covered pixel is 1."""
    if mask.shape[-2:] == (height, width):
        return mask
    if mask.shape[-2] >= height and mask.shape[-1] >= width:
        return F.adaptive_max_pool2d(mask, (height, width))
    return F.interpolate(mask, size=(height, width), mode="nearest")
