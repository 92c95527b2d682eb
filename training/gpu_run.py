"""One inpainter run on a lent GPU: profile a step, fine-tune the shipped generator, bring the results back.

    python -m training.gpu_run --data DATA_CACHE --results DIR [--minutes 7] [--device cuda:0] [--steps N]
        [--profile] [-- extra trainer arguments, e.g. --set loss.style=0]

`training/gpu_run.sh` calls this after unpacking `gpu_bundle/` (see training/README.md); on a CPU the same
command with `--device cpu --steps 3` checks the whole path in about a minute. It writes into DIR (what a
device call brings back: at most 8 files):
- generator.pt: the EMA generator in the shipped checkpoint format (fp16 weights);
- log.jsonl: the trainer's JSON-lines log (losses, samples/s, data_wait_share, validation);
- samples.png: the last validation grid (input, mask, result, truth);
- validation.png: training losses and validation metrics against the step (training.plots);
- profile.md: with --profile, `training.profile_step` on this device (step ms, host-overhead floor, ops);
- summary.json: the run's settings, its last validation and its median throughput.
The trainer's console output goes to stdout (gpu_run.sh tees it to DIR/train.log).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger("training.gpu_run")
REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "resources" / "weights"

# The recipe the GPU run trains with (training/README.md, "GPU run", says why): a fine-tune of the shipped
# generator at batch 128, a two-scale discriminator with feature matching, and the Gram (style) loss.
RECIPE = [
    "optim.lr=5.0e-4", "optim.discriminator_lr=5.0e-4", "optim.warmup_steps=100",
    "loss.adversarial_start=300", "loss.adversarial_ramp=700",
    "model.discriminator_scales=2", "loss.feature_matching=1.0", "loss.style=2.0",
    "train.val_every=500", "train.val_samples=512", "train.log_every=50",
    "train.checkpoint_seconds=100000",  # the machine goes back bare: save at the end (and on SIGTERM) only
]


def trainer_arguments(args: argparse.Namespace, run_dir: Path, extra: list[str]) -> list[str]:
    """The `training.train_inpainter` command line of this run."""
    argv = ["--data", str(args.data), "--out", str(run_dir), "--device", args.device,
            "--workers", str(args.workers), "--batch-size", str(args.batch_size),
            "--encoder", str(args.encoder), "--export", str(args.results / "generator.pt")]
    if args.init is not None:
        argv += ["--init", str(args.init)]
    if args.minutes is not None:
        argv += ["--max-minutes", str(args.minutes)]
    if args.steps is not None:
        argv += ["--steps", str(args.steps)]
    recipe = RECIPE if args.recipe else []
    # the trainer's --set takes one list: the recipe first, so overrides after `--` win
    overrides, rest = split_overrides(extra)
    if recipe or overrides:
        argv += ["--set", *recipe, *overrides]
    return argv + rest


def split_overrides(extra: list[str]) -> tuple[list[str], list[str]]:
    """(the KEY=VALUE items of every --set in `extra`, the other arguments)."""
    overrides, rest, in_set = [], [], False
    for item in extra:
        if item == "--set":
            in_set = True
        elif in_set and not item.startswith("--"):
            overrides.append(item)
        else:
            in_set = False
            rest.append(item)
    return overrides, rest


def profile(args: argparse.Namespace, path: Path) -> None:
    """`training.profile_step` for a few steps of the run's batch on this device, its table in `path`."""
    from training import profile_step

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    profile_step.LOG.addHandler(handler)
    profile_step.LOG.setLevel(logging.INFO)
    argv = ["--data", str(args.data), "--out", str(args.work / "profile"), "--device", args.device,
            "--workers", str(args.workers), "--batch-size", str(args.batch_size), "--encoder", str(args.encoder),
            "--profile-steps", "3", "--loader-batches", "30", "--rows", "25"]
    if args.init is not None:
        argv += ["--init", str(args.init)]
    try:
        with contextlib.redirect_stdout(stream):
            profile_step.main(argv + ["--set", *(RECIPE if args.recipe else []), "loss.adversarial_start=1",
                                      "loss.adversarial_ramp=1"])
    except Exception as exc:  # a failed profile must not cost the training run
        LOG.warning("profile failed: %s", exc)
        stream.write(f"\nprofile failed: {exc!r}\n")
    finally:
        profile_step.LOG.removeHandler(handler)
    path.write_text(stream.getvalue())


def summarize(run_dir: Path, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    """Settings, last validation and median throughput of the run, from its log."""
    from training.plots import read_log

    records = read_log(run_dir / "log.jsonl")
    train = [r for r in records if "losses" in r][1:] or [r for r in records if "losses" in r]  # first: warm-up
    validations = [r for r in records if "val" in r]

    def median(key: str) -> float | None:
        values = [r[key] for r in train if key in r]
        return statistics.median(values) if values else None

    return {
        "device": args.device, "batch_size": args.batch_size, "workers": args.workers,
        "init": str(args.init) if args.init else None, "recipe": RECIPE if args.recipe else [],
        "steps": records[-1]["step"] if records else 0, "wall_seconds": round(seconds, 1),
        "median_samples_per_s": median("samples_per_s"), "median_steps_per_s": median("steps_per_s"),
        "median_data_wait_share": median("data_wait_share"),
        "first_val": validations[0]["val"] if validations else None,
        "last_val": validations[-1]["val"] if validations else None,
    }


def collect(run_dir: Path, results: Path) -> None:
    """The log, the last sample grid and the curves into `results`."""
    from training.plots import training_curves

    shutil.copy2(run_dir / "log.jsonl", results / "log.jsonl")
    grids = sorted(run_dir.glob("samples_*.png"))
    if grids:
        shutil.copy2(grids[-1], results / "samples.png")
    training_curves({"inpainter": run_dir / "log.jsonl"}, results / "validation.png")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="data cache (unpacked gpu_bundle/data.tar)")
    parser.add_argument("--results", type=Path, required=True, help="folder of what comes back ($OUT)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "gpu_run", help="run folder (not brought back)")
    parser.add_argument("--minutes", type=float, default=None, help="training budget (the trainer's --max-minutes)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (a CPU check: 3)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--encoder", type=Path, default=WEIGHTS / "encoder.pt")
    parser.add_argument("--init", type=Path, default=WEIGHTS / "generator.pt",
                        help="start from this generator ('none': from scratch)")
    parser.add_argument("--no-recipe", dest="recipe", action="store_false", help="the config's own settings")
    parser.add_argument("--profile", action="store_true", help="profile a few steps first (profile.md)")
    args, extra = parser.parse_known_args(argv)
    extra = [item for item in extra if item != "--"]
    if args.init is not None and str(args.init).lower() == "none":
        args.init = None
    from training import train_inpainter

    args.results.mkdir(parents=True, exist_ok=True)
    run_dir = args.work / time.strftime("%Y%m%d-%H%M%S")
    if args.profile:
        profile(args, args.results / "profile.md")
    started = time.monotonic()
    command = trainer_arguments(args, run_dir, extra)
    LOG.info("python -m training.train_inpainter %s", " ".join(command))
    train_inpainter.main(command)
    summary = summarize(run_dir, args, time.monotonic() - started)
    collect(run_dir, args.results)
    (args.results / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    LOG.info("summary: %s", json.dumps({k: summary[k] for k in ("steps", "median_samples_per_s",
                                                                 "median_data_wait_share", "last_val")}))
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[gpu_run] %(message)s")
    main()
