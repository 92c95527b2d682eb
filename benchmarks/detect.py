"""Face detectors on 1280x960 photos of held-out faces, masked and unmasked: issue 4's table.

    python benchmarks/detect.py [--data data_cache] [--checkpoint resources/weights/detector.pt] \
        [--photos 100] [--threads 2] [--json benchmark-detect.json]

Photos are composed (training.scenes) from faces of the cache's test split, which no detector was trained on:
one face per photo, its box from 48 px to 85 % of the photo's height, rolled up to +-15 degrees, on photo and
procedural backgrounds with non-face clutter, with camera-like blur, noise and JPEG damage. Each photo is scored twice: with a face mask from the synthesizer's held-out
templates and textures, and the same photo without it. A third set has 2-4 faces per photo (half masked). A face
counts as found when a box overlaps its true box with IoU >= 0.3; every other box is a false box. Times are
medians per photo with `--threads` CPU threads (OpenCV and torch; dlib is single-threaded).

Detectors: OpenCV Haar (`facestudio.faces.HaarFaceDetector`, as the app configures it), dlib HOG (no upsampling,
as fast as in the issue's table), and the learned detector (`facestudio.detection.LearnedFaceDetector`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facestudio.faces import Face, HaarFaceDetector  # noqa: E402
from training.evaluate_detector import match_faces  # noqa: E402
from training.scenes import ClutterBank, FaceBank, Scene, SceneComposer, SceneConfig, load_occluder  # noqa: E402

MASK_KINDS = ("mask_template", "mask_textured")
MAX_ROLL = 15.0  # degrees: people in photos mostly hold their heads near upright (Haar and HOG need it)


class DlibHogDetector:
    """dlib's HOG frontal face detector behind the `detect(image) -> list[Face]` protocol (box-only)."""

    def __init__(self, upsample: int = 0) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample

    def detect(self, image: np.ndarray) -> list[Face]:
        from facestudio.faces import landmarks_from_box

        rects, scores, _ = self._detector.run(image, self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            box = (rect.left(), rect.top(), rect.width(), rect.height())
            faces.append(Face(box=box, landmarks=landmarks_from_box(box), score=score, source="dlib-hog"))
        return faces


def compose_photos(data: Path, count: int, seed: int) -> dict[str, list[Scene]]:
    """{"masked", "clean", "several"}: the benchmark photos (masked and clean are the same photos)."""
    faces = FaceBank.load(data, ("test",))
    clutter = ClutterBank.load(data / "occluders")
    masks = load_occluder(data / "occluders", "test", kinds=MASK_KINDS)
    one_face = dict(height=960, width=1280, min_face=48.0, max_face_fraction=0.85, clutter_max=3, max_roll=MAX_ROLL,
                    face_counts=(0.0, 1.0, 0.0, 0.0, 0.0))
    photos: dict[str, list[Scene]] = {}
    for name, rate in (("masked", 1.0), ("clean", 0.0)):
        composer = SceneComposer(faces, clutter, masks, SceneConfig(**one_face, occlusion_rate=rate))
        rng = np.random.default_rng(seed)
        photos[name] = [composer.compose(rng) for _ in range(count)]
    several = SceneConfig(**{**one_face, "face_counts": (0.0, 0.0, 1.0, 1.0, 1.0)}, occlusion_rate=0.5)
    rng = np.random.default_rng(seed + 1)
    composer = SceneComposer(faces, clutter, masks, several)
    photos["several"] = [composer.compose(rng) for _ in range(max(10, count // 2))]
    return photos


def score(detect: Callable[[np.ndarray], list[Face]], photos: dict[str, list[Scene]]) -> dict[str, float]:
    """Recall per set, false boxes per photo and median milliseconds per photo for one detector."""
    found = {name: [0, 0] for name in photos}
    all_found_photos = 0
    false_boxes, times = 0, []
    for name, scenes in photos.items():
        for scene in scenes:
            started = time.perf_counter()
            faces = detect(scene.image)
            times.append(time.perf_counter() - started)
            boxes = np.array([f.box for f in faces], np.float64).reshape(-1, 4)
            scores = np.array([f.score for f in faces], np.float64)
            matched, is_true = match_faces(boxes, scores, scene.boxes, 0.3)
            found[name][0] += int((matched >= 0).sum())
            found[name][1] += len(scene.boxes)
            false_boxes += int((~is_true).sum())
            if name == "several":
                all_found_photos += int(np.all(matched >= 0))
    photo_count = sum(len(scenes) for scenes in photos.values())
    return {
        "occluded_found": found["masked"][0] / found["masked"][1],
        "unoccluded_found": found["clean"][0] / found["clean"][1],
        "several_faces_found": found["several"][0] / found["several"][1],
        "several_all_found_photos": all_found_photos / len(photos["several"]),
        "false_boxes_per_photo": false_boxes / photo_count,
        "ms_per_photo": 1000 * float(np.median(times)),
    }


def markdown(results: dict[str, dict[str, float]], photos: dict[str, list[Scene]]) -> str:
    lines = [
        "| detector | occluded faces found | unoccluded found | several faces per photo: found | "
        "false boxes per photo | time per photo |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {100 * r['occluded_found']:.1f} % | {100 * r['unoccluded_found']:.1f} % | "
            f"{100 * r['several_faces_found']:.1f} % "
            f"({100 * r['several_all_found_photos']:.0f} % of photos complete) | "
            f"{r['false_boxes_per_photo']:.2f} | {r['ms_per_photo']:.0f} ms |"
        )
    counts = ", ".join(f"{len(v)} {k}" for k, v in photos.items())
    return "\n".join(lines) + f"\n\n1280x960 photos: {counts}; IoU >= 0.3 counts as found."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO / "data_cache", help="training data cache (test split)")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "resources" / "weights" / "detector.pt")
    parser.add_argument("--photos", type=int, default=100, help="photos per set (masked, clean; several: half)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--detectors", default="haar,dlib-hog,learned")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    photos = compose_photos(args.data, args.photos, args.seed)
    chosen = [name.strip() for name in args.detectors.split(",") if name.strip()]
    results: dict[str, dict[str, float]] = {}
    for name in chosen:
        if name == "haar":
            detector = HaarFaceDetector()
            label = "OpenCV Haar (frontalface_default)"
        elif name == "dlib-hog":
            detector = DlibHogDetector()
            label = "dlib HOG"
        elif name == "learned":
            from facestudio.detection import LearnedFaceDetector

            if not args.checkpoint.is_file():
                raise SystemExit(f"{args.checkpoint}: detector checkpoint not found (train it or pass --checkpoint)")
            detector = LearnedFaceDetector(args.checkpoint, "cpu")
            label = f"FaceStudio learned detector (threshold {detector.score_threshold:.2f})"
        else:
            raise SystemExit(f"unknown detector {name!r}: use haar, dlib-hog, learned")
        detector.detect(photos["clean"][0].image)  # warm-up
        results[label] = score(detector.detect, photos)
        print(f"{label}: {json.dumps({k: round(v, 4) for k, v in results[label].items()})}", flush=True)
    print()
    print(markdown(results, photos))
    if args.json:
        args.json.write_text(json.dumps({"photos": {k: len(v) for k, v in photos.items()}, "results": results},
                                        indent=2))


if __name__ == "__main__":
    main()
