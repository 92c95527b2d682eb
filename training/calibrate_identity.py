"""Derive the encoder identity backend's threshold from held-out faces, reproducibly.

    python -m training.calibrate_identity [--weights resources/weights] [--encoder PATH] [--data data_cache]
                                          [--n 200] [--out docs/evaluation/identity_threshold.json]
                                          [--deepface-pairs 40] [--framing aligned|detected] [--step 0.001]

On the first N faces of the data cache's test split (the seeded order of training.evaluate), the
app's encoder (`Pipeline.embed`) measures same-person pairs (a face vs its mirror image, vs itself
behind a held-out occluder) and different-people pairs (every two faces). For a grid of thresholds
it prints the share of same pairs accepted and different pairs rejected, picks the threshold with
the best balanced accuracy (ties: the larger) and writes it to a JSON file with the rates, the
encoder checkpoint's sha256 and the command. DeepFace ("Dlib") judges a few pairs too, for the
agreement of the two backends' verdicts. See training/evaluation/identity_threshold.py.

`--encoder PATH` calibrates that checkpoint (e.g. runs/encoder2.pt) instead of WEIGHTS/encoder.pt.
The result is what to set `facestudio.identity.encoder_backend.ENCODER_THRESHOLD` to.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from facestudio import identity
from facestudio.api import default_weights_dir
from facestudio.identity import deepface_backend
from facestudio.models.checkpoint import CheckpointError
from training.data import FaceCache
from training.evaluation import identity_threshold as calibration
from training.evaluation.cases import evaluation_order, load_faces
from training.evaluation.identity_threshold import FRAMINGS, FaceVariants, OperatingPoint, PairDistances, PairJudge
from training.evaluation.report import shown_path, write_json
from training.occlusion import kinds_for
from training.occluders.assets import OccluderAssets

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "evaluation" / "identity_threshold.json"
ENCODER_FILE = "encoder.pt"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate_identity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=default_weights_dir(),
                        help="weights folder holding encoder.pt (default: the app's)")
    parser.add_argument("--encoder", type=Path, default=None,
                        help="encoder checkpoint to calibrate instead of WEIGHTS/encoder.pt")
    parser.add_argument("--data", type=Path, default=REPO / "data_cache", help="data cache (training.prepare_data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--n", type=int, default=200, help="test faces (N same-person pairs of each kind, "
                                                          "N(N-1)/2 different-people pairs)")
    parser.add_argument("--seed", type=int, default=0, help="face order (as training.evaluate) and occluders")
    parser.add_argument("--step", type=float, default=0.001, help="spacing of the threshold grid")
    parser.add_argument("--framing", choices=FRAMINGS, default="aligned",
                        help="aligned: embed the cached crops as they are; detected: let the app's Haar "
                             "detector re-frame them first (as `facestudio identity` does on crop files)")
    parser.add_argument("--deepface-pairs", type=int, default=40,
                        help="pairs DeepFace also judges, for the agreement rate (0: none; ~0.5 s CPU a pair)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2 (pairs of different people need two faces)")
    if not 0.0 < args.step <= 1.0:
        parser.error("--step must be in (0, 1]")
    if args.deepface_pairs < 0 or args.threads < 1:
        parser.error("--deepface-pairs must be 0 or more and --threads at least 1")
    return args


def weights_with_encoder(weights: Path, encoder: Path | None, stack: contextlib.ExitStack) -> tuple[Path, Path]:
    """(weights folder to load, encoder checkpoint in it). With `encoder`, a temporary folder (removed
    when `stack` closes) links the other files of `weights` and `encoder` as encoder.pt."""
    if not weights.is_dir():
        raise SystemExit(f"{weights}: weights folder not found (pass --weights)")
    if encoder is None:
        checkpoint = weights / ENCODER_FILE
        if not checkpoint.is_file():
            raise SystemExit(f"{checkpoint}: encoder checkpoint not found (pass --encoder or another --weights)")
        return weights, checkpoint
    if not encoder.is_file():
        raise SystemExit(f"{encoder}: encoder checkpoint not found")
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="facestudio-calibration-")))
    for item in weights.iterdir():
        if item.name != ENCODER_FILE:
            (folder / item.name).symlink_to(item.resolve())
    (folder / ENCODER_FILE).symlink_to(encoder.resolve())
    return folder, encoder


def deepface_judge(notes: list[str]) -> PairJudge | None:
    """DeepFace's verdict through facestudio.identity (None when a pair cannot be compared), or None
    with a note when the backend cannot run here."""
    reason = deepface_backend.unavailable_reason()
    if reason is not None:
        notes.append(f"DeepFace agreement not measured: {reason}")
        return None

    def judge(image_a: np.ndarray, image_b: np.ndarray) -> identity.IdentityResult | None:
        try:
            return identity.compare(image_a, image_b, backend="deepface")
        except identity.IdentityError:
            return None

    return judge


@dataclass(frozen=True)
class Calibration:
    """The distances measured, the chosen operating point and the JSON summary."""

    distances: PairDistances
    chosen: OperatingPoint
    summary: dict[str, Any]


def held_out_faces(data: Path, n: int, seed: int) -> tuple[list[FaceVariants], tuple[str, ...]]:
    """The first `n` test-split faces (training.evaluate's seeded order) with their mirror and occluded
    versions, and the occluder kinds drawn from (the test split's held-out kinds and assets)."""
    cache = FaceCache(data)
    try:
        assets = OccluderAssets.load(cache.root, split="test")
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None
    rows = evaluation_order(cache, seed)[:n]
    if len(rows) < 2:
        raise SystemExit(f"{cache.root / 'meta.npz'}: the test split has fewer than two faces")
    return calibration.face_variants(load_faces(cache, rows), assets, seed), kinds_for(assets)


def measure_encoder(args: argparse.Namespace, variants: list[FaceVariants]) -> tuple[PairDistances, dict[str, Any]]:
    """The encoder's pair distances in the chosen framing, and facts about the checkpoint and how far
    the other framing moves a vector."""
    with contextlib.ExitStack() as stack:
        weights, encoder = weights_with_encoder(args.weights, args.encoder, stack)
        pipelines = {framing: calibration.calibration_pipeline(weights, framing, args.device) for framing in FRAMINGS}
        try:
            pipelines[args.framing].load_models(("encoder",))
        except CheckpointError as error:
            raise SystemExit(str(error)) from None
        distances = calibration.pair_distances(pipelines[args.framing], variants)
        reframing = calibration.reframing_shift(pipelines["aligned"], pipelines["detected"],
                                                [variant.face.clean for variant in variants])
        facts = {"file": shown_path(encoder), "sha256": calibration.checkpoint_sha256(encoder)}
    return distances, {"encoder": facts, "haar_reframing_shift": reframing}


def main(argv: list[str] | None = None) -> Calibration:
    """Measure, choose the threshold, print the table and write the JSON; returns the calibration."""
    args = parse_arguments(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    variants, occluder_kinds = held_out_faces(args.data, args.n, args.seed)
    distances, encoder_facts = measure_encoder(args, variants)
    chosen = calibration.choose_threshold(distances.same, distances.different, args.step)
    notes: list[str] = []
    deepface = None
    judge = deepface_judge(notes) if args.deepface_pairs else None
    if judge is not None:
        pairs = calibration.judged_pairs(variants, distances, args.deepface_pairs)
        deepface = calibration.agreement(pairs, chosen.threshold, judge)

    table = [calibration.table_row(distances, t) for t in calibration.table_thresholds(chosen.threshold, args.step)]
    chosen_row = calibration.table_row(distances, chosen.threshold)
    summary = {
        "threshold": chosen.threshold,
        "balanced_accuracy": chosen.balanced_accuracy,
        "same_accepted": chosen.same_accepted,
        "different_rejected": chosen.different_rejected,
        "accepted_by_kind": {kind: chosen_row[kind] for kind in (calibration.MIRROR, calibration.OCCLUDED)},
        "occluded_accepted_by_occluder": calibration.accepted_by_occluder(distances, chosen.threshold),
        "n": len(variants),
        "pairs": {kind: int(distances.of(kind).size) for kind in calibration.PAIR_KINDS},
        "distances": {kind: calibration.quantiles(distances.of(kind)) for kind in calibration.PAIR_KINDS},
        **encoder_facts,
        "framing": args.framing,
        "occluder_kinds": list(occluder_kinds),
        "deepface": deepface,
        "table": table,
        "grid_step": args.step,
        "seed": args.seed,
        "data": shown_path(args.data),
        "notes": notes,
        "command": " ".join(["python -m training.calibrate_identity", *(argv if argv is not None else sys.argv[1:])]),
        "wall_s": time.perf_counter() - started,
    }
    write_json(summary, args.out)
    _print_report(summary, args.out)
    return Calibration(distances=distances, chosen=chosen, summary=summary)


def _print_report(summary: dict[str, Any], out: Path) -> None:
    pairs = summary["pairs"]
    print(f"{summary['n']} test faces: {pairs['mirror']} mirror + {pairs['occluded']} occluded same-person pairs, "
          f"{pairs['different']} different-people pairs; encoder {summary['encoder']['file']} "
          f"(sha256 {summary['encoder']['sha256']}), {summary['framing']} framing")
    print(f"{'threshold':>9}  {'same acc.':>9}  {'mirror':>6}  {'occluded':>8}  {'diff. rej.':>10}  {'balanced':>8}")
    for row in summary["table"]:
        mark = "  <- chosen" if row["threshold"] == summary["threshold"] else ""
        print(f"{row['threshold']:>9.4f}  {row['same_accepted']:>9.3f}  {row['mirror']:>6.3f}  "
              f"{row['occluded']:>8.3f}  {row['different_rejected']:>10.3f}  {row['balanced_accuracy']:>8.3f}{mark}")
    shift = summary["haar_reframing_shift"]
    print(f"Haar re-framing of the clean crops (found in {100 * shift['haar_found_share']:.0f} %) moves a vector by "
          f"median {shift['median']:.4f}, p95 {shift['p95']:.4f}")
    deepface = summary["deepface"]
    if deepface is not None:
        parts = ", ".join(f"{kind} {_percent(facts['agreement'])} of {facts['pairs']}"
                          for kind, facts in deepface["by_kind"].items())
        print(f"encoder vs DeepFace verdicts agree on {_percent(deepface['agreement'])} of {deepface['judged']} "
              f"pairs ({parts}); DeepFace could not judge {deepface['unjudged']}")
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"threshold {summary['threshold']:.4f} (balanced accuracy {summary['balanced_accuracy']:.3f}); "
          f"wrote {out} in {summary['wall_s']:.0f} s")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


if __name__ == "__main__":
    main()
