"""Identity comparisons in a child process: native code can neither crash nor freeze the caller.

DeepFace's Dlib model and dlib's face finder are native code. Run from the editor's worker thread
they crashed the editor once (a segfault in libc) and froze it once for good (0 % CPU inside the
Dlib model's forward pass), and the unsaved edit went with it both times. In a child process a
crash is an exit code, a hang is a timeout and Cancel is a kill: the caller gets
`IdentityNotMeasured` saying which, and the next request starts a fresh child. The child loads the
backend once and answers one request at a time; callers on several threads take turns.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from facestudio.identity.compare import IdentityResult
from facestudio.identity.errors import BackendUnavailableError, IdentityError

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # the child imports DeepFace and dlib and places the weights
COMPARE_TIMEOUT_S = 30.0  # one comparison takes well under a second; more is a hang
POLL_S = 0.05  # how often a waiting caller looks at its cancel flag


class IdentityNotMeasured(IdentityError):
    """This comparison did not happen (the child crashed, hung or was cancelled); str() says which."""


class IdentityCancelled(IdentityNotMeasured):
    """The caller's `should_stop` said stop; the child was killed."""


class IsolatedComparer:
    """`facestudio.identity.compare(a, b, backend)` run in a child process, bounded in time.

    `compare` raises BackendUnavailableError when the backend cannot run here (the child said so),
    IdentityError when the backend could not compare these images, and IdentityNotMeasured when the
    child crashed, did not answer within the timeout, or `should_stop()` became true while waiting.
    """

    def __init__(self, backend: str = "deepface", timeout_s: float = COMPARE_TIMEOUT_S,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.backend = backend
        self.timeout_s = float(timeout_s)
        self.start_timeout_s = float(start_timeout_s)
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Any = None
        self._ready = False
        self._unavailable: str | None = None

    def start(self) -> None:
        """Start the child now (it loads the backend in the background); compare() starts it otherwise."""
        with self._lock:
            self._ensure_child()

    def compare(self, image_a: np.ndarray, image_b: np.ndarray,
                should_stop: Callable[[], bool] | None = None) -> IdentityResult:
        stop = should_stop or (lambda: False)
        while not self._lock.acquire(timeout=POLL_S):  # another thread's comparison is under way
            if stop():
                raise IdentityCancelled("identity not measured: cancelled")
        try:
            if self._unavailable is not None:
                raise BackendUnavailableError(self.backend, self._unavailable)
            self._ensure_child()
            if not self._ready:
                self._wait_for(stop, self.start_timeout_s, "starting")
            # Sent from a helper thread: a photo is larger than the pipe's buffer, and a frozen child
            # would block the send itself; a killed child ends it with a broken pipe.
            request = (np.ascontiguousarray(image_a), np.ascontiguousarray(image_b))
            threading.Thread(target=_send_quietly, args=(self._connection, request), daemon=True).start()
            return IdentityResult(**self._wait_for(stop, self.timeout_s, "comparing"))
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the child (it is also stopped when the process exits)."""
        with self._lock:
            if self._process is not None and self._process.is_alive():
                try:
                    self._connection.send(None)
                    self._process.join(2.0)
                except (OSError, ValueError):
                    pass
            self._kill()

    # ------------------------------------------------------------------------------------------
    def _ensure_child(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._kill()
        context = multiprocessing.get_context("spawn")  # never fork a process that runs Qt and torch threads
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child, self.backend), name="facestudio-identity", daemon=True)
        process.start()
        child.close()
        self._process, self._connection, self._ready = process, parent, False
        logger.info("identity child process %s started (%s)", process.pid, self.backend)

    def _wait_for(self, stop: Callable[[], bool], timeout_s: float, doing: str) -> dict[str, Any]:
        """The child's next answer; kills the child and raises IdentityNotMeasured on stop, timeout or death."""
        deadline = time.monotonic() + timeout_s
        while True:
            if stop():
                self._kill()
                raise IdentityCancelled("identity not measured: cancelled")
            try:
                if self._connection.poll(POLL_S):
                    kind, payload = self._connection.recv()
                    break
            except (EOFError, OSError):  # the child died mid-answer
                kind, payload = "died", None
                break
            if not self._process.is_alive():
                kind, payload = "died", None
                break
            if time.monotonic() > deadline:
                self._kill()
                logger.error("identity child gave no answer within %.0f s while %s: killed", timeout_s, doing)
                raise IdentityNotMeasured(f"identity not measured: {self.backend} did not answer within "
                                          f"{timeout_s:.0f} s ({doing}); it was stopped")
        if kind == "died":
            if self._process is not None:
                self._process.join(1.0)
            code = self._process.exitcode if self._process is not None else None
            self._kill()
            logger.error("identity child died while %s (exit code %s)", doing, code)
            raise IdentityNotMeasured(f"identity not measured: {self.backend} crashed while {doing} (exit code {code})")
        if kind == "ready":
            self._ready = True
            return self._wait_for(stop, timeout_s, doing) if doing != "starting" else {}
        if kind == "unavailable":
            self._unavailable = str(payload)
            self._kill()
            raise BackendUnavailableError(self.backend, self._unavailable)
        if kind == "error":
            raise IdentityError(str(payload))
        return dict(payload)

    def _kill(self) -> None:
        """Kill the child first (a send under way then ends with a broken pipe), then close the pipe."""
        process, self._process, self._ready = self._process, None, False
        if process is not None and process.is_alive():
            process.kill()
            process.join(1.0)
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _send_quietly(connection: Any, request: Any) -> None:
    try:
        connection.send(request)
    except (OSError, ValueError, TypeError):  # the child died or was killed (the pipe closed): the caller reports it
        pass


def serve(connection: Any, backend: str) -> None:
    """The child's loop: load `backend`, say "ready" (or "unavailable"), then answer (a, b) requests
    with ("ok", IdentityResult fields) or ("error", one line) until None or the pipe closes."""
    from facestudio.identity import deepface_backend
    from facestudio.identity.compare import compare

    if backend == deepface_backend.BACKEND:
        reason = deepface_backend.unavailable_reason()
        if reason is not None:
            connection.send(("unavailable", reason))
            return
    connection.send(("ready", None))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        image_a, image_b = request
        try:
            result = compare(image_a, image_b, backend)
            connection.send(("ok", result.to_dict()))
        except IdentityError as error:
            connection.send(("error", str(error)))
        except Exception as error:  # noqa: BLE001 - the caller gets one line, the child lives on
            connection.send(("error", f"{type(error).__name__}: {' '.join(str(error).split())}"))


_shared: dict[str, IsolatedComparer] = {}
_shared_lock = threading.Lock()


def shared_comparer(backend: str = "deepface") -> IsolatedComparer:
    """The process's one comparer for `backend` (one child for the whole app), stopped at exit."""
    with _shared_lock:
        comparer = _shared.get(backend)
        if comparer is None:
            comparer = _shared[backend] = IsolatedComparer(backend)
            atexit.register(comparer.close)
        return comparer
