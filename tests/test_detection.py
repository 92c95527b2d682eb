"""The learned face detector: geometry, decoding, NMS, letterboxing, the network, and (once trained) real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facestudio.detection import (
    LearnedFaceDetector,
    box_from_landmarks,
    decode_maps,
    iou_matrix,
    letterbox,
    merge_mirrored,
    non_max_suppression,
)
from facestudio.faces import Face, landmarks_from_box
from facestudio.models.checkpoint import save_checkpoint
from facestudio.models.detector import HEAD_CHANNELS, FaceDetectorNet

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "resources" / "weights" / "detector.pt"


def test_box_from_landmarks_inverts_landmarks_from_box_and_ignores_roll() -> None:
    box = np.array([40.0, 60.0, 120.0, 120.0])
    landmarks = landmarks_from_box(box)
    np.testing.assert_allclose(box_from_landmarks(landmarks), box, atol=1e-3)

    centre = box[:2] + box[2:] / 2
    angle = np.deg2rad(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = (landmarks - centre) @ rotation.T + centre
    np.testing.assert_allclose(box_from_landmarks(rolled), box, atol=1e-3)


def _maps_with_faces(faces: list[tuple[int, int, float, float, float]], rows: int, cols: int) -> torch.Tensor:
    """Raw network maps with a face centred at cell (x, y) + (dx, dy) of side `side` px for each tuple."""
    maps = torch.zeros(1, HEAD_CHANNELS, rows, cols)
    maps[:, 0] = -10.0
    relative = torch.tensor([[-0.24, -0.18], [0.24, -0.18], [0.0, 0.09], [-0.22, 0.3], [0.22, 0.3]])
    for x, y, dx, dy, side in faces:
        maps[0, 0, y, x] = 3.0  # sigmoid ~0.95
        maps[0, 0, y, x + 1] = 1.0  # a weaker neighbour: not a local maximum, must not become a face
        maps[0, 1, y, x] = float(np.log(side / 4))
        maps[0, 2, y, x], maps[0, 3, y, x] = dx, dy
        maps[0, 4:, y, x] = relative.reshape(-1)
    return maps


def test_decode_maps_recovers_boxes_and_landmarks() -> None:
    maps = _maps_with_faces([(10, 8, 0.25, 0.5, 64.0), (30, 20, 0.0, 0.0, 24.0)], rows=32, cols=48)
    found = decode_maps(maps, stride=4, score_threshold=0.5)[0]
    assert len(found.scores) == 2
    order = np.argsort(found.boxes[:, 0])
    boxes, landmarks = found.boxes[order], found.landmarks[order]
    np.testing.assert_allclose(boxes[0], [41 - 32, 34 - 32, 64, 64], atol=1e-4)
    np.testing.assert_allclose(boxes[1], [120 - 12, 80 - 12, 24, 24], atol=1e-4)
    np.testing.assert_allclose(landmarks[0][0], [41 - 0.24 * 64, 34 - 0.18 * 64], atol=1e-4)
    assert np.all(found.scores > 0.9)


def test_decode_maps_threshold_drops_weak_peaks() -> None:
    maps = _maps_with_faces([(10, 8, 0.0, 0.0, 64.0)], rows=16, cols=24)
    maps[0, 0, 8, 10] = -1.0  # sigmoid ~0.27, below the threshold
    maps[0, 0, 8, 11] = -2.0
    assert len(decode_maps(maps, stride=4, score_threshold=0.5)[0].scores) == 0


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[10, 10, 50, 50], [12, 12, 50, 50], [200, 200, 40, 40], [14, 8, 52, 52]], float)
    scores = np.array([0.7, 0.9, 0.8, 0.6])
    kept = non_max_suppression(boxes, scores, max_iou=0.4)
    assert list(kept) == [1, 2]
    assert iou_matrix(boxes[:1], boxes[1:2])[0, 0] > 0.4


@pytest.mark.parametrize("shape", [(960, 1280), (1280, 720), (300, 200), (641, 33)])
def test_letterbox_round_trip(shape: tuple[int, int]) -> None:
    height, width = shape
    image = np.zeros((height, width, 3), np.uint8)
    point = np.array([[width * 0.37, height * 0.81]])
    cv2.circle(image, (int(point[0, 0]), int(point[0, 1])), 3, (255, 255, 255), -1)
    canvas, frame = letterbox(image, 640)
    assert canvas.shape[0] % 32 == 0 and canvas.shape[1] % 32 == 0
    assert max(canvas.shape[:2]) <= 640 + 31
    assert frame.scale <= 1.0  # never upscaled
    ys, xs = np.nonzero(canvas[..., 0] > 200)  # the padding is mid-grey
    found = frame.to_photo(np.array([[xs.mean(), ys.mean()]]))
    np.testing.assert_allclose(found, point, atol=1.5 / frame.scale)


@pytest.mark.parametrize("shape", [(40, 40), (66, 50), (30, 90)])
def test_letterbox_enlarges_thumbnails_to_the_minimum_side(shape: tuple[int, int]) -> None:
    height, width = shape
    image = np.zeros((height, width, 3), np.uint8)
    point = np.array([[width * 0.62, height * 0.31]])
    cv2.circle(image, (int(point[0, 0]), int(point[0, 1])), 2, (255, 255, 255), -1)
    canvas, frame = letterbox(image, 640, min_long_side=96)
    assert frame.scale == pytest.approx(96 / max(shape), rel=0.02)
    assert canvas.shape[0] % 32 == 0 and canvas.shape[1] % 32 == 0 and max(canvas.shape[:2]) == 96
    ys, xs = np.nonzero(canvas[..., 0] > 200)  # the blob, not the mid-grey padding
    np.testing.assert_allclose(frame.to_photo(np.array([[xs.mean(), ys.mean()]])), point, atol=1.5)
    same, unchanged = letterbox(np.zeros((120, 100, 3), np.uint8), 640, min_long_side=96)
    assert unchanged.scale == 1.0 and same.shape[:2] == (128, 128)


@pytest.mark.parametrize("size", [(64, 96), (128, 128), (480, 640)])
def test_network_output_grid_matches_stride(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = FaceDetectorNet(stem=8, widths=(8, 16, 16, 24), depths=(1, 1, 1, 1), neck=16).eval()
    x = torch.rand(2, 3, *size) * 2 - 1
    with torch.inference_mode():
        maps = net(x)
        fused = FaceDetectorNet(**net.config)
        fused.load_state_dict(net.state_dict())
        fused_maps = fused.fuse_batchnorm()(x)
    assert maps.shape == (2, HEAD_CHANNELS, size[0] // 4, size[1] // 4)
    torch.testing.assert_close(fused_maps, maps, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def random_detector_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = FaceDetectorNet(stem=8, widths=(8, 16, 16, 24), depths=(1, 1, 1, 1), neck=16).eval()
    path = tmp_path_factory.mktemp("detector") / "detector.pt"
    save_checkpoint(path, net, {"torch_version": str(torch.__version__), "score_threshold": 0.3})
    return path


def test_learned_detector_runs_on_any_size_and_batches(random_detector_checkpoint: Path) -> None:
    detector = LearnedFaceDetector(random_detector_checkpoint, "cpu")
    assert detector.score_threshold == 0.3  # taken from the checkpoint's metadata
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=shape, dtype=np.uint8) for shape in ((960, 1280, 3), (100, 70, 3))]
    batched = detector.detect_batch(images)
    assert len(batched) == 2
    for image, faces in zip(images, batched):
        assert [f.as_dict() for f in faces] == [f.as_dict() for f in detector.detect(image)]
        for face in faces:
            assert isinstance(face, Face) and face.source == "learned" and face.landmarks.shape == (5, 2)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detector.detect(np.zeros((10, 10), np.uint8))


def test_merge_mirrored_averages_face_scores_cell_for_cell() -> None:
    maps = _maps_with_faces([(10, 8, 0.25, 0.5, 64.0)], rows=16, cols=24)
    mirrored = _maps_with_faces([(24 - 1 - 10, 8, 0.0, 0.0, 32.0)], rows=16, cols=24)  # the same face, mirrored
    mirrored[0, 0, 8, 24 - 1 - 10] = 1.0
    merged = merge_mirrored(maps, mirrored)
    assert float(merged[0, 0, 8, 10]) == pytest.approx((3.0 + 1.0) / 2)
    torch.testing.assert_close(merged[:, 1:], maps[:, 1:])  # boxes and landmarks: the unmirrored pass's
    found = decode_maps(merged, stride=4, score_threshold=0.5)[0]
    np.testing.assert_allclose(found.boxes, decode_maps(maps, stride=4, score_threshold=0.5)[0].boxes)


# --------------------------------------------------------------------------------------------- trained weights
@pytest.fixture(scope="module")
def trained_detector() -> LearnedFaceDetector:
    if not SHIPPED_WEIGHTS.is_file():
        pytest.skip(f"{SHIPPED_WEIGHTS} not trained yet (python -m training.train_detector --export it)")
    torch.set_num_threads(2)
    return LearnedFaceDetector(SHIPPED_WEIGHTS, "cpu")


def test_trained_detector_finds_the_astronaut(trained_detector: LearnedFaceDetector) -> None:
    from skimage import data as skdata

    image = np.ascontiguousarray(skdata.astronaut())
    faces = trained_detector.detect(image)
    assert len(faces) == 1, [f.as_dict() for f in faces]
    x, y, w, h = faces[0].box
    # Eileen Collins' face: eyes near (190, 105) and (235, 100), mouth near y 150 in the 512 px photo.
    assert 150 < x + w / 2 < 260 and 90 < y + h / 2 < 170 and 60 < w < 170, faces[0].as_dict()


def test_trained_detector_finds_a_masked_face_in_a_photo(trained_detector: LearnedFaceDetector) -> None:
    from skimage import data as skdata

    image = np.ascontiguousarray(skdata.astronaut())
    masked = image.copy()
    # A flat light-blue surgical-style mask over nose and mouth.
    cv2.fillPoly(masked, [np.array([[170, 120], [255, 115], [250, 175], [215, 195], [175, 175]], np.int32)],
                 (150, 190, 215), cv2.LINE_AA)
    faces = trained_detector.detect(masked)
    assert len(faces) >= 1
    assert iou_matrix([faces[0].box], [trained_detector.detect(image)[0].box])[0, 0] > 0.5


def test_trained_detector_finds_a_tight_face_crop_as_one_face(
    trained_detector: LearnedFaceDetector, face_paths: list[Path]
) -> None:
    for path in face_paths:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = trained_detector.detect(image)
        assert len(faces) == 1, (path.name, [f.as_dict() for f in faces])
        assert faces[0].area > 0.3 * image.shape[0] * image.shape[1], (path.name, faces[0].as_dict())


def test_mirror_pass_scores_a_photo_and_its_mirror_image_alike() -> None:
    """With the mirror pass, a photo and its mirror image get the same face scores (a 256 px square photo is
    neither resized nor padded, so both views see the same pixels)."""
    from skimage import data as skdata

    if not SHIPPED_WEIGHTS.is_file():
        pytest.skip(f"{SHIPPED_WEIGHTS} not trained yet")
    image = cv2.resize(skdata.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    detector = LearnedFaceDetector(SHIPPED_WEIGHTS, "cpu", score_threshold=0.05)
    direct = detector.detect(image)[:3]  # lower down, the views' slightly different boxes suppress differently
    mirrored = detector.detect(np.ascontiguousarray(image[:, ::-1]))[:3]
    assert len(direct) == 3 and direct[0].score > 0.5
    np.testing.assert_allclose([f.score for f in direct], [f.score for f in mirrored], atol=1e-3)
    x, y, w, h = mirrored[0].box
    assert iou_matrix([direct[0].box], [(256 - x - w, y, w, h)])[0, 0] > 0.8
    single = LearnedFaceDetector(SHIPPED_WEIGHTS, "cpu", score_threshold=0.05, mirror_pass=False).detect(image)
    assert abs(single[0].score - direct[0].score) > 1e-3  # the mirror pass did change the scores
