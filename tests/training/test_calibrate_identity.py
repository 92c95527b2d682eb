"""`python -m training.calibrate_identity` on real faces: the threshold it picks, the JSON it writes, and
distances that are the app's own (`facestudio.identity`'s encoder backend)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from facestudio import identity
from facestudio.identity import deepface_backend
from training import calibrate_identity, prepare_data
from training.data import FaceCache
from training.evaluation.cases import evaluation_order, load_faces
from training.evaluation.identity_threshold import (
    MIRROR,
    OCCLUDED,
    calibration_pipeline,
    choose_threshold,
    face_variants,
    threshold_grid,
)
from training.evaluation.models import TrainedModels
from training.occluders.assets import OccluderAssets

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FACESTUDIO_DATA", REPO / ".." / "shared" / "data"))
# A randomly initialised encoder maps every face to nearly the same vector (distances ~1e-8), which would
# make any threshold look right; the shipped, trained one measures real distances.
SHIPPED_ENCODER = REPO / "resources" / "weights" / "encoder.pt"
TEST_FACES = 4  # build_small_cache keeps 2 test faces per source
FIELDS = {"threshold", "balanced_accuracy", "same_accepted", "different_rejected", "accepted_by_kind", "n", "pairs",
          "distances", "encoder", "framing", "deepface", "table", "command", "haar_reframing_shift"}


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 real faces through training.prepare_data (shared with the other training tests' cache)."""
    if not (DATA / "faces" / "utk").is_dir():
        pytest.skip(f"shared face data not found at {DATA} (set FACESTUDIO_DATA)")
    return prepare_data.build_small_cache(DATA, tmp_path_factory.getbasetemp() / "small_cache")


@pytest.fixture(scope="module")
def trained_encoder() -> Path:
    if not SHIPPED_ENCODER.is_file():
        pytest.skip(f"no trained encoder at {SHIPPED_ENCODER}")
    return SHIPPED_ENCODER


def brute_force_balanced_accuracy(same: np.ndarray, different: np.ndarray, threshold: float) -> float:
    return (np.mean(same <= threshold) + np.mean(different > threshold)) / 2.0


def test_separable_sets_get_a_threshold_between_them_and_ties_go_to_the_larger() -> None:
    same, different = np.array([0.0, 0.012, 0.03]), np.array([0.0455, 0.2, 0.9])
    chosen = choose_threshold(same, different, step=0.001)
    assert chosen.balanced_accuracy == 1.0 and chosen.threshold == pytest.approx(0.045)  # largest grid value < 0.0455

    overlapping = choose_threshold(np.array([0.1, 0.3]), np.array([0.2, 0.5]), step=0.05)
    # 0.1 <= t < 0.2 and 0.3 <= t < 0.5 are equally good (3 of 4 right): the larger block wins
    assert overlapping.balanced_accuracy == 0.75 and overlapping.threshold == pytest.approx(0.45)


