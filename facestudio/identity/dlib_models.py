"""dlib and the model files of the `face-recognition-models` package, found without downloading.

The package ships dlib's ResNet face descriptor, its landmark predictors and detectors (CC0). Its
own `*_location()` helpers go through the deprecated `pkg_resources`, so the files are found from
the package's import spec instead, without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from facestudio.identity.errors import BackendUnavailableError

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
FIVE_POINT_PREDICTOR = "shape_predictor_5_face_landmarks.dat"


def import_dlib(backend: str) -> ModuleType:
    """The dlib module; BackendUnavailableError (naming `backend`) when it is not installed."""
    try:
        import dlib
    except ImportError as error:
        raise BackendUnavailableError(backend, f"dlib cannot be imported: {error}") from None
    return dlib


def model_file(name: str, backend: str) -> Path:
    """Path of a model file shipped by `face-recognition-models`; BackendUnavailableError if absent."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(backend, "the face-recognition-models package is not installed")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "models" / name
        if candidate.is_file():
            return candidate
    raise BackendUnavailableError(backend, f"face-recognition-models has no {name}; reinstall it")
