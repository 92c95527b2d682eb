"""FaceStudio networks (nn.Modules only) and their one-file checkpoint format."""

from facestudio.models.checkpoint import (
    CheckpointError,
    build_model,
    load_checkpoint,
    register_model_kind,
    save_checkpoint,
)
from facestudio.models.discriminator import PatchDiscriminator
from facestudio.models.encoder import FaceEncoder
from facestudio.models.generator import InpaintGenerator
from facestudio.models.segmenter import OcclusionSegmenter

__all__ = [
    "CheckpointError",
    "FaceEncoder",
    "InpaintGenerator",
    "OcclusionSegmenter",
    "PatchDiscriminator",
    "build_model",
    "load_checkpoint",
    "register_model_kind",
    "save_checkpoint",
]
