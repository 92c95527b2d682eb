"""Occlusion segmentation on photos re-encoded as JPEG: does the segmenter hold up on real-world files?

    python benchmarks/segment_jpeg.py [--checkpoint resources/weights/segmenter.pt] [--data data_cache] [--n 120]

Held-out test faces of the data cache with held-out occluders (training.data.OccludedFaces, split "test"), each
scored as synthesized and after a JPEG round trip at quality 90, 75 and 50 (training.data.PhotoCompression). The
synthesizer pastes occluders onto decoded faces, so a segmenter trained without re-encoding learns that the
occluder is the region without JPEG artefacts; this is the figure that shows whether it did.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facestudio.models.checkpoint import load_checkpoint  # noqa: E402
from facestudio.tensors import images_to_tensor  # noqa: E402
from training.data import FaceCache, OccludedFaces, PhotoCompression  # noqa: E402

QUALITIES = (None, 90, 75, 50)


def mean_iou(segmenter: torch.nn.Module, dataset: OccludedFaces, count: int) -> float:
    """Mean IoU (threshold: logit > 0) over the first `count` occluded faces of `dataset`."""
    samples = [dataset[index] for index in range(min(count, len(dataset)))]
    pixels = images_to_tensor(torch.stack([sample["occluded"] for sample in samples]), layout="NCHW")
    with torch.inference_mode():
        predicted = segmenter(pixels)[:, 0] > 0
    scores = []
    for guess, sample in zip(predicted, samples):
        truth = sample["mask"][0] > 0
        if truth.any():
            scores.append(float((guess & truth).sum()) / float((guess | truth).sum()))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "resources" / "weights" / "segmenter.pt")
    parser.add_argument("--data", type=Path, default=REPO / "data_cache")
    parser.add_argument("--n", type=int, default=120, help="test faces")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    segmenter, _ = load_checkpoint(args.checkpoint, expected_kind="segmenter", device="cpu")
    segmenter.eval()
    cache = FaceCache(args.data)
    print("| photo | IoU |\n| --- | --- |")
    for quality in QUALITIES:
        compression = None if quality is None else PhotoCompression(1.0, (quality, quality))
        dataset = OccludedFaces(cache, "test", jitter=None, deterministic=True, seed=99, compression=compression)
        label = "as synthesized" if quality is None else f"JPEG quality {quality}"
        print(f"| {label} | {mean_iou(segmenter, dataset, args.n):.3f} |", flush=True)
    print(f"\n{args.n} held-out test faces with held-out occluders; {args.checkpoint}")


if __name__ == "__main__":
    main()
