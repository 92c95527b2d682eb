"""One-file checkpoints that rebuild their network: kind, constructor config, fp16 weights, metadata.

A checkpoint is a `torch.save`d dict holding only tensors and plain Python values, so it loads
with `torch.load(..., weights_only=True)` and cannot run code:

    {"format": "facestudio-checkpoint", "format_version": 1, "kind": "generator",
     "class": "facestudio.models.generator:InpaintGenerator", "config": {...constructor kwargs...},
     "state_dict": {...float tensors as fp16...}, "metadata": {...}}

Every model class exposes its constructor kwargs as `model.config`, so saving needs nothing else.
"""

from __future__ import annotations

import datetime
import importlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facestudio.atomic import atomic_write

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_FORMAT_VERSION",
    "CheckpointError",
    "build_model",
    "load_checkpoint",
    "model_kinds",
    "register_model_kind",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "facestudio-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1

# kind -> "module:Class"; classes are imported only when a model of that kind is built.
_KIND_CLASSES: dict[str, str] = {
    "segmenter": "facestudio.models.segmenter:OcclusionSegmenter",
    "encoder": "facestudio.models.encoder:FaceEncoder",
    "generator": "facestudio.models.generator:InpaintGenerator",
    "discriminator": "facestudio.models.discriminator:PatchDiscriminator",
    "detector": "facestudio.models.detector:FaceDetectorNet",
}


class CheckpointError(Exception):
    """A checkpoint file cannot be used; the message is one line naming the file and the problem."""


def register_model_kind(kind: str, class_path: str) -> None:
    """Make `kind` buildable from a checkpoint; `class_path` is "package.module:ClassName"."""
    if ":" not in class_path:
        raise ValueError(f"class path {class_path!r} must look like 'package.module:ClassName'")
    _KIND_CLASSES[kind] = class_path


def model_kinds() -> dict[str, str]:
    """The registered kinds and their "module:Class" paths."""
    return dict(_KIND_CLASSES)


def build_model(kind: str, config: dict[str, Any]) -> nn.Module:
    """Instantiate the registered class for `kind` with `config` as keyword arguments."""
    if kind not in _KIND_CLASSES:
        raise KeyError(f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(_KIND_CLASSES))}")
    return _import_class(_KIND_CLASSES[kind])(**config)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    metadata: dict[str, Any] | None = None,
    kind: str | None = None,
    half: bool = True,
) -> Path:
    """Write `model` to `path` atomically (temporary file in the same folder, then rename).

    `kind` defaults to the registered kind of the model's class. Wrappers (torch.compile,
    DataParallel, DistributedDataParallel) are unwrapped, so their keys carry no prefix. With
    `half`, floating-point tensors are stored as fp16 (a tensor that would overflow fp16 stays
    fp32). `metadata` must hold only plain Python values (str, int, float, bool, None, lists, dicts
    with str keys); "created" (UTC, ISO 8601), "torch_version" and "parameters" are filled in
    when absent. Returns `path`.
    """
    path = Path(path)
    model = _unwrap(model)
    class_path = f"{type(model).__module__}:{type(model).__qualname__}"
    if kind is None:
        kind = _kind_of_class(class_path)
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__} has no `config` dict of constructor arguments")
    full_metadata = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    full_metadata.update(metadata or {})
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "kind": kind,
        "class": class_path,
        "config": _plain(config, "config"),
        "state_dict": {name: _storable(t, half) for name, t in model.state_dict().items()},
        "metadata": _plain(full_metadata, "metadata"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda stream: torch.save(payload, stream))


