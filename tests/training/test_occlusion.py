"""Synthetic occlusions on real UTK faces (dlib landmarks) with the real occluder images."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.occlusion import (
    ASSET_KINDS,
    EVAL_KINDS,
    HELDOUT_KINDS,
    KINDS,
    SHADOW_REACH,
    TRAIN_KINDS,
    Occlusion,
    kinds_for,
    synthesize,
    synthesize_many,
)
from training.occluders.assets import HELDOUT_TEMPLATE_FAMILIES, OccluderAssets
from training.occluders.face import FaceGeometry

DATA = Path(os.environ.get("FACESTUDIO_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
needs_data = pytest.mark.skipif(
    not (DATA / "occluders").is_dir() or not (DATA / "faces" / "utk").is_dir(),
    reason=f"shared data not found at {DATA} (set FACESTUDIO_DATA)",
)


@pytest.fixture(scope="module")
def faces():
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    from training.contact_sheet import load_landmarked_faces

    found = load_landmarked_faces(DATA, count=4)
    assert len(found) == 4
    return found


@pytest.fixture(scope="module")
def train_assets() -> OccluderAssets:
    return OccluderAssets.load(DATA, "train")


@pytest.fixture(scope="module")
def test_assets() -> OccluderAssets:
    return OccluderAssets.load(DATA, "test")


def assets_for(kind: str, train_assets: OccluderAssets, test_assets: OccluderAssets) -> OccluderAssets:
    return test_assets if kind in HELDOUT_KINDS else train_assets


def test_kind_lists_partition_the_kinds() -> None:
    assert len(KINDS) >= 20 and len(set(KINDS)) == len(KINDS)
    assert set(TRAIN_KINDS) | set(HELDOUT_KINDS) == set(KINDS)
    assert not set(TRAIN_KINDS) & set(HELDOUT_KINDS)
    assert len(HELDOUT_KINDS) >= 3
    assert set(EVAL_KINDS) <= set(KINDS) and set(HELDOUT_KINDS) <= set(EVAL_KINDS)
    assert kinds_for(None) and not set(kinds_for(None)) & set(ASSET_KINDS + HELDOUT_KINDS)


@needs_data
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_occludes_plausibly_and_leaves_the_rest(kind: str, faces, train_assets, test_assets) -> None:
    assets = assets_for(kind, train_assets, test_assets)
    far_pixels = 0
    for index, face in enumerate(faces):
        rng = np.random.default_rng([index, KINDS.index(kind)])
        sample = synthesize(face.image, face.landmarks, rng, kind=kind, assets=assets)
        assert isinstance(sample, Occlusion) and sample.kind == kind
        assert sample.image.shape == face.image.shape and sample.image.dtype == np.uint8
        assert sample.mask.shape == face.image.shape[:2] and sample.mask.dtype == np.uint8
        assert set(np.unique(sample.mask)) <= {0, 255}
        area = np.count_nonzero(sample.mask) / sample.mask.size
        assert 0.001 < area < 0.95, f"{kind}: mask covers {area:.3f} of the image"
        hole = sample.mask > 0
        assert np.any(sample.image[hole] != face.image[hole]), f"{kind}: the occluder is invisible"
        far_pixels += assert_unchanged_far_from_occluder(sample, face.image, face.landmarks)
    assert far_pixels > 0, f"{kind}: no pixel far enough from the occluder to check"


SHADOWLESS_KINDS = {"balaclava"}


def assert_unchanged_far_from_occluder(sample: Occlusion, image: np.ndarray, landmarks: np.ndarray) -> int:
    """Beyond the shadow reach (plus anti-aliasing and edge blur) of the masked occluder, the
    image is untouched; returns how many pixels that checked.

    An occluder can run out of the frame: there its soft edge may show in the outer pixels
    without an opaque (masked) core, and its shadow falls inwards. So the outer 4 px are not
    checked, and changes there count as occluder for the distance.
    """
    unit = FaceGeometry.from_landmarks(landmarks, image.shape).unit
    # A balaclava casts no shadow and covers the whole head: what is left to check is its eye opening,
    # untouched beyond the cloth's soft edge.
    reach = (0.02 * unit + 3.0) if sample.kind in SHADOWLESS_KINDS else SHADOW_REACH * unit + 3.0
    border = np.ones(image.shape[:2], bool)
    border[4:-4, 4:-4] = False
    changed_at_border = border & np.any(sample.image != image, axis=2)
    occluder = (sample.mask > 0) | changed_at_border
    distance = cv2.distanceTransform(np.where(occluder, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    far = (distance > reach) & ~border
    message = f"{sample.kind}: pixels far from the occluder changed"
    np.testing.assert_array_equal(sample.image[far], image[far], err_msg=message)
    return int(far.sum())


@needs_data
def test_same_seed_same_sample_and_seeds_differ(faces, train_assets) -> None:
    face = faces[0]
    first = synthesize(face.image, face.landmarks, np.random.default_rng(7), assets=train_assets)
    again = synthesize(face.image, face.landmarks, np.random.default_rng(7), assets=train_assets)
    assert first.kind == again.kind
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.mask, again.mask)
    masks = {
        synthesize(face.image, face.landmarks, np.random.default_rng(seed), assets=train_assets).mask.tobytes()
        for seed in range(6)
    }
    assert len(masks) == 6
    for kind in ("hand_over_mouth", "mask_template", "text"):
        a = synthesize(face.image, face.landmarks, np.random.default_rng(3), kind=kind, assets=train_assets)
        b = synthesize(face.image, face.landmarks, np.random.default_rng(3), kind=kind, assets=train_assets)
        np.testing.assert_array_equal(a.image, b.image)


@needs_data
def test_random_kinds_come_from_the_split(faces, train_assets, test_assets) -> None:
    face = faces[1]
    rng = np.random.default_rng(0)
    drawn_train = {synthesize(face.image, face.landmarks, rng, assets=train_assets).kind for _ in range(80)}
    assert drawn_train <= set(TRAIN_KINDS) and len(drawn_train) >= 12
    drawn_test = {synthesize(face.image, face.landmarks, rng, assets=test_assets).kind for _ in range(30)}
    assert drawn_test <= set(EVAL_KINDS)
    pool = ("boxes", "text")
    assert {synthesize(face.image, face.landmarks, rng, kinds=pool).kind for _ in range(12)} == set(pool)


@needs_data
def test_any_image_size_and_face_position(faces, train_assets) -> None:
    face = faces[2]
    # The face at 1.6x, pasted off-centre into a larger, non-square photo.
    scale, offset = 1.6, np.array([150.0, 40.0])
    big_face = cv2.resize(face.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    photo = np.full((320, 400, 3), 90, np.uint8)
    photo[40 : 40 + big_face.shape[0], 150 : 150 + big_face.shape[1]] = big_face
    landmarks = (face.landmarks + 0.5) * scale - 0.5 + offset
    small = cv2.resize(face.image, (64, 64), interpolation=cv2.INTER_AREA)
    small_landmarks = (face.landmarks + 0.5) * (64 / face.image.shape[1]) - 0.5
    for kind in ("mask_template", "sunglasses", "hand_over_eyes", "scarf", "pixelation", "hair_strands"):
        sample = synthesize(photo, landmarks, np.random.default_rng(1), kind=kind, assets=train_assets)
        assert sample.image.shape == photo.shape and sample.mask.shape == photo.shape[:2]
        ys, xs = np.nonzero(sample.mask)
        assert xs.size and 100 < xs.mean() < 400 and ys.mean() < 320, f"{kind}: occluder away from the face"
        assert assert_unchanged_far_from_occluder(sample, photo, landmarks) > 0
        tiny = synthesize(small, small_landmarks, np.random.default_rng(1), kind=kind, assets=train_assets)
        assert tiny.image.shape == small.shape and np.count_nonzero(tiny.mask) > 0


@needs_data
def test_many_occluders_on_one_face(faces, train_assets) -> None:
    face = faces[3]
    sample = synthesize_many(face.image, face.landmarks, np.random.default_rng(5), count=3, assets=train_assets)
    names = sample.kind.split("+")
    assert len(names) == 3 and set(names) <= set(TRAIN_KINDS)
    single = synthesize(face.image, face.landmarks, np.random.default_rng(5), assets=train_assets)
    assert single.kind == names[0]
    assert np.all(sample.mask[single.mask > 0] == 255)  # the union holds the first occluder


@needs_data
def test_asset_split_keeps_test_occluders_unseen(train_assets, test_assets) -> None:
    train_names = {t.name for t in train_assets.templates}
    test_names = {t.name for t in test_assets.templates}
    assert not train_names & test_names
    assert {t.family for t in test_assets.templates} >= set(HELDOUT_TEMPLATE_FAMILIES)
    assert not {t.family for t in train_assets.templates} & set(HELDOUT_TEMPLATE_FAMILIES)
    assert len(train_names) >= 10 and len(test_names) >= 4
    assert not set(train_assets.texture_names) & set(test_assets.texture_names)
    assert len(test_assets.texture_names) >= 3 and len(train_assets.texture_names) >= 15
    for template in train_assets.templates + test_assets.templates:
        assert template.rgba.shape[2] == 4 and max(template.rgba.shape[:2]) <= 320
        assert template.anchors.shape == (6, 2)
        # anchors a, b, c are the top edge; e (under the chin) is the lowest point
        assert template.anchors[4, 1] > template.anchors[:3, 1].max()
    assert OccluderAssets.load(DATA, "train") is train_assets  # loaded once, then cached


@needs_data
@pytest.mark.slow
def test_compact_copy_of_the_occluders_fits_masks_the_same(tmp_path, faces, train_assets) -> None:
    prepare = pytest.importorskip("training.prepare_data")
    prepare.copy_occluders(DATA / "occluders", tmp_path / "occluders", max_side=200)
    compact = OccluderAssets.load(tmp_path, "train")
    face = faces[0]
    for seed in range(3):
        full, small = (
            synthesize(face.image, face.landmarks, np.random.default_rng(seed), kind="mask_template", assets=assets)
            for assets in (train_assets, compact)
        )
        a, b = full.mask > 0, small.mask > 0
        assert np.count_nonzero(a & b) / np.count_nonzero(a | b) > 0.95


@needs_data
def test_resized_templates_without_rescaled_anchors_are_refused(tmp_path) -> None:
    source = DATA / "occluders"
    target = tmp_path / "occluders"
    shutil.copytree(source / "objects", target / "objects")
    shutil.copytree(source / "masktheface" / "templates", target / "masktheface" / "templates")
    shutil.copy(source / "masktheface" / "masks.cfg", target / "masktheface" / "masks.cfg")
    template = target / "masktheface" / "templates" / "cloth.png"
    image = cv2.imread(str(template), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(template), cv2.resize(image, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA))
    with pytest.raises(ValueError, match="masks.cfg.*cloth.*rescaling"):
        OccluderAssets.load(tmp_path, "train")


def test_clear_errors(tmp_path) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    landmarks = np.tile([[32.0, 40.0]], (68, 1))
    landmarks[36:42] = [20.0, 25.0]
    landmarks[42:48] = [44.0, 25.0]
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        synthesize(image.astype(np.float32), landmarks, rng, kind="boxes")
    with pytest.raises(ValueError, match="68x2"):
        synthesize(image, landmarks[:5], rng, kind="boxes")
    mirrored = landmarks.copy()
    mirrored[48:68] = [32.0, 10.0]  # the mouth above the eyes: left/right labels swapped by a flip
    with pytest.raises(ValueError, match="mirrored"):
        synthesize(image, mirrored, rng, kind="boxes")
    with pytest.raises(ValueError, match="unknown occlusion kind"):
        synthesize(image, landmarks, rng, kind="piano")
    with pytest.raises(ValueError, match="assets="):
        synthesize(image, landmarks, rng, kind="sunglasses")
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        OccluderAssets.load(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        OccluderAssets.load(tmp_path, "validation")
    assert synthesize(image, landmarks, rng, kind="boxes").mask.any()  # a face with no photo still works


@needs_data
def test_synthesis_is_fast_enough_for_a_data_loader(faces, train_assets, test_assets) -> None:
    # The target is <= 3 ms of CPU per 128 px sample on average over the kinds (measured with
    # `python -m training.contact_sheet --timing`); this guards against gross regressions only.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        rng = np.random.default_rng(0)
        start = time.process_time()
        for kind in KINDS:
            assets = assets_for(kind, train_assets, test_assets)
            for face in faces[:2]:
                synthesize(face.image, face.landmarks, rng, kind=kind, assets=assets)
        per_sample_ms = (time.process_time() - start) / (2 * len(KINDS)) * 1000
    finally:
        cv2.setNumThreads(threads)
    assert per_sample_ms < 10.0
