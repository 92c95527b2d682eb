"""Choose the torch device the models run on.

Precedence: an explicit argument, then the FACESTUDIO_DEVICE environment variable, then "auto"
(CUDA when torch sees a GPU, else CPU). Asking for CUDA on a machine without it is a user error,
not a silent fallback, so that timings and results are never quietly taken on the wrong device.
"""

from __future__ import annotations

import os

DEVICE_ENV = "FACESTUDIO_DEVICE"
DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    """The requested device name is unknown or not available on this machine."""


def resolve_device(requested: str | None = None) -> str:
    """Return "cpu" or "cuda[:N]" for `requested` ("auto", "cpu", "cuda", "cuda:N" or None)."""
    name = (requested or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if name == "cpu":
        return "cpu"
    if name != "auto" and name != "cuda" and not _is_cuda_index(name):
        raise DeviceError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}")

    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise DeviceError(f"device {name!r} was asked for but torch sees no CUDA GPU; use --device cpu")
    if name != "cuda" and int(name.split(":", 1)[1]) >= torch.cuda.device_count():
        raise DeviceError(f"device {name!r} does not exist: torch sees {torch.cuda.device_count()} GPU(s)")
    return name


def _is_cuda_index(name: str) -> bool:
    prefix, _, index = name.partition(":")
    return prefix == "cuda" and index.isdigit()
