"""Face encoder: an identity vector (distilled from dlib's 128-d descriptor) plus soft attributes.

The backbone is EfficientNet-B0 built from its architecture only (`EfficientNet.from_name`): no
pretrained weights are ever downloaded. The identity vector conditions the inpainter and measures
how well an inpainted face keeps the person recognisable; the attribute heads (gender, age, race)
are auxiliary targets that make the features describe the face rather than the photo.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from efficientnet_pytorch import EfficientNet
from torch import nn

__all__ = ["ATTRIBUTE_SIZES", "FaceEncoder"]

#: Output width of each attribute head: gender logits (0 male, 1 female), age in years/100,
#: race logits (UTKFace: white, black, asian, indian, other).
ATTRIBUTE_SIZES = {"gender": 2, "age": 1, "race": 5}


class FaceEncoder(nn.Module):
    """EfficientNet-B0 -> global average pool -> dropout -> linear -> L2-normalised identity."""

    def __init__(
        self,
        embedding_dim: int = 128,
        image_size: int = 128,
        dropout: float = 0.2,
        drop_connect_rate: float = 0.2,
        width_coefficient: float = 1.0,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "embedding_dim": embedding_dim,
            "image_size": image_size,
            "dropout": dropout,
            "drop_connect_rate": drop_connect_rate,
            "width_coefficient": width_coefficient,
        }
        self.backbone = EfficientNet.from_name(
            "efficientnet-b0",
            image_size=image_size,
            drop_connect_rate=drop_connect_rate,
            width_coefficient=width_coefficient,
            include_top=False,
        )
        # The memory-efficient swish is a custom autograd Function; the plain one is as fast here
        # and traceable.
        self.backbone.set_swish(memory_efficient=False)
        feature_dim = self.backbone._conv_head.out_channels  # 1280 at width 1.0
        self.dropout = nn.Dropout(dropout)
        self.identity_head = nn.Linear(feature_dim, embedding_dim)
        self.attribute_heads = nn.ModuleDict(
            {name: nn.Linear(feature_dim, size) for name, size in ATTRIBUTE_SIZES.items()}
        )
        self._init_backbone()

    def _init_backbone(self) -> None:
        """He fan-out init of the reference (TensorFlow) EfficientNet, which this network is trained
        from scratch with; a depthwise kernel's fan-out there is k*k, not channels*k*k."""
        for module in self.backbone.modules():
            if isinstance(module, nn.Conv2d):
                kernel_area = module.weight.shape[2] * module.weight.shape[3]
                fan_out = module.out_channels // module.groups * kernel_area
                nn.init.normal_(module.weight, std=math.sqrt(2.0 / fan_out))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features of `x` (Nx3xHxW in [-1, 1]) averaged over space: NxF."""
        x = x.contiguous(memory_format=torch.channels_last)  # faster oneDNN convs on CPU
        return self.backbone.extract_features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity vectors, Nx`embedding_dim`, unit L2 norm."""
        return self._identity(self.dropout(self.pooled_features(x)))

    def forward_with_attributes(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Identity vectors and attribute predictions {"gender": Nx2, "age": Nx1, "race": Nx5}."""
        features = self.dropout(self.pooled_features(x))
        attributes = {name: head(features) for name, head in self.attribute_heads.items()}
        return self._identity(features), attributes

    def _identity(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.identity_head(features), dim=1)
