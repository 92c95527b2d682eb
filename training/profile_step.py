"""Where a training step of the inpainter spends its time: data wait, the step, and the step's own op count.

    python -m training.profile_step --data data_cache --encoder resources/weights/encoder.pt --device cpu \\
        --batch-size 16 --workers 2 [--profile-steps 3] [--floor-size 32] [--set loss.adversarial_start=0]

Takes the trainer's command line (`training.train_inpainter`) and reports, as a Markdown table:
- loader samples/s: batches drawn from the training DataLoader alone (the workers' ceiling for this run);
- step ms in each phase (reconstruction only, and with the discriminator), measured over `--profile-steps`
  steps after a warm-up (device synchronised around each);
- ops per step: the outermost ATen operators that the profiler sees in one step. On a GPU each is (at least) one
  kernel launch, and the Python + dispatch cost of launching them is paid by the one main process whatever
  the batch size: that is the floor of a GPU step's time, measured here with `--floor-size` (the batch
  shrunk to that many pixels, so the arithmetic is negligible and what is left is host overhead);
- the operators that took most of the step's time, from `torch.profiler`.
On a GPU machine the same command, with `--device cuda:0`, also lists the CUDA time per operator.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from training.loop import batches_forever, common_arguments, resolve_config

LOG = logging.getLogger("training.profile_step")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader_rate(loader, batches: int) -> float:
    """Samples/s the DataLoader delivers on its own (after its first batch: workers started)."""
    iterator = iter(loader)
    next(iterator)
    started, count = time.perf_counter(), 0
    for _ in range(batches):
        batch = next(iterator)
        count += int(batch["mask"].shape[0])
    return count / (time.perf_counter() - started)


def shrink(batch: dict[str, Any], size: int) -> dict[str, Any]:
    """The batch's images and masks at `size` px (nearest), to time a step whose arithmetic is negligible."""
    out = dict(batch)
    for key in ("occluded", "clean", "mask"):
        if key in out:
            out[key] = F.interpolate(out[key].float(), size=(size, size), mode="nearest").to(torch.uint8)
    return out


def time_steps(trainer, batches: list[dict[str, Any]], step: int) -> float:
    """Mean ms of `trainer.train_step` over `batches`, with the trainer at `step` (which phase runs)."""
    times = []
    for batch in batches:
        trainer.step = step
        synchronize(trainer.device)
        tick = time.perf_counter()
        trainer.train_step(batch)
        synchronize(trainer.device)
        times.append(time.perf_counter() - tick)
    return 1000.0 * sum(times) / len(times)


def op_counts(events) -> dict[str, int]:
    """Outermost ATen operators of a profiled step by part: on a GPU each is one kernel launch or a few
    (a foreach optimizer op is one for a whole list of tensors), each paid for by the host."""
    counts = {"forward": 0, "backward": 0, "optimizer": 0}
    for event in events:
        if not event.name.startswith("aten::"):
            continue
        parent, part = event.cpu_parent, "forward"
        while parent is not None:
            if parent.name.startswith("aten::"):
                part = None  # inside another ATen op: counted with it
                break
            if parent.name.startswith("autograd::engine"):
                part = "backward"
            elif parent.name.startswith("Optimizer."):
                part = "optimizer"
            parent = parent.cpu_parent
        if part is not None:
            counts[part] += 1
    counts["total"] = sum(counts.values())
    return counts


def profile_step(trainer, batch: dict[str, Any], step: int, rows: int) -> tuple[dict[str, int], str]:
    """(outermost ATen ops in one step by part, the profiler's table of the top `rows` operators)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    trainer.step = step
    with profile(activities=activities) as prof:
        trainer.train_step(batch)
        synchronize(trainer.device)
    sort = "cuda_time_total" if trainer.device.type == "cuda" else "self_cpu_time_total"
    return op_counts(prof.events()), prof.key_averages().table(sort_by=sort, row_limit=rows)


def main(argv: list[str] | None = None) -> dict[str, float]:
    from training.train_inpainter import InpainterTrainer

    parser = common_arguments("inpainter", __doc__.split("\n\n")[0])
    parser.add_argument("--encoder", type=Path, default=None, help="encoder checkpoint, as the trainer takes it")
    parser.add_argument("--profile-steps", type=int, default=3, help="steps timed per phase")
    parser.add_argument("--loader-batches", type=int, default=20, help="batches drawn to time the loader")
    parser.add_argument("--floor-size", type=int, default=32, help="px of the shrunk batch (host-overhead floor)")
    parser.add_argument("--rows", type=int, default=15, help="operators listed")
    args = parser.parse_args(argv)
    if args.out == Path("runs") / "inpainter":
        args.out = Path("runs") / "profile_step"
    config = resolve_config(args)
    config["train"]["val_samples"] = min(int(config["train"].get("val_samples", 256)), 8)
    trainer = InpainterTrainer(args, config)
    trainer.build()
    if args.init is not None:
        trainer._init_from(args.init)
    loader = trainer.train_loader()
    figures: dict[str, float] = {"batch": float(loader.batch_size), "workers": float(loader.num_workers)}
    if args.loader_batches:
        figures["loader_samples_per_s"] = loader_rate(loader, args.loader_batches)
    batches = [batch for _, (_, batch) in zip(range(args.profile_steps + 1), batches_forever(loader, 0))]
    weights = config.get("loss", {})
    adversarial_step = int(weights.get("adversarial_start", 0)) + int(weights.get("adversarial_ramp", 0))
    report = [f"| phase | step ms | ms at {args.floor_size} px (host floor) | ops per step: forward / backward / "
              "optimizer = total |", "| --- | ---: | ---: | ---: |"]
    tables = []
    for phase, step in (("reconstruction", 0), ("with discriminator", adversarial_step)):
        time_steps(trainer, batches[:1], step)  # warm-up (cudnn autotune, allocator)
        ms = time_steps(trainer, batches[1:], step)
        small = [shrink(b, args.floor_size) for b in batches]
        time_steps(trainer, small[:1], step)
        floor = time_steps(trainer, small[1:], step)
        ops, table = profile_step(trainer, batches[1], step, args.rows)
        figures[f"{phase}_ms"], figures[f"{phase}_floor_ms"] = ms, floor
        figures[f"{phase}_ops"] = float(ops["total"])
        report.append(f"| {phase} | {ms:.1f} | {floor:.1f} | {ops['forward']} / {ops['backward']} / "
                      f"{ops['optimizer']} = {ops['total']} |")
        tables.append(f"### {phase}, batch {loader.batch_size} on {trainer.device}\n{table}")
    if "loader_samples_per_s" in figures:
        report.append(f"\nloader: {figures['loader_samples_per_s']:.0f} samples/s with {loader.num_workers} "
                      f"workers, batch {loader.batch_size}")
    LOG.info("\n".join(report + [""] + tables))
    return figures


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
