"""The public engine API on real faces, with small randomly initialised checkpoints.

Random weights make the fills meaningless but exercise every path; what is checked is the
contract: shapes, the outside-the-mask guarantee, fallbacks, the detector choice, the no-face
rule, errors and thread safety.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import facestudio
from facestudio.alignment import crop_footprint, similarity_to_canonical
from facestudio.api import AutoFixResult, NoFaceError, Pipeline, default_weights_dir, load_pipeline
from facestudio.blend import grow_mask
from facestudio.classic import telea_inpaint
from facestudio.detection import LearnedFaceDetector
from facestudio.faces import Face, HaarFaceDetector, landmarks_from_box
from facestudio.imageio import read_image
from facestudio.models.checkpoint import CheckpointError


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


@pytest.fixture(scope="module")
def gradient() -> np.ndarray:
    """A 240x320 photo with no face in it: a smooth colour gradient."""
    ramp = np.linspace(30, 220, 320, dtype=np.float32)
    rows = np.linspace(0.8, 1.0, 240, dtype=np.float32)[:, None]
    return np.dstack([ramp * rows, ramp[::-1] * rows, np.full((240, 320), 120, np.float32)]).astype(np.uint8)


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


def test_a_black_and_white_photo_gets_a_grey_fill(pipeline: Pipeline, face: np.ndarray) -> None:
    grey = np.repeat(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    mask = sunglasses_mask(face.shape[:2], (70, 85), (130, 85))
    inside = mask > 0
    grey[inside] = (255, 0, 255)  # whatever the hole held (here a coloured occluder) does not count
    filled = pipeline.inpaint(grey, mask, method="gan").astype(int)
    assert np.abs(filled[..., 0] - filled[..., 1])[inside].max() <= 1
    assert np.abs(filled[..., 1] - filled[..., 2])[inside].max() <= 1
    coloured = pipeline.inpaint(face, mask, method="gan").astype(int)  # a colour photo's fill keeps its colour
    assert np.abs(coloured[..., 0] - coloured[..., 2])[inside].mean() > 3


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
    assert set(metrics) == {"faces", "mask_percent", "ms", "method", "device", "identity_similarity", "references"}
    assert metrics["faces"] == 1 and metrics["method"] == "gan" and metrics["device"] == "cpu"
    assert metrics["mask_percent"] == pytest.approx(100 * np.count_nonzero(result.mask) / result.mask.size)
    assert -1.0 <= metrics["identity_similarity"] <= 1.0 and metrics["ms"] > 0


def test_auto_fix_without_a_face_raises_no_face_error(pipeline: Pipeline, gradient: np.ndarray) -> None:
    assert pipeline.detector_name == "haar" and pipeline.detect(gradient) == []
    with pytest.raises(NoFaceError, match="no face found in the photo; draw a face box"):
        pipeline.auto_fix(gradient, method="telea")
    with pytest.raises(NoFaceError):
        pipeline.auto_fix(gradient, method="telea", faces=[])
    assert issubclass(NoFaceError, ValueError)
    # the lower-level steps still take the whole photo as one face
    assert pipeline.segment(gradient).shape == gradient.shape[:2]


def test_auto_fix_fixes_the_faces_it_is_given(pipeline: Pipeline, scene: np.ndarray) -> None:
    drawn = Face(box=(250, 125, 180, 180))  # a box drawn around the face, larger than Haar's
    result = pipeline.auto_fix(scene, method="telea", grow_px=3, faces=[drawn])
    assert result.faces == [drawn] and result.metrics["faces"] == 1
    np.testing.assert_allclose(drawn.landmarks, landmarks_from_box(drawn.box))
    # The mask comes from the given face's aligned crop, not from the detected face's.
    x0, y0, x1, y1 = crop_footprint(similarity_to_canonical(drawn.landmarks, 128), 128, scene.shape)
    outside = np.ones(scene.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert result.mask.any() and not result.mask[outside].any()
    assert not np.array_equal(result.mask, pipeline.segment(scene))
    filled = grow_mask(result.mask, 3) > 0
    assert np.array_equal(result.image[~filled], scene[~filled])


def test_auto_fix_with_a_drawn_box_works_where_nothing_is_detected(pipeline: Pipeline, gradient: np.ndarray) -> None:
    result = pipeline.auto_fix(gradient, method="telea", faces=[Face(box=(100, 60, 120, 120), source="user")])
    assert len(result.faces) == 1 and result.faces[0].source == "user"
    assert result.image.shape == gradient.shape


def test_auto_fix_refuses_faces_that_are_not_faces(pipeline: Pipeline, scene: np.ndarray) -> None:
    with pytest.raises(TypeError, match="facestudio.Face"):
        pipeline.auto_fix(scene, faces=[(250, 125, 180, 180)])


def test_detector_choice(tmp_path: Path, blind_weights_dir: Path) -> None:
    assert isinstance(load_pipeline("cpu", tmp_path, detector="haar").detector, HaarFaceDetector)
    bare = load_pipeline("cpu", tmp_path)  # "auto" without detector.pt
    assert bare.detector_name == "haar" and isinstance(bare.detector, HaarFaceDetector)
    auto = load_pipeline("cpu", blind_weights_dir)  # "auto" with detector.pt
    assert auto.detector_name == "learned"
    assert isinstance(auto.detector, LearnedFaceDetector) and auto.detector.device.type == "cpu"
    assert load_pipeline("cpu", blind_weights_dir, detector="haar").detector_name == "haar"
    own = HaarFaceDetector(min_size=80)
    assert Pipeline(device="cpu", weights_dir=tmp_path, detector=own).detector is own
    with pytest.raises(ValueError, match="unknown face detector 'dlib'"):
        load_pipeline("cpu", tmp_path, detector="dlib")


def test_learned_detector_runs_in_the_pipeline(blind_weights_dir: Path, scene: np.ndarray) -> None:
    pipeline = load_pipeline("cpu", blind_weights_dir, detector="learned")
    faces = pipeline.detect(scene)
    direct = LearnedFaceDetector(blind_weights_dir / "detector.pt", "cpu").detect(scene)
    assert [face.as_dict() for face in faces] == [face.as_dict() for face in direct]
    assert all(isinstance(face, Face) and face.source == "learned" for face in faces)
    result = pipeline.auto_fix(scene, method="telea", faces=[Face(box=(250, 125, 180, 180))])
    assert result.image.shape == scene.shape


def test_missing_or_bad_detector_checkpoint_names_the_file(tmp_path: Path, blind_weights_dir: Path,
                                                           scene: np.ndarray) -> None:
    missing = load_pipeline("cpu", tmp_path, detector="learned")
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'detector.pt'}: checkpoint file not found"):
        missing.detect(scene)
    data = (blind_weights_dir / "detector.pt").read_bytes()
    (tmp_path / "detector.pt").write_bytes(data[: len(data) // 2])
    truncated = load_pipeline("cpu", tmp_path)  # "auto" takes the file that is there, loaded on first use
    assert truncated.detector_name == "learned"
    with pytest.raises(CheckpointError, match="detector.pt: not a FaceStudio checkpoint") as raised:
        truncated.auto_fix(scene, method="telea")
    assert "\n" not in str(raised.value)
    (tmp_path / "detector.pt").write_bytes((blind_weights_dir / "segmenter.pt").read_bytes())
    with pytest.raises(CheckpointError, match="detector.pt: holds a 'segmenter' model"):
        load_pipeline("cpu", tmp_path).load_models(("detector",))


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


@pytest.mark.parametrize("where", ["face", "crop edge", "photo edge"])
def test_gan_inpaint_keeps_nothing_of_a_noise_filled_hole(pipeline: Pipeline, scene: np.ndarray, where: str) -> None:
    """Whatever was in the hole (here noise standing in for an occluder) does not survive the fill,
    wherever the hole lies: on the face, across the face crop's edge, at the photo's edge."""
    mask = np.zeros(scene.shape[:2], np.uint8)
    if where == "face":
        mask = sunglasses_mask(scene.shape[:2], (310, 205), (370, 205))
    elif where == "crop edge":
        cv2.rectangle(mask, (150, 180), (300, 230), 255, -1)  # from outside the face's crop into it
    else:
        cv2.rectangle(mask, (380, 250), (479, 359), 255, -1)  # the face's corner and the photo's
    hole = mask > 0
    damaged = scene.copy()
    damaged[hole] = np.random.default_rng(3).integers(0, 256, (np.count_nonzero(hole), 3))
    result = pipeline.inpaint(damaged, mask, method="gan")
    assert np.array_equal(result[~hole], damaged[~hole])
    assert (result[hole] != damaged[hole]).any(axis=1).all()
    error = (result.astype(np.float64) - scene)[hole].ravel()
    old = damaged.astype(np.float64)[hole].ravel()
    old, error = old - old.mean(), error - error.mean()
    assert abs(float((error * old).sum() / (old * old).sum())) <= 0.005
