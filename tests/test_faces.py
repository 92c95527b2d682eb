"""Face detection (Haar), choosing a detector by name, faces from boxes, the whole-image fallback and aligned crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio.alignment import CANONICAL_LANDMARKS
from facestudio.faces import (
    DETECTOR_CHOICES,
    Face,
    FaceDetector,
    HaarFaceDetector,
    box_iou,
    build_face_detector,
    detector_name,
    face_crop,
    landmarks_from_box,
    whole_image_face,
)
from facestudio.imageio import read_image


@pytest.fixture(scope="module")
def haar() -> HaarFaceDetector:
    return HaarFaceDetector()


def test_haar_is_a_face_detector(haar: HaarFaceDetector) -> None:
    assert isinstance(haar, FaceDetector)


def test_haar_finds_the_face_in_real_utk_photos(haar: HaarFaceDetector, face_paths: list[Path]) -> None:
    for path in face_paths[:3]:
        image = read_image(path)
        faces = haar.detect(image)
        assert len(faces) == 1, path.name
        face = faces[0]
        x, y, width, height = face.box
        assert face.source == "haar" and face.score > 0
        assert 0.5 * image.shape[1] < width < 1.2 * image.shape[1], path.name
        centre = np.array([x + width / 2, y + height / 2])
        assert np.linalg.norm(centre - np.array(image.shape[1::-1]) / 2) < 0.2 * image.shape[1]
        eyes, mouth = face.landmarks[:2], face.landmarks[3:]
        assert eyes[:, 1].max() < face.landmarks[2, 1] < mouth[:, 1].min()


def test_haar_finds_a_face_in_a_larger_photo_at_its_place(haar: HaarFaceDetector, face_paths: list[Path]) -> None:
    face = read_image(face_paths[0])
    canvas = np.full((900, 1400, 3), 90, np.uint8)
    canvas[500:700, 900:1100] = face
    faces = haar.detect(canvas)
    assert len(faces) == 1
    x, y, width, height = faces[0].box
    assert 880 < x + width / 2 - 100 < 920 and 480 < y + height / 2 - 100 < 520


def test_haar_finds_nothing_where_there_is_no_face(haar: HaarFaceDetector) -> None:
    from skimage import data

    assert haar.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    assert haar.detect(np.ascontiguousarray(data.coffee())) == []
    assert haar.detect(np.ascontiguousarray(data.chelsea())) == []  # a cat


def test_landmarks_from_box_use_the_box_relative_points() -> None:
    points = landmarks_from_box((10, 20, 100, 200))
    assert points.dtype == np.float32 and points.shape == (5, 2)
    assert np.allclose(points[0], [10 + 26.0, 20 + 64.4])


def test_whole_image_face_is_the_photo_as_an_aligned_crop(face_paths: list[Path]) -> None:
    photo = read_image(face_paths[0])  # 200 x 200, already in the canonical geometry
    face = whole_image_face(photo)
    assert face.box == (0, 0, 200, 200) and face.source == "whole-image"
    assert np.allclose(face.landmarks, CANONICAL_LANDMARKS * 200)
    crop = face_crop(photo, face, 128)
    assert crop.image.shape == (128, 128, 3)
    resized = cv2.resize(photo, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.image.astype(int) - resized).mean() < 4


def test_whole_image_face_of_a_wide_photo_is_a_centred_square() -> None:
    face = whole_image_face(np.zeros((100, 300, 3), np.uint8))
    assert face.box == (0, -100, 300, 300)


def test_face_crop_puts_the_landmarks_on_the_canonical_points(face_paths: list[Path]) -> None:
    photo = read_image(face_paths[3])
    face = Face(box=(5, 5, 60, 60), landmarks=landmarks_from_box((5, 5, 60, 60)), score=1.0, source="test")
    crop = face_crop(photo, face, 128)
    mapped = face.landmarks @ crop.matrix[:, :2].T + crop.matrix[:, 2]
    assert np.abs(mapped - CANONICAL_LANDMARKS * 128).max() < 2.5
    assert crop.size == 128 and crop.image.dtype == np.uint8


def test_face_normalises_its_fields_and_serialises() -> None:
    face = Face(box=(1.0, 2.4, 3, 4), landmarks=np.zeros(10), score=np.float64(0.5), source="x")
    assert face.box == (1, 2, 3, 4) and face.landmarks.shape == (5, 2) and isinstance(face.score, float)
    assert face.area == 12
    assert face.as_dict()["box"] == [1, 2, 3, 4]


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_a_face_from_a_box_alone_gets_landmarks_from_the_box(face_paths: list[Path]) -> None:
    face = Face(box=(12.4, 20, 150, 150))
    assert face.box == (12, 20, 150, 150) and face.score == 1.0 and face.source == "box"
    np.testing.assert_allclose(face.landmarks, landmarks_from_box((12, 20, 150, 150)))
    # ... which is what Haar gives its faces: on a real photo both crop the face the same way
    photo = read_image(face_paths[0])
    found = HaarFaceDetector().detect(photo)[0]
    assert np.array_equal(face_crop(photo, Face(box=found.box), 128).image, face_crop(photo, found, 128).image)
    for box in ((0, 0, 0, 10), (0, 0, 10, -1)):
        with pytest.raises(ValueError, match="positive size"):
            Face(box=box)


def test_detector_choice_by_name(tmp_path: Path) -> None:
    assert DETECTOR_CHOICES == ("auto", "learned", "haar")
    assert detector_name("auto", tmp_path) == "haar" and detector_name("learned", tmp_path) == "learned"
    assert isinstance(build_face_detector("auto", tmp_path), HaarFaceDetector)
    assert isinstance(build_face_detector("haar", tmp_path), HaarFaceDetector)
    (tmp_path / "detector.pt").write_bytes(b"not a checkpoint")
    assert detector_name("auto", tmp_path) == "learned" and detector_name("haar", tmp_path) == "haar"
    with pytest.raises(ValueError, match="unknown face detector 'hog'"):
        detector_name("hog", tmp_path)


def test_a_bad_learned_detector_file_is_a_one_line_checkpoint_error(tmp_path: Path) -> None:
    from facestudio.models.checkpoint import CheckpointError

    (tmp_path / "detector.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'detector.pt'}: not a FaceStudio checkpoint") as raised:
        build_face_detector("auto", tmp_path)
    assert "\n" not in str(raised.value)
