"""Write resources/weights/MANIFEST.json: what each shipped checkpoint is, its sha256, data, steps and metrics.

    python -m training.manifest [resources/weights] [--evaluation docs/evaluation/results.json]

The app never needs the manifest to run (each checkpoint carries its own config and metadata); it is
for people and for checks that the files shipped are the ones measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from facestudio.atomic import atomic_write
from facestudio.models.checkpoint import CheckpointError, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
DATA_TERMS = "UTKFace and CelebA faces: non-commercial research only; the weights inherit these terms"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(path: Path) -> dict[str, Any]:
    """One manifest entry: file facts plus the checkpoint's own metadata (steps, data, validation metrics)."""
    model, metadata = load_checkpoint(path)
    return {
        "file": path.name,
        "kind": metadata.get("kind") or type(model).__name__,
        "class": f"{type(model).__module__}:{type(model).__name__}",
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        "parameters": sum(p.numel() for p in model.parameters()),
        "metadata": metadata,
    }


def build_manifest(weights_dir: Path, evaluation: Path | None = None) -> dict[str, Any]:
    entries = {}
    for path in sorted(weights_dir.glob("*.pt")):
        try:
            entries[path.stem] = describe(path)
        except CheckpointError as error:
            raise SystemExit(str(error)) from None
    manifest: dict[str, Any] = {"format": "facestudio-weights-manifest", "version": 1, "data_terms": DATA_TERMS,
                                "checkpoints": entries}
    if evaluation is not None and evaluation.is_file():
        manifest["evaluation"] = {"source": os.path.relpath(evaluation, REPO),
                                  "summary": json.loads(evaluation.read_text()).get("summary")}
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="?", default=REPO / "resources" / "weights")
    parser.add_argument("--evaluation", type=Path, default=REPO / "docs" / "evaluation" / "results.json")
    args = parser.parse_args(argv)
    manifest = build_manifest(args.weights, args.evaluation)
    target = args.weights / "MANIFEST.json"
    atomic_write(target, json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n")
    print(f"wrote {target}: {', '.join(manifest['checkpoints'])}")


if __name__ == "__main__":
    main()
