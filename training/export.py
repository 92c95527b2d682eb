"""Turn a training state (runs/<model>/last.pt) into the checkpoint FaceStudio ships.

    python -m training.export runs/inpainter resources/weights/generator.pt [--model generator_ema]

The shipped file is `facestudio.models.checkpoint` format (kind, constructor config, fp16
weights) with metadata saying what it was trained on, for how long, and how it scored on the
validation split. The training scripts call `export_state` themselves when given `--export`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from torch import nn

from facestudio.models.checkpoint import CheckpointError, build_model, load_checkpoint, save_checkpoint
from training.state import STATE_FILE, TRAINING_FORMAT, load_training_state


def model_from_state(state: dict[str, Any], name: str | None = None) -> nn.Module:
    """Rebuild one model of a training state (default: the one its script ships), in eval mode."""
    name = name or state.get("export_model")
    entry = state["models"].get(name)
    if entry is None:
        raise SystemExit(f"training state has no model {name!r}; it has {', '.join(state['models'])}")
    model = build_model(entry["kind"], entry["config"])
    model.load_state_dict(entry["state_dict"])
    return model.eval()


def export_metadata(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "trained_by": f"training.train_{state['script']}",
        "steps": int(state["step"]),
        "train_minutes": round(float(state["train_seconds"]) / 60.0, 2),
        "data": state.get("data", {}),
        "val_metrics": {k: v for k, v in (state.get("metrics") or {}).items() if k != "step"},
        "val_step": (state.get("metrics") or {}).get("step"),
        "training_config": state.get("config", {}),
        "license": "non-commercial research only (trained on UTKFace and CelebA)",
    }


def export_state(state: dict[str, Any], path: str | Path, name: str | None = None) -> Path:
    """Write the shipped checkpoint of `state`'s model `name` to `path` (fp16 weights)."""
    model = model_from_state(state, name)
    return save_checkpoint(path, model, metadata=export_metadata(state))


def load_model(path: str | Path, kind: str, device: str = "cpu") -> nn.Module:
    """A model of `kind` from either a shipped checkpoint or a training state (run folder or last.pt)."""
    path = Path(path)
    if path.is_dir():
        path = path / STATE_FILE
    try:
        model, _ = load_checkpoint(path, expected_kind=kind, device=device)
        return model
    except CheckpointError as exc:
        if "not a FaceStudio checkpoint" not in str(exc):
            raise SystemExit(str(exc)) from exc
    state = load_training_state(path)
    names = [n for n, entry in state["models"].items() if entry["kind"] == kind]
    if not names:
        raise SystemExit(f"{path}: training state holds no {kind!r} model")
    name = state.get("export_model") if state.get("export_model") in names else names[0]
    return model_from_state(state, name).to(device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help=f"run folder or its {STATE_FILE}")
    parser.add_argument("out", type=Path, help="shipped checkpoint to write, e.g. resources/weights/generator.pt")
    parser.add_argument("--model", default=None, help="which model of the run (default: the one its script ships)")
    args = parser.parse_args(argv)
    source = args.run / STATE_FILE if args.run.is_dir() else args.run
    if not source.is_file():
        raise SystemExit(f"{source}: training state not found")
    state = load_training_state(source)
    assert state["format"] == TRAINING_FORMAT
    path = export_state(state, args.out, args.model)
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in export_metadata(state)["val_metrics"].items())
    print(f"{path}: {state['script']} after {state['step']} steps; {metrics}")


if __name__ == "__main__":
    main()
