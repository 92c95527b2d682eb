"""`facestudio fix` and `facestudio batch`: argument parsing and console output over the batch engine.

facestudio/cli.py builds the sub-parsers and calls add_*_arguments / run_*. Exit codes: 0 every
photo done (or skipped), 1 some photo failed (a photo with no face found counts as failed), 2 the
run could not start, 130 interrupted (Ctrl+C). A bad photo is one line on stderr, "<file>: <reason>";
tracebacks are kept for bugs (report.json).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from facestudio.batch.engine import (
    CANCELLED,
    DONE,
    EXISTING_POLICIES,
    FAILED,
    METHODS,
    SKIPPED,
    BatchError,
    BatchJob,
    BatchOptions,
    FileOutcome,
    OutputsExistError,
)
from facestudio.batch.plan import BatchItem, PlanError, is_image_name, plan_files, plan_folder
from facestudio.batch.report import RunReport, earlier_settings, run_settings
from facestudio.faces import DETECTOR_CHOICES

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED_FILES = 1
EXIT_CANNOT_START = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended
INTERRUPTED, TERMINATED = "interrupted", "terminated"
LOCAL_RAY = "local"  # --ray without an address: a Ray started on this machine


def add_fix_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `facestudio fix INPUT... -o OUTDIR`."""
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photos and/or folders of photos")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                        help="folder for <stem>.png (result) and <stem>.mask.png (mask, 255 = occluded)")
    parser.add_argument("--masks", type=Path, metavar="MASKDIR",
                        help="use MASKDIR/<stem>.png (white = fill) instead of finding the occlusion")
    parser.add_argument("--reference", type=Path, metavar="REF",
                        help="another photo of the person (its largest face) to guide the fill of every face "
                             "(gan only)")
    _add_common_arguments(parser)


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `facestudio batch IN_DIR OUT_DIR`."""
    parser.add_argument("input_dir", type=Path, metavar="IN_DIR", help="folder of photos")
    parser.add_argument("output_dir", type=Path, metavar="OUT_DIR",
                        help="results mirror IN_DIR's tree; report.csv and report.json go here")
    parser.add_argument("--masks", type=Path, metavar="DIR",
                        help="use DIR/<same sub-folder>/<stem>.png (white = fill) instead of finding the occlusion")
    parser.add_argument("--recursive", action="store_true", help="also process the photos in sub-folders")
    parser.add_argument("--references", type=Path, metavar="DIR",
                        help="reference photos, one person each (every photo in DIR): each face's fill is guided "
                             "by the one of its own person (the closest identity under the same-person "
                             "threshold), or by none (gan only); the report's reference_photo column says which")
    parser.add_argument("--existing", choices=EXISTING_POLICIES, default=None,
                        help="photos whose outputs exist: skip them, overwrite them, or stop before starting "
                             "(default: stop)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted run: skip photos whose outputs are complete (--existing skip)")
    parser.add_argument("--no-identity", dest="identity", action="store_false",
                        help="do not measure how far each fixed face moved from the original's identity")
    parser.add_argument("--ray", nargs="?", const=LOCAL_RAY, default=None, metavar="ADDRESS",
                        help="run on Ray (pip install 'facestudio[cluster]'): without ADDRESS a Ray started on "
                             "this machine, with one (HOST:PORT or auto) that cluster; IN_DIR and OUT_DIR must "
                             "be paths every node sees")
    parser.add_argument("--ray-workers", type=_positive_int, default=None, metavar="N",
                        help="with --ray: workers, each with its own models (default: one per GPU of the "
                             "cluster, else one per --ray-worker-cpus CPUs)")
    parser.add_argument("--ray-worker-cpus", type=_positive_int, default=1, metavar="N",
                        help="with --ray: CPUs (and torch threads) per worker (default 1)")
    _add_common_arguments(parser)


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options fix and batch share; --device is facestudio.cli's common option (read as args.device)."""
    parser.add_argument("--method", choices=METHODS, default="gan",
                        help="gan: the trained inpainter (default); telea: OpenCV's classical fill")
    parser.add_argument("--weights", type=Path, default=None, metavar="DIR",
                        help="folder of model checkpoints (default: the shipped weights)")
    parser.add_argument("--detector", choices=DETECTOR_CHOICES, default="auto",
                        help="face detector: auto (the default: learned when the weights folder has "
                             "detector.pt, else haar), learned (also finds masked and otherwise occluded faces), "
                             "haar (OpenCV's cascade, needs no weights, misses many occluded faces). A photo in "
                             "which no face is found is reported as failed and not written: give it a mask "
                             "with --masks")
    parser.add_argument("--jobs", type=_non_negative_int, default=2, metavar="N",
                        help="threads decoding and encoding photos beside the model work (default 2; 0: none)")


