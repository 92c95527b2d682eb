"""Identity comparisons: is the person in two face images the same? (distance, threshold, verdict)

    from facestudio import identity
    result = identity.compare(before, after)          # HxWx3 uint8 RGB, any size
    result.distance, result.threshold, result.same, result.backend
    identity.compare_files("a.jpg", "b.jpg", backend="encoder")
    identity.available_backends()                     # e.g. ["deepface", "encoder"]

Backends: "deepface" (DeepFace's "Dlib" model, run offline with the weights that
face-recognition-models ships; the default when installed: `pip install -e '.[identity]'`) and
"encoder" (FaceStudio's face encoder through `facestudio.load_pipeline().embed`).
"""

from __future__ import annotations

from facestudio.identity.cli import add_cli_arguments, run_cli
from facestudio.identity.compare import (
    BACKENDS,
    IdentityResult,
    available_backends,
    compare,
    compare_files,
    default_backend,
)
from facestudio.identity.encoder_backend import ENCODER_THRESHOLD
from facestudio.identity.errors import INSTALL_HINT, BackendUnavailableError, IdentityError

__all__ = [
    "BACKENDS",
    "ENCODER_THRESHOLD",
    "INSTALL_HINT",
    "BackendUnavailableError",
    "IdentityError",
    "IdentityResult",
    "add_cli_arguments",
    "available_backends",
    "compare",
    "compare_files",
    "default_backend",
    "run_cli",
]
