"""The public engine API on real faces, with small randomly initialised checkpoints.

Random weights make the fills meaningless but exercise every path; what is checked is the
contract: shapes, the outside-the-mask guarantee, fallbacks, errors and thread safety.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import facestudio
from facestudio.api import AutoFixResult, Pipeline, default_weights_dir, load_pipeline
from facestudio.blend import grow_mask
from facestudio.classic import telea_inpaint
from facestudio.imageio import read_image


@pytest.fixture(scope="module")
def pipeline(random_weights_dir: Path) -> Pipeline:
    return load_pipeline(device="cpu", weights_dir=random_weights_dir)


@pytest.fixture(scope="module")
def face(face_paths: list[Path]) -> np.ndarray:
    return read_image(face_paths[0])


@pytest.fixture(scope="module")
def scene(face: np.ndarray) -> np.ndarray:
    """A 360x480 photo with the 200 px face in it, away from the top-left corner."""
    canvas = np.full((360, 480, 3), 110, np.uint8)
    canvas[120:320, 240:440] = face
    return canvas


def sunglasses_mask(shape: tuple[int, int], left_eye: tuple[int, int], right_eye: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for centre in (left_eye, right_eye):
        cv2.ellipse(mask, centre, (22, 14), 0, 0, 360, 255, -1)
    cv2.line(mask, left_eye, right_eye, 255, 5)
    return mask


def test_package_exports_the_api() -> None:
    assert facestudio.load_pipeline is load_pipeline
    assert facestudio.Pipeline is Pipeline and facestudio.AutoFixResult is AutoFixResult
    assert facestudio.Face.__name__ == "Face" and isinstance(facestudio.__version__, str)


def test_weights_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FACESTUDIO_WEIGHTS", raising=False)
    assert default_weights_dir().parts[-2:] == ("resources", "weights")
    monkeypatch.setenv("FACESTUDIO_WEIGHTS", str(tmp_path))
    assert load_pipeline(device="cpu").weights_dir == tmp_path


def test_detect_finds_the_face_in_the_scene(pipeline: Pipeline, scene: np.ndarray) -> None:
    faces = pipeline.detect(scene)
    assert len(faces) == 1
    x, y, width, height = faces[0].box
    assert 300 < x + width / 2 < 380 and 180 < y + height / 2 < 260


def test_gan_inpaint_is_bit_exact_outside_the_mask(pipeline: Pipeline, face: np.ndarray) -> None:
    mask = sunglasses_mask(face.shape[:2], (70, 85), (130, 85))
    result = pipeline.inpaint(face, mask, method="gan")
    assert result.shape == face.shape and result.dtype == np.uint8
    assert np.array_equal(result[mask == 0], face[mask == 0])
    inside = mask > 0
    assert (result[inside] != face[inside]).any(axis=1).mean() > 0.5


def test_gan_inpaint_at_256_px(pipeline: Pipeline, face: np.ndarray) -> None:
    mask = sunglasses_mask(face.shape[:2], (70, 85), (130, 85))
    result = pipeline.inpaint(face, mask, method="gan", size=256)
    assert np.array_equal(result[mask == 0], face[mask == 0])
    assert not np.array_equal(result, face)


def test_hole_no_face_covers_falls_back_to_telea(pipeline: Pipeline, scene: np.ndarray) -> None:
    mask = sunglasses_mask(scene.shape[:2], (310, 205), (370, 205))
    mask[10:40, 10:60] = 255  # far from the only face
    result = pipeline.inpaint(scene, mask, method="gan")
    assert np.array_equal(result[mask == 0], scene[mask == 0])
    corner_only = np.zeros_like(mask)
    corner_only[10:40, 10:60] = 255
    expected_corner = telea_inpaint(scene, corner_only)[10:40, 10:60]
    assert np.array_equal(result[10:40, 10:60], expected_corner)


def test_telea_needs_no_weights(tmp_path: Path, face: np.ndarray) -> None:
    bare = load_pipeline(device="cpu", weights_dir=tmp_path)
    mask = sunglasses_mask(face.shape[:2], (70, 85), (130, 85))
    result = bare.inpaint(face, mask, method="telea")
    assert np.array_equal(result[mask == 0], face[mask == 0])
    assert np.array_equal(result, telea_inpaint(face, mask))
    assert len(bare.detect(face)) == 1


def test_empty_mask_returns_the_image(pipeline: Pipeline, face: np.ndarray) -> None:
    result = pipeline.inpaint(face, np.zeros(face.shape[:2], np.uint8))
    assert np.array_equal(result, face) and result is not face


def test_segment_returns_a_binary_mask_of_the_photo_size(pipeline: Pipeline, scene: np.ndarray) -> None:
    mask = pipeline.segment(scene)
    assert mask.shape == scene.shape[:2] and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    # only the face's crop can be marked: the far corner is outside it
    assert not mask[:60, :60].any()


def test_embed_is_a_unit_float32_vector_and_deterministic(pipeline: Pipeline, face: np.ndarray) -> None:
    vector = pipeline.embed(face)
    assert vector.dtype == np.float32 and vector.shape == (128,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(vector, pipeline.embed(face))
    other = pipeline.embed(np.ascontiguousarray(face[:, ::-1]))
    assert not np.array_equal(vector, other)


def test_auto_fix_contract(pipeline: Pipeline, scene: np.ndarray) -> None:
    result = pipeline.auto_fix(scene, method="gan", grow_px=3)
    assert isinstance(result, AutoFixResult)
    assert result.image.shape == scene.shape and result.image.dtype == np.uint8
    assert np.array_equal(result.mask, pipeline.segment(scene))  # the segmenter's own, not grown
    filled = grow_mask(result.mask, 3) > 0
    assert np.array_equal(result.image[~filled], scene[~filled])
    assert len(result.faces) == 1
    metrics = result.metrics
    assert set(metrics) == {"faces", "mask_area_pct", "ms", "method", "device", "identity_similarity"}
    assert metrics["faces"] == 1 and metrics["method"] == "gan" and metrics["device"] == "cpu"
    assert metrics["mask_area_pct"] == pytest.approx(100 * np.count_nonzero(result.mask) / result.mask.size)
    assert -1.0 <= metrics["identity_similarity"] <= 1.0 and metrics["ms"] > 0


def test_auto_fix_without_a_face_uses_the_whole_image(pipeline: Pipeline) -> None:
    flat = np.full((90, 120, 3), 140, np.uint8)
    result = pipeline.auto_fix(flat, method="telea")
    assert result.faces == [] and result.metrics["faces"] == 0
    assert result.image.shape == flat.shape


def test_concurrent_calls_from_a_worker_thread_agree(pipeline: Pipeline, face: np.ndarray) -> None:
    mask = sunglasses_mask(face.shape[:2], (70, 85), (130, 85))
    expected = pipeline.inpaint(face, mask)
    results: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: results.append(pipeline.inpaint(face, mask)))
    worker.start()
    here = pipeline.inpaint(face, mask)
    worker.join(timeout=120)
    assert len(results) == 1
    assert np.array_equal(results[0], expected) and np.array_equal(here, expected)


def test_missing_checkpoint_names_the_file(tmp_path: Path, face: np.ndarray) -> None:
    from facestudio.models.checkpoint import CheckpointError

    bare = load_pipeline(device="cpu", weights_dir=tmp_path)
    with pytest.raises(CheckpointError, match=str(tmp_path / "segmenter.pt")):
        bare.segment(face)


def test_bad_checkpoints_name_the_file(tmp_path: Path, random_weights_dir: Path, face: np.ndarray) -> None:
    from facestudio.models.checkpoint import CheckpointError

    data = (random_weights_dir / "segmenter.pt").read_bytes()
    (tmp_path / "segmenter.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "encoder.pt").write_bytes((random_weights_dir / "generator.pt").read_bytes())  # wrong kind
    broken = load_pipeline(device="cpu", weights_dir=tmp_path)
    with pytest.raises(CheckpointError, match="segmenter.pt"):
        broken.segment(face)
    with pytest.raises(CheckpointError, match="encoder.pt.*generator"):
        broken.embed(face)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, img: p.inpaint(img[..., 0], np.zeros(img.shape[:2], np.uint8)), "HxWx3 uint8"),
        (lambda p, img: p.inpaint(img.astype(np.float32), np.zeros(img.shape[:2], np.uint8)), "HxWx3 uint8"),
        (lambda p, img: p.inpaint(img, np.zeros((5, 5), np.uint8)), "mask is 5x5 px"),
        (lambda p, img: p.inpaint(img, np.zeros(img.shape[:2], np.uint8), method="magic"), "unknown method"),
        (lambda p, img: p.auto_fix(img, method="magic"), "unknown method"),
    ],
)
def test_bad_arguments_are_clear_errors(pipeline: Pipeline, face: np.ndarray, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(pipeline, face)


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    import torch

    from facestudio.devices import DeviceError, resolve_device

    assert resolve_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda"
    else:
        assert resolve_device("auto") == "cpu"
        with pytest.raises(DeviceError, match="no CUDA"):
            load_pipeline(device="cuda")


def test_device_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACESTUDIO_DEVICE", "cpu")
    assert load_pipeline(weights_dir=tmp_path).device == "cpu"
