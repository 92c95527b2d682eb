"""Pixels <-> model tensors: the one definition of the [-1, 1] scale every FaceStudio network works in.

Every model (detector, segmenter, encoder, generator, discriminator) takes and the generator returns images
as float NCHW in [-1, 1], pixel value v <-> v / 127.5 - 1. Inference (`facestudio.api`), training, evaluation
and benchmarks all convert through these functions, so a model never sees pixels scaled another way than it
was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

PIXEL_SCALE = 127.5  # half of 255: maps 0..255 onto -1..1


def images_to_tensor(
    images: np.ndarray | Sequence[np.ndarray] | torch.Tensor,
    device: str | torch.device | None = None,
    *,
    layout: str = "NHWC",
    memory_format: torch.memory_format | None = None,
    non_blocking: bool = False,
) -> torch.Tensor:
    """Images (0..255) -> float32 Nx3xHxW in [-1, 1] (`x / 127.5 - 1`).

    `images`: a list of HxWx3 uint8 arrays of one size, an NxHxWx3 or HxWx3 uint8 array, or a uint8 (or
    0..255 float) tensor in `layout` ("NHWC", or "NCHW" as the training data loaders yield it; a 3-dim one
    is one image). With `device`, the uint8 pixels move there first and are converted there (a quarter of
    the bytes of a float transfer; `non_blocking` for batches in pinned memory). The result keeps the strides the conversion gives (an NHWC input comes
    out channels_last in memory) unless `memory_format` asks for one.
    """
    if layout not in ("NHWC", "NCHW"):
        raise ValueError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")
    if torch.is_tensor(images):
        batch = images
    else:
        array = np.stack(images) if isinstance(images, (list, tuple)) else np.asarray(images)
        batch = torch.from_numpy(np.ascontiguousarray(array))
    if batch.dim() == 3:
        batch = batch[None]
    if device is not None:
        batch = batch.to(device, non_blocking=non_blocking)
    if layout == "NHWC":
        batch = batch.permute(0, 3, 1, 2)
    tensor = batch.float() / PIXEL_SCALE - 1.0
    return tensor if memory_format is None else tensor.contiguous(memory_format=memory_format)


def tensor_to_pixels(tensor: torch.Tensor) -> torch.Tensor:
    """A model's (N)CHW output in [-1, 1] -> float32 pixel values 0..255 (`(y + 1) * 127.5`), same shape.

    Values outside [-1, 1] are clamped first: a generator may overshoot, a pixel may not.
    """
    return (tensor.float().clamp(-1.0, 1.0) + 1.0) * PIXEL_SCALE


def tensor_to_uint8(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor_to_pixels` rounded to the nearest uint8, for images written to disk or compared bit for bit."""
    return tensor_to_pixels(tensor).round().to(torch.uint8)
