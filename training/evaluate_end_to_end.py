"""Evaluate what the user gets, photo in -> photo out, through the public API, with Telea side by side.

    python -m training.evaluate_end_to_end [--weights resources/weights] [--data ../shared/data]
        [--faces 60] [--sizes 100,200,400,600] [--methods gan,telea] [--seed 0] [--threads 2]
        [--no-identity] [--real N] [--out docs/evaluation/end_to_end]

Test-split face photos at their native size and pasted into larger photos at each face size, with
holes of known truth filled with noise, go through `pipeline.inpaint(photo, mask, method=m)` as
`facestudio fix IMG --masks MASK` runs it (training/evaluation/end_to_end.py says how). With
--real N, also `pipeline.auto_fix` on N real masked photos (no truth): a sheet to look at.

Writes OUT/results.md, OUT/results.json, OUT/contact_sheet.png (and OUT/real_contact_sheet.png),
and prints the tables.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    from facestudio.api import METHODS
    from training.prepare_data import default_data_dir

    parser = argparse.ArgumentParser(prog="python -m training.evaluate_end_to_end",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=REPO / "resources" / "weights",
                        help="weights folder the pipeline loads (default: the shipped resources/weights)")
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="the shared data folder")
    parser.add_argument("--faces", type=int, default=60, help="test faces (0: none, e.g. with --real only)")
    parser.add_argument("--seed", type=int, default=0, help="face choice, holes, noise and placement")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation" / "end_to_end")
    parser.add_argument("--sizes", default="100,200,400,600",
                        help="face sizes (px, canonical crop side) of the pasted-into-photos settings")
    parser.add_argument("--methods", default="gan,telea",
                        help=f"inpaint methods, comma-separated ({', '.join(METHODS)})")
    parser.add_argument("--threads", type=int, default=2, help="torch (and OpenCV) CPU threads")
    parser.add_argument("--device", default="auto", help="auto (the app's default), cpu or cuda")
    parser.add_argument("--no-identity", action="store_true", help="skip dlib's identity descriptors")
    parser.add_argument("--real", type=int, default=0, metavar="N",
                        help="also run auto_fix on N real masked photos and draw real_contact_sheet.png")
    args = parser.parse_args(argv)
    try:
        args.sizes = tuple(int(size) for size in args.sizes.split(",") if size.strip())
    except ValueError:
        parser.error(f"--sizes must be comma-separated whole numbers, got {args.sizes!r}")
    args.methods = tuple(method.strip() for method in args.methods.split(",") if method.strip())
    unknown = [method for method in args.methods if method not in METHODS]
    if unknown or not args.methods:
        parser.error(f"--methods: use some of {', '.join(METHODS)} (got {', '.join(unknown) or 'none'})")
    if any(size < 16 for size in args.sizes):
        parser.error("--sizes: face sizes must be at least 16 px")
    for name in ("faces", "real"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be 0 or more")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.faces == 0 and args.real == 0:
        parser.error("nothing to do: --faces 0 and no --real")
    return args


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = parse_arguments(arguments)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    started = time.perf_counter()
    try:
        summary, figures = evaluate(args, "python -m training.evaluate_end_to_end " + shlex.join(arguments))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary["setup"]["wall_s"] = time.perf_counter() - started
    from training.evaluation.end_to_end_report import markdown, write_report

    markdown_path, _ = write_report(summary, args.out, figures)
    print(markdown(summary, []))
    print(f"wrote {markdown_path.parent}/ ({', '.join(['results.md', 'results.json', *figures])}) "
          f"in {summary['setup']['wall_s'] / 60:.1f} min")
    return 0


def evaluate(args: argparse.Namespace, command: str) -> tuple[dict[str, Any], list[str]]:
    """Run the requested parts; returns the summary and the figures written to args.out."""
    import cv2
    import torch

    import facestudio
    from facestudio.models.checkpoint import CheckpointError
    from training.evaluation.end_to_end import MIN_IDENTITY_PX, PSNR_CAP_DB

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    pipeline = facestudio.load_pipeline(args.device, args.weights, "auto")  # as `facestudio fix` builds it
    try:
        if "gan" in args.methods:
            pipeline.load_models(("detector", "encoder", "generator"))
        if args.real:
            pipeline.load_models(("detector", "segmenter", "encoder", "generator"))
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    setup: dict[str, Any] = {
        "command": command,
        "weights": _shown(args.weights),
        "generator_sha256": _sha256(args.weights / "generator.pt"),
        "detector": pipeline.detector_name,
        "device": pipeline.device,
        "threads": args.threads,
        "seed": args.seed,
        "methods": list(args.methods),
        "identity": not args.no_identity,
        "min_identity_px": MIN_IDENTITY_PX,
        "psnr_cap_db": PSNR_CAP_DB,
    }
    summary: dict[str, Any] = {"setup": setup}
    figures: list[str] = []
    if args.faces:
        figures.append(_synthetic(args, pipeline, summary))
    if args.real:
        figures.append(_real(args, pipeline, summary))
    return summary, figures


def _synthetic(args: argparse.Namespace, pipeline, summary: dict[str, Any]) -> str:
    from training.evaluation.dlib_identity import DlibDescriptor
    from training.evaluation.end_to_end import RunConfig, load_test_faces, run_evaluation, summarize
    from training.evaluation.end_to_end_report import contact_sheet, write_png
    from training.occluders.assets import OccluderAssets
    from training.scenes import ClutterBank

    faces = load_test_faces(args.data, args.faces, args.seed)
    assets = OccluderAssets.load(args.data, "test")
    backdrops = ClutterBank.load(None).photos  # scikit-image's bundled photos: no file of ours as a backdrop
    config = RunConfig(sizes=args.sizes, methods=args.methods, seed=args.seed)
    describer = None if args.no_identity else DlibDescriptor(workers=1)

    def inpaint(image, mask, method):
        return pipeline.inpaint(image, mask, method=method)

    try:
        result = run_evaluation(faces, inpaint, assets, config, describer, backdrops)
    finally:
        if describer is not None:
            describer.close()
    summary["setup"].update({
        "faces": len(faces),
        "faces_by_source": dict(Counter(face.source for face in faces)),
        "settings": ["native", *(f"{size} px" for size in args.sizes)],
        "cases": len(result.cases),
        "skipped_cases": result.skipped_cases,
        "evaluation_wall_s": result.wall_s,
        "face_list": result.faces,
    })
    summary["results"] = summarize(result.cases, args.methods)
    write_png(contact_sheet(result.sheet), args.out / "contact_sheet.png")
    return "contact_sheet.png"


def _real(args: argparse.Namespace, pipeline, summary: dict[str, Any]) -> str:
    from training.evaluation.end_to_end import real_photos, run_real, summarize_real
    from training.evaluation.end_to_end_report import real_sheet, write_png

    cases = run_real(real_photos(args.data, args.real, args.seed), pipeline.auto_fix)
    summary["real"] = summarize_real(cases)
    write_png(real_sheet(cases), args.out / "real_contact_sheet.png")
    return "real_contact_sheet.png"


def _sha256(path: Path) -> str:
    """The checkpoint's sha256 prefix, or "none" when the folder has no such file (e.g. Telea only)."""
    from training.evaluation.identity_threshold import checkpoint_sha256

    return checkpoint_sha256(path) if path.is_file() else "none"


def _shown(path: Path) -> str:
    from training.evaluation.report import shown_path

    return shown_path(path)


if __name__ == "__main__":
    raise SystemExit(main())
