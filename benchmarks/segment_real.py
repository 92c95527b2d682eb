"""How much of a real occluder the segmenter finds, on real photos without ground truth.

    python benchmarks/segment_real.py [--weights resources/weights] [--n 200] [--sheet docs/evaluation/segment_real.png]

Real masked photos have no drawn masks, but every one of them hides the same part of the face: a
face mask always covers the mouth, sunglasses always cover the eyes. So the figure is the share of
that canonical region (in the 128 px face crop of the largest face found) that `auto_fix`'s mask
covers; a clean face (ROF neutral) shows what the segmenter marks where nothing hides the face.
Sets from `../shared/data/occluded-real`: `face-masks` and ROF `masked` (mouth region), ROF
`sunglasses` (eye regions), ROF `neutral` (share of the central face marked).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facestudio.alignment import CANONICAL_LANDMARKS, crop_mask  # noqa: E402
from facestudio.api import NoFaceError, Pipeline, default_weights_dir  # noqa: E402
from facestudio.faces import face_crop  # noqa: E402
from facestudio.imageio import read_image  # noqa: E402

CROP = 128
FULL = 0.9  # a region at least this covered counts as found whole


def region(kind: str) -> np.ndarray:
    """HxW bool canonical region of a CROP px crop that an occluder of `kind` always hides."""
    plane = np.zeros((CROP, CROP), np.uint8)
    if kind == "mouth":  # between the mouth corners, from under the nose tip to under the lips
        left, right = CANONICAL_LANDMARKS[3, 0] + 0.04, CANONICAL_LANDMARKS[4, 0] - 0.04
        top, bottom = CANONICAL_LANDMARKS[2, 1] + 0.09, CANONICAL_LANDMARKS[3, 1] + 0.07
        cv2.rectangle(plane, (round(left * CROP), round(top * CROP)), (round(right * CROP), round(bottom * CROP)), 1, -1)
    elif kind == "eyes":
        for x, y in CANONICAL_LANDMARKS[:2]:
            cv2.ellipse(plane, (round(x * CROP), round(y * CROP)), (round(0.07 * CROP), round(0.035 * CROP)), 0, 0, 360, 1, -1)
    elif kind == "face":
        cv2.ellipse(plane, (CROP // 2, round(0.52 * CROP)), (round(0.33 * CROP), round(0.42 * CROP)), 0, 0, 360, 1, -1)
    else:
        raise ValueError(f"unknown region {kind!r}")
    return plane.astype(bool)


SETS = {  # name: (folder under occluded-real, glob, region)
    "face-masks": ("face-masks", "*.jpg", "mouth"),
    "rof masked": ("rof/masked", "*/*.jpg", "mouth"),
    "rof sunglasses": ("rof/sunglasses", "*/*.jpg", "eyes"),
    "rof neutral (clean)": ("rof/neutral", "*/*.jpg", "face"),
}


def measure(pipeline: Pipeline, paths: list[Path], area: np.ndarray) -> tuple[dict, list]:
    """Coverage of `area` by auto_fix's mask per photo; tiles (photo crop, mask) for a sheet."""
    coverages, tiles, missed = [], [], 0
    for path in paths:
        image = read_image(path)
        try:
            result = pipeline.auto_fix(image, method="telea")
        except NoFaceError:
            missed += 1
            continue
        face = max(result.faces, key=lambda found: found.area)
        crop = face_crop(image, face, CROP)
        mask = crop_mask(result.mask, crop.matrix, CROP) > 0
        coverages.append(float(mask[area].mean()))
        tiles.append((crop.image, mask))
    coverage = np.array(coverages) if coverages else np.zeros(1)
    return {
        "photos": len(paths),
        "found": len(paths) - missed,
        "coverage": float(coverage.mean()),
        "full": float((coverage >= FULL).mean()),
    }, tiles


def sheet(tiles: list, columns: int = 8) -> np.ndarray:
    """Photo crops with the mask in red over them, `columns` a row."""
    shown = []
    for image, mask in tiles:
        overlay = image.copy()
        overlay[mask] = (0.45 * overlay[mask] + 0.55 * np.array([255, 40, 40])).astype(np.uint8)
        shown.append(np.concatenate([image, overlay], axis=1))
    while len(shown) % columns:
        shown.append(np.zeros_like(shown[0]))
    rows = [np.concatenate(shown[i : i + columns], axis=1) for i in range(0, len(shown), columns)]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=default_weights_dir())
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=200, help="photos per set (evenly spread over the sorted files)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sheet", type=Path, default=None, help="write a contact sheet of face-masks and sunglasses")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    pipeline = Pipeline(device="cpu", weights_dir=args.weights)
    started = time.perf_counter()
    print("| photos | count | face found | region covered (mean) | region covered >= 90 % |")
    print("| --- | --- | --- | --- | --- |")
    sheets = []
    for name, (folder, pattern, kind) in SETS.items():
        files = sorted((args.data / "occluded-real" / folder).glob(pattern))
        paths = [files[int(i)] for i in np.linspace(0, len(files) - 1, min(args.n, len(files)))] if files else []
        figures, tiles = measure(pipeline, paths, region(kind))
        label = "marked" if kind == "face" else "covered"
        print(f"| {name} ({kind} {label}) | {figures['photos']} | {figures['found']} | "
              f"{100 * figures['coverage']:.1f} % | {100 * figures['full']:.1f} % |", flush=True)
        if kind != "face":
            sheets.append(tiles[:: max(1, len(tiles) // 16)][:16])
    print(f"\nweights {args.weights}; {time.perf_counter() - started:.0f} s")
    if args.sheet and sheets:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        picture = np.concatenate([sheet(tiles) for tiles in sheets if tiles], axis=0)
        cv2.imwrite(str(args.sheet), picture[..., ::-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
