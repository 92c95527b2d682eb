"""The end-to-end evaluation: its per-case scores on fills whose answer is known, the photo settings
and holes it builds, and a tiny real run through the entry script (skipped without ../shared/data)."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from training.evaluation import end_to_end as e2e
from training.evaluation.end_to_end_scores import (
    content_left,
    hole_psnr,
    image_ssim,
    outside_changed,
    score_case,
    sharpness_ratio,
)


def _textured_photo(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth photo-like image with fine detail, so that blurring it is measurable."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    base = 120 + 50 * np.sin(xs / 9.0)[..., None] * np.cos(ys / 13.0)[..., None] * np.array([1.0, 0.8, 0.6])
    detail = cv2.GaussianBlur(rng.normal(0, 25, (size, size, 3)).astype(np.float32), (0, 0), 0.8)
    return np.clip(base + detail, 0, 255).astype(np.uint8)


@pytest.fixture()
def case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, noisy input, mask) with a 40x40 square hole filled as the evaluation fills holes."""
    truth = _textured_photo()
    mask = np.zeros(truth.shape[:2], np.uint8)
    mask[28:68, 20:60] = 255
    return truth, e2e.add_noise(truth, mask, np.random.default_rng(1)), mask


def test_the_truth_scores_perfectly(case) -> None:
    truth, noisy, mask = case
    scores = score_case(truth.copy(), noisy, truth, mask)
    assert scores["psnr_hole"] == math.inf
    assert scores["ssim"] == pytest.approx(1.0)
    assert scores["content_left"] == pytest.approx(0.0, abs=1e-12)
    assert scores["sharpness"] == pytest.approx(1.0)
    assert scores["outside_changed"] == 0


def test_the_noisy_input_keeps_all_its_noise(case) -> None:
    truth, noisy, mask = case
    assert content_left(noisy, noisy, truth, mask) == pytest.approx(1.0)
    assert sharpness_ratio(noisy, truth, mask) > 2.0  # grain is far busier than the photo
    assert hole_psnr(noisy, truth, mask) < 20.0


def test_half_of_the_noise_left_scores_one_half(case) -> None:
    truth, noisy, mask = case
    half = np.round((truth.astype(np.float64) + noisy) / 2.0).astype(np.uint8)
    assert content_left(half, noisy, truth, mask) == pytest.approx(0.5, abs=0.01)


def test_a_fill_that_never_saw_the_hole_keeps_no_noise(case) -> None:
    """Telea reads no hole pixel: its smooth fill misses the truth's shading but keeps none of the
    noise, and must not be credited with any (the truth is held fixed in the regression)."""
    truth, noisy, mask = case
    filled = cv2.inpaint(noisy, mask, 3, cv2.INPAINT_TELEA)
    assert abs(content_left(filled, noisy, truth, mask)) < 0.02
    assert sharpness_ratio(filled, truth, mask) < 0.8


def test_a_blurred_truth_is_less_sharp(case) -> None:
    truth, _, mask = case
    blurred = cv2.GaussianBlur(truth, (0, 0), 1.5)
    assert sharpness_ratio(blurred, truth, mask) < 0.7
    assert content_left(blurred, e2e.add_noise(truth, mask, np.random.default_rng(2)), truth, mask) == pytest.approx(
        0.0, abs=0.02)


def test_outside_changes_are_counted(case) -> None:
    truth, noisy, mask = case
    output = noisy.copy()
    output[0, 0] = 255 - output[0, 0]
    output[40, 40] = 0  # inside the hole: allowed
    assert outside_changed(output, noisy, mask) == 1
    assert outside_changed(noisy, noisy, mask) == 0


def test_undefined_scores_are_nan(case) -> None:
    truth, noisy, _ = case
    empty = np.zeros(truth.shape[:2], np.uint8)
    assert math.isnan(content_left(truth, noisy, truth, empty))
    thin = empty.copy()
    thin[10, 10:30] = 255  # one row: nothing left after the 2 px erosion
    assert math.isnan(sharpness_ratio(truth, truth, thin))


def test_ssim_leaves_padding_out(case) -> None:
    truth, _, _ = case
    valid = np.ones(truth.shape[:2], bool)
    valid[:, :20] = False
    spoiled = truth.copy()
    spoiled[:, :8] = 255  # a change well inside the padding (beyond SSIM's 7 px window)
    assert image_ssim(spoiled, truth, valid) == pytest.approx(1.0)
    assert image_ssim(spoiled, truth) < 0.99


def test_noise_fills_exactly_the_hole(case) -> None:
    truth, noisy, mask = case
    assert np.array_equal(noisy[mask == 0], truth[mask == 0])
    assert np.std(noisy[mask > 0].astype(np.float64) - truth[mask > 0]) > 25.0


def test_padding_is_found_from_the_frame() -> None:
    """SCUT's white bars are padding; white inside the photo (not touching the frame) is not."""
    image = np.full((60, 80, 3), 100, np.uint8)
    image[:, :10] = 255
    image[:, -12:] = 254
    image[25:35, 35:45] = 255  # a white shirt button, not padding
    padding = e2e.padding_mask(image, "scut")
    assert padding[:, :10].all() and padding[:, -12:].all()
    assert not padding[28:32, 38:42].any()
    assert not e2e.padding_mask(image, "utk").any()


