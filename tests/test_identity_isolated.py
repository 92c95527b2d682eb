"""DeepFace in its child process: real backend, real crashes and hangs (signals), from several threads."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from facestudio.identity import IdentityError
from facestudio.identity.deepface_backend import unavailable_reason
from facestudio.identity.isolated import IdentityCancelled, IdentityNotMeasured, IsolatedComparer
from facestudio.sample import load_sample

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=f"DeepFace backend: {unavailable_reason()}")


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    image = load_sample().image
    return image, np.ascontiguousarray(image[:, ::-1])


@pytest.fixture
def comparer():
    comparer = IsolatedComparer(timeout_s=20.0)
    yield comparer
    comparer.close()


def test_two_threads_at_once_many_times(comparer, faces) -> None:
    """The crash and the freeze came from the Dlib model run off the main thread: here two threads ask
    at once, 10 times each, and every answer is the same as the first."""
    first = comparer.compare(*faces)
    assert first.backend == "deepface" and first.same and 0.0 <= first.distance < first.threshold
    answers, errors = [], []

    def ask() -> None:
        try:
            for _ in range(10):
                answers.append(comparer.compare(*faces))
        except Exception as error:  # noqa: BLE001 - the assertion below shows it
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and len(answers) == 20
    assert all(abs(answer.distance - first.distance) < 1e-6 for answer in answers)


def test_a_crash_costs_the_figure_and_the_next_comparison_works(comparer, faces) -> None:
    comparer.compare(*faces)  # the child is up
    os.kill(comparer._process.pid, signal.SIGSTOP)  # hold it mid-request...
    pid = comparer._process.pid

    def crash() -> None:  # a segfault inside the backend, as the editor once had
        os.kill(pid, signal.SIGSEGV)
        os.kill(pid, signal.SIGCONT)

    threading.Timer(0.3, crash).start()
    started = time.monotonic()
    with pytest.raises(IdentityNotMeasured, match="crashed"):
        comparer.compare(*faces)
    assert time.monotonic() - started < 5.0
    assert comparer.compare(*faces).same  # a fresh child answers


def test_a_hang_is_bounded_by_the_timeout(faces) -> None:
    comparer = IsolatedComparer(timeout_s=1.0)
    try:
        comparer.compare(*faces)
        os.kill(comparer._process.pid, signal.SIGSTOP)  # frozen: no answer will come
        started = time.monotonic()
        with pytest.raises(IdentityNotMeasured, match="did not answer within 1 s"):
            comparer.compare(*faces)
        assert time.monotonic() - started < 3.0
        assert comparer.compare(*faces).same
    finally:
        comparer.close()


def test_cancel_returns_within_a_second_even_while_the_backend_hangs(comparer, faces) -> None:
    comparer.compare(*faces)
    os.kill(comparer._process.pid, signal.SIGSTOP)
    cancel_at = time.monotonic() + 0.2
    started = time.monotonic()
    with pytest.raises(IdentityCancelled):
        comparer.compare(*faces, should_stop=lambda: time.monotonic() > cancel_at)
    assert time.monotonic() - started < 1.2
    assert comparer.compare(*faces).same


def test_a_picture_without_pixels_is_an_error_of_that_comparison_only(comparer, faces) -> None:
    with pytest.raises(IdentityError):
        comparer.compare(np.zeros((1, 0, 3), np.uint8), faces[0])
    assert comparer.compare(*faces).same
