"""What every training script shares: config, device, mixed precision, DDP, resume, time budget, logs.

A script subclasses `Trainer`, builds its models, optimizers and datasets in `build()`, and
implements `train_step(batch)` (one optimisation step, returns its losses) and `validate()`
(metrics on the fixed validation batches, plus a sample grid). `Trainer.run()` does the rest:

- config: a YAML file (`--config`, default training/configs/<name>.yaml) with dotted overrides
  (`--set optim.lr=1e-3 data.batch_size=32`) and the common flags below;
- device: CUDA when present (`--device`), bf16 autocast there (fp16 with a GradScaler, or fp32, by
  `--precision`), channels_last on CUDA; CPU in fp32 otherwise;
- DistributedDataParallel when launched by torchrun (RANK / WORLD_SIZE / LOCAL_RANK in the
  environment): nccl on CUDA, gloo on CPU, a DistributedSampler per rank, `data.batch_size` per
  rank; only rank 0 validates, logs and saves;
- a time budget (`--max-minutes`): the loop stops early enough to validate, save and export in it;
- `out/last.pt` every `train.checkpoint_seconds` (default 60), at the end and on SIGTERM/SIGINT;
  `--resume` continues from it (models, optimizers, scaler, EMA, step, epoch, RNG states);
- `out/log.jsonl`, one JSON object per line: training records
  `{"step", "time", "epoch", "lr", "losses": {...}, "steps_per_s", "samples_per_s", "data_wait_share"}` every
  `train.log_every` steps and validation records `{"step", "time", "val": {...}}`; `time` is
  seconds of training summed over resumed runs. A tqdm bar on a terminal, a line every 30 s otherwise;
- `out/samples_<step>.png` at every validation;
- `--export PATH`: the shipped checkpoint (facestudio.models.checkpoint format), see training.export.

The training state file (`last.pt`, `Trainer.training_state`) is described in training.state.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import random
import signal
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from facestudio.tensors import images_to_tensor, tensor_to_uint8
from training.export import export_state
from training.state import STATE_FILE, TRAINING_FORMAT, TRAINING_FORMAT_VERSION, atomic_torch_save, load_training_state

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
LOG_FILE = "log.jsonl"
PRINT_SECONDS = 30.0


# ----------------------------------------------------------------------------- configuration


def load_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> dict[str, Any]:
    """YAML config with `key.sub=value` overrides applied (values parsed as YAML: 1e-3, [1, 2], true)."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SystemExit(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(config, dict):
        raise SystemExit(f"{path}: a config must be a mapping of sections")
    for override in overrides or []:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {override!r}: expected key.sub=value")
        set_by_path(config, key, yaml.safe_load(value))
    return config


def set_by_path(config: dict[str, Any], dotted: str, value: Any) -> None:
    """config["a"]["b"] = value for dotted = "a.b", creating sections as needed."""
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SystemExit(f"--set {dotted}: {part} is not a section")
    node[leaf] = value


def common_arguments(name: str, description: str) -> argparse.ArgumentParser:
    """The command line every training script takes; scripts may add their own flags."""
    parser = argparse.ArgumentParser(prog=f"python -m training.train_{name}", description=description)
    parser.add_argument("--config", type=Path, default=CONFIG_DIR / f"{name}.yaml", help="YAML config")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. optim.lr=1e-3 data.batch_size=32")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "data_cache",
                        help="data cache made by training.prepare_data")
    parser.add_argument("--out", type=Path, default=Path("runs") / name, help="run folder (last.pt, logs)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget of this run")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt when it exists")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size per process")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps in total")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp16", "fp32"), default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--export", type=Path, default=None, help="write the shipped checkpoint here at the end")
    parser.add_argument("--init", type=Path, default=None,
                        help="a new run starts from this exported checkpoint (fine-tuning); ignored when resuming")
    return parser


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run's config: file, then --set overrides, then the dedicated flags."""
    config = load_config(args.config, args.overrides)
    for flag, dotted in (("workers", "data.workers"), ("batch_size", "data.batch_size"),
                         ("steps", "train.max_steps"), ("precision", "train.precision"),
                         ("seed", "train.seed")):
        value = getattr(args, flag)
        if value is not None:
            set_by_path(config, dotted, value)
    return config