def test_calibration_on_real_faces_picks_the_best_threshold_and_writes_the_json_atomically(
    small_cache: Path, random_weights_dir: Path, trained_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(deepface_backend.CACHE_ENV, str(tmp_path / "cache"))  # DeepFace weights placed, not fetched
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "cache" / "deepface"))
    weights = tmp_path / "weights"  # no encoder.pt: --encoder supplies it
    weights.mkdir()
    shutil.copy(random_weights_dir / "segmenter.pt", weights)
    out = tmp_path / "report" / "identity_threshold.json"
    out.parent.mkdir()
    out.write_text("stale")
    encoder = trained_encoder
    result = calibrate_identity.main(["--weights", str(weights), "--encoder", str(encoder), "--data", str(small_cache),
                                      "--n", "10", "--deepface-pairs", "3", "--out", str(out)])

    assert [path.name for path in out.parent.iterdir()] == [out.name]  # replaced in one move, no temporary left
    written = json.loads(out.read_text())
    assert FIELDS <= set(written)
    assert written["n"] == TEST_FACES and written["pairs"] == {"mirror": 4, "occluded": 4, "different": 6}
    assert written["encoder"]["sha256"] == hashlib.sha256(encoder.read_bytes()).hexdigest()[:16]
    assert "--n 10" in written["command"] and written["framing"] == "aligned"

    distances, threshold = result.distances, result.chosen.threshold
    same, different = distances.same, distances.different
    assert different.min() > 1e-3  # the encoder tells these people apart at all
    assert written["threshold"] == pytest.approx(threshold, abs=1e-5)
    assert written["same_accepted"] == pytest.approx(np.mean(same <= threshold), abs=1e-5)
    assert written["different_rejected"] == pytest.approx(np.mean(different > threshold), abs=1e-5)
    best = max(brute_force_balanced_accuracy(same, different, t) for t in threshold_grid(0.001))
    assert written["balanced_accuracy"] == pytest.approx(best, abs=1e-5)
    if same.max() < different.min():
        assert same.max() <= threshold < different.min() and written["balanced_accuracy"] == 1.0
    separable_same = same[same < different.min()]  # the real distances, made separable
    separated = choose_threshold(separable_same, different, step=0.001).threshold
    assert separable_same.max() <= separated < different.min()
    assert any(row["threshold"] == pytest.approx(threshold) for row in written["table"])

    if deepface_backend.unavailable_reason() is None:
        assert written["deepface"]["judged"] + written["deepface"]["unjudged"] == 3
        assert written["deepface"]["by_kind"][MIRROR]["judge_right"] == 1.0  # DeepFace knows a face's mirror image
    else:
        assert written["deepface"] is None and "DeepFace" in written["notes"][0]


def test_distances_are_the_encoder_backends(small_cache: Path, trained_encoder: Path, tmp_path: Path) -> None:
    """The calibrated distances are what `identity.compare(..., backend="encoder")` reports in the app."""
    cache = FaceCache(small_cache)
    faces = load_faces(cache, evaluation_order(cache, 0)[:2])
    variants = face_variants(faces, OccluderAssets.load(cache.root, split="test"), seed=0)
    pipeline = calibration_pipeline(trained_encoder.parent)
    result = calibrate_identity.main(["--weights", str(trained_encoder.parent), "--data", str(small_cache), "--n", "2",
                                      "--deepface-pairs", "0", "--out", str(tmp_path / "threshold.json")])

    for index, variant in enumerate(variants):
        for kind, image in ((MIRROR, variant.mirror), (OCCLUDED, variant.occluded)):
            app = identity.compare(variant.face.clean, image, backend="encoder", pipeline=pipeline)
            assert result.distances.of(kind)[index] == pytest.approx(app.distance, abs=1e-6)
    app = identity.compare(variants[0].face.clean, variants[1].face.clean, backend="encoder", pipeline=pipeline)
    assert result.distances.different[0] == pytest.approx(app.distance, abs=1e-6)
    assert not np.array_equal(variants[0].occluded, variants[0].face.clean)  # an occluder was really drawn
    # "aligned" framing embeds the cached crop as it is: the vectors training.evaluate scores
    evaluated, _ = TrainedModels(trained_encoder.parent).encode([variant.face.clean for variant in variants])
    embedded = np.stack([pipeline.embed(variant.face.clean) for variant in variants])
    np.testing.assert_allclose(np.sum(evaluated * embedded, axis=1), 1.0, atol=1e-5)


def test_a_missing_encoder_checkpoint_is_one_clear_error(small_cache: Path, tmp_path: Path) -> None:
    missing = tmp_path / "encoder2.pt"
    with pytest.raises(SystemExit, match="encoder2.pt: encoder checkpoint not found"):
        calibrate_identity.main(["--weights", str(tmp_path), "--encoder", str(missing), "--data", str(small_cache),
                                 "--n", "2", "--out", str(tmp_path / "threshold.json")])
