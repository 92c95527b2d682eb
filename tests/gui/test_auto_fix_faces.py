"""Auto-fix in the editor and the face boxes: a box the user drew is the face that gets fixed, and when no
face is found the editor asks for one. Real sample photo, real (small, random) checkpoints, real gestures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facestudio.alignment import crop_footprint, similarity_to_canonical
from facestudio.faces import Face
from facestudio.gui.commands import ImageEdit
from facestudio.gui.jobs import NO_FACE_MESSAGE
from tests.gui.conftest import drag

JOB_TIMEOUT_MS = 180_000
DRAWN = [(150, 40), (299, 189)]  # a box around the astronaut's face, larger than Haar's (172, 62, 103, 103)


def _editor(qtbot, settings, weights_dir: Path, detector: str = "auto"):
    from facestudio.gui.main_window import MainWindow

    window = MainWindow(settings=settings, device="cpu", weights_dir=weights_dir, detector=detector)
    qtbot.addWidget(window, before_close_func=lambda w: w.document.undo_stack.setClean())
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.open_sample(ask=False)
    window.set_method("telea")
    return window


def _auto_fix(qtbot, window) -> None:
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.auto_fix()


def test_auto_fix_fixes_the_face_box_the_user_drew(qtbot, settings, random_weights_dir):
    window = _editor(qtbot, settings, random_weights_dir)  # no detector.pt: Haar, which finds the sample's face
    doc = window.document
    window.select_tool("face")
    drag(window.canvas, DRAWN)
    drawn = doc.faces
    assert len(drawn) == 1 and drawn[0].score is None

    _auto_fix(qtbot, window)

    command = doc.undo_stack.command(doc.undo_stack.count() - 1)
    assert isinstance(command, ImageEdit) and command.figures.faces == 1
    assert doc.faces == drawn  # the drawn box was fixed, not the one Haar finds
    box = drawn[0]
    face = Face(box=(box.x, box.y, box.w, box.h))
    x0, y0, x1, y1 = crop_footprint(similarity_to_canonical(face.landmarks, 128), 128, doc.image.shape)
    outside = np.ones(doc.mask.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert doc.mask.any() and not doc.mask[outside].any()


def test_a_detected_box_left_as_it_was_is_fixed_again_with_the_detectors_face(qtbot, settings, random_weights_dir):
    from facestudio.api import load_pipeline
    from facestudio.gui.document import FaceBox
    from facestudio.gui.jobs import _faces_of_boxes, face_boxes_of

    window = _editor(qtbot, settings, random_weights_dir)
    doc = window.document
    _auto_fix(qtbot, window)
    detected = doc.faces
    assert len(detected) == 1 and detected[0].score is not None  # Haar's box, with its score

    _auto_fix(qtbot, window)  # the document's boxes now go to auto_fix

    assert doc.faces == detected and doc.undo_stack.count() == 2
    # How boxes become engine faces: an unchanged detector box is the detector's own face (its landmarks),
    # a drawn one a face from its box.
    pipeline = load_pipeline("cpu", random_weights_dir)
    haar = pipeline.detect(doc.original)[0]
    assert detected == face_boxes_of([haar])  # the document's box holds the detector's landmarks
    kept, drawn = _faces_of_boxes([detected[0], FaceBox(20, 30, 90, 90)])
    assert kept.source == "detected" and kept.box == haar.box
    np.testing.assert_allclose(kept.landmarks, haar.landmarks, atol=1e-4)
    moved = _faces_of_boxes([detected[0].moved(5, 0)])[0]  # landmarks move with the box
    np.testing.assert_allclose(moved.landmarks, haar.landmarks + [5, 0], atol=1e-4)
    resized = _faces_of_boxes([detected[0].resized(40, 40)])[0]  # ...and no longer fit a resized one
    np.testing.assert_allclose(resized.landmarks, Face(box=resized.box).landmarks)
    assert drawn.source == "user" and drawn.box == (20, 30, 90, 90)
    np.testing.assert_allclose(drawn.landmarks, Face(box=(20, 30, 90, 90)).landmarks)


def test_no_face_found_asks_for_a_face_box_and_the_drawn_box_is_then_fixed(qtbot, settings, blind_weights_dir):
    window = _editor(qtbot, settings, blind_weights_dir)
    doc = window.document
    image = doc.image.copy()

    with qtbot.waitSignal(window.manager.failed, timeout=JOB_TIMEOUT_MS) as failed:
        window.auto_fix()

    message = failed.args[1]
    assert message == f"Auto-fix (telea) failed: {NO_FACE_MESSAGE}"
    assert "Face box tool (F)" in message and window.last_error == message
    assert doc.undo_stack.count() == 0 and np.array_equal(doc.image, image)
    assert window.autofix_action.isEnabled()

    window.select_tool("face")
    drag(window.canvas, DRAWN)
    drawn = doc.faces
    _auto_fix(qtbot, window)

    assert doc.faces == drawn and doc.undo_stack.count() == 2  # "Add face box", then the auto-fix
    assert doc.undo_stack.command(1).figures.faces == 1


def test_the_editor_runs_the_detector_it_was_started_with(qtbot, settings, blind_weights_dir):
    """`facestudio gui --detector haar` reaches the worker's pipeline: Haar finds the sample's face where the
    (blind) learned detector of the same weights folder finds none."""
    window = _editor(qtbot, settings, blind_weights_dir, detector="haar")
    _auto_fix(qtbot, window)

    assert window.manager.requested_detector == "haar"
    assert window.document.undo_stack.command(0).figures.faces == 1
