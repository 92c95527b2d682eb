"""Face detectors on REAL photos of masked faces: ../shared/data/occluded-real/face-masks (747 tight crops).

    python benchmarks/detect_real.py [--data ../shared/data] [--checkpoint resources/weights/detector.pt] \
        [--detectors haar,dlib-hog,learned] [--threads 2] [--json benchmark-detect-real.json]

The synthetic photos of benchmarks/detect.py have exact boxes but pasted faces; these are real people wearing real
masks, photographed by others, with no boxes. Each photo is a tight crop of one face (25 to 563 px, median 66),
so a detector is right when it finds that face: a box overlapping the whole frame with IoU >= 0.3 (a face box
is about the frame, give or take the crop's margins). Boxes beyond the best one are counted as extra boxes
(the photos hold one face each, so most are false). Times are medians per photo with `--threads` threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.detect import DlibHogDetector  # noqa: E402
from facestudio.detection import iou_matrix  # noqa: E402
from facestudio.faces import HaarFaceDetector  # noqa: E402
from facestudio.imageio import read_image  # noqa: E402

FOLDER = Path("occluded-real") / "face-masks"
FOUND_IOU = 0.3


def score(detect, photos: list[np.ndarray]) -> dict[str, float]:
    """Share of photos whose face is found, extra boxes per photo, median ms per photo."""
    found, extra, times = 0, 0, []
    for image in photos:
        started = time.perf_counter()
        faces = detect(image)
        times.append(time.perf_counter() - started)
        if not faces:
            continue
        height, width = image.shape[:2]
        overlaps = iou_matrix(np.array([f.box for f in faces], np.float64), np.array([[0, 0, width, height]]))[:, 0]
        hit = bool((overlaps >= FOUND_IOU).any())
        found += int(hit)
        extra += len(faces) - int(hit)
    return {"found": found / len(photos), "extra_boxes_per_photo": extra / len(photos),
            "ms_per_photo": 1000 * float(np.median(times)), "photos": len(photos)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "resources" / "weights" / "detector.pt")
    parser.add_argument("--detectors", default="haar,dlib-hog,learned")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N photos")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    paths = sorted((args.data / FOLDER).glob("*.jpg"))[: args.limit]
    if not paths:
        raise SystemExit(f"{args.data / FOLDER}: no photos found (pass --data)")
    photos = [read_image(path) for path in paths]
    results: dict[str, dict[str, float]] = {}
    for name in [n.strip() for n in args.detectors.split(",") if n.strip()]:
        if name == "haar":
            detector, label = HaarFaceDetector(), "OpenCV Haar (frontalface_default)"
        elif name == "dlib-hog":
            detector, label = DlibHogDetector(), "dlib HOG"
        elif name == "learned":
            from facestudio.detection import LearnedFaceDetector

            if not args.checkpoint.is_file():
                raise SystemExit(f"{args.checkpoint}: detector checkpoint not found (train it or pass --checkpoint)")
            detector, label = LearnedFaceDetector(args.checkpoint, "cpu"), "FaceStudio learned detector"
        else:
            raise SystemExit(f"unknown detector {name!r}: use haar, dlib-hog, learned")
        results[label] = score(detector.detect, photos)
        print(f"{label}: {json.dumps({k: round(v, 4) for k, v in results[label].items()})}", flush=True)
    print("\n| detector | masked faces found | extra boxes per photo | time per photo |\n| --- | --- | --- | --- |")
    for label, r in results.items():
        print(f"| {label} | {100 * r['found']:.1f} % | {r['extra_boxes_per_photo']:.2f} | {r['ms_per_photo']:.1f} ms |")
    print(f"\n{len(photos)} real photos of masked faces ({FOLDER}), tight crops; found = a box with IoU >= "
          f"{FOUND_IOU} with the frame.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