def _synthetic_face(size: int = 200) -> e2e.SourceFace:
    """A face photo whose 68 landmarks put the five canonical points where a 128 px crop of the
    central 150 px would have them (face size 150 px); the other landmarks are unused here."""
    from facestudio.alignment import CANONICAL_LANDMARKS

    five = CANONICAL_LANDMARKS.astype(np.float64) * 150.0 + 25.0
    landmarks = np.tile(five.mean(axis=0), (68, 1))
    landmarks[36:42], landmarks[42:48], landmarks[30], landmarks[48], landmarks[54] = five
    return e2e.SourceFace("synthetic", "utk", _textured_photo(size), landmarks, np.ones((size, size), bool), 7, 0)


def test_photo_settings_have_the_face_size_asked_for() -> None:
    face = _synthetic_face()
    native = e2e.native_setting(face)
    assert native.face_px == pytest.approx(150.0, rel=1e-6)
    for size in (100, 400):
        setting = e2e.photo_setting(face, size, seed=0, backdrops=[])
        assert setting.face_px == pytest.approx(size, rel=0.02)
        height, width = setting.truth.shape[:2]
        assert width == pytest.approx(e2e.PHOTO_WIDTH * size, abs=2)
        assert height == pytest.approx(e2e.PHOTO_HEIGHT * size, abs=2)
        # The same crop-frame hole covers the same share of the face crop at every size.
        hole = np.zeros((e2e.CROP, e2e.CROP), np.uint8)
        hole[40:80, 30:90] = 255
        mask = e2e.hole_in(setting, e2e.Hole("free_form_15_30", "free_form", hole))
        crop_px = setting.face_px**2
        assert np.count_nonzero(mask) / crop_px == pytest.approx(np.count_nonzero(hole) / hole.size, rel=0.05)


def test_summary_pairs_the_methods() -> None:
    def result(bucket: str, setting: str, gan: float, telea: float) -> e2e.CaseResult:
        case = e2e.CaseResult("f", "utk", setting, 200.0, bucket, "free_form", 0.1, 0.01)
        for method, psnr in (("gan", gan), ("telea", telea)):
            case.scores[method] = {"psnr_hole": psnr, "ssim": 0.9, "content_left": 0.0, "sharpness": 1.0,
                                   "outside_changed": 0.0, "ms": 5.0, "identity": 0.5 if method == "gan" else 0.7}
        return case

    cases = [result(e2e.LOWER_FACE, "native", 24.0, 20.0), result(e2e.LOWER_FACE, "200 px", math.inf, 21.0),
             result(e2e.BUCKETS[0], "native", 18.0, 19.0)]
    summary = e2e.summarize(cases, ("gan", "telea"))
    lower = summary["by_bucket"][e2e.LOWER_FACE]
    assert lower["cases"] == 2
    assert lower["methods"]["gan"]["psnr_hole"] == pytest.approx((24.0 + 100.0) / 2)  # inf capped at 100 dB
    assert lower["gan_minus_telea"]["psnr_hole"] == pytest.approx(((24 - 20) + (100 - 21)) / 2)
    assert lower["methods"]["gan"]["identity_kept"] == 1.0 and lower["methods"]["telea"]["identity_kept"] == 0.0
    assert summary["by_setting"]["native"]["gan_minus_telea"]["psnr_hole"] == pytest.approx(((24 - 20) + (18 - 19)) / 2)
    assert summary["by_bucket"][e2e.ALL]["cases"] == 3
    assert summary["outside_changed"]["gan"] == {"pixels": 0, "cases": 0}


def test_lower_face_kinds_are_the_masks() -> None:
    assert e2e.LOWER_FACE_KINDS and all(kind.startswith("mask_") for kind in e2e.LOWER_FACE_KINDS)
    assert e2e.OTHER_KINDS and not set(e2e.OTHER_KINDS) & set(e2e.LOWER_FACE_KINDS)


def test_tiny_real_run_writes_the_report(data_root, tmp_path) -> None:
    """2 faces, one size, Telea only, no dlib identity: the entry script writes every report file."""
    pytest.importorskip("dlib")  # dlib still finds the faces' landmarks
    pytest.importorskip("face_recognition_models")
    from training.evaluate_end_to_end import main

    out = tmp_path / "e2e"
    code = main(["--data", str(data_root), "--faces", "2", "--sizes", "120", "--methods", "telea",
                 "--no-identity", "--threads", "1", "--out", str(out)])
    assert code == 0
    for name in ("results.md", "results.json", "contact_sheet.png"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["setup"]["faces"] == 2
    everything = results["results"]["by_bucket"]["all"]
    assert everything["cases"] == 2 * 2 * len(e2e.BUCKETS) - results["setup"]["skipped_cases"]
    assert results["results"]["outside_changed"]["telea"]["pixels"] == 0
    assert 5.0 < everything["methods"]["telea"]["psnr_hole"] < 40.0
    assert abs(everything["methods"]["telea"]["content_left"]) < 0.05
    text = (out / "results.md").read_text()
    assert "python -m training.evaluate_end_to_end" in text and "lower-face occluders" in text
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] <= 1600