# ----------------------------------------------------------------------------- device and processes


@dataclass(frozen=True)
class Processes:
    """This process's place in a (possibly single-process) run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_processes(device_name: str | None) -> Processes:
    """Pick the device and join the torchrun process group when RANK/WORLD_SIZE are set."""
    from facestudio.devices import DeviceError, resolve_device

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    try:
        name = resolve_device(device_name)
    except DeviceError as exc:
        raise SystemExit(str(exc)) from exc
    device = process_device(name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return Processes(rank, world_size, local_rank, device)


def process_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device of this process for a resolved device name: "cuda" without an index is this
    process's GPU (LOCAL_RANK under torchrun, 0 alone). `torch.cuda.set_device` needs the index:
    `--device cuda` used to fail at once outside torchrun ("Expected a torch.device with a specified index")."""
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> bf16 on a CUDA GPU that supports it, fp16 on an older one, fp32 on CPU."""
    if device.type != "cuda":
        if precision in ("bf16", "fp16"):
            print(f"precision {precision} asked for on {device}: using fp32", file=sys.stderr)
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed-precision context for forward passes (a no-op in fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- data loading


def make_loader(
    dataset: Dataset, batch_size: int, workers: int, processes: Processes, seed: int, shuffle: bool = True,
) -> DataLoader:
    """Batches for training: shuffled, per-rank shard under DDP, persistent prefetching workers."""
    if processes.distributed:
        sampler = DistributedSampler(dataset, processes.world_size, processes.rank, shuffle=shuffle, seed=seed,
                                     drop_last=True)
    else:
        generator = torch.Generator().manual_seed(seed)
        sampler = RandomSampler(dataset, generator=generator) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        pin_memory=processes.device.type == "cuda",
        drop_last=True,
    )


def batches_forever(loader: DataLoader, start_epoch: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(epoch, batch) pairs across epochs; tells a DistributedSampler which epoch it is."""
    epoch = start_epoch
    while True:
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        for batch in loader:
            yield epoch, batch
        epoch += 1


def collect_batches(dataset: Dataset, count: int, batch_size: int, workers: int) -> list[dict[str, Any]]:
    """The first `count` samples of a (deterministic) dataset as CPU batches, made once for validation."""
    indices = list(range(min(count, len(dataset))))
    subset = torch.utils.data.Subset(dataset, indices)
    loader = DataLoader(subset, batch_size=batch_size, num_workers=workers, shuffle=False)
    return list(loader)


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of a batch moved to the device (non-blocking from pinned memory); others untouched."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def images_to_model(images: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 Nx3xHxW (0..255, as the data loaders yield it) -> float Nx3xHxW in [-1, 1], the app's scaling."""
    return images_to_tensor(images, layout="NCHW", memory_format=torch.channels_last if channels_last else None)


# ----------------------------------------------------------------------------- small helpers


