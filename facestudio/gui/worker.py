"""Run engine work off the UI thread: one worker QThread, one job at a time, lazy model loading, cancel.

`ModelManager` lives in the UI thread and talks to a `_Worker` moved to a QThread through queued
signals. A job is a function of a `JobContext`; it reaches the models through `context.pipeline`
(loaded once, on first use, on the worker thread) and calls `context.step(...)` between stages,
which reports progress and stops the job by raising `JobCancelled` when the user cancelled.
A cancelled job's result is thrown away; an exception becomes a one-line `failed` message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QThread, Signal, Slot


logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job at a step boundary after the user pressed Cancel."""


class JobContext:
    """What a running job may use: the pipeline, progress reporting, the cancel check."""

    def __init__(self, worker: _Worker, job_id: int, cancel_flag: threading.Event) -> None:
        self._worker = worker
        self._job_id = job_id
        self._cancel_flag = cancel_flag
        self.started_at = time.perf_counter()

    @property
    def pipeline(self) -> Any:
        """The engine's Pipeline, loaded on first use and kept for later jobs."""
        return self._worker.pipeline()

    @property
    def cancelled(self) -> bool:
        return self._cancel_flag.is_set()

    def deliver(self, result: Any, even_if_cancelled: bool = False) -> None:
        """Hand a result to the UI before the job ends (the fill, while its figures are still measured).
        Normally a cancelled job delivers nothing more; `even_if_cancelled` is for what the UI must
        still hear (a batch's per-photo outcomes, "cancelled" ones included)."""
        if not even_if_cancelled:
            self.check()
        self._worker.partial.emit(self._job_id, (even_if_cancelled, result))

    def step(self, fraction: float, text: str) -> None:
        """Report progress (0..1) and stop here if the job was cancelled."""
        self.check()
        self._worker.progress.emit(self._job_id, float(fraction), text)

    def check(self) -> None:
        if self._cancel_flag.is_set():
            raise JobCancelled()


Job = Callable[[JobContext], Any]


class _Worker(QObject):
    """Lives on the worker thread; owns the pipeline."""

    loading = Signal(str)
    loaded = Signal(str)
    started = Signal(int, str)
    progress = Signal(int, float, str)
    partial = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, device: str | None, weights_dir: Path | None, detector: str = "auto") -> None:
        super().__init__()
        self._device = device
        self._weights_dir = weights_dir
        self._detector = detector
        self._pipeline: Any = None

    def pipeline(self) -> Any:
        if self._pipeline is None:
            self.loading.emit(self._device or "auto")
            from facestudio.api import load_pipeline  # torch and the models load here, on the worker thread, once

            self._pipeline = load_pipeline(device=self._device, weights_dir=self._weights_dir,
                                                     detector=self._detector)
            self.loaded.emit(str(self._pipeline.device))
        return self._pipeline

    @Slot(int, str, object, object)
    def run(self, job_id: int, title: str, job: Job, cancel_flag: threading.Event) -> None:
        self.started.emit(job_id, title)
        context = JobContext(self, job_id, cancel_flag)
        try:
            context.check()
            result = job(context)
            context.check()  # cancelled during the last stage: the result is discarded
        except JobCancelled:
            self.cancelled.emit(job_id)
            return
        except MemoryError:
            self.failed.emit(job_id, f"{title}: out of memory; try a smaller photo or the telea method")
            return
        except Exception as error:  # a bug or a model/file problem: tell the user, keep the app alive
            if _is_user_error(error):
                logger.warning("%s failed: %s", title, _one_line(error))
            else:  # a bug: keep its traceback in the log for the developer
                logger.exception("%s failed", title)
            self.failed.emit(job_id, f"{title} failed: {_one_line(error)}")
            return
        self.finished.emit(job_id, result)


