"""Compare the people in two face images: a distance, the backend's threshold and a verdict.

Two backends measure identity: "deepface" (DeepFace's "Dlib" model, offline; the default when it
is installed and its weights can be placed) and "encoder" (FaceStudio's own face encoder). Both
report a cosine distance; a pair is the same person when the distance is at most the threshold.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from facestudio.identity import deepface_backend, encoder_backend

if TYPE_CHECKING:
    from facestudio.api import Pipeline

BACKENDS = (deepface_backend.BACKEND, encoder_backend.BACKEND)  # in order of preference


@dataclass(frozen=True)
class IdentityResult:
    """distance: cosine distance of the two faces; threshold: the largest distance still judged the
    same person by `backend`; same: distance <= threshold."""

    distance: float
    threshold: float
    same: bool
    backend: str

    def to_dict(self) -> dict[str, float | bool | str]:
        """Plain-Python view for JSON (the `facestudio identity --json` object)."""
        return asdict(self)


def available_backends() -> list[str]:
    """The backends that can run here, in order of preference.

    "deepface" when DeepFace, dlib and face-recognition-models import and the weights are in place;
    "encoder" when the default weights folder holds an encoder checkpoint.
    """
    names = []
    if deepface_backend.unavailable_reason() is None:
        names.append(deepface_backend.BACKEND)
    if encoder_backend.encoder_weights_present():
        names.append(encoder_backend.BACKEND)
    return names


def default_backend() -> str:
    """"deepface" when it can run here, else "encoder"."""
    if deepface_backend.unavailable_reason() is None:
        return deepface_backend.BACKEND
    return encoder_backend.BACKEND


def compare(
    image_a: np.ndarray, image_b: np.ndarray, backend: str | None = None, *, pipeline: Pipeline | None = None
) -> IdentityResult:
    """Whether two HxWx3 uint8 RGB face images (tight crops or photos, any size) show the same person.

    backend: "deepface", "encoder" or None (the default backend). pipeline: the Pipeline whose
    encoder the "encoder" backend uses (default: one shared `load_pipeline()`).
    Each image's largest face is compared. For an edit's before and after (two images of the same
    size), a face the detector misses in one (hidden by an occluder) is taken where the other has it.
    Raises BackendUnavailableError when the backend cannot run here, IdentityError when it fails.
    """
    _check_image(image_a, "image_a")
    _check_image(image_b, "image_b")
    name = default_backend() if backend is None else backend
    if name == deepface_backend.BACKEND:
        distance, threshold = deepface_backend.deepface_distance(image_a, image_b)
    elif name == encoder_backend.BACKEND:
        distance = encoder_backend.encoder_distance(image_a, image_b, pipeline)
        threshold = encoder_backend.ENCODER_THRESHOLD
    else:
        raise ValueError(f"unknown identity backend {backend!r}: use one of {', '.join(BACKENDS)}")
    return IdentityResult(distance=distance, threshold=threshold, same=distance <= threshold, backend=name)


def compare_files(
    path_a: str | os.PathLike, path_b: str | os.PathLike, backend: str | None = None
) -> IdentityResult:
    """`compare` on two image files; an unreadable file raises imageio.ImageReadError naming it."""
    from facestudio.imageio import read_image

    return compare(read_image(path_a), read_image(path_b), backend)


def _check_image(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"{name} must be an HxWx3 uint8 RGB array, got shape {shape} and dtype {dtype}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"{name} has no pixels (shape {image.shape})")
