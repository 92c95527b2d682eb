"""Single-stage face detector network: a CenterNet-style head on a small depthwise-separable backbone.

The network looks at a whole (letterboxed) photo once and predicts, on a stride-4 grid, where face centres are,
how big each face is and where its five landmarks lie. It is built to find faces that are partly hidden (masks,
sunglasses, hands), which is why it is trained on synthetic occluded scenes rather than reused from a classic
detector. Decoding the maps into boxes lives in ``facestudio.detection``; this module is only the nn.Module.

Output maps, all at 1/``stride`` of the input size (``HEAD_CHANNELS`` channels):

    0      centre heatmap logit (sigmoid -> probability that a face centre falls in this cell)
    1      log of the face box side, in units of ``stride`` pixels (boxes are square, see detection.py)
    2, 3   sub-cell offset (x, y) of the centre, in cells
    4..13  five landmarks (x, y) relative to the centre, in units of the box side
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

HEAD_CHANNELS = 14
HEATMAP, SIZE, OFFSET, LANDMARKS = slice(0, 1), slice(1, 2), slice(2, 4), slice(4, 14)


class ConvBNAct(nn.Sequential):
    """Plain conv, batch norm, ReLU: the stem and the 1x1 projections."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, act: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableBlock(nn.Module):
    """Depthwise 3x3 (or 5x5) then pointwise 1x1; residual when the shape is kept (BlazeFace's building block)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, kernel: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(cin, cin, kernel, stride, kernel // 2, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
        )
        self.pointwise = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pointwise(self.depthwise(x))
        if self.residual:
            y = y + x
        return F.relu(y, inplace=True)


def _stage(cin: int, cout: int, depth: int, kernel: int) -> nn.Sequential:
    """A stride-2 block then ``depth - 1`` residual blocks."""
    blocks = [SeparableBlock(cin, cout, stride=2, kernel=kernel)]
    blocks += [SeparableBlock(cout, cout, kernel=kernel) for _ in range(depth - 1)]
    return nn.Sequential(*blocks)


class FaceDetectorNet(nn.Module):
    """Face centre / size / landmark maps at stride 4 from an RGB image in [-1, 1] (Nx3xHxW, H and W multiples of 32).

    config: ``widths`` (channels at strides 4, 8, 16, 32), ``depths`` (blocks per stage), ``neck`` (channels of
    the top-down merge), ``stem`` (channels at stride 2), ``kernel`` (depthwise kernel size).
    """

    stride = 4

    def __init__(
        self,
        stem: int = 16,
        widths: tuple[int, int, int, int] | list[int] = (24, 48, 96, 128),
        depths: tuple[int, int, int, int] | list[int] = (2, 3, 4, 3),
        neck: int = 48,
        kernel: int = 5,
    ) -> None:
        super().__init__()
        widths, depths = list(widths), list(depths)
        self.config = {"stem": stem, "widths": widths, "depths": depths, "neck": neck, "kernel": kernel}
        self.stem = ConvBNAct(3, stem, kernel=3, stride=2)
        channels = [stem, *widths]
        self.stages = nn.ModuleList(
            _stage(channels[i], channels[i + 1], depths[i], kernel) for i in range(len(widths))
        )
        self.laterals = nn.ModuleList(ConvBNAct(w, neck) for w in widths)
        self.smooth = nn.ModuleList(SeparableBlock(neck, neck, kernel=3) for _ in widths[:-1])
        self.head = nn.Sequential(
            SeparableBlock(neck, neck, kernel=3),
            nn.Conv2d(neck, HEAD_CHANNELS, 1),
        )
        self._init_head()

    def _init_head(self) -> None:
        final = self.head[-1]
        nn.init.normal_(final.weight, std=0.01)
        nn.init.zeros_(final.bias)
        # Start the heatmap at a ~1 % prior so the focal loss does not drown in background at step 0.
        nn.init.constant_(final.bias[HEATMAP], -4.6)
        # A typical face spans ~16 cells (64 px at stride 4).
        nn.init.constant_(final.bias[SIZE], 2.8)

    @torch.no_grad()
    def fuse_batchnorm(self) -> "FaceDetectorNet":
        """Fold every BatchNorm into the conv before it (inference only: about a third less CPU time)."""
        self.eval()
        for module in self.modules():
            if isinstance(module, nn.Sequential):
                for i in range(len(module) - 1):
                    conv, bn = module[i], module[i + 1]
                    if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                        module[i] = fuse_conv_bn_eval(conv, bn)
                        module[i + 1] = nn.Identity()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        y = self.stem(x)
        for stage in self.stages:
            y = stage(y)
            features.append(y)
        # Top-down merge (FPN): start at stride 32, upsample and add the lateral of each finer level.
        merged = self.laterals[-1](features[-1])
        for level in range(len(features) - 2, -1, -1):
            lateral = self.laterals[level](features[level])
            merged = F.interpolate(merged, size=lateral.shape[-2:], mode="nearest") + lateral
            merged = self.smooth[level](merged)
        return self.head(merged)
