"""`facestudio batch --ray [ADDRESS]`: the same batch, its photos spread over a Ray cluster.

Ray Data's `map_batches` runs the photos through a pool of actors, each holding one loaded Pipeline (a
GPU each where the cluster has GPUs); Ray schedules them, holds back the input while the actors are busy,
restarts an actor whose process dies and retries its task. Everything else is the local batch's
(facestudio.batch.engine): the plan, the triage (photos the plan failed, photos --resume skips), the
read-fix-write of a photo (`BatchJob.process`, atomic writes) and, on the driver, the journal, the report
and the progress bar. An actor writes a photo's outputs into OUT and returns its FileOutcome; the driver
journals it. A retried task writes its photos again, the same bytes, atomically (one file each), and the
driver keeps the first outcome of each photo: one journal line, one report row.

IN and OUT must be paths every node sees (a shared filesystem), and every node needs FaceStudio with
the `cluster` extra. Ray is imported here only, and this module only when --ray is given. Reference
photos (--references) travel as their paths (in BatchOptions): each actor prepares them once as it
starts, and the driver shows each warning about an unusable one once.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from facestudio.batch.engine import CANCELLED, SKIPPED, BatchError, BatchJob, BatchOptions, FileOutcome, _one_line
from facestudio.batch.plan import BatchItem, remove_stale_temporaries

logger = logging.getLogger(__name__)

MAX_TASKS = 10_000  # photos are split into at most this many Ray Data blocks (a task each, retried whole)


class RayBatchJob:
    """A planned run on Ray with BatchJob's interface (`total`, `run()` yielding a FileOutcome per item).

    address: None starts a local Ray on this machine (and stops it at the end); "auto" or "HOST:PORT"
    joins a running cluster. A Ray already started in this process (tests) is used as it is.
    workers: actors, each with one Pipeline; default one per GPU of the cluster, else one per `worker_cpus`
    CPUs. worker_cpus: CPUs each actor reserves, and the torch threads a CPU actor computes with. Torch's
    CPU results can depend on its thread count (the gan fill of a large face, in the last bit of some
    pixels): outputs are byte-identical to a local batch that ran with as many torch threads.
    journaled(item): whether the journal holds the item as done. Under --resume, a photo with complete
    outputs but no journal line (the whole run was killed after an actor wrote it, before the driver
    journaled it) is done again, so that every done row has its figures, as in a local resume.
    on_warning(line): called once per distinct warning of the actors (a reference photo left out).
    """

    def __init__(
        self, items: Sequence[BatchItem], options: BatchOptions, *, address: str | None = None,
        workers: int | None = None, worker_cpus: int = 1, journaled: Callable[[BatchItem], bool] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.items = list(items)
        self.options = options
        self.address = address
        self.workers = workers
        self.worker_cpus = worker_cpus
        self.journaled = journaled
        self.on_warning = on_warning or logger.warning
        self.warned: set[str] = set()
        self.worker_pids: set[int] = set()  # the actor processes that reported a photo

    @property
    def total(self) -> int:
        return len(self.items)

    def run(self, should_stop: Callable[[], bool] | None = None) -> Iterator[FileOutcome]:
        """Like BatchJob.run: OutputsExistError under policy "stop", BatchError when Ray or the models fail."""
        stop = should_stop or (lambda: False)
        job = BatchJob(self.items, self.options)
        settled, work = job.triage()
        if self.journaled is not None:
            redo = {outcome.index: outcome.item for outcome in settled
                    if outcome.status == SKIPPED and not self.journaled(outcome.item)}
            settled = [outcome for outcome in settled if outcome.index not in redo]
            work = sorted([*work, *redo.items()], key=lambda pair: pair[0])
        yield from settled
        pending = dict(work)
        if work and not stop():
            yield from self._run_on_ray(job, work, pending, stop)
        for index, item in sorted(pending.items()):
            yield FileOutcome(index, item, CANCELLED, "run cancelled")

    def _run_on_ray(
        self, job: BatchJob, work: list[tuple[int, BatchItem]], pending: dict[int, BatchItem], stop: Callable[[], bool]
    ) -> Iterator[FileOutcome]:
        ray = _import_ray()
        started_here = not ray.is_initialized()
        try:
            if started_here:
                # The workers' logs stay in Ray's session folder (/tmp/ray/session_latest/logs): the terminal
                # shows the batch's own lines, a bad photo's included (its outcome carries them).
                _keeping_stop_signals(ray.init)(address=self.address, include_dashboard=False,
                                                logging_level=logging.WARNING, log_to_driver=False)
        except Exception as error:
            raise BatchError(f"could not start or join Ray ({self.address or 'local'}): {_one_line(error)}") from error
        rows: Iterator[dict[str, Any]] = iter(())
        try:
            rows = iter(self._dataset(ray, job, work).iter_rows())
            while True:
                try:
                    row = next(rows, None)
                except Exception as error:  # a cluster that went away, a node that cannot run the workers
                    raise BatchError(_ray_failure(error)) from error
                if row is None:  # every task ended: what a killed worker left half-written can go
                    remove_stale_temporaries([item for _, item in work])
                    break
                if row["error"]:
                    raise BatchError(f"{row['error']} (on a Ray worker)")
                for warning in filter(None, str(row.get("warnings") or "").split("\n")):
                    if warning not in self.warned:
                        self.warned.add(warning)
                        self.on_warning(warning)
                self.worker_pids.add(int(row["pid"]))
                outcome = pickle.loads(row["outcome"])
                item = pending.pop(outcome.index, None)
                if item is None:
                    continue  # already reported: a retried task's second outcome of the photo
                yield replace(outcome, item=item)
                if stop():
                    break
        finally:
            getattr(rows, "close", lambda: None)()  # ends the dataset's execution (a stopped run)
            if started_here:
                ray.shutdown()

    def _dataset(self, ray: Any, job: BatchJob, work: list[tuple[int, BatchItem]]) -> Any:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the batch's own bar counts photos
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if (self.options.device or "auto") != "cpu" else 0
        cpus = int(resources.get("CPU", 1)) // self.worker_cpus
        workers = max(1, min(len(work), self.workers or gpus or cpus))
        # A CPU actor runs on the CPU even where the node has a GPU; a GPU actor on the GPU Ray gives it.
        device = "cuda" if gpus else "cpu"
        options = replace(self.options, existing="overwrite", jobs=0, device=device)
        logger.info("Ray: %d photos on %d workers (%s), cluster %s", len(work), workers, device, resources)
        dataset = ray.data.from_items(
            [{"work": pickle.dumps(pair)} for pair in work], override_num_blocks=min(len(work), MAX_TASKS)
        )
        return dataset.map_batches(
            PhotoFixer,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            fn_constructor_kwargs={"options": options, "models": job.models_needed(), "threads": self.worker_cpus},
            num_cpus=self.worker_cpus,
            num_gpus=1 if gpus else 0,
        )


class PhotoFixer:
    """A Ray Data actor: one Pipeline, loaded once; each call reads, fixes and writes its photos with the
    local engine and returns their FileOutcomes (pickled) and this process's id."""

    def __init__(self, options: BatchOptions, models: Sequence[str], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.warnings: list[str] = []  # reference photos left out, sent with every row (the driver shows each once)
        self.job = BatchJob([], options, on_warning=self.warnings.append)
        self.error = ""  # models that cannot load end the run with this line (the driver raises it)
        try:
            self.job.load_models(models)
        except BatchError as error:
            self.error = str(error)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        work = [pickle.loads(blob) for blob in batch["work"]]
        outcomes = [] if self.error else [pickle.dumps(outcome) for outcome in self.job.process(work)]
        count = len(outcomes) or len(work)
        return {"outcome": outcomes or [b""] * count, "error": [self.error] * count, "pid": [os.getpid()] * count,
                "warnings": ["\n".join(self.warnings)] * count}


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise BatchError(
            f"--ray needs Ray: pip install 'facestudio[cluster]' ({_one_line(error)})"
        ) from error
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
    return ray


def _keeping_stop_signals(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with this process's SIGINT / SIGTERM handlers put back after it: ray.init replaces
    SIGTERM's with an exit, and the batch's handler must stop the run gently and write the report."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return function(*args, **kwargs)
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            return function(*args, **kwargs)
        finally:
            for signum, handler in handlers.items():
                if handler is not None:
                    signal.signal(signum, handler)

    return call


def _ray_failure(error: BaseException) -> str:
    """One line for a Ray failure (a cluster that went away...): its last line, not Ray's traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"the Ray run failed: {type(error).__name__}: {lines[-1] if lines else ''}".rstrip(": ")