def load_checkpoint(
    path: str | os.PathLike[str],
    expected_kind: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored in `path`; return `(model.eval() on device, metadata)`.

    Raises CheckpointError (message names the file) when the file is missing, truncated or corrupt,
    not a FaceStudio checkpoint, of another kind than `expected_kind`, or when its config or
    weights do not fit the model class.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with warnings.catch_warnings():  # PyTorch warns before failing; the one line below says it all
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler fails on damaged bytes with many exception types
        # PyTorch's own text advises weights_only=False, i.e. running whatever the file holds: never.
        logger.info("%s: torch.load failed: %s", path, _one_line(exc))
        raise CheckpointError(
            f"{path}: not a FaceStudio checkpoint (truncated, corrupt or another kind of file)") from exc

    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a FaceStudio checkpoint (no '{CHECKPOINT_FORMAT}' header)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is newer than this FaceStudio reads "
            f"({CHECKPOINT_FORMAT_VERSION}); update FaceStudio"
        )
    missing = [key for key in ("kind", "config", "state_dict") if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    kind, config, state_dict = payload["kind"], payload["config"], payload["state_dict"]
    metadata = payload.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    if not isinstance(kind, str):
        raise CheckpointError(f"{path}: checkpoint kind must be a string, found {type(kind).__name__}")
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(f"{path}: holds a {kind!r} model, expected a {expected_kind!r} model")
    if not isinstance(config, dict) or not isinstance(state_dict, dict):
        raise CheckpointError(f"{path}: config and state_dict must be dicts")

    model = _rebuild(path, kind, payload.get("class"), config)
    _check_state_dict(path, model, state_dict)
    reference = model.state_dict()
    state_dict = {
        name: t.to(reference[name].dtype) if t.is_floating_point() else t for name, t in state_dict.items()
    }
    model.load_state_dict(state_dict)
    return model.to(device).eval(), metadata


def _rebuild(path: Path, kind: str, class_path: Any, config: dict[str, Any]) -> nn.Module:
    if kind in _KIND_CLASSES:
        class_path = _KIND_CLASSES[kind]
    elif not (isinstance(class_path, str) and class_path.startswith("facestudio.")):
        raise CheckpointError(f"{path}: unknown model kind {kind!r}")
    try:
        cls = _import_class(class_path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: model class {class_path} for kind {kind!r} is not available: {_one_line(exc)}"
        ) from exc
    try:
        return cls(**config)
    except Exception as exc:  # any constructor failure means this config does not fit this class
        raise CheckpointError(f"{path}: config does not rebuild {cls.__name__}: {_one_line(exc)}") from exc


def _check_state_dict(path: Path, model: nn.Module, state_dict: dict[str, Any]) -> None:
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing:
        problems.append(f"missing keys {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_some(unexpected)}")
    not_tensors = [k for k in state_dict if k in expected and not isinstance(state_dict[k], torch.Tensor)]
    if not_tensors:
        problems.append(f"non-tensor values {_some(not_tensors)}")
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if isinstance(state_dict.get(k), torch.Tensor) and state_dict[k].shape != expected[k].shape
    ]
    if mismatched:
        problems.append(f"shape mismatch (file vs model) {_some(mismatched)}")
    if problems:
        raise CheckpointError(
            f"{path}: weights do not match {type(model).__name__}: {'; '.join(problems)}"
        )


def _unwrap(model: nn.Module) -> nn.Module:
    while True:
        inner = getattr(model, "_orig_mod", None)  # torch.compile
        if inner is None and isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            inner = model.module
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _kind_of_class(class_path: str) -> str:
    for kind, registered in _KIND_CLASSES.items():
        if registered == class_path:
            return kind
    raise ValueError(f"class {class_path} has no registered kind; pass kind= or call register_model_kind")


def _import_class(class_path: str) -> type[nn.Module]:
    module_name, _, class_name = class_path.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"bad class path {class_path!r}")
    return getattr(importlib.import_module(module_name), class_name)


def _storable(tensor: torch.Tensor, half: bool) -> torch.Tensor:
    tensor = tensor.detach().to("cpu")
    if half and tensor.is_floating_point() and tensor.dtype != torch.float16:
        halved = tensor.to(torch.float16)
        if torch.isfinite(halved).all() or not torch.isfinite(tensor).all():
            return halved
    return tensor.clone().contiguous()


def _plain(value: Any, where: str) -> Any:
    """Copy `value` as plain Python data (what weights-only loading accepts), or raise TypeError."""
    if value is None:
        return None
    for plain_type in (bool, int, float, str):  # bool before int; subclasses (TorchVersion, enums) -> base
        if isinstance(value, plain_type):
            return plain_type(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a string")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _plain(value.item(), where)
    raise TypeError(f"{where}: {type(value).__name__} values cannot be stored in a checkpoint")


def _some(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
