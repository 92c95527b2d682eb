"""The training state file (`<run>/last.pt`): its format, and how it is written and read.

The loop that writes it (training.loop) and the export that turns it into a shipped checkpoint
(training.export) both need these. They live here, below both, because the loop calls the export at the
end of a run: were they in loop.py, the two modules would import each other.

The state is a dict: {"format": "facestudio-training", "version": 1, "script", "config", "step", "epoch",
"train_seconds", "models": {name: {"kind", "config", "state_dict"}}, "ema_updates", "optimizers", "scalers",
"rng", "metrics" (last validation), "data" (cache facts), "export_model" (the entry that ships)}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from facestudio.atomic import atomic_write

TRAINING_FORMAT = "facestudio-training"
TRAINING_FORMAT_VERSION = 1
STATE_FILE = "last.pt"


def atomic_torch_save(payload: Any, path: Path) -> None:
    """torch.save `payload` to `path` atomically: a run killed mid-save keeps its previous state file."""
    atomic_write(path, lambda stream: torch.save(payload, stream))


def load_training_state(path: Path) -> dict[str, Any]:
    """Read a last.pt written by `Trainer` (our own file: full unpickling is acceptable)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # any unreadable file is one user-facing problem
        raise SystemExit(f"{path}: cannot read training state: {' '.join(str(exc).split())[:200]}") from exc
    if not isinstance(state, dict) or state.get("format") != TRAINING_FORMAT:
        raise SystemExit(f"{path}: not a FaceStudio training state (no '{TRAINING_FORMAT}' header)")
    return state
