"""`python -m training.evaluate` on a tiny cache of real faces: the report, the figures and sane numbers
with random weights, and perfect scores for an oracle that answers with the truth."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio import metrics
from facestudio.alignment import crop_mask
from facestudio.faces import face_crop
from training import evaluate, prepare_data
from training.data import FaceCache
from training.evaluation.alignment import (
    HAAR,
    LEARNED,
    TRUE_LANDMARKS,
    AlignmentConfig,
    compose_photo,
    face_case,
    frame_face,
)
from training.evaluation.cases import GROUPS, HELDOUT, evaluation_order, load_faces, make_cases
from training.evaluation.dlib_identity import DlibDescriptor
from training.evaluation.run import EvaluationConfig, Evaluators, run_evaluation, telea_filler
from training.evaluation.scores import (
    PSNR_CAP_DB,
    summarize_identity,
    summarize_inpainting,
    summarize_segmentation,
    top1,
)
from training.occluders.assets import OccluderAssets
from training.scenes import ClutterBank

DATA = Path(os.environ.get("FACESTUDIO_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
TEST_FACES = 4  # build_small_cache keeps 2 test faces per source


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 real faces through training.prepare_data (shared with the training smoke tests' cache)."""
    if not (DATA / "faces" / "utk").is_dir():
        pytest.skip(f"shared face data not found at {DATA} (set FACESTUDIO_DATA)")
    return prepare_data.build_small_cache(DATA, tmp_path_factory.getbasetemp() / "small_cache")


def write_training_log(folder: Path) -> None:
    """A log.jsonl in training.loop's format: training records and validation records."""
    folder.mkdir(parents=True)
    lines = [{"step": s, "time": s * 0.5, "losses": {"loss": 1.0 / s, "bce": 0.5 / s}} for s in range(1, 21)]
    lines += [{"step": s, "time": s * 0.5, "val": {"iou": s / 25, "dice": s / 22}} for s in (10, 20)]
    (folder / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def finite_values(tree) -> list[float]:
    if isinstance(tree, dict):
        return [v for item in tree.values() for v in finite_values(item)]
    if isinstance(tree, list):
        return [v for item in tree for v in finite_values(item)]
    return [tree] if isinstance(tree, float) else []


@pytest.mark.slow
def test_random_weights_run_writes_a_sane_report(small_cache: Path, random_weights_dir: Path, tmp_path: Path) -> None:
    out, runs = tmp_path / "report", tmp_path / "runs"
    write_training_log(runs / "segmenter")
    summary = evaluate.main(["--weights", str(random_weights_dir), "--data", str(small_cache), "--out", str(out),
                             "--runs", str(runs), "--n", "10", "--gallery", "10", "--deepface-faces", "1"])

    setup = summary["setup"]
    assert setup["faces"] == TEST_FACES and setup["gallery"] == TEST_FACES and summary["notes"] == []
    for name in ("contact_sheet.png", "quality_by_hole_size.png", "training_curves.png"):
        image = cv2.imread(str(out / name))
        assert image is not None and min(image.shape[:2]) > 200, name
        assert f"]({name})" in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())["setup"]["faces"] == TEST_FACES

    inpainting = summary["inpainting"]
    assert set(GROUPS) <= set(inpainting) and inpainting[HELDOUT]["count"] == TEST_FACES
    for group in GROUPS:
        for method in ("telea", "ours"):
            scores = inpainting[group]["methods"][method]
            assert 0.0 < scores["psnr_hole"] <= scores["psnr"] < PSNR_CAP_DB, (group, method)
            assert -1.0 <= scores["ssim_hole"] <= scores["ssim"] < 1.0 and 0.0 < scores["l1"] < scores["l1_hole"] <= 1.0
    segmentation = summary["segmentation"][HELDOUT]["overall"]
    assert segmentation["count"] == TEST_FACES and 0.0 <= segmentation["iou"] <= segmentation["dice"] <= 1.0
    identity = summary["identity"][HELDOUT]
    assert {"input", "telea", "ours"} <= set(identity)
    assert all(0.0 < v["distance"] < 2.0 and 0.0 <= v["same_share"] <= 1.0 for v in identity.values())
    assert "deepface_same_share" in identity["ours"] and identity["ours"]["deepface_count"] == 1
    encoder = summary["encoder"]
    assert 0.0 <= encoder["top1"][HELDOUT] <= 1.0 and encoder["gender_accuracy"][HELDOUT]["count"] == 2  # UTK only
    assert encoder["dlib_top1"][HELDOUT] >= 0.5  # dlib's descriptor knows most of these people behind an occluder
    assert 0.0 <= encoder["dlib_impostor_same_share"] <= 1.0
    assert len(summary["targets"]) == 6 and all(check["met"] is not None for check in summary["targets"])
    assert all(math.isfinite(v) for v in finite_values(summary))
    alignment = summary["alignment"]  # no detector.pt here: true landmarks and Haar only
    assert alignment["faces"] == TEST_FACES and list(alignment["framings"]) == [TRUE_LANDMARKS, HAAR]
    assert alignment["skipped_framings"] == {LEARNED: "no detector.pt in the weights folder"}
    assert f"- {LEARNED}: not measured" in (out / "results.md").read_text()