class ModelEma:
    """Exponential moving average of a model's weights (buffers copied), for smoother GAN outputs."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(unwrap(model)).eval().requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step of the average: a few foreach kernels for all the weights (one lerp per tensor cost
        ~220 launches a step on a GPU, where the host's launches are the limit)."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))  # short runs: start fast
        source = unwrap(model).state_dict()
        floats, targets = [], []
        for name, value in self.model.state_dict().items():
            if value.is_floating_point():
                floats.append(value)
                targets.append(source[name].detach())
            else:
                value.copy_(source[name])
        if floats:
            torch._foreach_lerp_(floats, targets, 1.0 - decay)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


class LossMeter:
    """Averages step losses between two log records and measures the throughput meanwhile;
    non-finite losses are counted (`nonfinite`), not averaged.

    A loss may be a float or a 0-d tensor: tensors are summed where they are (on the GPU), so a step
    need not wait for the device to report its losses; the one wait is at `summary()`. `data_wait_share`
    is the share of the time spent waiting for the DataLoader (1.0: the data sets the pace).
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.nonfinite: Any = 0
        self.steps = 0
        self.samples = 0
        self.waited = 0.0
        self.since = time.monotonic()

    def add(self, losses: Mapping[str, Any], samples: int, waited: float = 0.0) -> None:
        for key, value in losses.items():
            if torch.is_tensor(value):
                value = value.detach().float()
                finite = torch.isfinite(value)
                self.sums[key] = self.sums[key] + torch.where(finite, value, torch.zeros_like(value))
                self.counts[key] = self.counts[key] + finite.int()
                self.nonfinite = self.nonfinite + (~finite).int()
            elif math.isfinite(value):
                self.sums[key] += value
                self.counts[key] += 1
            else:
                self.nonfinite += 1
        self.steps += 1
        self.samples += samples
        self.waited += waited

    def summary(self) -> dict[str, Any]:
        """{"losses": means, "steps_per_s", "samples_per_s"} since the last summary; starts over."""
        elapsed = max(time.monotonic() - self.since, 1e-9)
        counts = {k: int(v) for k, v in self.counts.items()}
        losses = {k: float(self.sums[k]) / counts[k] for k in self.sums if counts[k]}
        if int(self.nonfinite):
            losses["nonfinite"] = float(self.nonfinite)
        summary = {"losses": losses, "steps_per_s": round(self.steps / elapsed, 3),
                   "samples_per_s": round(self.samples / elapsed, 1),
                   "data_wait_share": round(self.waited / elapsed, 3)}
        self._reset()
        return summary


