"""The "encoder" identity backend: cosine distance between FaceStudio's own encoder vectors.

The encoder (facestudio.models.FaceEncoder) is trained to reproduce, from an occluded face, dlib's ResNet
descriptor of the clean face, centred on the training faces' mean (training/, issue 3). Centring spreads
people apart, so its distances are NOT on dlib's scale: the threshold is derived from pairs of held-out faces
by `python -m training.calibrate_identity` (docs/evaluation/identity_threshold.json), and must be derived
again whenever encoder.pt changes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from facestudio.identity.errors import BackendUnavailableError

if TYPE_CHECKING:
    from facestudio.api import Pipeline

BACKEND = "encoder"
# `python -m training.calibrate_identity --n 200` on the shipped encoder: the threshold with the best balanced
# accuracy (0.93) over 200 mirror, 200 occluded-vs-clean and 19,900 different-people pairs of test faces; at it,
# 97.5 % of mirrors, 86 % of occluded faces and 5.8 % of different people are judged the same person.
ENCODER_THRESHOLD = 0.239


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
