"""The "deepface" identity backend: DeepFace.verify with its "Dlib" model, strictly offline.

DeepFace keeps its weights under `$DEEPFACE_HOME/.deepface/weights` and downloads any that are
missing. FaceStudio points DEEPFACE_HOME at a folder of its own (`<user cache>/facestudio/deepface`,
or `$FACESTUDIO_CACHE/deepface`) before DeepFace is imported, and places the dlib descriptor
weights that `face-recognition-models` ships there (hard link, else copy), so DeepFace finds them
and never downloads. Faces are found and framed by `face_chips` (dlib) and handed to DeepFace as
ready crops (detector "skip"), so DeepFace builds no detector and fetches nothing else; images go
in as arrays, never as paths or URLs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

from facestudio.identity.dlib_models import RECOGNITION_MODEL, import_dlib, model_file
from facestudio.identity.errors import BackendUnavailableError, IdentityError
from facestudio.identity.face_chips import face_chip, find_face

BACKEND = "deepface"
MODEL_NAME = "Dlib"
DISTANCE_METRIC = "cosine"
CACHE_ENV = "FACESTUDIO_CACHE"
# DeepFace prints its log lines on stdout; ERROR and above only, so `--json` output stays clean.
DEEPFACE_LOG_LEVEL = "40"

_lock = threading.Lock()


def user_cache_dir() -> Path:
    """FaceStudio's cache folder: $FACESTUDIO_CACHE, else the platform's user cache folder."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "facestudio" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "facestudio"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facestudio"


def deepface_home() -> Path:
    """The DEEPFACE_HOME FaceStudio gives DeepFace (DeepFace adds `.deepface/weights` below it)."""
    return user_cache_dir() / "deepface"


def unavailable_reason() -> str | None:
    """None when the backend can run here, else one line saying what is missing."""
    try:
        _load_deepface()
    except BackendUnavailableError as error:
        return error.problem
    return None


def deepface_distance(image_a: np.ndarray, image_b: np.ndarray) -> tuple[float, float]:
    """(cosine distance, DeepFace's "Dlib" threshold) between the faces of two HxWx3 uint8 RGB images.

    Each image's largest face is framed as dlib's descriptor expects. When no face is found in one
    image of two equally sized ones (an edit's before and after, where an occluder hides the face
    from the detector), the other's face box is used for both; when none is found, the whole
    image is taken as the face (a tight crop).
    """
    deepface = _load_deepface()
    box_a, box_b = find_face(image_a), find_face(image_b)
    if image_a.shape == image_b.shape:
        box_a, box_b = box_a or box_b, box_b or box_a
    face_a = image_a if box_a is None else face_chip(image_a, box_a)
    face_b = image_b if box_b is None else face_chip(image_b, box_b)
    with _lock, contextlib.redirect_stdout(sys.stderr):
        try:
            verdict = deepface.verify(
                _bgr(face_a),
                _bgr(face_b),
                model_name=MODEL_NAME,
                detector_backend="skip",
                distance_metric=DISTANCE_METRIC,
                enforce_detection=False,
                align=False,
                silent=True,
            )
        except (ValueError, RuntimeError) as error:  # DeepFace's own errors are ValueErrors, dlib's RuntimeErrors
            raise IdentityError(f"DeepFace could not compare the faces: {' '.join(str(error).split())}") from None
    return max(0.0, float(verdict["distance"])), float(verdict["threshold"])


def _load_deepface() -> ModuleType:
    """DeepFace's `DeepFace` module, set up to run offline; BackendUnavailableError when it cannot."""
    import_dlib(BACKEND)
    home = deepface_home()
    _place_weights(home, model_file(RECOGNITION_MODEL, BACKEND))
    # DeepFace reads both variables when it is imported (the log level) and when it builds a model.
    os.environ["DEEPFACE_HOME"] = str(home)
    os.environ.setdefault("DEEPFACE_LOG_LEVEL", DEEPFACE_LOG_LEVEL)
    # DeepFace's import silences every warning in the process; keep the process's warning filters.
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        try:
            from deepface import DeepFace
        except (ImportError, ValueError) as error:  # ValueError: DeepFace found no engine (onnxruntime, torch)
            raise BackendUnavailableError(BACKEND, f"DeepFace cannot be imported: {error}") from None
    return DeepFace


def _place_weights(home: Path, source: Path) -> Path:
    """Put `source` where DeepFace looks for it under `home` (hard link, else an atomic copy).

    Checked on every use: a weight file that went missing would make DeepFace download it.
    """
    weights = home / ".deepface" / "weights"
    target = weights / source.name
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return target
    temporary = weights / f".{source.name}.{os.getpid()}.tmp"
    try:
        weights.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except OSError as error:
        raise BackendUnavailableError(
            BACKEND, f"cannot place {source.name} in {weights}: {error.strerror or error}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return target


def _bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, :, ::-1])
