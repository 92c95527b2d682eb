"""How well the face detector finds faces: recall on occluded and clean faces, false boxes, landmark error.

Scores a detector checkpoint on synthetic scenes made from faces of a held-out split (never seen in training),
with the occluder synthesizer's held-out occluders, at several score thresholds:

    python -m training.evaluate_detector --checkpoint resources/weights/detector.pt --data data_cache \
        [--split test] [--scenes 300] [--json out.json]

The detector's score threshold is chosen on the val split and stored in the checkpoint it ships with:

    python -m training.evaluate_detector --checkpoint runs/detector.pt --split val --write-threshold 0.05

A face counts as found when a predicted box overlaps its true box with IoU >= 0.3 (issue 4's rule); every
predicted box matching no face (or a face already matched) is a false box. Landmark error is the mean distance
of the five predicted points to the true ones over the true box side, on found faces.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from facestudio.detection import iou_matrix

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def match_faces(
    predicted: np.ndarray, scores: np.ndarray, truth: np.ndarray, iou_threshold: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching, best prediction first: (index of the prediction matched to each true box or -1,
    bool per prediction: False when it matched nothing = a false box). Boxes are (x, y, w, h)."""
    matched = np.full(len(truth), -1, dtype=np.int64)
    is_true = np.zeros(len(predicted), dtype=bool)
    if len(predicted) == 0 or len(truth) == 0:
        return matched, is_true
    ious = iou_matrix(predicted, truth)
    for index in np.argsort(-np.asarray(scores), kind="stable"):
        candidates = np.where(matched < 0, ious[index], -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            matched[best] = index
            is_true[index] = True
    return matched, is_true


@dataclass
class DetectionTally:
    """Running counts over scenes at one score threshold."""

    occluded: int = 0
    occluded_found: int = 0
    clean: int = 0
    clean_found: int = 0
    scenes: int = 0
    false_boxes: int = 0
    landmark_errors: list[float] = field(default_factory=list)

    def add(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        landmarks: np.ndarray,
        truth_boxes: np.ndarray,
        truth_landmarks: np.ndarray,
        occluded: np.ndarray,
        iou_threshold: float = 0.3,
    ) -> None:
        matched, is_true = match_faces(boxes, scores, truth_boxes, iou_threshold)
        found = matched >= 0
        self.scenes += 1
        self.false_boxes += int((~is_true).sum())
        self.occluded += int(occluded.sum())
        self.occluded_found += int((found & occluded).sum())
        self.clean += int((~occluded).sum())
        self.clean_found += int((found & ~occluded).sum())
        for face in np.flatnonzero(found):
            if landmarks is not None and len(landmarks):
                error = np.linalg.norm(landmarks[matched[face]] - truth_landmarks[face], axis=1).mean()
                self.landmark_errors.append(float(error / truth_boxes[face][2]))

    def summary(self) -> dict[str, float]:
        return {
            "recall_occluded": self.occluded_found / max(1, self.occluded),
            "recall_clean": self.clean_found / max(1, self.clean),
            "false_per_scene": self.false_boxes / max(1, self.scenes),
            "landmark_error": float(np.mean(self.landmark_errors)) if self.landmark_errors else float("nan"),
            "faces_occluded": self.occluded,
            "faces_clean": self.clean,
            "scenes": self.scenes,
        }


def sweep(
    detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    scenes: list,
    thresholds: tuple[float, ...] = THRESHOLDS,
    iou_threshold: float = 0.3,
) -> dict[float, dict[str, float]]:
    """Summaries at each score threshold from per-scene (boxes, scores, landmarks) found at a lower threshold."""
    results = {}
    for threshold in thresholds:
        tally = DetectionTally()
        for (boxes, scores, landmarks), scene in zip(detections, scenes):
            keep = scores >= threshold
            tally.add(boxes[keep], scores[keep], landmarks[keep], scene.boxes, scene.landmarks, scene.occluded,
                      iou_threshold)
        results[threshold] = tally.summary()
    return results


def choose_threshold(results: dict[float, dict[str, float]], max_false_per_scene: float) -> float:
    """The lowest threshold whose false boxes per scene stay under the limit (the highest one otherwise)."""
    for threshold in sorted(results):
        if results[threshold]["false_per_scene"] <= max_false_per_scene:
            return threshold
    return max(results)


def markdown_table(results: dict[float, dict[str, float]], chosen: float | None = None) -> str:
    lines = [
        "| threshold | occluded found | clean found | false boxes / scene | landmark error (box side) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for threshold, r in sorted(results.items()):
        mark = " (chosen)" if chosen is not None and abs(threshold - chosen) < 1e-9 else ""
        lines.append(
            f"| {threshold:.2f}{mark} | {100 * r['recall_occluded']:.1f} % | {100 * r['recall_clean']:.1f} % | "
            f"{r['false_per_scene']:.3f} | {r['landmark_error']:.3f} |"
        )
    return "\n".join(lines)


def write_threshold(checkpoint: Path, threshold: float, how: str) -> None:
    """Store `threshold` as the checkpoint's `score_threshold` (LearnedFaceDetector's default), atomically."""
    from facestudio.models.checkpoint import load_checkpoint, save_checkpoint

    model, metadata = load_checkpoint(checkpoint, expected_kind="detector")
    metadata.update(score_threshold=float(threshold), score_threshold_source=how)
    save_checkpoint(checkpoint, model, metadata, kind="detector")


def detect_all(
    detect: Callable[[np.ndarray], list], images: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(boxes Nx4, scores N, landmarks Nx5x2) per image from a `detect(image) -> list[Face]` function."""
    out = []
    for image in images:
        faces = detect(image)
        out.append((
            np.array([f.box for f in faces], np.float64).reshape(-1, 4),
            np.array([f.score for f in faces], np.float64),
            np.array([f.landmarks for f in faces], np.float64).reshape(-1, 5, 2),
        ))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Score a face detector checkpoint on held-out synthetic scenes.")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", default="data_cache", help="training data cache (meta.npz, faces/, occluders/)")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--write-threshold", type=float, default=None, metavar="MAX_FALSE",
                        help="store in the checkpoint the lowest threshold with at most this many false boxes "
                             "per scene (val split only)")
    args = parser.parse_args(argv)
    if args.write_threshold is not None and args.split != "val":
        parser.error("--write-threshold chooses on the val split: add --split val")

    from facestudio.detection import LearnedFaceDetector
    from training.scenes import ClutterBank, FaceBank, SceneComposer, SceneConfig, load_occluder

    data = Path(args.data)
    composer = SceneComposer(
        FaceBank.load(data, (args.split,)),
        ClutterBank.load(data / "occluders"),
        load_occluder(data / "occluders", split="test"),
        SceneConfig(height=args.height, width=args.width, min_face=20.0),
    )
    rng = np.random.default_rng(args.seed)
    scenes = [composer.compose(rng) for _ in range(args.scenes)]
    detector = LearnedFaceDetector(args.checkpoint, args.device, score_threshold=min(THRESHOLDS))
    started = time.perf_counter()
    detections = detect_all(detector.detect, [scene.image for scene in scenes])
    ms = 1000 * (time.perf_counter() - started) / max(1, len(scenes))
    results = sweep(detections, scenes)
    shipped = float(detector.metadata.get("score_threshold", 0.5))
    if args.write_threshold is not None:
        shipped = choose_threshold(results, args.write_threshold)
        write_threshold(Path(args.checkpoint), shipped, f"{args.split} split, {len(scenes)} {args.width}x{args.height} "
                        f"scenes, seed {args.seed}: lowest with <= {args.write_threshold} false boxes per scene")
    print(f"{len(scenes)} {args.width}x{args.height} scenes from the {args.split} split, {ms:.1f} ms per scene "
          f"({detector.device})")
    print(markdown_table(results, chosen=shipped))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"split": args.split, "scenes": len(scenes), "ms_per_scene": ms, "shipped_threshold": shipped,
             "results": {f"{t:.2f}": r for t, r in results.items()}}, indent=2))


if __name__ == "__main__":
    main()
