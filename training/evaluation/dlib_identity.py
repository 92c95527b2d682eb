"""dlib's ResNet face descriptor of an aligned crop: the yardstick for "is it still the same person".

The descriptor is computed as training.prepare_data computes the cache's descriptors
(`compute_face_descriptor(image, 68-point shape)`, the model file of `face-recognition-models`),
but every variant of a face (truth, occluded input, each method's fill) is described at the same
68 landmarks: those the cache found on the clean face. An occluder would move re-detected
landmarks, and then the distance would measure the landmark shift as much as the pixels.
Two descriptors closer than 0.6 (euclidean) are the same person by dlib's own rule.

dlib's wheel runs its network on one core without BLAS (~80 ms a face), the evaluation's largest
cost, so `DlibDescriptor(workers=2)` spreads each batch over worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from facestudio.identity.dlib_models import RECOGNITION_MODEL, import_dlib, model_file

SAME_PERSON_DISTANCE = 0.6
_BACKEND = "dlib descriptor"


class _Recognizer:
    """dlib's 128-d face descriptor network in this process."""

    def __init__(self) -> None:
        self._dlib = import_dlib(_BACKEND)
        self._network = self._dlib.face_recognition_model_v1(str(model_file(RECOGNITION_MODEL, _BACKEND)))

    def describe(self, images: Sequence[np.ndarray], landmarks: Sequence[np.ndarray]) -> np.ndarray:
        descriptors = [
            np.asarray(self._network.compute_face_descriptor(np.ascontiguousarray(image), self._shape(points)))
            for image, points in zip(images, landmarks)
        ]
        return np.array(descriptors, dtype=np.float32).reshape(-1, 128)

    def _shape(self, points: np.ndarray):
        """A dlib full_object_detection from 68x2 landmarks (its box is theirs)."""
        dlib = self._dlib
        points = np.asarray(points, dtype=np.float64)
        left, top = np.floor(points.min(axis=0)).astype(int)
        right, bottom = np.ceil(points.max(axis=0)).astype(int)
        parts = [dlib.point(int(round(x)), int(round(y))) for x, y in points]
        return dlib.full_object_detection(dlib.rectangle(int(left), int(top), int(right), int(bottom)), parts)


class DlibDescriptor:
    """dlib's face descriptor, loaded once, in this process or spread over `workers` processes.

    Use it as a context manager (or call `close`) to stop the worker processes.
    """

    def __init__(self, workers: int = 1) -> None:
        self._local = _Recognizer()  # also checks, in this process, that dlib and the model file are there
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None
        if self.workers > 1:
            # spawn, as training.prepare_data does: dlib objects must not be shared through fork
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_start_worker)

    def describe(self, images: Sequence[np.ndarray], landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """Nx128 float32 descriptors of HxWx3 uint8 RGB crops, each at its 68x2 landmarks (crop px)."""
        if self._pool is None or len(images) < 2 * self.workers:
            return self._local.describe(images, landmarks)
        parts = np.array_split(np.arange(len(images)), self.workers)
        jobs = [([images[i] for i in part], [landmarks[i] for i in part]) for part in parts]
        return np.concatenate(list(self._pool.map(_describe_in_worker, jobs)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> DlibDescriptor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise euclidean distances of two Nx128 descriptor arrays."""
    return np.linalg.norm(np.asarray(first, np.float64) - np.asarray(second, np.float64), axis=1)


_WORKER: _Recognizer | None = None


def _start_worker() -> None:
    global _WORKER
    _WORKER = _Recognizer()


def _describe_in_worker(job: tuple[list[np.ndarray], list[np.ndarray]]) -> np.ndarray:
    assert _WORKER is not None, "worker not started"
    return _WORKER.describe(*job)
