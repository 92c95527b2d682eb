"""Reference photos through the public API: prepared once, matched to faces, guiding the fill."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facestudio import load_pipeline
from facestudio.api import Pipeline
from facestudio.imageio import read_image
from facestudio.models import InpaintGenerator
from facestudio.references import NoReferenceFaceError, ReferencePhoto, cosine_distance, match_references


@pytest.fixture(scope="module")
def pipeline(random_weights_dir: Path) -> Pipeline:
    return load_pipeline(device="cpu", weights_dir=random_weights_dir, detector="haar")


@pytest.fixture(scope="module")
def faces(face_paths: list[Path]) -> list[np.ndarray]:
    return [read_image(path) for path in face_paths[:3]]


def eye_mask(image: np.ndarray) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    height, width = mask.shape
    mask[int(0.35 * height):int(0.55 * height), int(0.2 * width):int(0.8 * width)] = 255
    return mask


def test_a_plain_checkpoint_loads_into_a_reference_generator_unchanged() -> None:
    torch.manual_seed(0)
    plain = InpaintGenerator(base_channels=8, bottleneck_channels=16, dilations=(2, 1)).eval()
    widened = InpaintGenerator(base_channels=8, bottleneck_channels=16, dilations=(2, 1), reference=True).eval()
    widened.load_state_dict(plain.state_dict())
    image, identity = torch.rand(2, 3, 64, 64) * 2 - 1, torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    mask = (torch.rand(2, 1, 64, 64) > 0.6).float()
    with torch.no_grad():
        expected = plain(image, mask, identity)
        assert torch.equal(widened(image, mask, identity), expected)
        assert torch.equal(widened(image, mask, identity, torch.rand(2, 3, 64, 64)), expected)  # zero weights
        widened.enc0.conv.weight[:, 5:] = 1.0
        guided = widened(image, mask, identity, torch.rand(2, 3, 64, 64) * 2 - 1)
        assert not torch.allclose(guided, expected)
        # an all-zero reference means "none": the generator computes what it does without one
        assert torch.equal(widened(image, mask, identity, torch.zeros(2, 3, 64, 64)), widened(image, mask, identity))
    with pytest.raises(ValueError, match="without a reference input"):
        plain(image, mask, identity, torch.rand(2, 3, 64, 64))


def test_reference_is_prepared_once_with_a_unit_vector_and_crops(pipeline: Pipeline, faces: list[np.ndarray]) -> None:
    reference = pipeline.reference(faces[1], name="other.jpg")
    assert isinstance(reference, ReferencePhoto) and reference.name == "other.jpg"
    assert reference.vector.dtype == np.float32 and np.linalg.norm(reference.vector) == pytest.approx(1.0, abs=1e-5)
    crop = reference.crop(128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8 and reference.crop(128) is crop
    assert cosine_distance(reference.vector, reference.vector) == pytest.approx(0.0, abs=1e-6)


def test_a_reference_without_a_face_is_refused_naming_it(pipeline: Pipeline) -> None:
    gradient = np.tile(np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None], (120, 1, 3))
    with pytest.raises(NoReferenceFaceError, match="wall.jpg: no face found in the reference photo"):
        pipeline.reference(gradient, name="wall.jpg")


def test_reference_guides_the_fill_and_only_the_hole_changes(reference_weights_dir: Path,
                                                             faces: list[np.ndarray]) -> None:
    pipeline = load_pipeline(device="cpu", weights_dir=reference_weights_dir, detector="haar")
    image, mask = faces[0], eye_mask(faces[0])
    plain = pipeline.inpaint(image, mask)
    reference = pipeline.reference(faces[1])
    guided = pipeline.inpaint(image, mask, reference=reference)
    hole = mask > 0
    assert np.array_equal(guided[~hole], image[~hole])
    assert not np.array_equal(guided[hole], plain[hole])
    assert np.array_equal(pipeline.inpaint(image, mask, reference=faces[1]), guided)  # an image works the same
    result = pipeline.auto_fix(image, reference=reference)
    assert result.metrics["references"] == ["reference"] * len(result.faces)
    assert pipeline.auto_fix(image).metrics["references"] == [None] * len(result.faces)


def test_one_reference_per_face_or_a_clear_error(pipeline: Pipeline, faces: list[np.ndarray]) -> None:
    image, mask = faces[0], eye_mask(faces[0])
    found = pipeline.detect(image)
    reference = pipeline.reference(faces[1])
    with pytest.raises(ValueError, match="2 references for 1 faces"):
        pipeline.inpaint(image, mask, faces=found[:1], reference=[reference, reference])
    none_for_the_face = pipeline.inpaint(image, mask, faces=found[:1], reference=[None])
    assert np.array_equal(none_for_the_face, pipeline.inpaint(image, mask, faces=found[:1]))


def test_a_reference_generator_sees_the_reference_crop(reference_weights_dir: Path, faces: list[np.ndarray]) -> None:
    pipeline = load_pipeline(device="cpu", weights_dir=reference_weights_dir, detector="haar")
    assert pipeline.model("generator").uses_reference
    image, mask = faces[0], eye_mask(faces[0])
    reference = pipeline.reference(faces[1])
    # the same identity vector, other pixels: only the generator's reference input differs
    repainted = ReferencePhoto(image=faces[1][:, ::-1].copy(), face=reference.face, vector=reference.vector)
    first = pipeline.inpaint(image, mask, reference=reference)
    second = pipeline.inpaint(image, mask, reference=repainted)
    hole = mask > 0
    assert np.array_equal(first[~hole], image[~hole]) and not np.array_equal(first[hole], second[hole])
    assert np.array_equal(pipeline.inpaint(image, mask, reference=reference), first)


def test_match_references_takes_the_closest_person_under_the_threshold() -> None:
    rng = np.random.default_rng(0)

    def unit(v: np.ndarray) -> np.ndarray:
        return (v / np.linalg.norm(v)).astype(np.float32)

    anna, ben = unit(rng.normal(size=128)), unit(rng.normal(size=128))
    image = np.zeros((8, 8, 3), np.uint8)
    from facestudio.face import Face

    face = Face(box=(0, 0, 8, 8))
    references = [ReferencePhoto(image, face, anna, "anna.jpg"), ReferencePhoto(image, face, ben, "ben.jpg")]
    near_ben = unit(ben + 0.2 * unit(rng.normal(size=128)))
    stranger = unit(rng.normal(size=128))
    matched = match_references(np.stack([near_ben, anna, stranger]), references, threshold=0.239)
    assert [m.name if m else None for m in matched] == ["ben.jpg", "anna.jpg", None]
    assert match_references(np.stack([anna]), []) == [None]


def test_reference_detail_sharpens_the_hole_with_the_reference_s_own_detail(faces: list[np.ndarray]) -> None:
    from facestudio.face import Face
    from facestudio.reference_transfer import add_reference_detail, reference_warp

    truth = faces[0][:128, :128].copy() if faces[0].shape[0] >= 128 else faces[0]
    truth = np.ascontiguousarray(truth[:128, :128])
    side = truth.shape[0]
    landmarks = np.array([[0.3, 0.3], [0.7, 0.3], [0.5, 0.5], [0.32, 0.69], [0.68, 0.69]], np.float32) * side
    face = Face(box=(0, 0, side, side), landmarks=landmarks)
    # the same face as its own reference: the affine is the identity
    assert np.allclose(reference_warp(face, face, side), [[1, 0, 0], [0, 1, 0]], atol=1e-3)
    hole = np.zeros((side, side), np.uint8)
    hole[side // 3: side // 2, side // 5: 4 * side // 5] = 255
    blurred = cv2.GaussianBlur(truth, (0, 0), 4.0).astype(np.float32)  # a soft fill, as the generator's
    sharpened = add_reference_detail(blurred, truth, hole, truth, face, face)
    inside = hole > 0

    def energy(image: np.ndarray) -> float:
        grey = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[inside].mean())

    assert energy(sharpened) > 1.5 * energy(blurred)
    assert np.abs(sharpened - truth)[inside].mean() < np.abs(blurred - truth)[inside].mean()  # closer to the truth
    assert add_reference_detail(blurred, truth, np.zeros_like(hole), truth, face, face) is blurred
    # where the reference's own face is covered (its glasses), the fill keeps its own detail
    covered = np.zeros((side, side), bool)
    covered[:, : side // 2] = True
    guarded = add_reference_detail(blurred, truth, hole, truth, face, face, reference_occluded=covered)
    far = inside.copy()
    far[:, : side // 2 + side // 8] = False  # the reference's detail, away from the covered part's feathered edge
    kept = inside.copy()
    kept[:, side // 2 - side // 8:] = False  # the covered part, away from its edge
    assert np.abs(guarded - blurred)[kept].max() < 1.0
    assert np.allclose(guarded[far], sharpened[far], atol=1e-3)


def test_a_gallery_gives_each_face_its_own_person_s_reference(faces: list[np.ndarray]) -> None:
    from facestudio.references import ReferenceGallery

    pipeline = load_pipeline(device="cpu", detector="haar")  # the shipped encoder: people apart for real
    image = faces[0]
    own = pipeline.reference(image[:, ::-1].copy(), name="own.jpg")  # the same person, mirrored
    gallery = ReferenceGallery([pipeline.reference(faces[1], name="other.jpg"), own])
    result = pipeline.auto_fix(image, reference=gallery)
    assert result.metrics["references"] == ["own.jpg"] * len(result.faces)
    nobody = ReferenceGallery([pipeline.reference(faces[1], name="other.jpg")], threshold=-1.0)
    assert pipeline.auto_fix(image, reference=nobody).metrics["references"] == [None] * len(result.faces)


def test_a_reference_wearing_sunglasses_knows_its_eyes_are_covered(faces: list[np.ndarray]) -> None:
    """The shipped segmenter marks the reference's own occluder, so the fill does not copy it."""
    from facestudio.faces import face_crop

    pipeline = load_pipeline(device="cpu", detector="haar")
    clean = faces[0]
    covered, drawn = clean.copy(), np.zeros_like(clean)
    width = covered.shape[1]
    face = pipeline.detect(clean)[0]
    for x, y in face.landmarks[:2]:  # dark lenses over the eyes, where the face's landmarks put them
        for image, colour in ((covered, (15, 15, 20)), (drawn, (255, 255, 255))):
            cv2.ellipse(image, (int(x), int(y)), (int(0.13 * width), int(0.07 * width)), 0, 0, 360, colour, -1)
    lenses = face_crop(drawn, face, 128).image[..., 0] > 128  # where they are in the reference's crop
    without = pipeline.reference(clean, face=face).occlusion(128)
    with_glasses = pipeline.reference(covered, face=face).occlusion(128)
    assert with_glasses.shape == (128, 128) and with_glasses.dtype == bool
    assert with_glasses[lenses].mean() > 0.8 and without[lenses].mean() < 0.2
    assert pipeline.reference(covered, face=face).eyes_covered and not pipeline.reference(clean, face=face).eyes_covered
