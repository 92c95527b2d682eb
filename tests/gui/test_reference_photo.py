"""The reference photo in the editor: chosen from a file, prepared on the worker, shown (its face, its name,
whether it is the photo's person) and used by the fills until cleared. Real sample photo, real face photos,
a reference generator with random non-zero reference weights (conftest's reference_weights_dir)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from facestudio.gui.commands import ImageEdit
from facestudio.gui.document import ReferencePhotoChoice
from facestudio.steps import FaceIdentity

from tests.gui.test_auto_fix_faces import JOB_TIMEOUT_MS, _editor as _telea_editor


def _editor(qtbot, settings, weights_dir: Path):
    window = _telea_editor(qtbot, settings, weights_dir)
    window.set_method("gan")  # only the gan fill uses a reference photo
    return window


def _last_edit(doc) -> ImageEdit:
    command = doc.undo_stack.command(doc.undo_stack.index() - 1)
    assert isinstance(command, ImageEdit)
    return command


def test_a_reference_photo_is_shown_with_its_verdict_and_guides_auto_fix_until_cleared(
        qtbot, settings, reference_weights_dir, face_paths, tmp_path):
    window = _editor(qtbot, settings, reference_weights_dir)
    doc, panel = window.document, window.reference_photo_panel
    reference = tmp_path / "mum_1990.jpg"
    reference.write_bytes(face_paths[1].read_bytes())
    assert panel.thumbnail.pixmap().isNull() and not window.clear_reference_photo_action.isEnabled()

    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        assert window.set_reference_photo_file(reference) is not None

    choice = doc.reference_photo
    assert isinstance(choice, ReferencePhotoChoice) and choice.name == "mum_1990.jpg"
    assert not panel.thumbnail.pixmap().isNull() and panel.thumbnail.pixmap().width() == panel.THUMBNAIL
    assert "mum_1990.jpg" in panel.name.text()
    verdict = panel.verdict.text()
    assert verdict.count("Same person") == max(1, len(choice.identity))  # one verdict per face of the photo
    assert ("Warning: the reference photo shows a different person" in verdict) == choice.different_person
    assert window.clear_reference_photo_action.isEnabled()

    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.auto_fix()
    guided = _last_edit(doc)
    assert guided.figures.reference_photos == ("mum_1990.jpg",) * guided.figures.faces
    assert ("reference photo", "mum_1990.jpg") in guided.figures.rows()
    labels = [window.history.table.item(row, 0).text() for row in range(window.history.table.rowCount())]
    assert "reference photo" in labels
    with_reference = doc.image.copy()

    doc.undo_stack.undo()  # a fill made with the reference photo is undone as any fill
    assert np.array_equal(doc.image, doc.original)
    window.clear_reference_photo_action.trigger()
    assert doc.reference_photo is None and panel.thumbnail.pixmap().isNull()
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.auto_fix()
    plain = _last_edit(doc)
    assert plain.figures.reference_photos == ()
    assert not np.array_equal(doc.image, with_reference)  # the reference photo changed the fill


def test_a_reference_photo_without_a_face_is_one_line_and_nothing_is_chosen(qtbot, settings, random_weights_dir,
                                                                            tmp_path):
    window = _editor(qtbot, settings, random_weights_dir)
    landscape = tmp_path / "landscape.png"
    ramp = np.linspace(30, 220, 320).astype(np.uint8)
    Image.fromarray(np.dstack([np.tile(ramp, (240, 1))] * 3)).save(landscape)

    with qtbot.waitSignal(window.manager.failed, timeout=JOB_TIMEOUT_MS):
        window.set_reference_photo_file(landscape)

    assert window.document.reference_photo is None
    assert "landscape.png: no face found in the reference photo" in window.last_error
    assert len(window.last_error.splitlines()) == 1


def test_a_different_person_is_a_warning_first_and_the_choice_stays():
    class Photo:
        name = "stranger.jpg"

    different = FaceIdentity((0, 0, 10, 10), 0.4, 0.07, False, "deepface")
    same = FaceIdentity((20, 0, 10, 10), 0.02, 0.07, True, "deepface")
    choice = ReferencePhotoChoice(Photo(), Path("stranger.jpg"), (same, different))

    lines = choice.verdict().splitlines()
    assert choice.different_person and lines[0].startswith("Warning: the reference photo shows a different person")
    assert lines[1].startswith("Same person (face 1): yes") and lines[2].startswith("Same person (face 2): NO")
    assert not ReferencePhotoChoice(Photo(), Path("x.jpg"), (same,)).different_person
    assert ReferencePhotoChoice(Photo(), Path("x.jpg"), (), "not measured: no face").verdict() == \
        "Same person: not measured: no face"


def test_a_reference_whose_eyes_are_covered_says_so():
    class Photo:
        name = "beach.jpg"
        eyes_covered = True

    same = FaceIdentity((0, 0, 10, 10), 0.02, 0.07, True, "deepface")
    lines = ReferencePhotoChoice(Photo(), Path("beach.jpg"), (same,)).verdict().splitlines()
    assert lines[0].startswith("Same person: yes") and lines[1].startswith("Its eyes are covered")
    Photo.eyes_covered = False
    assert "covered" not in ReferencePhotoChoice(Photo(), Path("beach.jpg"), (same,)).verdict()


def test_the_panel_shows_every_line_of_a_long_verdict(qtbot, settings, face_paths, tmp_path):
    """A stranger whose eyes are covered: three wrapped warnings, all on screen (not clipped under the buttons)."""
    import cv2

    from facestudio.api import default_weights_dir, load_pipeline
    from facestudio.imageio import read_image

    window = _editor(qtbot, settings, default_weights_dir())
    reference = read_image(face_paths[1]).copy()
    face = load_pipeline(device="cpu", detector="haar").detect(reference)[0]
    for x, y in face.landmarks[:2]:
        cv2.ellipse(reference, (int(x), int(y)), (reference.shape[1] // 7, reference.shape[1] // 13), 0, 0, 360,
                    (15, 15, 20), -1)
    path = tmp_path / "beach.png"
    Image.fromarray(reference).save(path)
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.set_reference_photo_file(path)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    verdict = window.reference_photo_panel.verdict
    assert "Its eyes are covered" in verdict.text()
    qtbot.waitUntil(lambda: verdict.height() >= verdict.heightForWidth(verdict.width()), timeout=2000)