def run_fix(args: argparse.Namespace) -> int:
    """Fix the given photos into args.output; returns the exit code."""
    try:
        items = plan_files(args.inputs, args.output, masks_dir=args.masks)
        _make_folder(args.output)
    except PlanError as error:
        return _cannot_start("fix", error)
    if not items:
        return _cannot_start("fix", "no photos found in the given inputs (" + ", ".join(map(str, args.inputs)) + ")")
    options = BatchOptions(
        args.method, _device(args), args.weights, existing="overwrite", jobs=args.jobs, identity=False,
        detector=args.detector, reference=args.reference,
    )
    job = BatchJob(items, options, on_warning=lambda message: _warn(message, "fix"))
    done = failed = 0
    outcomes = job.run()
    try:
        for outcome in outcomes:
            if outcome.status == FAILED:
                failed += 1
                print(outcome.line, file=sys.stderr, flush=True)
            elif outcome.status == DONE:
                done += 1
                if outcome.reference_photos:  # which reference photo guided each face ("none": the face had none)
                    names = ";".join(name or "none" for name in outcome.reference_photos)
                    print(f"{outcome.item.source}: reference photo {names}", flush=True)
    except BatchError as error:
        return _cannot_start("fix", error)
    except KeyboardInterrupt:
        print("facestudio fix: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        outcomes.close()
    print(f"{done} fixed, {failed} failed; results in {args.output}")
    return EXIT_FAILED_FILES if failed else EXIT_OK


def run_batch(args: argparse.Namespace) -> int:
    """Process a folder into a mirrored output tree with a progress bar and a report; returns the exit code."""
    existing = args.existing or ("skip" if args.resume else "stop")
    if args.resume and existing != "skip":
        return _cannot_start("batch", f"--resume skips finished photos: it cannot go with --existing {existing}")
    try:
        items = plan_folder(args.input_dir, args.output_dir, recursive=args.recursive, masks_dir=args.masks)
        _make_folder(args.output_dir)
        references = () if args.references is None else reference_files(args.references)
    except PlanError as error:
        return _cannot_start("batch", error)
    options = BatchOptions(args.method, _device(args), args.weights, existing, args.jobs, args.identity,
                           detector=args.detector, references=references)
    report = RunReport(
        args.output_dir, run_settings(args.input_dir, args.output_dir, args.recursive, args.masks, options)
    )
    earlier = earlier_settings(args.output_dir) if args.resume else None
    if earlier is not None and earlier.get("references", []) != report.settings["references"]:
        return _cannot_start("batch", f"--resume: the earlier run in {args.output_dir} was given other reference "
                                      "photos (--references); give the same ones, or use another output folder")
    if args.ray is not None:  # Ray is imported only here
        from facestudio.batch.ray_runner import RayBatchJob

        report.settings["ray"] = args.ray
        job = RayBatchJob(items, options, address=None if args.ray == LOCAL_RAY else args.ray,
                          workers=args.ray_workers, worker_cpus=args.ray_worker_cpus,
                          journaled=report.finished_earlier, on_warning=_warn)
    else:
        job = BatchJob(items, options, on_fixed=report.journal, on_warning=_warn)
    stop = _StopRequest()
    previous = stop.install() if _main_thread() else {}
    try:
        interrupted = _run_with_progress(job, report, stop)
    except OutputsExistError as error:
        return _cannot_start("batch", f"{error}; use --resume to skip finished photos or --existing overwrite")
    except BatchError as error:
        return _cannot_start("batch", error)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if interrupted:
        report.cancelled = True
        _add_unreported(report, items, "run interrupted")
    report.state = interrupted or "finished"
    try:
        csv_path, _ = report.write()
    except OSError as error:
        print(f"facestudio batch: {args.output_dir}: could not write the report ({error.strerror or error})",
              file=sys.stderr)
        return EXIT_FAILED_FILES
    counts = report.counts
    print(
        f"facestudio batch: {counts.get(DONE, 0)} done, {counts.get(FAILED, 0)} failed, "
        f"{counts.get(SKIPPED, 0)} skipped{', interrupted' if interrupted else ''}; report {csv_path}",
        file=sys.stderr,
    )
    if interrupted:
        return EXIT_TERMINATED if interrupted == TERMINATED else EXIT_INTERRUPTED
    return EXIT_FAILED_FILES if counts.get(FAILED) else EXIT_OK


class _StopRequest:
    """Ctrl+C (SIGINT) and SIGTERM (what `timeout`, systemd and `docker stop` send) ask the run to stop:
    the photo on the model is finished or dropped, the writes under way complete and are reported, and
    the report is written. A second signal stops at once (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.reason = ""

    def install(self) -> dict[int, object]:
        return {signum: signal.signal(signum, self._handle) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum: int, frame: object) -> None:
        if self.reason:
            raise KeyboardInterrupt
        self.reason = TERMINATED if signum == signal.SIGTERM else INTERRUPTED

    def __call__(self) -> bool:
        return bool(self.reason)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _run_with_progress(job: BatchJob, report: RunReport, stop: _StopRequest | None = None) -> str:
    """Run `job` into `report` behind a tqdm bar (shown on a terminal), the report rewritten every few
    seconds; "" when it ran to the end, INTERRUPTED (Ctrl+C) or TERMINATED (SIGTERM) when stopped."""
    from tqdm import tqdm

    stop = stop or _StopRequest()
    outcomes = job.run(stop)
    with tqdm(total=job.total, unit="photo", file=sys.stderr, disable=None, dynamic_ncols=True) as progress:
        try:
            for outcome in outcomes:
                report.add(outcome)
                progress.update(1)
                if outcome.status == FAILED:
                    progress.write(outcome.line, file=sys.stderr)
                try:
                    report.write_if_due()
                except OSError as error:
                    logger.warning("could not rewrite the report: %s", error)
        except KeyboardInterrupt:
            return stop.reason or INTERRUPTED
        finally:
            outcomes.close()  # waits for the writes under way: every output on disk is whole
    return stop.reason


def _add_unreported(report: RunReport, items: list[BatchItem], reason: str) -> None:
    """Rows for the photos the stopped run did not report: done when both outputs were written whole
    before the stop (the writes under way are finished on the way out), else cancelled."""
    reported = {outcome.index for outcome in report.outcomes}
    for index, item in enumerate(items):
        if index in reported:
            continue
        if item.problem is None and item.outputs_complete():
            report.add(FileOutcome(index, item, DONE, "written as the run was stopped"))
        else:
            report.add(FileOutcome(index, item, CANCELLED, reason))


def reference_files(folder: Path) -> tuple[Path, ...]:
    """Every photo in `folder` (not its sub-folders), by name, as absolute paths; PlanError when there is none."""
    folder = Path(folder)
    try:
        files = sorted(path for path in folder.iterdir() if path.is_file() and is_image_name(path))
    except OSError as error:
        raise PlanError(f"{folder}: cannot list the reference photos ({error.strerror or error})") from None
    if not files:
        raise PlanError(f"{folder}: no reference photos in it")
    return tuple(path.absolute() for path in files)


def _warn(message: str, command: str = "batch") -> None:
    """A warning that does not stop the run (a reference photo left out), above the progress bar."""
    from tqdm import tqdm

    tqdm.write(f"facestudio {command}: warning: {message}", file=sys.stderr)


def _device(args: argparse.Namespace) -> str | None:
    return getattr(args, "device", None)


def _make_folder(folder: Path) -> None:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PlanError(f"{folder}: cannot create the output folder ({error.strerror or error})") from None


def _cannot_start(command: str, error: object) -> int:
    print(f"facestudio {command}: {error}", file=sys.stderr)
    return EXIT_CANNOT_START


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected 1 or more, not 0")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, not {value}")
    return value
