"""Synthetic detector scenes: ground truth that matches the pixels, and targets that decode back to it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facestudio.detection import box_from_landmarks, decode_maps, five_point_landmarks
from facestudio.models.detector import HEAD_CHANNELS
from training.scenes import ClutterBank, FaceBank, Scene, SceneComposer, SceneConfig, load_occluder
from training.train_detector import encode_targets


@pytest.fixture(scope="module")
def face_bank(face_paths: list[Path]) -> FaceBank:
    """Real faces aligned the way training.prepare_data builds the cache (dlib landmarks, canonical crop)."""
    from training.prepare_data import FaceAnnotator, align_face, apply_affine

    annotator = FaceAnnotator()
    encoded, landmarks, names = [], [], []
    for path in face_paths[:3]:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        points, _, _ = annotator.annotate(image, "utk")
        crop, matrix, _ = align_face(image, points)
        encoded.append(cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))[1])
        landmarks.append(apply_affine(matrix, points).astype(np.float32))
        names.append(path.name)
    return FaceBank(encoded, np.stack(landmarks), names)


@pytest.fixture(scope="module")
def clutter() -> ClutterBank:
    return ClutterBank.load(None)


def test_scene_ground_truth_lies_on_the_pasted_face(face_bank: FaceBank, clutter: ClutterBank) -> None:
    """dlib's landmark predictor, run on the composed scene at the true box, finds the true landmarks."""
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    config = SceneConfig(height=320, width=320, min_face=90, clutter_max=0, degrade=False,
                         face_counts=(0.0, 1.0, 0.0, 0.0, 0.0))
    composer = SceneComposer(face_bank, clutter, None, config)
    rng = np.random.default_rng(3)
    errors = []
    for _ in range(8):
        scene = composer.compose(rng)
        assert scene.boxes.shape == (1, 4) and scene.landmarks.shape == (1, 5, 2)
        np.testing.assert_allclose(scene.boxes[0], box_from_landmarks(scene.landmarks[0]), atol=1e-3)
        x, y, w, h = scene.boxes[0]
        assert w == pytest.approx(h) and w >= 0.9 * config.min_face
        rect = dlib.rectangle(int(x), int(y), int(x + w), int(y + h))
        shape = predictor(scene.image, rect)
        found = five_point_landmarks(np.array([[p.x, p.y] for p in shape.parts()], np.float32))
        errors.append(np.linalg.norm(found - scene.landmarks[0], axis=1).mean() / w)
    assert np.median(errors) < 0.06, errors


def test_scenes_vary_face_count_and_include_faceless_scenes(face_bank: FaceBank, clutter: ClutterBank) -> None:
    composer = SceneComposer(face_bank, clutter, None, SceneConfig(height=192, width=256))
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(40):
        scene = composer.compose(rng)
        assert scene.image.shape == (192, 256, 3) and scene.image.dtype == np.uint8
        assert len(scene.boxes) == len(scene.landmarks) == len(scene.occluded)
        centres = scene.boxes[:, :2] + scene.boxes[:, 2:] / 2
        assert np.all((centres >= 0) & (centres <= [256, 192]))
        counts.append(len(scene.boxes))
    assert 0 in counts and max(counts) >= 3


def test_occluder_changes_only_the_faces(face_bank: FaceBank, clutter: ClutterBank, data_root: Path) -> None:
    occlude = load_occluder(data_root / "occluders", "test", kinds=("mask_template",))
    scenes = {}
    for rate in (0.0, 1.0):
        config = SceneConfig(height=256, width=256, min_face=60, occlusion_rate=rate, degrade=False,
                             face_counts=(0.0, 1.0, 0.0, 0.0, 0.0))
        scenes[rate] = SceneComposer(face_bank, clutter, occlude, config).compose(np.random.default_rng(11))
    clean, masked = scenes[0.0], scenes[1.0]
    np.testing.assert_allclose(clean.boxes, masked.boxes)
    assert not clean.occluded[0] and masked.occluded[0]
    changed = np.any(clean.image != masked.image, axis=2)
    assert changed.sum() > 0.05 * clean.boxes[0, 2] ** 2
    x, y, w, h = clean.boxes[0]
    ys, xs = np.nonzero(changed)
    assert xs.min() >= x - 0.3 * w and xs.max() <= x + 1.3 * w and ys.min() >= y - 0.3 * h and ys.max() <= y + 1.3 * h


