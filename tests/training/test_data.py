"""The training data cache (training.prepare_data) and the datasets over it (training.data)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from training import prepare_data
from training.prepare_data import (
    CANONICAL_LANDMARKS,
    apply_affine,
    five_points,
    rescale_mask_config,
    similarity_transform,
    split_of,
    utk_labels,
)

DATA = Path(os.environ.get("FACESTUDIO_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
needs_data = pytest.mark.skipif(not (DATA / "faces" / "utk").is_dir(), reason=f"shared face data not found at {DATA}")


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 real faces (6 train, 2 val, 2 test per source) through the real pipeline, built once per session."""
    if not (DATA / "faces" / "utk").is_dir():
        pytest.skip(f"shared face data not found at {DATA}")
    return prepare_data.build_small_cache(DATA, tmp_path_factory.getbasetemp() / "small_cache")


# ----------------------------------------------------------------------------- prepare_data helpers


def test_split_is_deterministic_and_80_10_10() -> None:
    names = [f"{age}_{g}_{r}_2017010{i:08d}" for i in range(2000) for age, g, r in [(i % 90, i % 2, i % 5)]]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    shares = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["val"] - 0.1) < 0.02 and abs(shares["test"] - 0.1) < 0.02


def test_utk_labels_from_file_names() -> None:
    assert utk_labels("26_1_2_20170116174525125") == (26, 1, 2)
    assert utk_labels("61_1_20170109150557335") == (61, -1, -1)  # a known malformed UTK name
    assert utk_labels("x_y_z_w") == (-1, -1, -1)


def test_similarity_transform_recovers_a_known_warp() -> None:
    angle, scale, shift = np.deg2rad(17.0), 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.random.default_rng(0).uniform(0, 200, size=(5, 2))
    target = source @ rotation.T + shift
    matrix = similarity_transform(source, target)
    np.testing.assert_allclose(apply_affine(matrix, source), target, atol=1e-9)


def test_mask_config_anchors_follow_the_template_scale() -> None:
    text = "[surgical]\ntemplate: masks/templates/surgical.png\nmask_a: 21, 97\nmask_f: 600, 323\n\n[empty]\n"
    scaled = rescale_mask_config(text, {"masktheface/templates/surgical.png": 0.5})
    assert "mask_a: 10, 48" in scaled or "mask_a: 11, 48" in scaled
    assert "mask_f: 300, 162" in scaled
    assert "[empty]" in scaled and "template: masks/templates/surgical.png" in scaled


def test_occluder_copy_is_downsized_with_consistent_anchors(tmp_path: Path) -> None:
    shared = DATA / "occluders" / "masktheface"
    if not shared.is_dir():
        pytest.skip(f"occluder data not found at {shared}")
    source = tmp_path / "source"  # one big template and the real masks.cfg keep this quick
    (source / "masktheface" / "templates").mkdir(parents=True)
    (source / "masktheface" / "templates" / "gas.png").write_bytes((shared / "templates" / "gas.png").read_bytes())
    gas_section = (shared / "masks.cfg").read_text().split("[gas]")[1].split("[")[0]
    (source / "masktheface" / "masks.cfg").write_text("[gas]" + gas_section)
    scales = prepare_data.copy_occluders(source, tmp_path / "occluders", max_side=256)
    gas = cv2.imread(str(tmp_path / "occluders/masktheface/templates/gas.png"), cv2.IMREAD_UNCHANGED)
    assert max(gas.shape[:2]) == 256 and gas.shape[2] == 4
    copied = (tmp_path / "occluders/masktheface/masks.cfg").read_text()
    factor = scales["masktheface/templates/gas.png"]
    assert f"mask_e: {round(869 * factor)}, {round(1100 * factor)}" in copied


# ----------------------------------------------------------------------------- the cache itself


@needs_data
def test_cache_holds_aligned_faces_with_landmarks_and_descriptors(small_cache: Path) -> None:
    with np.load(small_cache / "meta.npz") as meta:
        names, sources, splits = meta["names"], meta["source"], meta["split"]
        landmarks, descriptors = meta["landmarks68"].astype(np.float32), meta["descriptor"].astype(np.float32)
        ages, genders = meta["age"], meta["gender"]
        assert int(meta["crop_size"]) == 128
    assert len(names) == 20 and landmarks.shape == (20, 68, 2) and descriptors.shape == (20, 128)
    assert {str(s) for s in splits} == {"train", "val", "test"}
    # the crops are in the canonical geometry: the five points sit where ARCHITECTURE.md puts them
    errors = [np.linalg.norm(five_points(l) - CANONICAL_LANDMARKS * 128, axis=1).mean() for l in landmarks]
    assert np.median(errors) < 3.0
    assert np.isfinite(descriptors).all() and (np.linalg.norm(descriptors, axis=1) > 0.5).all()
    utk = sources == "utk"
    assert (ages[utk] >= 0).all() and (ages[~utk] == -1).all() and set(genders[utk]) <= {0, 1}
    for source, name in zip(sources, names):
        image = cv2.imread(str(small_cache / "faces" / source / f"{name}.jpg"))
        assert image is not None and image.shape == (128, 128, 3)


