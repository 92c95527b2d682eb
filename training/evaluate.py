"""Evaluate the trained models side by side with OpenCV Telea, on faces and occluders held out of training.

    python -m training.evaluate [--weights resources/weights] [--data data_cache] [--out docs/evaluation]
                                [--n 500] [--gallery 500] [--seed 0] [--deepface-faces 100] [--runs runs]
                                [--alignment 100]

On the first N faces of the data cache's test split (seeded order), in one run: segmentation IoU
and Dice per occluder kind; inpainting PSNR/SSIM/L1 (whole crop and hole) by hole-area bucket and
for occluder-shaped holes, ours vs Telea on the same true masks; identity kept (dlib descriptor
distance to the truth, and DeepFace's verdict on a subset); encoder top-1 identification of
occluded faces among a gallery of clean ones and gender accuracy on occluded faces. Then, on the
first --alignment faces put into larger photos, the app's auto_fix with the face framed by its true
landmarks, the learned detector and Haar (training/evaluation/alignment.py). See
training/evaluation/ for how each is measured.

Writes OUT/results.md, OUT/results.json, OUT/contact_sheet.png, OUT/quality_by_hole_size.png and,
when RUNS/<model>/log.jsonl exist, OUT/training_curves.png. Checkpoints missing from the weights
folder are skipped with a note (Telea and dlib still run), so it also works mid-training.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluation.alignment import AlignmentConfig, evaluate_alignment
from training.evaluation.cases import ALL_KINDS, FREE_FORM_GROUPS, HELDOUT, OCCLUDER_GROUPS
from training.evaluation.report import build_summary, shown_path, write_json, write_markdown
from training.evaluation.run import (
    EvaluationConfig,
    EvaluationResult,
    Evaluators,
    SamePerson,
    run_evaluation,
    telea_filler,
)

REPO = Path(__file__).resolve().parents[1]
FIGURE_NAMES = ("contact_sheet.png", "quality_by_hole_size.png", "training_curves.png")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    from facestudio.api import default_weights_dir

    defaults = EvaluationConfig()
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=default_weights_dir(),
                        help="folder with segmenter.pt, encoder.pt, generator.pt (default: the app's)")
    parser.add_argument("--data", type=Path, default=REPO / "data_cache", help="data cache (training.prepare_data)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation", help="where the report goes")
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="training runs with log.jsonl, for the curves")
    parser.add_argument("--n", type=int, default=defaults.n, help="test faces to evaluate")
    parser.add_argument("--gallery", type=int, default=defaults.gallery,
                        help="clean faces in the identification gallery")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="face order and hole randomness")
    parser.add_argument("--deepface-faces", type=int, default=defaults.deepface_faces,
                        help="faces whose held-out occluder case DeepFace also judges (0: none; ~0.5 s CPU per face)")
    parser.add_argument("--chunk", type=int, default=defaults.chunk, help="faces processed together")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: the dlib workers use the other core; more pay only on idle cores)")
    parser.add_argument("--workers", type=int, default=2, help="processes computing dlib descriptors")
    parser.add_argument("--alignment", type=int, default=AlignmentConfig().n,
                        help="test faces put into photos to score auto_fix with true landmarks, the learned "
                             "detector and Haar (0: skip; ~0.6 s per face on one thread)")
    args = parser.parse_args(argv)
    for name in ("n", "gallery", "chunk", "threads", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("deepface_faces", "alignment"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    return args


def build_evaluators(args: argparse.Namespace, notes: list[str]) -> tuple[Evaluators, dict[str, Any]]:
    """Telea, the trained models that are present, dlib and DeepFace; notes say what is skipped."""
    from facestudio.identity import BackendUnavailableError
    from training.evaluation.dlib_identity import DlibDescriptor
    from training.evaluation.models import KINDS, TrainedModels

    models = TrainedModels(args.weights, device=args.device)
    for kind in KINDS:
        if not models.has(kind):
            reason = "missing" if not (args.weights / f"{kind}.pt").is_file() else "needs encoder.pt"
            notes.append(f"{kind}.pt {reason} in {args.weights}: what needs it is not measured.")
    evaluators = Evaluators(fillers={"telea": telea_filler})
    if models.has("segmenter"):
        evaluators.segmenter = lambda cases: models.segment([case.image for case in cases])
    if models.has("encoder"):
        evaluators.encoder = models.encode
    if models.has("generator"):
        evaluators.fillers["ours"] = lambda cases: models.inpaint([c.image for c in cases], [c.mask for c in cases])
    try:
        evaluators.describer = DlibDescriptor(workers=args.workers)
    except BackendUnavailableError as error:
        notes.append(f"identity not measured: {error}")
    if args.deepface_faces:
        evaluators.same_person = _deepface_verdict(notes)
    return evaluators, models.checkpoints()


def _deepface_verdict(notes: list[str]) -> SamePerson | None:
    """DeepFace's same-person verdict via facestudio.identity, or None (with a note) when it cannot run."""
    from facestudio import identity
    from facestudio.identity import deepface_backend

    reason = deepface_backend.unavailable_reason()
    if reason is not None:
        notes.append(f"DeepFace verdict not measured: {reason}")
        return None

    def same_person(result: np.ndarray, truth: np.ndarray) -> bool | None:
        try:
            return identity.compare(result, truth, backend="deepface").same
        except identity.IdentityError:
            return None

    return same_person