class StopRequest:
    """Turns SIGTERM/SIGINT into a flag so the loop can save before exiting."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # second signal: give up saving
            raise KeyboardInterrupt
        self.requested = True


class JsonlLog:
    """Appends one JSON object per line; a no-op on ranks other than 0."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, record: Mapping[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def lr_factor(progress: float, step: int, warmup_steps: int, min_ratio: float) -> float:
    """Linear warm-up over `warmup_steps`, then cosine decay to `min_ratio` as progress goes 0 -> 1."""
    warmup = min(1.0, (step + 1) / max(1, warmup_steps))
    progress = min(max(progress, 0.0), 1.0)
    return warmup * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def save_image_grid(path: Path, rows: list[list[torch.Tensor]], cell: int = 128) -> None:
    """Write a PNG grid; each cell is a 3xHxW image in [-1, 1] or a 1xHxW map in [0, 1]."""
    import cv2

    lines = []
    for row in rows:
        cells = []
        for image in row:
            image = image.detach().float().cpu()
            if image.shape[0] == 1:
                array = (image.clamp(0, 1) * 255).expand(3, -1, -1).round().byte()
            else:
                array = tensor_to_uint8(image)
            array = array.permute(1, 2, 0).numpy()
            cells.append(cv2.resize(array, (cell, cell), interpolation=cv2.INTER_AREA))
        lines.append(np.hstack(cells))
    grid = np.vstack(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


# ----------------------------------------------------------------------------- the loop


class Trainer:
    """Base of the training scripts; see the module docstring for what `run()` provides.

    Subclasses set `name` and `export_model` (the entry of `self.models` or `self.emas` that
    is shipped), and implement `build()`, `train_loader()`, `train_step(batch)` and `validate()`.
    In `build()` they register what the state file keeps: `self.models` (name -> nn.Module, the
    plain module, not its DDP wrapper), `self.optimizers`, `self.scalers`, `self.emas`, and
    `self.data_facts` (what the exported checkpoint's metadata says about the data).
    """

    name = "model"
    export_model = "model"

    def __init__(self, args: argparse.Namespace, config: dict[str, Any]) -> None:
        self.args = args
        self.config = config
        train = config.setdefault("train", {})
        self.processes = init_processes(args.device)
        self.device = self.processes.device
        self.precision = resolve_precision(str(train.get("precision", "auto")), self.device)
        channels_last = train.get("channels_last", "auto")
        self.channels_last = self.device.type == "cuda" if channels_last == "auto" else bool(channels_last)
        self.out = Path(args.out)
        self.step = 0
        self.epoch = 0
        self.train_seconds = 0.0
        self.metrics: dict[str, float] = {}
        self.models: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.emas: dict[str, ModelEma] = {}
        self.data_facts: dict[str, Any] = {}
        self.seed = int(train.get("seed", 0))
        seed_everything(self.seed + 1000 * self.processes.rank)

    # --- hooks -----------------------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def train_loader(self) -> DataLoader:
        raise NotImplementedError

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        raise NotImplementedError

    # --- helpers for subclasses --------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.precision)

    def make_scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move to the device (channels_last on CUDA); the caller wraps with `self.distribute`."""
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def distribute(self, model: nn.Module) -> nn.Module:
        """DDP wrapper under torchrun, the model itself otherwise."""
        if not self.processes.distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def optimizer_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                       parameters: list[nn.Parameter], clip: float | None) -> bool:
        """Backward + (clipped) step; skips and reports False when the loss is not finite."""
        optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return False
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        scaler.step(optimizer)
        scaler.update()
        return True

    def sample_path(self) -> Path:
        return self.out / f"samples_{self.step:07d}.png"

    def current_lr_factor(self) -> float:
        optim = self.config.get("optim", {})
        return lr_factor(self._progress(), self.step, int(optim.get("warmup_steps", 100)),
                         float(optim.get("min_lr_ratio", 0.05)))

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        """Train until max_steps, the time budget or a stop signal; save, optionally export."""
        started = time.monotonic()
        train = self.config["train"]
        max_steps = int(train.get("max_steps", 10**9))
        self.budget_seconds = None if self.args.max_minutes is None else 60.0 * self.args.max_minutes
        self._check_out_dir()
        if self.processes.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.build()
        configured_lrs = {name: [g["lr"] for g in o.param_groups] for name, o in self.optimizers.items()}
        resumed = self._maybe_resume()
        if not resumed and getattr(self.args, "init", None) is not None:
            self._init_from(Path(self.args.init))
        self.schedule_seconds = self._schedule_seconds()
        for name, optimizer in self.optimizers.items():  # the config's LR wins over a resumed one
            for group, lr in zip(optimizer.param_groups, configured_lrs[name]):
                group["initial_lr"] = lr
        self.log = JsonlLog(self.out / LOG_FILE, self.processes.is_main)
        loader = self.train_loader()
        batches = batches_forever(loader, self.epoch)
        self._announce(resumed, max_steps, loader)

        log_every = int(train.get("log_every", 50))
        val_every = int(train.get("val_every", 500))
        checkpoint_seconds = float(train.get("checkpoint_seconds", 60))
        meter = LossMeter()
        last_save = last_print = time.monotonic()
        self.val_seconds = 0.0
        progress = self._progress_bar(max_steps)
        with StopRequest() as stop:
            while self.step < max_steps and not self._should_stop(stop, started):
                tick = time.monotonic()
                self.epoch, batch = next(batches)
                waited = time.monotonic() - tick
                self._apply_lr()
                losses = self.train_step(batch)
                self.step += 1
                self.train_seconds += time.monotonic() - tick
                meter.add(losses, _batch_size(batch) * self.processes.world_size, waited)
                progress.update(1)
                if self.step % log_every == 0 or self.step == max_steps:
                    summary = meter.summary()
                    self.log.write({"step": self.step, "time": round(self.train_seconds, 2), "epoch": self.epoch,
                                    "lr": self._lr(), **summary})
                    progress.set_postfix({k: f"{v:.3f}" for k, v in list(summary["losses"].items())[:4]},
                                         refresh=False)
                    if self.processes.is_main and progress.disable and time.monotonic() - last_print > PRINT_SECONDS:
                        shown = " ".join(f"{k}={v:.4f}" for k, v in summary["losses"].items())
                        print(f"[{self.name}] step {self.step} {summary['steps_per_s']:.2f} it/s {shown}", flush=True)
                        last_print = time.monotonic()
                if self.step % val_every == 0:
                    self._validate()
                if self.processes.is_main and time.monotonic() - last_save > checkpoint_seconds:
                    self.save()
                    last_save = time.monotonic()
        progress.close()
        if not self.metrics or self.metrics.get("step") != self.step:
            self._validate()
        self.log.write({"step": self.step, "time": round(self.train_seconds, 2), "end": self._rank_summary()})
        if self.processes.is_main:
            self.save()
            if self.args.export is not None:
                path = export_state(self.training_state(), self.args.export)
                print(f"[{self.name}] exported {path}", flush=True)
            print(f"[{self.name}] stopped at step {self.step} after {time.monotonic() - started:.0f} s; "
                  f"state {self.out / STATE_FILE}", flush=True)
        if self.processes.distributed:
            dist.barrier()
        return self.metrics

    def _validate(self) -> None:
        if self.processes.is_main:
            tick = time.monotonic()
            for model in self.models.values():
                model.eval()
            with torch.no_grad():
                metrics = self.validate()
            for model in self.models.values():
                model.train()
            self.metrics = {"step": self.step, **{k: float(v) for k, v in metrics.items()}}
            self.log.write({"step": self.step, "time": round(self.train_seconds, 2), "val": metrics})
            self.val_seconds = time.monotonic() - tick
            shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
            print(f"[{self.name}] val step {self.step}: {shown}", flush=True)
        else:
            self.metrics = {"step": self.step}

    def _rank_summary(self) -> dict[str, Any]:
        """Steps and a weight checksum of every rank: equal checksums show DDP kept them in sync."""
        checksum = sum(float(p.detach().double().sum()) for m in self.models.values() for p in m.parameters())
        mine = torch.tensor([float(self.processes.rank), float(self.step), checksum], dtype=torch.float64)
        if self.processes.distributed:
            mine = mine.to(self.device)
            gathered = [torch.zeros_like(mine) for _ in range(self.processes.world_size)]
            dist.all_gather(gathered, mine)
        else:
            gathered = [mine]
        ranks = [{"rank": int(t[0]), "steps": int(t[1]), "weight_checksum": float(t[2])} for t in gathered]
        return {"world_size": self.processes.world_size, "ranks": ranks}

    def _should_stop(self, stop: StopRequest, started: float) -> bool:
        """Stop on a signal or when the budget leaves just enough time to validate and save."""
        flag = stop.requested
        if self.budget_seconds is not None:
            reserve = 2.0 * self.val_seconds + 10.0
            flag = flag or time.monotonic() - started + reserve >= self.budget_seconds
        if self.processes.distributed:  # every rank must stop at the same step
            tensor = torch.tensor([1.0 if flag else 0.0], device=self.device)
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
            flag = bool(tensor.item() > 0)
        return flag

    def _progress(self) -> float:
        """Share of the schedule done: by training time when time-bound, else by steps."""
        if self.schedule_seconds:
            return self.train_seconds / self.schedule_seconds
        return self.step / max(1, int(self.config["train"].get("max_steps", 10**9)))

    def _schedule_seconds(self) -> float | None:
        """Length of the LR schedule in training seconds: `train.schedule_minutes`, or what this run
        may train (its budget) on top of what earlier runs trained."""
        minutes = self.config["train"].get("schedule_minutes")
        if minutes:
            return 60.0 * float(minutes)
        if self.budget_seconds is not None:
            return self.train_seconds + self.budget_seconds
        return None

    def _apply_lr(self) -> None:
        factor = self.current_lr_factor()
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def _lr(self) -> float:
        optimizer = next(iter(self.optimizers.values()), None)
        return float(optimizer.param_groups[0]["lr"]) if optimizer else 0.0

    def _progress_bar(self, max_steps: int):
        from tqdm import tqdm

        enabled = self.processes.is_main and sys.stderr.isatty()
        total = max_steps if max_steps < 10**9 else None
        return tqdm(total=total, initial=self.step, disable=not enabled, desc=self.name, dynamic_ncols=True)

    def _announce(self, resumed: bool, max_steps: int, loader: DataLoader) -> None:
        if not self.processes.is_main:
            return
        parameters = {name: sum(p.numel() for p in m.parameters()) for name, m in self.models.items()}
        print(
            f"[{self.name}] {'resumed at step ' + str(self.step) if resumed else 'new run'} in {self.out}; "
            f"device {self.device} x{self.processes.world_size}, {self.precision}, "
            f"batch {loader.batch_size}/rank, {loader.num_workers} workers, "
            f"budget {self.args.max_minutes or '-'} min, params {parameters}",
            flush=True,
        )

    def _check_out_dir(self) -> None:
        state = self.out / STATE_FILE
        if state.exists() and not self.args.resume:
            raise SystemExit(f"{state}: a run already exists here; pass --resume to continue it or choose another --out")

    # --- state -------------------------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        models = {name: _model_entry(model, _kind(model)) for name, model in self.models.items()}
        for name, ema in self.emas.items():
            models[name] = _model_entry(ema.model, _kind(ema.model))
        return {
            "format": TRAINING_FORMAT,
            "version": TRAINING_FORMAT_VERSION,
            "script": self.name,
            "config": self.config,
            "step": self.step,
            "epoch": self.epoch,
            "train_seconds": self.train_seconds,
            "models": models,
            "ema_updates": {name: ema.updates for name, ema in self.emas.items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "scalers": {name: s.state_dict() for name, s in self.scalers.items()},
            "rng": capture_rng(),
            "metrics": self.metrics,
            "data": self.data_facts,
            "export_model": self.export_model,
        }

    def save(self) -> None:
        atomic_torch_save(self.training_state(), self.out / STATE_FILE)

    def _init_from(self, path: Path) -> None:
        """Start the exported model (`export_model`) and its EMA from an exported checkpoint of the same
        kind, e.g. the shipped weights; optimizers start fresh."""
        from facestudio.models.checkpoint import load_checkpoint

        kind = self.export_model.removesuffix("_ema")  # "generator_ema" exports a "generator"
        exported, metadata = load_checkpoint(path, expected_kind=kind, device="cpu")
        state = {name: value.float() for name, value in exported.state_dict().items()}
        model = self.models[kind]
        try:
            model.load_state_dict(state)
            for ema in self.emas.values():
                if type(ema.model) is type(model):
                    ema.model.load_state_dict(state)
        except RuntimeError as exc:
            problem = " ".join(str(exc).split())[:200]
            raise SystemExit(f"{path}: does not fit this config's {kind}: {problem}") from exc
        self.data_facts["init"] = {"checkpoint": str(path), "steps": metadata.get("steps"),
                                   "train_minutes": metadata.get("train_minutes")}
        print(f"[{self.name}] initialised from {path} ({metadata.get('steps')} steps)", flush=True)

    def _maybe_resume(self) -> bool:
        path = self.out / STATE_FILE
        if not (self.args.resume and path.exists()):
            return False
        state = load_training_state(path)
        if state.get("script") != self.name:
            raise SystemExit(f"{path}: holds a {state.get('script')!r} run, not a {self.name!r} run")
        try:
            for name, model in self.models.items():
                model.load_state_dict(state["models"][name]["state_dict"])
            for name, ema in self.emas.items():
                ema.model.load_state_dict(state["models"][name]["state_dict"])
                ema.updates = int(state.get("ema_updates", {}).get(name, 0))
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state["optimizers"][name])
            for name, scaler in self.scalers.items():
                if name in state["scalers"]:
                    scaler.load_state_dict(state["scalers"][name])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise SystemExit(f"{path}: does not fit this config's models: {' '.join(str(exc).split())[:200]}") from exc
        self.step = int(state["step"])
        self.epoch = int(state["epoch"]) + 1
        self.train_seconds = float(state["train_seconds"])
        self.metrics = dict(state.get("metrics") or {})
        if self.processes.is_main:
            restore_rng(state["rng"])
        else:
            seed_everything(self.seed + 1000 * self.processes.rank + self.step)
        return True


def _kind(model: nn.Module) -> str:
    from facestudio.models.checkpoint import model_kinds

    class_path = f"{type(model).__module__}:{type(model).__qualname__}"
    for kind, registered in model_kinds().items():
        if registered == class_path:
            return kind
    raise ValueError(f"{class_path} is not a registered facestudio model kind")


def _model_entry(model: nn.Module, kind: str) -> dict[str, Any]:
    model = unwrap(model)
    return {"kind": kind, "config": dict(model.config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}


def _batch_size(batch: Mapping[str, Any]) -> int:
    for value in batch.values():
        if torch.is_tensor(value):
            return int(value.shape[0])
    return 0
