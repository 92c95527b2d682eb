"""The GPU run's pieces on a CPU: the bundle builder packs a cache the trainers read, within its budget, and
`training.gpu_run` (what training/gpu_run.sh runs) trains, exports and writes every file it brings back."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from facestudio.models import FaceEncoder, load_checkpoint, save_checkpoint
from test_train_smoke import TINY, small_cache  # noqa: F401  (the session's 20-face cache)
from training import gpu_bundle, gpu_run
from training.data import FaceCache


def test_bundle_packs_every_val_face_and_reads_back(small_cache: Path, tmp_path: Path) -> None:  # noqa: F811
    facts = gpu_bundle.build(small_cache, tmp_path / "bundle", wheels=False, tree_bytes=0)
    with tarfile.open(tmp_path / "bundle" / "data.tar") as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert "data_cache/meta.npz" in names and any(n.startswith("data_cache/occluders/") for n in names)
    cache = FaceCache(tmp_path / "unpacked" / "data_cache")
    with np.load(small_cache / "meta.npz") as original:
        splits = original["split"]
    assert len(cache.indices("val")) == (splits == "val").sum()
    assert len(cache.indices("train")) == (splits == "train").sum() and not len(cache.indices("test"))
    assert facts["faces"] == len(cache) and cache.image(0).shape == (cache.crop_size, cache.crop_size, 3)
    assert (tmp_path / "bundle" / "stub" / "kornia_rs" / "__init__.py").is_file()


def test_bundle_takes_train_faces_round_robin_within_the_budget() -> None:
    meta = {"split": np.array(["val", "train", "train", "train", "train", "test"]),
            "source": np.array(["a", "a", "a", "b", "b", "a"])}
    rows = gpu_bundle.choose_rows(meta, np.full(6, 10), budget=30)
    assert list(rows) == [0, 1, 3]  # the val face, then one train face of each source


def test_bundle_refuses_what_does_not_fit(small_cache: Path, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(SystemExit, match="fit"):
        gpu_bundle.build(small_cache, tmp_path / "bundle", wheels=False, tree_bytes=gpu_bundle.CARRY_LIMIT)


@pytest.mark.slow
def test_gpu_run_trains_three_steps_and_writes_what_comes_back(small_cache: Path, tmp_path: Path) -> None:  # noqa: F811
    encoder = save_checkpoint(tmp_path / "encoder.pt", FaceEncoder(width_coefficient=0.25))
    results = tmp_path / "out"
    torch.set_num_threads(2)
    summary = gpu_run.main(["--data", str(small_cache), "--results", str(results), "--work", str(tmp_path / "work"),
                            "--device", "cpu", "--steps", "3", "--workers", "0", "--batch-size", "2",
                            "--encoder", str(encoder), "--init", "none", "--",
                            "--set", *TINY["inpainter"], "train.val_samples=4", "train.log_every=1"])
    assert {p.name for p in results.iterdir()} == {"generator.pt", "log.jsonl", "samples.png", "validation.png",
                                                   "summary.json"}
    assert summary["steps"] == 3 and "sharpness" in summary["last_val"]
    assert json.loads((results / "summary.json").read_text())["recipe"] == gpu_run.RECIPE
    _, metadata = load_checkpoint(results / "generator.pt", expected_kind="generator")
    assert metadata["steps"] == 3 and metadata["training_config"]["model"]["discriminator_scales"] == 2


def test_overrides_after_the_recipe_win() -> None:
    overrides, rest = gpu_run.split_overrides(["--set", "loss.style=0", "a.b=1", "--resume"])
    assert overrides == ["loss.style=0", "a.b=1"] and rest == ["--resume"]
