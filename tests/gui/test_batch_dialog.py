"""The batch dialog drives the real engine on the editor's worker: a run to the end, cancel, close mid-run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from facestudio.gui.batch_dialog import BatchDialog
from facestudio.gui.worker import ModelManager

RUN_TIMEOUT_MS = 180_000


@pytest.fixture
def dialog(qtbot, random_weights_dir):
    opened: list[Path] = []
    manager = ModelManager(device="cpu", weights_dir=random_weights_dir)
    widget = BatchDialog(manager, open_in_editor=opened.append)
    widget.opened = opened
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.close()
    manager.shutdown()


def fill_in(dialog: BatchDialog, source: Path, output: Path, masks: Path | None = None, existing: str = "skip") -> None:
    dialog.input_edit.setText(str(source))
    dialog.output_edit.setText(str(output))
    dialog.masks_edit.setText("" if masks is None else str(masks))
    dialog.method_combo.setCurrentIndex(dialog.method_combo.findData("telea"))
    dialog.existing_combo.setCurrentIndex(dialog.existing_combo.findData(existing))


def rows(dialog: BatchDialog) -> dict[str, tuple[str, str]]:
    items = (dialog.file_list.topLevelItem(i) for i in range(dialog.file_list.topLevelItemCount()))
    return {item.text(0): (item.text(1), item.text(2)) for item in items}


def double_click(dialog: BatchDialog, name: str) -> None:
    """A real double-click on the row's cell (press/release, then the double-click, as a mouse sends)."""
    row = dialog.file_list.findItems(name, Qt.MatchFlag.MatchExactly)[0]
    centre = dialog.file_list.visualItemRect(row).center()
    QTest.mouseClick(dialog.file_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    QTest.mouseDClick(dialog.file_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def masked_photos(folder: Path, masks: Path, face_path: Path, count: int, size: tuple[int, int]) -> None:
    face = Image.open(face_path).convert("RGB").resize(size)
    hole = np.zeros((size[1], size[0]), np.uint8)
    hole[size[1] // 2 : size[1] // 2 + size[1] // 6, size[0] // 3 : 2 * size[0] // 3] = 255
    folder.mkdir(parents=True)
    masks.mkdir(parents=True)
    for index in range(count):
        face.save(folder / f"{index:02d}.jpg", quality=90)
        Image.fromarray(hole).save(masks / f"{index:02d}.png")


def test_dialog_runs_a_batch_to_the_end_and_a_result_opens_in_the_editor(qtbot, dialog, tmp_path, face_paths):
    source, output = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for path in face_paths[:3]:
        (source / path.name).write_bytes(path.read_bytes())
    (source / "broken.jpg").write_bytes(b"not a photo at all")
    fill_in(dialog, source, output)

    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        started = time.perf_counter()
        QTest.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        assert time.perf_counter() - started < 1.0 and dialog.is_running()  # the UI thread is free
        assert not dialog.start_button.isEnabled() and not dialog.input_edit.isEnabled()

    assert finished.args == [{"done": 3, "failed": 1}]
    listed = rows(dialog)
    assert listed["broken.jpg"] == ("failed", "not an image (unrecognised or corrupt file)")
    assert all(listed[path.name][0] == "done" for path in face_paths[:3])
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 4
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert json.loads((output / "report.json").read_text())["run"]["counts"] == {"done": 3, "failed": 1}

    double_click(dialog, face_paths[1].name)
    assert dialog.opened == [output / f"{face_paths[1].stem}.png"]
    double_click(dialog, "broken.jpg")
    assert len(dialog.opened) == 1

    fill_in(dialog, source, output, existing="stop")
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as refused:
        dialog.start_button.click()
    assert refused.args == [{}] and "already exists" in dialog.status_label.text()


def test_cancel_stops_a_running_batch_and_leaves_only_whole_files(qtbot, dialog, tmp_path, face_paths):
    source, masks, output = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    masked_photos(source, masks, face_paths[0], count=24, size=(800, 600))
    fill_in(dialog, source, output, masks=masks)
    dialog.progress_bar.valueChanged.connect(
        lambda value: value == 1 and QTest.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    )

    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        dialog.start_button.click()

    counts = finished.args[0]
    assert counts.get("cancelled", 0) >= 1 and counts.get("done", 0) >= 1 and sum(counts.values()) == 24
    statuses = [status for status, _ in rows(dialog).values()]
    assert statuses.count("done") == counts["done"] and statuses.count("cancelled") == counts["cancelled"]
    assert len(list(output.glob("*.mask.png"))) == counts["done"]
    assert not [path for path in output.rglob("*") if path.name.endswith(".tmp")]
    report = json.loads((output / "report.json").read_text())
    assert report["run"]["cancelled"] is True and len(report["files"]) == 24
    assert "Cancelled" in dialog.status_label.text() and dialog.start_button.isEnabled()


def test_closing_the_dialog_mid_run_stops_the_worker(qtbot, dialog, tmp_path, face_paths):
    source, masks, output = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    masked_photos(source, masks, face_paths[0], count=12, size=(800, 600))
    fill_in(dialog, source, output, masks=masks)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() >= 1, timeout=RUN_TIMEOUT_MS)

    dialog.close()

    assert not dialog.is_running()
    done = len(list(output.glob("*.mask.png")))
    assert done < 12 and len(list(output.glob("[0-9][0-9].png"))) == done
    assert not [path for path in output.rglob("*") if path.name.endswith(".tmp")]


def test_the_editors_batch_dialog_runs_on_the_editors_worker_and_pipeline(qtbot, settings, random_weights_dir,
                                                                          tmp_path, face_paths):
    """One Pipeline per editor: the dialog's run loads nothing of its own, and the editor's engine actions
    wait while it runs."""
    from facestudio.gui.main_window import MainWindow

    window = MainWindow(settings=settings, device="cpu", weights_dir=random_weights_dir)
    qtbot.addWidget(window, before_close_func=lambda w: w.document.undo_stack.setClean())
    window.open_sample(ask=False)
    window.open_batch()
    batch = window.batch_dialog
    assert batch._manager is window.manager
    source, masks, output = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    masked_photos(source, masks, face_paths[0], count=2, size=(320, 240))
    fill_in(batch, source, output, masks=masks)
    with qtbot.waitSignal(batch.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert batch.start()
        assert window.manager.is_busy() and window.auto_fix() is None  # one job at a time on the worker
    assert finished.args[0] == {"done": 2}
    loaded = window.manager._worker._pipeline
    assert loaded is not None and str(loaded.weights_dir) == str(random_weights_dir)
    assert window.document.undo_stack.count() == 0  # the batch's outcomes are not the editor's steps
    batch.close()
