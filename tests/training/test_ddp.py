"""DistributedDataParallel through the same script: torchrun starts 2 CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facestudio.models import load_checkpoint
from training import prepare_data

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FACESTUDIO_DATA", REPO / ".." / "shared" / "data"))


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 real faces (6 train, 2 val, 2 test per source) through the real pipeline, built once per session."""
    if not (DATA / "faces" / "utk").is_dir():
        pytest.skip(f"shared face data not found at {DATA}")
    return prepare_data.build_small_cache(DATA, tmp_path_factory.getbasetemp() / "small_cache")


@pytest.mark.slow
def test_two_cpu_processes_train_in_sync_and_rank0_saves(small_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "training.train_segmenter", "--data", str(small_cache), "--out", str(out),
        "--steps", "3", "--batch-size", "2", "--workers", "0", "--device", "cpu",
        "--export", str(tmp_path / "segmenter.pt"),
        "--set", "model.base_channels=8", "model.depth=2", "train.val_every=3", "train.val_samples=4",
        "train.log_every=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    end = [r["end"] for r in records if "end" in r]
    assert len(end) == 1, "only rank 0 writes the log"
    ranks = end[0]["ranks"]
    assert end[0]["world_size"] == 2 and sorted(r["rank"] for r in ranks) == [0, 1]
    assert all(r["steps"] == 3 for r in ranks)
    assert ranks[0]["weight_checksum"] == pytest.approx(ranks[1]["weight_checksum"], rel=1e-6)
    # each step saw two ranks' batches of 2
    assert all(r["samples_per_s"] > 0 for r in records if "losses" in r)
    assert result.stdout.count("stopped at step 3") == 1, "only rank 0 reports and saves"
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 3
    model, metadata = load_checkpoint(tmp_path / "segmenter.pt", expected_kind="segmenter")
    assert metadata["steps"] == 3


@pytest.mark.parametrize("name, local_rank, expected", [
    ("cuda", 0, "cuda:0"),      # one process, no index: the first GPU (was "Expected a torch.device with ...")
    ("cuda", 3, "cuda:3"),      # under torchrun: this process's GPU
    ("cuda:1", 3, "cuda:1"),    # an index given wins
    ("cpu", 2, "cpu"),
])
def test_cuda_without_an_index_is_this_processes_gpu(name, local_rank, expected) -> None:
    from training.loop import process_device

    assert process_device(name, local_rank) == torch.device(expected)
