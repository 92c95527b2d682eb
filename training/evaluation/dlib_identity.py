"""dlib's ResNet face descriptor of an aligned crop: the yardstick for "is it still the same person".

The descriptor is computed as training.prepare_data computes the cache's descriptors
(`compute_face_descriptor(image, 68-point shape)`, the model file of `face-recognition-models`),
but every variant of a face (truth, occluded input, each method's fill) is described at the same
68 landmarks: those the cache found on the clean face. An occluder would move re-detected
landmarks, and then the distance would measure the landmark shift as much as the pixels.
Two descriptors closer than 0.6 (euclidean) are the same person by dlib's own rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facestudio.identity.dlib_models import RECOGNITION_MODEL, import_dlib, model_file

SAME_PERSON_DISTANCE = 0.6
_BACKEND = "dlib descriptor"


class DlibDescriptor:
    """dlib's 128-d face descriptor, loaded once."""

    def __init__(self) -> None:
        self._dlib = import_dlib(_BACKEND)
        self._recognizer = self._dlib.face_recognition_model_v1(str(model_file(RECOGNITION_MODEL, _BACKEND)))

    def describe(self, images: Sequence[np.ndarray], landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """Nx128 float32 descriptors of HxWx3 uint8 RGB crops, each at its 68x2 landmarks (crop px)."""
        descriptors = [
            np.asarray(self._recognizer.compute_face_descriptor(np.ascontiguousarray(image), self._shape(points)))
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


def distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise euclidean distances of two Nx128 descriptor arrays."""
    return np.linalg.norm(np.asarray(first, np.float64) - np.asarray(second, np.float64), axis=1)