@needs_data
def test_cached_descriptor_belongs_to_the_cached_face(small_cache: Path) -> None:
    """dlib on the aligned crop finds the same person as the stored descriptor (distance < 0.6),
    and a different person farther away: the crop, its landmarks and its descriptor agree."""
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    recognizer = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    with np.load(small_cache / "meta.npz") as meta:
        rows = np.flatnonzero(meta["source"] == "utk")[:3]
        names, descriptors = meta["names"][rows], meta["descriptor"][rows].astype(np.float32)
    for i, name in enumerate(names):
        crop = cv2.cvtColor(cv2.imread(str(small_cache / "faces" / "utk" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
        shape = predictor(crop, dlib.rectangle(16, 16, 112, 118))
        again = np.array(recognizer.compute_face_descriptor(crop, shape))
        distances = np.linalg.norm(descriptors - again, axis=1)
        assert distances[i] < 0.6
        assert distances[i] == distances.min()


@needs_data
def test_cache_extends_without_redoing_faces(tmp_path: Path) -> None:
    faces = prepare_data.list_faces(DATA, ("utk",), 3)
    prepare_data.build_faces(faces[:2], tmp_path, workers=1, quality=80)
    first = tmp_path / "faces" / "utk" / f"{faces[0][1].stem}.jpg"
    written = first.stat().st_mtime_ns
    meta = prepare_data.build_faces(faces, tmp_path, workers=1)
    assert meta["names"].tolist() == [p.stem for _, p in faces] and int(meta["jpeg_quality"]) == 80
    assert first.stat().st_mtime_ns == written  # kept, not recomputed
    assert not (tmp_path / ".parts").exists()


# ----------------------------------------------------------------------------- datasets


@needs_data
def test_occluded_faces_give_consistent_uint8_samples(small_cache: Path) -> None:
    from training.data import FaceCache, OccludedFaces

    dataset = OccludedFaces(FaceCache(small_cache), "train", seed=1)
    for item in range(len(dataset)):
        sample = dataset[item]
        assert sample["occluded"].shape == sample["clean"].shape == (3, 128, 128)
        assert sample["occluded"].dtype == torch.uint8 and sample["mask"].shape == (1, 128, 128)
        assert set(sample["mask"].unique().tolist()) <= {0, 1}
        assert 0 < sample["mask"].float().mean() < 0.9, sample["kind"]
        assert abs(float(sample["descriptor"].norm()) - 1.0) < 1e-4
        # the occluder changed the image where the mask is (blur/pixelation patches may change less)
        changed = (sample["occluded"].int() - sample["clean"].int()).abs().sum(0) > 0
        inside = changed[sample["mask"][0] > 0].float().mean()
        assert inside > 0.3, sample["kind"]


@needs_data
def test_photo_compression_leaves_jpeg_artefacts_on_the_occluder_too(small_cache: Path) -> None:
    """The occluded view is re-encoded as a whole, so the pasted occluder is no longer the only region
    without JPEG artefacts; the occlusion itself (mask, kind) is the same draw as without compression."""
    from training.data import FaceCache, OccludedFaces, PhotoCompression

    cache = FaceCache(small_cache)
    assert PhotoCompression.from_config({"probability": 0.0}) is None and PhotoCompression.from_config(None) is None
    compression = PhotoCompression.from_config({"probability": 1.0, "quality": [30, 30]})
    plain = OccludedFaces(cache, "val", jitter=None, deterministic=True, seed=5)
    damaged = OccludedFaces(cache, "val", jitter=None, deterministic=True, seed=5, compression=compression)
    for item in range(min(4, len(plain))):
        before, after = plain[item], damaged[item]
        assert torch.equal(before["mask"], after["mask"]) and before["kind"] == after["kind"]
        assert after["occluded"].dtype == torch.uint8 and after["occluded"].shape == before["occluded"].shape
        difference = (after["occluded"].int() - before["occluded"].int()).abs().float()
        inside = difference[:, before["mask"][0] > 0]
        assert 0.3 < float(difference.mean()) < 12.0 and float(inside.mean()) > 0.3
        assert torch.equal(damaged[item]["occluded"], after["occluded"])  # validation stays deterministic


def test_small_photo_compression_blurs_like_a_small_face_scaled_up() -> None:
    """With small_probability the face goes through a 28-40 px photo: same size back, most of its fine
    detail gone (a real 40 px face upsampled to the crop), colours kept."""
    from training.data import PhotoCompression

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)  # a photo's detail, not pure noise
    small = PhotoCompression.from_config({"probability": 0.0, "small_probability": 1.0, "small_side": [28, 40]})
    assert small is not None
    out = small(image, np.random.default_rng(1))
    assert out.shape == image.shape and out.dtype == np.uint8

    def detail(picture: np.ndarray) -> float:
        return float(np.abs(cv2.Laplacian(picture.astype(np.float32), cv2.CV_32F)).mean())

    assert detail(out) < 0.5 * detail(image)
    assert abs(float(out.mean()) - float(image.mean())) < 2.0
    untouched = PhotoCompression(probability=0.0, small_probability=0.0)
    assert untouched(image, np.random.default_rng(1)) is image


@needs_data
def test_validation_samples_repeat_and_training_samples_do_not(small_cache: Path) -> None:
    from training.data import FaceCache, OccludedFaces

    cache = FaceCache(small_cache)
    val = OccludedFaces(cache, "val", jitter=None, deterministic=True, seed=3)
    first, again = val[0], val[0]
    assert torch.equal(first["occluded"], again["occluded"]) and first["kind"] == again["kind"]
    train = OccludedFaces(cache, "train", seed=3)
    draws = [train[0]["mask"] for _ in range(4)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])


@needs_data
def test_test_split_uses_only_held_out_occluders(small_cache: Path) -> None:
    from training.data import FaceCache, OccludedFaces
    from training.occlusion import TRAIN_KINDS

    test = OccludedFaces(FaceCache(small_cache), "test", deterministic=True)
    assert test.assets.split == "test"
    kinds = {test[i]["kind"] for i in range(len(test))}
    assert kinds and set(test.kinds).isdisjoint(set(TRAIN_KINDS) - {"mask_template", "mask_textured"})


@needs_data
def test_jitter_moves_landmarks_with_the_image(small_cache: Path) -> None:
    from training.data import Jitter, warp_face

    image = np.zeros((128, 128, 3), np.uint8)
    landmarks = np.array([[40.0, 50.0], [90.0, 70.0]], np.float32)
    for x, y in landmarks.astype(int):
        image[y - 1:y + 2, x - 1:x + 2] = 255
    matrix = Jitter(rotation=10, scale=(0.9, 1.1), shift=0.06).matrix(np.random.default_rng(5), 128)
    warped, moved = warp_face(image, landmarks, matrix)
    for x, y in moved:
        assert warped[int(round(y)), int(round(x))].max() > 100


@needs_data
def test_inpainting_holes_mix_occluders_and_free_form_in_the_area_range(small_cache: Path) -> None:
    from training.data import FREE_FORM, FaceCache, InpaintingFaces

    dataset = InpaintingFaces(FaceCache(small_cache), "train", deterministic=True, area_range=(0.05, 0.45))
    samples = [dataset[i % len(dataset)] for i in range(24)]
    free = [s for s in samples if s["kind"] == FREE_FORM]
    assert 4 <= len(free) <= 20
    for sample in free:
        assert 0.04 <= sample["mask"].float().mean() <= 0.46
        kept = sample["mask"][0] == 0
        assert torch.equal(sample["occluded"][:, kept], sample["clean"][:, kept])


def test_batch_augment_applies_one_flip_and_colour_to_all_keys() -> None:
    from training.data import BatchAugment

    generator = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 256, (4, 3, 32, 32), generator=generator, dtype=torch.uint8)
    mask = torch.zeros(4, 1, 32, 32, dtype=torch.uint8)
    mask[:, :, :, :8] = 1  # the left quarter
    augment = BatchAugment({"flip_p": 1.0, "color_jitter_p": 1.0, "blur_p": 0.0, "grayscale_p": 0.0})
    out = augment({"occluded": clean.clone(), "clean": clean, "mask": mask})
    assert torch.equal(out["occluded"], out["clean"])  # same colour jitter on both images
    assert out["mask"][:, :, :, -8:].eq(1).all() and out["mask"][:, :, :, :-8].eq(0).all()
    assert not torch.allclose(out["clean"], clean.float().flip(-1))  # the colours did change
