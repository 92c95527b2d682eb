"""The tight-crop fallback of auto_fix (issue 13): a tight face crop the detector misses is still fixed, a scene
with no face still raises NoFaceError, and an EXIF-rotated, stretched face photo is found upright.

The rule's tests use the shipped detector (resources/weights/detector.pt): the fallback weighs its weak
candidates, which only trained weights have."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from facestudio.api import NoFaceError, load_pipeline
from facestudio.faces import (
    TIGHT_CROP_MAX_SIDE,
    Face,
    box_iou,
    find_faces,
    looks_like_tight_crop,
    tight_crop_face,
    whole_image_face,
)
from facestudio.imageio import read_image

WEIGHTS = Path(__file__).resolve().parents[1] / "resources" / "weights"


class WeakOnly:
    """A detector that detects nothing but reports the given weak candidates (the fallback's evidence)."""

    def __init__(self, weak: list[Face]) -> None:
        self.weak = weak

    def detect(self, image: np.ndarray) -> list[Face]:
        return []

    def weak_faces(self, image: np.ndarray) -> list[Face]:
        return [Face(box=face.box, landmarks=face.landmarks, score=face.score, source="learned") for face in self.weak]


@pytest.fixture(scope="module")
def detector_path() -> Path:
    path = WEIGHTS / "detector.pt"
    if not path.is_file():
        pytest.skip(f"{path} not trained yet")
    torch.set_num_threads(2)
    return path


def _frame_iou(face: Face, image: np.ndarray) -> float:
    return box_iou(face.box, (0, 0, image.shape[1], image.shape[0]))


# --------------------------------------------------------------------------------------------- the rule
def test_only_small_near_square_photos_look_like_tight_crops() -> None:
    for shape in ((200, 200), (26, 30), (300, 400), (400, 300), (563, 563), (TIGHT_CROP_MAX_SIDE, 420)):
        assert looks_like_tight_crop(shape), shape
    for shape in ((960, 1280), (480, 640), (200, 320), (100, 20), (0, 0), (700, 700)):
        assert not looks_like_tight_crop(shape), shape


def test_the_fallback_weighs_the_weak_candidates() -> None:
    photo = np.full((120, 100, 3), 128, np.uint8)
    covering = Face(box=(-10, -5, 120, 120), score=0.2)
    inner = Face(box=(30, 40, 30, 30), score=0.3)  # face-sized (30 >= 0.2 * 100), not covering the photo
    # A covering candidate is the face, with its own landmarks.
    found = tight_crop_face(photo, WeakOnly([inner, covering]))
    assert found.source == "learned-tight-crop" and found.box == covering.box
    np.testing.assert_allclose(found.landmarks, covering.landmarks)
    # Only a face-sized inner one: the whole photo is the face.
    found = tight_crop_face(photo, WeakOnly([inner]))
    assert found.source == "tight-crop" and found.box == whole_image_face(photo).box
    np.testing.assert_allclose(found.landmarks, whole_image_face(photo).landmarks)
    # No candidate, or only specks: no face.
    assert tight_crop_face(photo, WeakOnly([])) is None
    assert tight_crop_face(photo, WeakOnly([Face(box=(5, 5, 12, 12), score=0.4)])) is None
    # A scene is never taken for a crop, whatever the candidates; a detector without weak candidates (Haar) neither.
    scene = np.full((960, 1280, 3), 128, np.uint8)
    assert tight_crop_face(scene, WeakOnly([Face(box=(0, -160, 1280, 1280), score=0.4)])) is None
    assert find_faces(WeakOnly([]), photo) == []

    class Plain:
        def detect(self, image: np.ndarray) -> list[Face]:
            return []

    assert tight_crop_face(photo, Plain()) is None


# --------------------------------------------------------------------------------------------- real photos, real models
def test_auto_fix_takes_a_tight_crop_with_no_detection_as_the_face(detector_path: Path, face_paths: list[Path]) -> None:
    """With every detection refused (threshold 0.999), real tight crops are still fixed: their face is the
    detector's weak frame-covering candidate or the whole photo, never NoFaceError."""
    from facestudio.detection import LearnedFaceDetector

    strict = LearnedFaceDetector(detector_path, "cpu", score_threshold=0.999)
    pipeline = load_pipeline("cpu", WEIGHTS, detector=strict)
    for path in face_paths:
        image = read_image(path)
        assert strict.detect(image) == []
        result = pipeline.auto_fix(image, method="telea")
        assert len(result.faces) == 1 and result.faces[0].source.endswith("tight-crop"), path.name
        face = result.faces[0]
        if face.source == "tight-crop":
            assert face.box == whole_image_face(image).box
        else:
            assert _frame_iou(face, image) >= 0.3, (path.name, face.as_dict())
        assert result.image.shape == image.shape


def test_a_cut_tight_crop_without_a_covering_candidate_is_fixed_as_the_whole_photo(
    detector_path: Path, face_paths: list[Path]
) -> None:
    """The middle of a real UTK face (eyes to chin, cheek to cheek), 100 px: the shipped detector finds no face
    there and no candidate covering it, only face-sized parts; auto_fix takes the whole photo as the face."""
    from facestudio.detection import LearnedFaceDetector

    image = read_image(face_paths[0])
    height, width = image.shape[:2]
    crop = np.ascontiguousarray(image[int(0.3 * height):int(0.8 * height), int(0.25 * width):int(0.75 * width)])
    detector = LearnedFaceDetector(detector_path, "cpu")
    if detector.detect(crop):
        pytest.skip("this detector finds the face in the cut crop: the whole-photo case needs another photo")
    result = load_pipeline("cpu", WEIGHTS, detector=detector).auto_fix(crop, method="telea")
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.source == "tight-crop" or (face.source == "learned-tight-crop" and _frame_iou(face, crop) >= 0.3)
    if face.source == "tight-crop":
        assert face.box == whole_image_face(crop).box


@pytest.mark.parametrize("size", [(1280, 960), (640, 480)])
def test_a_scene_without_a_face_still_raises_no_face_error(detector_path: Path, size: tuple[int, int]) -> None:
    """Real photos with no human face as camera-sized scenes (the horse's frame-filling outline and the cat's face
    draw weak candidates from the shipped detector): no face, NoFaceError. A small flat photo neither gets one."""
    from skimage import data as skdata

    pipeline = load_pipeline("cpu", WEIGHTS, detector="learned")
    for name in ("horse", "chelsea", "brick"):
        image = np.asarray(getattr(skdata, name)())
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        scene = cv2.resize(np.ascontiguousarray(image[..., :3]), size, interpolation=cv2.INTER_AREA)
        with pytest.raises(NoFaceError):
            pipeline.auto_fix(scene, method="telea")
    flat = np.full((200, 200, 3), 140, np.uint8)
    with pytest.raises(NoFaceError):
        pipeline.auto_fix(flat, method="telea")


@pytest.mark.parametrize("orientation", [6, 8])
def test_an_exif_rotated_stretched_face_is_found_upright(
    detector_path: Path, face_paths: list[Path], tmp_path: Path, orientation: int
) -> None:
    """A 200 px UTK face stretched to 400x300 and stored turned by 90 degrees with an EXIF orientation tag (the
    user's report): read as the CLI reads it, auto_fix finds the face where the upright photo has it."""
    image = read_image(face_paths[1])
    pipeline = load_pipeline("cpu", WEIGHTS, detector="learned")
    upright = pipeline.detector.detect(image)
    assert len(upright) == 1
    stretched = cv2.resize(image, (400, 300), interpolation=cv2.INTER_LINEAR)
    stored = np.ascontiguousarray(np.rot90(stretched, 1 if orientation == 6 else -1))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "stretched.jpg"
    Image.fromarray(stored).save(path, quality=92, exif=exif.tobytes())

    photo = read_image(path)
    assert photo.shape == (300, 400, 3)
    result = pipeline.auto_fix(photo, method="telea")
    assert len(result.faces) == 1
    expected = (upright[0].landmarks + 0.5) * np.float32([2.0, 1.5]) - 0.5
    error = np.linalg.norm(result.faces[0].landmarks - expected, axis=1).mean() / (1.5 * upright[0].box[2])
    assert error < 0.15, (result.faces[0].as_dict(), expected.tolist())
