"""The "encoder" identity backend: cosine distance between FaceStudio's own encoder vectors.

The encoder (facestudio.models.FaceEncoder) is trained to reproduce, from an occluded face, the
dlib ResNet descriptor of the clean face (training/, issue 3), so its cosine distances live on the
same scale as dlib's: the starting threshold is DeepFace's "Dlib" cosine threshold, 0.07. Once
trained weights ship, calibrate it on real pairs (the encoder is compared with DeepFace in
tests/test_identity.py) and update ENCODER_THRESHOLD.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from facestudio.identity.errors import BackendUnavailableError

if TYPE_CHECKING:
    from facestudio.api import Pipeline

BACKEND = "encoder"
# Calibrated on 150 held-out UTK faces with the v1 encoder (cosine distance): an occluded face vs its clean
# photo is under 0.05 for 89 % of faces and its mirror for 100 %, while 63 % of pairs of different people
# are at 0.05 or more (the v1 encoder separates people weakly: see training/README.md).
ENCODER_THRESHOLD = 0.05


def encoder_distance(image_a: np.ndarray, image_b: np.ndarray, pipeline: Pipeline | None = None) -> float:
    """Cosine distance (0 = same vector, up to 2) between the encoder vectors of the largest face of
    two HxWx3 uint8 RGB images. `pipeline` defaults to one shared `facestudio.load_pipeline()`.
    A missing or damaged encoder checkpoint raises BackendUnavailableError naming the file."""
    from facestudio.models.checkpoint import CheckpointError

    engine = pipeline if pipeline is not None else default_pipeline()
    try:
        vector_a = _unit(engine.embed(image_a))
        vector_b = _unit(engine.embed(image_b))
    except CheckpointError as error:
        raise BackendUnavailableError(BACKEND, str(error), hint="the app's weights are missing or damaged") from None
    return float(np.clip(1.0 - np.dot(vector_a, vector_b), 0.0, 2.0))


def encoder_weights_present() -> bool:
    """Whether the default weights folder holds an encoder checkpoint (the file is checked on load)."""
    from facestudio.api import default_weights_dir

    return (default_weights_dir() / "encoder.pt").is_file()


@lru_cache(maxsize=1)
def default_pipeline() -> Pipeline:
    """One Pipeline for every comparison that names none (models load on first use, then stay)."""
    from facestudio.api import load_pipeline

    return load_pipeline()


def _unit(vector: np.ndarray) -> np.ndarray:
    flat = np.asarray(vector, dtype=np.float64).ravel()
    return flat / max(float(np.linalg.norm(flat)), 1e-12)
