"""The window's file work and prompts, with real files in tmp_path; QMessageBox is patched only at its call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from facestudio.imageio import read_image, read_mask, write_image
from facestudio.sample import load_sample
from tests.gui.conftest import drag


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A real photo file: the sample's clean portrait, cropped to a non-square size."""
    path = tmp_path / "portrait.png"
    write_image(path, load_sample().reference[20:420, 60:360])
    return path


def _answer(monkeypatch, button: QMessageBox.StandardButton) -> list[str]:
    """Make the unsaved-changes question answer `button`; returns the questions asked."""
    asked: list[str] = []

    def question(parent, title, text, buttons, default):
        asked.append(text)
        return button

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


@pytest.mark.parametrize("suffix, exact", [(".png", True), (".tif", True), (".jpg", False), (".webp", False)])
def test_open_save_round_trip_keeps_the_image(window, photo, tmp_path, suffix, exact):
    assert window.open_path(photo)
    original = read_image(photo)
    assert np.array_equal(window.document.image, original)
    window.select_tool("rectangle")
    drag(window.canvas, [(10, 10), (30, 30)])  # a mask edit: the photo itself is unchanged
    out = tmp_path / f"saved{suffix}"
    assert window.save_to(out)
    assert not window.document.is_modified and window.document.path == out
    saved = read_image(out)
    assert saved.shape == original.shape
    if exact:
        assert np.array_equal(saved, original)
    else:
        assert np.abs(saved.astype(int) - original).mean() < 3.0
    assert window.windowTitle().startswith(f"saved{suffix} ")


def test_unreadable_file_gives_one_line_and_keeps_the_photo(window, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    before = window.document.image.copy()
    assert not window.open_path(broken)
    message = window.statusBar().currentMessage()
    assert str(broken) in message and "\n" not in message
    assert np.array_equal(window.document.image, before)


def test_unsaved_changes_prompt_on_open(window, photo, monkeypatch):
    drag(window.canvas, [(100, 100), (140, 120)])
    edited = window.document.mask.copy()
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not window.open_path(photo)
    assert len(asked) == 1 and "astronaut" in asked[0]
    assert np.array_equal(window.document.mask, edited)  # still the edited sample

    asked = _answer(monkeypatch, QMessageBox.StandardButton.Discard)
    assert window.open_path(photo)
    assert window.document.path == photo and not window.document.is_modified

    asked = _answer(monkeypatch, QMessageBox.StandardButton.Discard)
    assert window.open_path(photo)  # nothing changed since: no question
    assert asked == []


def test_unsaved_changes_prompt_on_close_can_save_or_cancel(window, photo, tmp_path, monkeypatch):
    copy = tmp_path / "copy.png"
    write_image(copy, read_image(photo))
    assert window.open_path(copy)
    window.select_tool("rectangle")
    drag(window.canvas, [(5, 5), (9, 9)])
    _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    window.close()
    assert window.isVisible()  # cancelled: still open, still modified
    assert window.document.is_modified

    asked = _answer(monkeypatch, QMessageBox.StandardButton.Save)
    offered: list[str] = []

    def save_dialog(parent, caption, suggested, filters):
        offered.append(suggested)
        return suggested, ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    before = copy.read_bytes()
    window.close()
    assert len(asked) == 1 and not window.isVisible()
    # saved on the way out, as a new file beside the photo: the opened file is untouched
    assert offered == [str(tmp_path / "copy-fixed.png")]
    assert copy.read_bytes() == before and (tmp_path / "copy-fixed.png").is_file()
    assert not window.document.is_modified


def _save_dialog_answers(monkeypatch, answer: Path | None) -> list[str]:
    offered: list[str] = []

    def save_dialog(parent, caption, suggested, filters):
        offered.append(suggested)
        return (str(answer) if answer is not None else ""), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    return offered


def test_save_never_reencodes_the_opened_photo_unless_asked_to(window, tmp_path, monkeypatch):
    """Save on a photo opened from disk proposes NAME-fixed.png beside it; choosing the original itself
    asks first (default No); once chosen, later Saves go to the chosen file without asking."""
    original = tmp_path / "holiday.jpg"
    write_image(original, load_sample().reference)
    before = original.read_bytes()
    assert window.open_path(original)
    window.select_tool("rectangle")
    drag(window.canvas, [(10, 10), (60, 60)])

    fixed = tmp_path / "holiday-fixed.png"
    offered = _save_dialog_answers(monkeypatch, fixed)
    assert window.save()
    assert offered == [str(fixed)] and fixed.is_file() and original.read_bytes() == before
    assert window.document.save_target == fixed and not window.document.is_modified
    drag(window.canvas, [(70, 70), (90, 90)])
    offered = _save_dialog_answers(monkeypatch, None)
    assert window.save() and offered == []  # the chosen file again, no dialog

    assert window.open_path(original, ask=False)
    drag(window.canvas, [(10, 10), (60, 60)])
    warned: list[tuple] = []

    def warning(parent, title, text, buttons, default):
        warned.append((text, default))
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    _save_dialog_answers(monkeypatch, original)
    assert not window.save_as()
    assert len(warned) == 1 and "Replace the original photo holiday.jpg" in warned[0][0]
    assert warned[0][1] == QMessageBox.StandardButton.No and original.read_bytes() == before
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a: QMessageBox.StandardButton.Yes))
    assert window.save_as() and original.read_bytes() != before  # said so, explicitly, for this file
    assert window.document.save_target == original