def _maps_from_targets(targets: dict[str, np.ndarray]) -> torch.Tensor:
    """The raw maps a perfect network would output for these targets."""
    _, rows, cols = targets["heatmap"].shape
    heat = np.clip(targets["heatmap"][0], 1e-6, 1 - 1e-6)
    maps = torch.zeros(1, HEAD_CHANNELS, rows, cols)
    maps[0, 0] = torch.from_numpy(np.log(heat / (1 - heat)))
    for slot in np.flatnonzero(targets["mask"]):
        y, x = divmod(int(targets["index"][slot]), cols)
        maps[0, 1, y, x] = float(targets["size"][slot])
        maps[0, 2:4, y, x] = torch.from_numpy(targets["offset"][slot])
        maps[0, 4:, y, x] = torch.from_numpy(targets["landmarks"][slot])
    return maps


def test_training_targets_decode_back_to_the_ground_truth() -> None:
    landmarks = []
    for x, y, side in ((30.0, 40.0, 80.0), (200.0, 150.0, 24.0), (130.3, 20.7, 47.5)):
        landmarks.append(np.array([[0.26, 0.322], [0.74, 0.322], [0.5, 0.586], [0.278, 0.8], [0.722, 0.8]])
                         * side + [x, y])
    landmarks = np.array(landmarks, np.float32)
    boxes = np.array([box_from_landmarks(points) for points in landmarks], np.float32)
    scene = Scene(np.zeros((256, 256, 3), np.uint8), boxes, landmarks, np.zeros(3, bool))
    targets = encode_targets(scene, stride=4, max_faces=8)
    assert targets["heatmap"].shape == (1, 64, 64) and targets["mask"].sum() == 3
    found = decode_maps(_maps_from_targets(targets), stride=4, score_threshold=0.5)[0]
    assert len(found.scores) == 3
    order = np.argsort(found.boxes[:, 2])[::-1]
    expected = np.argsort(boxes[:, 2])[::-1]
    np.testing.assert_allclose(found.boxes[order], boxes[expected], atol=1e-3)
    np.testing.assert_allclose(found.landmarks[order], landmarks[expected], atol=1e-3)


def test_widened_scenes_keep_their_ground_truth_on_the_face(face_bank: FaceBank, clutter: ClutterBank) -> None:
    """Tight crops (face box 0.7-1.3x the frame), stretched and downward-tilted faces (issue 13): one face per
    tight crop, and dlib's landmark predictor run at the true box still lands on the true landmarks."""
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    config = SceneConfig(height=256, width=256, clutter_max=0, degrade=False, max_roll=10.0, tight_crop_rate=1.0,
                         stretch_rate=1.0, max_stretch=1.4, look_down_rate=0.5)
    composer = SceneComposer(face_bank, clutter, None, config)
    rng = np.random.default_rng(5)
    errors = []
    for _ in range(10):
        scene = composer.compose(rng)
        assert scene.boxes.shape == (1, 4) and scene.image.shape == (256, 256, 3)
        x, y, w, h = scene.boxes[0]
        assert 0.55 * 256 <= w <= 1.5 * 256, w  # 0.7-1.3x the frame, give or take the stretch
        assert 0 <= x + w / 2 <= 256 and 0 <= y + h / 2 <= 256
        rect = dlib.rectangle(int(x), int(y), int(x + w), int(y + h))
        found = five_point_landmarks(np.array([[p.x, p.y] for p in predictor(scene.image, rect).parts()], np.float32))
        errors.append(np.linalg.norm(found - scene.landmarks[0], axis=1).mean() / w)
    assert np.median(errors) < 0.08, errors


def test_plain_mask_covers_the_lower_face_only(face_bank: FaceBank) -> None:
    from training.scenes import paint_plain_mask

    for index in range(len(face_bank)):
        face, landmarks = face_bank.face(index)
        masked = paint_plain_mask(face, landmarks, np.random.default_rng(index))
        changed = np.abs(masked.astype(np.int16) - face.astype(np.int16)).max(axis=2) > 12

        def share(points: np.ndarray) -> float:
            return float(np.mean([changed[int(round(py)), int(round(px))] for px, py in points]))

        assert share(landmarks[48:68]) > 0.9  # mouth
        assert share(landmarks[31:36]) > 0.6  # nostrils
        assert share(landmarks[36:48]) == 0.0  # eyes
        top = landmarks[27, 1] - 0.05 * face.shape[0]
        assert changed[: int(top)].mean() < 0.01  # nothing above the nose bridge but ear loops