def test_missing_checkpoints_are_skipped_with_a_note(
    small_cache: Path, random_weights_dir: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(random_weights_dir / "segmenter.pt", weights)
    out = tmp_path / "report"
    out.mkdir()
    (out / "training_curves.png").write_bytes(b"stale")
    summary = evaluate.main(["--weights", str(weights), "--data", str(small_cache), "--out", str(out), "--runs",
                             str(tmp_path / "no-runs"), "--n", "2", "--deepface-faces", "0"])

    assert [note.split(" ")[0] for note in summary["notes"]] == ["encoder.pt", "generator.pt"]
    assert set(summary["inpainting"][HELDOUT]["methods"]) == {"telea"}
    assert "top1" not in summary["encoder"] and summary["segmentation"][HELDOUT]["overall"]["count"] == 2
    verdicts = {check["name"]: check["met"] for check in summary["targets"]}
    assert verdicts["encoder top-1, held-out occluded probes"] is None
    assert not (out / "training_curves.png").exists()  # no logs: the stale figure is gone
    report = (out / "results.md").read_text()
    assert "generator.pt missing" in report
    assert "Not measured (needs encoder.pt and generator.pt in the weights folder)" in report  # alignment


def test_missing_weights_folder_is_one_clear_error(small_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="nowhere: weights folder not found"):
        evaluate.main(["--weights", str(tmp_path / "nowhere"), "--data", str(small_cache), "--out", str(tmp_path)])


def test_oracle_that_returns_the_truth_scores_perfectly(small_cache: Path) -> None:
    cache = FaceCache(small_cache)
    evaluators = Evaluators(
        fillers={"truth": lambda cases: [case.truth for case in cases], "telea": telea_filler},
        segmenter=lambda cases: [case.mask for case in cases],
        describer=DlibDescriptor(),
    )
    result = run_evaluation(cache, OccluderAssets.load(small_cache, split="test"), evaluators,
                            EvaluationConfig(n=2, gallery=2, deepface_faces=0))

    inpainting = summarize_inpainting(result.cases)
    for group in GROUPS:
        perfect, telea = inpainting[group]["methods"]["truth"], inpainting[group]["methods"]["telea"]
        assert perfect["psnr"] == perfect["psnr_hole"] == PSNR_CAP_DB
        assert perfect["ssim"] == perfect["ssim_hole"] == 1.0 and perfect["l1"] == perfect["l1_hole"] == 0.0
        assert telea["psnr_hole"] < 40.0 and telea["l1_hole"] > 0.0  # the baseline is not perfect
    segmentation = summarize_segmentation(result.cases)[HELDOUT]["overall"]
    assert segmentation["iou"] == segmentation["dice"] == segmentation["iou_pooled"] == 1.0
    identity = summarize_identity(result.cases)[HELDOUT]
    assert identity["truth"]["distance"] == 0.0 and identity["truth"]["same_share"] == 1.0
    assert identity["input"]["distance"] > 0.0  # the occluder changes what dlib sees


def test_dlib_workers_describe_exactly_as_one_process(small_cache: Path) -> None:
    cache = FaceCache(small_cache)
    faces = load_faces(cache, evaluation_order(cache, seed=0))
    images, landmarks = [face.clean for face in faces], [face.landmarks for face in faces]
    alone = DlibDescriptor().describe(images, landmarks)
    with DlibDescriptor(workers=2) as spread:
        assert np.array_equal(spread.describe(images, landmarks), alone)
    assert alone.shape == (TEST_FACES, 128) and np.all(np.linalg.norm(alone, axis=1) > 0.5)


def test_cases_are_deterministic_and_fill_their_buckets(small_cache: Path) -> None:
    cache = FaceCache(small_cache)
    assets = OccluderAssets.load(small_cache, split="test")
    face = load_faces(cache, evaluation_order(cache, seed=3)[:1])[0]
    first, again = make_cases(face, assets, seed=3), make_cases(face, assets, seed=3)
    assert [case.group for case in first] == list(GROUPS)
    for one, two in zip(first, again):
        assert one.kind == two.kind and np.array_equal(one.image, two.image) and np.array_equal(one.mask, two.mask)
    assert 0.05 <= first[0].area <= 0.15 and 0.15 <= first[1].area <= 0.30 and 0.30 <= first[2].area <= 0.45
    assert first[3].kind == "microphone"  # held-out kinds go round-robin: face 0 gets the first
    other = make_cases(face, assets, seed=4)
    assert not np.array_equal(first[0].mask, other[0].mask)


def test_top1_finds_own_face_and_only_it() -> None:
    gallery = np.eye(4, dtype=np.float32)
    noisy = gallery + 0.1 * np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    assert top1(noisy, np.arange(4), gallery) == 1.0
    assert top1(noisy, np.arange(4), gallery, metric="euclidean") == 1.0
    assert top1(noisy, np.array([1, 0, 3, 2]), gallery) == 0.0


def test_alignment_photo_puts_the_face_where_its_true_landmarks_say(small_cache: Path) -> None:
    cache = FaceCache(small_cache)
    assets = OccluderAssets.load(small_cache, split="test")
    config = AlignmentConfig()
    clutter = ClutterBank.load(None)
    for face in load_faces(cache, evaluation_order(cache, seed=0)):
        case = face_case(face, assets, seed=0)
        photo = compose_photo(case, clutter, config)
        assert photo.image.shape == photo.clean.shape == (config.height, config.width, 3)
        assert config.face_box[0] <= photo.box[2] <= config.face_box[1]
        # Framed by its true landmarks, the app's crop of the photo is the cache's crop again, hole included.
        crop = face_crop(photo.image, frame_face(photo, None), case.image.shape[0])
        inner = np.s_[8:-8, 8:-8]  # the crop's outer pixels fade into the background
        assert metrics.psnr(crop.image[inner], case.image[inner]) > 28.0, face.name
        assert metrics.iou(crop_mask(photo.mask, crop.matrix, crop.size), case.mask) > 0.95, face.name
        assert metrics.psnr(face_crop(photo.clean, frame_face(photo, None), crop.size).image[inner],
                            case.truth[inner]) > 28.0
        # The clean and occluded photos share the background: they differ only where the crop went.
        pasted = cv2.warpAffine(np.ones(case.mask.shape, np.float32), photo.matrix, (config.width, config.height)) > 0
        assert np.array_equal(photo.image[~pasted], photo.clean[~pasted]) and np.count_nonzero(pasted) < pasted.size
        assert not np.array_equal(photo.image[photo.mask > 0], photo.clean[photo.mask > 0])
    again = compose_photo(case, clutter, config)
    assert np.array_equal(again.image, photo.image) and np.array_equal(again.landmarks, photo.landmarks)


def test_alignment_section_scores_each_framing_and_reports_the_table(
    small_cache: Path, blind_weights_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    summary = evaluate.main(["--weights", str(blind_weights_dir), "--data", str(small_cache), "--out", str(out),
                             "--runs", str(tmp_path / "no-runs"), "--n", "1", "--gallery", "1",
                             "--deepface-faces", "0", "--alignment", "3"])

    framings = summary["alignment"]["framings"]
    assert list(framings) == [TRUE_LANDMARKS, LEARNED, HAAR]
    truth = framings[TRUE_LANDMARKS]
    assert truth["found"] == truth["faces"] == 3 and truth["landmark_error"] == 0.0
    assert 0.0 <= truth["iou"] <= truth["dice"] <= 1.0
    assert all(0.0 < truth["psnr_hole"][method] < PSNR_CAP_DB for method in ("gan", "telea"))
    assert framings[LEARNED]["found"] == 0 and framings[LEARNED]["iou"] is None  # the blind detector misses all
    haar = framings[HAAR]
    if haar["found"]:
        assert haar["landmark_error"] > 0.0 and haar["vs_true_landmarks"]["iou"] is not None
    report = (out / "results.md").read_text()
    assert "## Face alignment: auto_fix in photos" in report
    assert f"| {TRUE_LANDMARKS} | 3 of 3 | 0.000 |" in report and f"| {LEARNED} | 0 of 3 | - |" in report
    assert json.loads((out / "results.json").read_text())["alignment"]["framings"][LEARNED]["iou"] is None


def test_the_evaluation_scores_the_app_s_mask_not_a_bare_threshold(face_paths: list[Path]) -> None:
    """The shipped segmenter through TrainedModels.segment gives exactly the mask auto-fix uses on the crop."""
    import torch

    from facestudio.api import default_weights_dir
    from facestudio.occlusion_mask import occlusion_mask
    from training.evaluation.models import TrainedModels

    models = TrainedModels(default_weights_dir(), batch_size=2)
    crops = []
    for path in face_paths[:3]:
        crop = cv2.resize(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), (128, 128))
        cv2.ellipse(crop, (38, 46), (16, 9), 0, 0, 360, (20, 20, 25), -1)  # a dark lens, as a segmenter sees one
        crops.append(crop)
    scored = models.segment(crops)
    for crop, mask, app in zip(crops, scored, models.pipeline.segment_crops(crops)):
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        assert np.array_equal(mask > 0, app)
    with torch.inference_mode():
        logits = models.pipeline.model("segmenter")(models.pipeline._to_tensor(crops))[:, 0].numpy()
    assert any(not np.array_equal(mask > 0, occlusion_mask(plane, low=0.0)) for mask, plane in zip(scored, logits))
