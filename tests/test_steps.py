"""One edit step and its figures (facestudio.steps): real models on the sample, one name per figure."""

from __future__ import annotations

import numpy as np
import pytest

from facestudio import steps
from facestudio.api import load_pipeline
from facestudio.sample import load_sample


@pytest.fixture(scope="module")
def pipeline(random_weights_dir):
    return load_pipeline(device="cpu", weights_dir=random_weights_dir, detector="haar")


def test_auto_fix_step_finds_faces_once_and_carries_its_figures(pipeline):
    sample = load_sample()
    step = steps.auto_fix(pipeline, sample.image, "telea")
    assert step.kind == "auto_fix" and step.image.shape == sample.image.shape and len(step.faces) == 1
    figures = step.figures
    assert figures.faces == 1 and figures.method == "telea" and figures.ms > 0
    assert figures.mask_percent == pytest.approx(steps.mask_percent(step.mask))
    assert not figures.identity and not figures.identity_note  # measured separately, after the fill


def test_identity_is_one_verdict_per_face_in_words(pipeline):
    sample = load_sample()
    step = steps.inpaint(pipeline, sample.image, sample.true_mask, "telea")
    measured = steps.measure_identity(pipeline, sample.image, step.image, step.faces)
    step = steps.with_identity(step, measured)
    faces, note = measured
    assert len(faces) == len(step.faces) == 1, note
    verdict = faces[0]
    assert verdict.same == (verdict.distance <= verdict.threshold)
    labels = dict(step.figures.rows())
    assert labels["same person"].startswith("yes (distance " if verdict.same else "NO (distance ")
    assert steps.BACKEND_NAMES[verdict.backend] in labels["same person"]


def test_a_report_row_holds_the_figures_under_the_same_names(pipeline):
    face = steps.FaceIdentity((0, 0, 10, 10), 0.031, 0.07, True, "deepface")
    other = steps.FaceIdentity((20, 0, 10, 10), 0.09, 0.07, False, "deepface")
    figures = steps.Figures("gan", "cpu", 2, 12.34567, 250.04, (face, other), reference={"psnr": 31.5})
    assert figures.record() == {"faces": 2, "mask_percent": 12.346, "ms": 250.0, "psnr": 31.5,
                                "identity_distance": "0.0310;0.0900", "identity_verdict": "same;different"}
    assert set(figures.record()) - {"identity_distance", "identity_verdict"} <= set(steps.FIGURES)
    assert steps.figure_record(None, None, None) == {"faces": None, "mask_percent": None, "ms": None}
    rows = dict(figures.rows())
    assert rows["same person (face 1)"].startswith("yes") and rows["same person (face 2)"].startswith("NO")
    assert figures.summary().endswith("identity changed")


def test_a_step_without_faces_measures_the_whole_photo(pipeline):
    blank = np.full((120, 160, 3), 90, np.uint8)
    hole = np.zeros((120, 160), np.uint8)
    hole[40:80, 60:100] = 255
    step = steps.inpaint(pipeline, blank, hole, "telea")
    assert step.faces == [] and step.figures.faces == 0
    assert np.array_equal(step.image[hole == 0], blank[hole == 0])
