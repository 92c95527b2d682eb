"""Samples per second each training dataset makes on this machine's CPU: where a GPU run's limit is.

    python benchmarks/data_throughput.py [--data data_cache] [--seconds 20] [--workers 0,1]

For the inpainter's data (`InpaintingFaces`), the segmenter/encoder's (`OccludedFaces`) and, by occluder kind,
the cost of one synthetic occlusion (`training.occlusion.synthesize`) on 128 px crops. With --workers N the
dataset runs behind a DataLoader of N worker processes (batches of 64), as the trainers run it. A 7-minute
H200 run of the inpainter reached 7-12 steps/s of 64 (450-770 samples/s) with 13 workers: the data, not the
GPU, set its pace; this says which part of a sample costs what.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def samples_per_second(dataset, seconds: float, workers: int, batch_size: int = 64) -> float:
    """Samples/s drawn from `dataset` for about `seconds` (after one warm-up batch)."""
    from torch.utils.data import DataLoader

    if workers == 0:
        started, count, index = time.perf_counter(), 0, 0
        while time.perf_counter() - started < seconds:
            dataset[index % len(dataset)]
            index += 1
            count += 1
        return count / (time.perf_counter() - started)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True)
    batches = iter(loader)
    next(batches)  # workers started
    started, count = time.perf_counter(), 0
    for batch in batches:  # collated as the trainers get them
        count += len(batch["index"])
        if time.perf_counter() - started >= seconds:
            break
    del batches
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO / "data_cache")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", default="0", help="comma-separated DataLoader worker counts")
    parser.add_argument("--kinds", action="store_true", help="also time one occlusion of every training kind")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from training.data import FaceCache, InpaintingFaces, Jitter, OccludedFaces, PhotoCompression
    from training.occlusion import TRAIN_KINDS, OccluderAssets, synthesize

    cache = FaceCache(args.data)
    datasets = {
        "inpainter (InpaintingFaces)": InpaintingFaces(cache, "train", jitter=Jitter()),
        "segmenter (OccludedFaces + JPEG + small photos)": OccludedFaces(
            cache, "train", jitter=Jitter(), compression=PhotoCompression(0.8, (35, 95), 0.4, (28, 100))),
    }
    print("| dataset | workers | samples/s |\n| --- | ---: | ---: |")
    for name, dataset in datasets.items():
        for workers in (int(value) for value in args.workers.split(",")):
            rate = samples_per_second(dataset, args.seconds, workers)
            print(f"| {name} | {workers} | {rate:.0f} |", flush=True)
    if args.kinds:
        assets = OccluderAssets.load(args.data, split="train")
        rows = cache.indices("train")[:32]
        print("\n| occlusion kind | ms per sample (one process) |\n| --- | ---: |")
        for kind in TRAIN_KINDS:
            rng = np.random.default_rng(0)
            started = time.perf_counter()
            for row in rows:
                synthesize(cache.image(int(row)), cache.landmarks[int(row)], rng, kind=kind, assets=assets)
            print(f"| {kind} | {(time.perf_counter() - started) * 1000 / len(rows):.1f} |", flush=True)
    print(f"\n{args.data}, 128 px crops, torch threads 1, {args.seconds:.0f} s per row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