def test_the_unsaved_changes_prompt_defaults_to_cancel(window, photo, monkeypatch):
    defaults: list[QMessageBox.StandardButton] = []

    def question(parent, title, text, buttons, default):
        defaults.append(default)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    drag(window.canvas, [(100, 100), (140, 120)])
    assert not window.open_path(photo)
    assert defaults == [QMessageBox.StandardButton.Cancel]


def test_import_mask_is_one_undo_step_and_export_round_trips(window, tmp_path, monkeypatch):
    doc = window.document
    truth = load_sample().true_mask
    mask_file = tmp_path / "truth.png"
    write_image(mask_file, truth)
    assert window.import_mask_from(mask_file)
    assert np.array_equal(doc.mask, truth)
    assert doc.undo_stack.count() == 1 and doc.undo_stack.text(0).startswith("Import mask")
    exported = tmp_path / "exported.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args, **kwargs: (str(exported), "")))
    assert window.export_mask()
    assert np.array_equal(read_mask(exported), truth)
    doc.undo_stack.undo()
    assert not doc.mask.any()


def test_import_of_a_mask_with_the_wrong_size_is_refused(window, tmp_path):
    small = tmp_path / "small.png"
    write_image(small, np.zeros((10, 10), np.uint8))
    assert not window.import_mask_from(small)
    assert "10x10" in window.statusBar().currentMessage()
    assert window.document.undo_stack.count() == 0


def test_mask_menu_operations_are_single_steps(window):
    doc = window.document
    window.select_tool("rectangle")
    drag(window.canvas, [(200, 200), (239, 239)])
    square = doc.mask.copy()
    window.grow_action.trigger()
    assert doc.mask[197, 220] == 255 and doc.mask[195, 220] == 0
    window.shrink_action.trigger()
    window.invert_action.trigger()
    assert doc.mask[0, 0] == 255 and doc.mask[220, 220] == 0
    window.clear_action.trigger()
    assert not doc.mask.any()
    assert doc.undo_stack.count() == 5
    for _ in range(3):
        doc.undo_stack.undo()
    assert doc.mask[197, 220] == 255  # back to the grown square
    doc.undo_stack.undo()
    assert np.array_equal(doc.mask, square)


def test_reference_of_another_size_is_refused(window, photo):
    assert not window.set_reference_files(photo)
    assert "reference is 300x400 px" in window.statusBar().currentMessage()
    assert window.document.reference is not None  # the sample's own reference stays


def test_dropping_a_file_opens_it_and_recent_files_persist(window, photo, qtbot, settings):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.document.path == photo, timeout=3000)
    assert settings.value("files/recent")[0] == str(photo.resolve())
    assert [a.text() for a in window.recent_menu.actions()] == [photo.name]


def test_settings_persist_between_windows(qtbot, settings):
    from facestudio.gui.main_window import MainWindow

    first = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(first)
    first.brush.size = 57
    first.set_method("telea")
    first.layers.opacity.setValue(70)
    first.close()
    second = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(second)
    assert second.brush.size == 57 and second.layers.size.value() == 57
    assert second.method == "telea" and second.method_combo.currentText() == "telea"
    assert second.canvas.mask_item.opacity() == pytest.approx(0.7)


KILLED_EDITOR = """
import os, signal, sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from facestudio.gui.main_window import MainWindow
from facestudio.imageio import read_image
from tests.gui.conftest import drag

app = QApplication([])
window = MainWindow(device="cpu", autosave_root=Path(sys.argv[2]))
window.resize(1000, 700)
window.show()
assert window.open_path(Path(sys.argv[1]))
window.select_tool("rectangle")
drag(window.canvas, [(10, 10), (60, 60)])
assert window.autosave_now()
os.kill(os.getpid(), signal.SIGKILL)  # a crash: no close event, no chance to clean up
"""


def test_a_killed_editor_offers_to_recover_its_unsaved_work(qtbot, settings, photo, tmp_path, monkeypatch):
    import subprocess
    import sys

    from facestudio.gui.main_window import MainWindow
    from tests.gui.conftest import REPO

    root = tmp_path / "autosave"
    script = tmp_path / "killed_editor.py"
    script.write_text(KILLED_EDITOR)
    run = subprocess.run([sys.executable, str(script), str(photo), str(root)], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == -9, run.stderr[-2000:]

    asked: list[str] = []

    def question(parent, title, text, buttons, default):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    window = MainWindow(settings=settings, device="cpu", autosave_root=root)
    qtbot.addWidget(window, before_close_func=lambda w: w.document.undo_stack.setClean())
    assert window.offer_recovery()
    assert len(asked) == 1 and "portrait.png" in asked[0] and "Recover" in asked[0]
    doc = window.document
    assert doc.path == photo and doc.is_modified and doc.undo_stack.count() == 1
    assert doc.mask[20:50, 20:50].all() and not doc.mask[100:, 100:].any()  # the rectangle drawn before the kill
    assert np.array_equal(doc.original, read_image(photo))
    doc.undo_stack.undo()
    assert not doc.mask.any()
    assert not any(root.iterdir()) or all(p.name == str(__import__("os").getpid()) for p in root.iterdir())
    assert not window.offer_recovery()  # offered once


def test_autosave_writes_only_changes_and_a_save_clears_it(window, tmp_path, monkeypatch):
    window.autosave = __import__("facestudio.gui.autosave", fromlist=["Autosave"]).Autosave(tmp_path / "autosave")
    assert not window.autosave_now()  # nothing changed
    drag(window.canvas, [(100, 100), (140, 120)])
    assert window.autosave_now() and (window.autosave.folder / "session.json").is_file()
    assert not window.autosave_now()  # nothing new since
    _save_dialog_answers(monkeypatch, tmp_path / "kept.png")
    assert window.save()
    assert not window.autosave.folder.exists()