def _is_user_error(error: BaseException) -> bool:
    """FaceStudio's own errors (CheckpointError, DeviceError, ImageReadError...) already say what to do."""
    return type(error).__module__.startswith("facestudio")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class ModelManager(QObject):
    """The UI's handle on the worker thread. `submit` refuses a job while another one runs."""

    loading = Signal(str)               # device requested, models are being loaded
    loaded = Signal(str)                # device the pipeline runs on
    started = Signal(int, str)          # job id, title
    progress = Signal(int, float, str)  # job id, fraction 0..1, stage text
    partial = Signal(int, object)       # job id, a result delivered before the job ends
    finished = Signal(int, object)      # job id, the job's return value
    failed = Signal(int, str)           # job id, one-line message
    cancelled = Signal(int)             # job id
    busy_changed = Signal(bool)

    _run_requested = Signal(int, str, object, object)

    def __init__(self, device: str | None = None, weights_dir: Path | None = None,
                 parent: QObject | None = None, detector: str = "auto") -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("facestudio-worker")
        self._worker = _Worker(device, weights_dir, detector)
        self._worker.moveToThread(self._thread)
        self._run_requested.connect(self._worker.run)
        self._worker.loading.connect(self.loading)
        self._worker.loaded.connect(self._on_loaded)
        self._worker.started.connect(self.started)
        self._worker.progress.connect(self._on_progress)
        self._worker.partial.connect(self._on_partial)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._thread.start()
        self._next_id = 1
        self._current: int | None = None
        self._cancel_flag = threading.Event()
        self._device_name = ""
        self._title = ""

    @property
    def device_name(self) -> str:
        """The device the models run on; empty until they are loaded."""
        return self._device_name

    @property
    def requested_device(self) -> str | None:
        return self._worker._device

    @property
    def weights_dir(self) -> Path | None:
        """The weights folder the pipeline loads from (None: the default one)."""
        return self._worker._weights_dir

    def wait_idle(self, timeout_ms: int = 120_000) -> bool:
        """Run the event loop until the current job has ended (its signals delivered); False on timeout."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while self._current is not None and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.005)
        return self._current is None

    @property
    def requested_detector(self) -> str:
        """The face detector the pipeline is built with ("auto", "learned" or "haar")."""
        return self._worker._detector

    def is_busy(self) -> bool:
        return self._current is not None

    def current_title(self) -> str:
        return self._title if self._current is not None else ""

    def submit(self, title: str, job: Job) -> int | None:
        """Queue `job` on the worker; returns its id, or None when a job is already running."""
        if self._current is not None:
            return None
        job_id = self._next_id
        self._next_id += 1
        self._current = job_id
        self._title = title
        self._cancel_flag = threading.Event()
        self.busy_changed.emit(True)
        self._run_requested.emit(job_id, title, job, self._cancel_flag)
        return job_id

    def cancel(self) -> None:
        """Ask the running job to stop at its next step; its result, if any, is discarded."""
        if self._current is not None:
            self._cancel_flag.set()

    def shutdown(self, wait_ms: int = 30000) -> None:
        """Cancel any job and stop the thread (called when the window closes)."""
        self.cancel()
        self._thread.quit()
        self._thread.wait(wait_ms)

    def _on_loaded(self, device: str) -> None:
        self._device_name = device
        self.loaded.emit(device)

    def _on_progress(self, job_id: int, fraction: float, text: str) -> None:
        if job_id == self._current and not self._cancel_flag.is_set():
            self.progress.emit(job_id, fraction, text)

    def _on_partial(self, job_id: int, message: object) -> None:
        even_if_cancelled, result = message  # type: ignore[misc]
        if job_id == self._current and (even_if_cancelled or not self._cancel_flag.is_set()):
            self.partial.emit(job_id, result)

    def _end(self, job_id: int) -> bool:
        if job_id != self._current:
            return False
        self._current = None
        self.busy_changed.emit(False)
        return True

    def _on_finished(self, job_id: int, result: object) -> None:
        cancelled = self._cancel_flag.is_set()
        if self._end(job_id):
            if cancelled:
                self.cancelled.emit(job_id)
            else:
                self.finished.emit(job_id, result)

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._end(job_id):
            self.failed.emit(job_id, message)

    def _on_cancelled(self, job_id: int) -> None:
        if self._end(job_id):
            self.cancelled.emit(job_id)