def draw_figures(result: EvaluationResult, summary: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The PNGs next to the report; a figure with nothing to show is removed, not left stale."""
    from training import plots

    drawn = []
    if result.sheet:
        drawn.append(plots.contact_sheet(result.sheet, args.out / "contact_sheet.png").name)
    if summary["inpainting"]:
        drawn.append(plots.quality_by_hole_size(summary["inpainting"], args.out / "quality_by_hole_size.png").name)
    curves = plots.training_curves(plots.find_logs(args.runs), args.out / "training_curves.png")
    if curves is not None:
        drawn.append(curves.name)
    for name in FIGURE_NAMES:
        if name not in drawn:
            (args.out / name).unlink(missing_ok=True)
    return drawn


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the evaluation and write the report; returns the summary (what results.json holds)."""
    args = parse_arguments(argv)
    import cv2
    import torch

    from training.data import FaceCache
    from training.occluders.assets import OccluderAssets

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    cache = FaceCache(args.data)
    try:
        assets = OccluderAssets.load(cache.root, split="test")
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None
    notes: list[str] = []
    evaluators, checkpoints = build_evaluators(args, notes)
    config = EvaluationConfig(n=args.n, gallery=args.gallery, seed=args.seed, chunk=args.chunk,
                              deepface_faces=args.deepface_faces if evaluators.same_person else 0)
    try:
        result = run_evaluation(cache, assets, evaluators, config, progress=_print_progress)
    finally:
        if evaluators.describer is not None:
            evaluators.describer.close()
    alignment = None
    if args.alignment:
        alignment = evaluate_alignment(cache, assets, args.weights, args.device,
                                       AlignmentConfig(n=args.alignment, seed=args.seed), progress=_print_progress)
    setup = {
        "command": " ".join(["python -m training.evaluate", *(argv if argv is not None else sys.argv[1:])]),
        "weights": shown_path(args.weights),
        "checkpoints": checkpoints,
        "data": shown_path(args.data),
        "seed": args.seed,
        "deepface_faces": config.deepface_faces,
        "heldout_kinds": list(OCCLUDER_GROUPS[HELDOUT]),
        "all_kinds": list(OCCLUDER_GROUPS[ALL_KINDS]),
        "hole_buckets": {group: list(bucket) for group, bucket in FREE_FORM_GROUPS.items()},
        "device": str(args.device),
        "threads": args.threads,
        "dlib_workers": args.workers,
    }
    summary = build_summary(result, setup, notes)
    if alignment is not None:
        summary["alignment"] = alignment
    figures = draw_figures(result, summary, args)
    summary["setup"]["wall_s"] = time.perf_counter() - started
    summary["setup"]["cpu_s"] = _cpu_seconds()
    write_json(summary, args.out / "results.json")
    write_markdown(summary, args.out / "results.md", figures)
    _print_headline(summary, args.out)
    return summary


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the dlib workers), user + system."""
    import resource

    usages = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _print_headline(summary: dict[str, Any], out: Path) -> None:
    for check in summary["targets"]:
        value = "-" if check["value"] is None else f"{check['value']:.3f}"
        verdict = {True: "met", False: "NOT met", None: "not measured"}[check["met"]]
        print(f"{check['name']}: {value} (target {check['target']}, {verdict})")
    setup = summary["setup"]
    print(f"wrote {out / 'results.md'} and {out / 'results.json'} in {setup['wall_s'] / 60:.1f} min "
          f"({setup['cpu_s'] / 60:.1f} min of CPU)")


if __name__ == "__main__":
    main()
