"""Engine work on the worker thread: cancel, errors, one job at a time, and auto-fix/inpaint as undo steps."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from facestudio.gui.commands import ImageEdit
from facestudio.gui.worker import JobContext, ModelManager
from facestudio.metrics import psnr
from tests.gui.conftest import SHIPPED_WEIGHTS

JOB_TIMEOUT_MS = 180_000


@pytest.fixture
def manager(qtbot):
    m = ModelManager(device="cpu")
    yield m
    m.shutdown()


@pytest.fixture
def engine_window(qtbot, settings, random_weights_dir):
    """The editor on the sample with small random models (fast; the figures are not quality claims)."""
    return _window(qtbot, settings, random_weights_dir)


def _window(qtbot, settings, weights_dir):
    from facestudio.gui.main_window import MainWindow

    win = MainWindow(settings=settings, device="cpu", weights_dir=weights_dir)
    qtbot.addWidget(win, before_close_func=lambda w: w.document.undo_stack.setClean())
    win.resize(1280, 800)
    win.show()
    win.open_sample(ask=False)
    return win


def _long_job(done_steps: list[int], total: int = 400):
    def job(context: JobContext) -> str:
        for index in range(total):
            context.step(index / total, f"step {index}")
            done_steps.append(index)
            time.sleep(0.01)  # stands for one face's model call
        return "finished"

    return job


def test_cancel_stops_a_long_job_and_the_ui_keeps_running(qtbot, manager):
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    steps: list[int] = []
    finished: list[object] = []
    manager.finished.connect(lambda job_id, result: finished.append(result))
    with qtbot.waitSignal(manager.started, timeout=5000):
        job_id = manager.submit("Long job", _long_job(steps))
    qtbot.wait(300)
    ticks_while_running = len(ticks)
    with qtbot.waitSignal(manager.cancelled, timeout=5000) as cancelled:
        manager.cancel()
    timer.stop()
    assert cancelled.args == [job_id]
    assert ticks_while_running >= 10  # the event loop kept turning while the job ran
    assert 0 < len(steps) < 400 and finished == []
    assert not manager.is_busy()
    with qtbot.waitSignal(manager.finished, timeout=5000) as done:  # the worker takes new jobs afterwards
        manager.submit("Short job", lambda context: 42)
    assert done.args[1] == 42


def test_only_one_job_runs_at_a_time(qtbot, manager):
    steps: list[int] = []
    first = manager.submit("First", _long_job(steps))
    assert first is not None and manager.is_busy()
    assert manager.submit("Second", lambda context: 1) is None
    with qtbot.waitSignal(manager.cancelled, timeout=5000):
        manager.cancel()


def test_a_failing_job_ends_in_one_line_and_the_manager_recovers(qtbot, manager):
    def broken(context: JobContext) -> None:
        raise ValueError("mask is 10x10 px but the image is 20x20 px\nsecond line")

    with qtbot.waitSignal(manager.failed, timeout=5000) as failed:
        manager.submit("Inpaint mask", broken)
    assert failed.args[1] == "Inpaint mask failed: mask is 10x10 px but the image is 20x20 px"
    assert not manager.is_busy()


def test_missing_weights_become_a_message_not_a_crash(qtbot, settings, tmp_path):
    window = _window(qtbot, settings, tmp_path / "no-weights")
    with qtbot.waitSignal(window.manager.failed, timeout=JOB_TIMEOUT_MS) as failed:
        window.auto_fix()
    assert "segmenter.pt" in failed.args[1] and "\n" not in failed.args[1]
    assert window.document.undo_stack.count() == 0
    assert window.autofix_action.isEnabled()


def test_auto_fix_through_the_worker_is_one_undo_step_with_figures(qtbot, engine_window):
    window, doc = engine_window, engine_window.document
    image, mask = doc.image.copy(), doc.mask.copy()
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.auto_fix()
    assert doc.undo_stack.count() == 1
    command = doc.undo_stack.command(0)
    assert isinstance(command, ImageEdit) and command.text().startswith("Auto-fix (gan)")
    figures = command.figures
    assert figures.device == "cpu" and figures.method == "gan"
    assert {"psnr", "ssim", "psnr_hole", "ssim_hole", "iou", "dice"} <= set(figures.reference)
    # one identity verdict per face, from the default backend (DeepFace in its child process when installed)
    assert len(figures.identity) == figures.faces >= 1, figures.identity_note
    verdict = figures.identity[0]
    assert verdict.backend in ("deepface", "encoder") and 0.0 <= verdict.distance
    assert verdict.same == (verdict.distance <= verdict.threshold)
    assert window.history.table.rowCount() == len(figures.rows())
    labels = [window.history.table.item(row, 0).text() for row in range(window.history.table.rowCount())]
    assert labels.count("same person") == 1 and "identity cosine" not in labels
    # the result is what the user sees: the mask layer is hidden (M shows it), the figures stay off the photo
    assert not window.show_mask_action.isChecked() and not window.canvas.mask_item.isVisible()
    assert not window.canvas.figures_label.isVisible()
    window.figures_action.trigger()  # View > Show figures overlay
    assert window.canvas.figures_label.isVisible() and "PSNR" in window.canvas.figures_label.text()
    assert window.device_label.text() == "device: cpu"
    fixed, found = doc.image.copy(), doc.mask.copy()
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, image) and np.array_equal(doc.mask, mask)
    assert not window.canvas.figures_label.isVisible()
    doc.undo_stack.redo()
    assert np.array_equal(doc.image, fixed) and np.array_equal(doc.mask, found)


def test_telea_inpaint_changes_only_the_hole_and_scores_it(qtbot, engine_window, tmp_path):
    from facestudio.imageio import write_image
    from facestudio.sample import load_sample

    window, doc = engine_window, engine_window.document
    truth = load_sample().true_mask
    write_image(tmp_path / "truth.png", truth)
    window.import_mask_from(tmp_path / "truth.png")
    window.set_method("telea")
    before = doc.image.copy()
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.inpaint_mask()
    changed = (doc.image != before).any(axis=2)
    assert changed.any() and not changed[truth == 0].any()
    figures = doc.undo_stack.command(1).figures
    assert figures.reference["iou"] == 1.0
    reference = doc.reference.image
    assert psnr(doc.image, reference, truth) > psnr(before, reference, truth) + 1.5  # the mask is gone


def test_cancelled_auto_fix_leaves_the_photo_unchanged(qtbot, engine_window):
    window, doc = engine_window, engine_window.document
    image = doc.image.copy()
    with qtbot.waitSignal(window.manager.started, timeout=5000):
        window.auto_fix()
    assert not window.autofix_action.isEnabled() and window.cancel_action.isEnabled()
    with qtbot.waitSignal(window.manager.cancelled, timeout=JOB_TIMEOUT_MS):
        window.cancel_action.trigger()
    assert np.array_equal(doc.image, image) and doc.undo_stack.count() == 0
    assert window.autofix_action.isEnabled() and not window.progress.isVisible()


def test_detect_occlusions_fills_the_mask_and_models_load_once(qtbot, engine_window):
    window, doc = engine_window, engine_window.document
    loads: list[str] = []
    window.manager.loading.connect(loads.append)
    for _ in range(2):
        with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
            window.detect_occlusions()
    assert loads == ["cpu"]  # the second job found the pipeline loaded
    first = doc.undo_stack.command(0)
    assert first.text().startswith("Detect occlusions") and first.image_patch is None
    assert {"iou", "dice"} <= set(first.figures.reference)
    assert doc.undo_stack.count() == 2  # the same mask again: a step that carries only its figures


def test_a_chosen_reference_scores_the_inpaint(qtbot, engine_window, tmp_path):
    from facestudio.imageio import write_image
    from facestudio.sample import load_sample

    window, doc = engine_window, engine_window.document
    sample = load_sample()
    for name, pixels in (("occluded.png", sample.image), ("clean.png", sample.reference),
                         ("truth.png", sample.true_mask)):
        write_image(tmp_path / name, pixels)
    assert window.open_path(tmp_path / "occluded.png")
    assert doc.reference is None
    assert window.set_reference_files(tmp_path / "clean.png", tmp_path / "truth.png")
    window.import_mask_from(tmp_path / "truth.png")
    window.set_method("telea")
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.inpaint_mask()
    figures = doc.undo_stack.command(1).figures
    assert figures.reference["iou"] == 1.0 and figures.reference["psnr_hole"] > 10


def test_inpaint_with_an_empty_mask_asks_for_one(engine_window):
    assert engine_window.inpaint_mask() is None
    assert "mask is empty" in engine_window.statusBar().currentMessage()


def test_batch_menu_opens_the_batch_dialog(engine_window):
    from facestudio.gui.batch_dialog import BatchDialog

    engine_window.batch_action.trigger()
    dialog = engine_window.batch_dialog
    assert isinstance(dialog, BatchDialog) and dialog.isVisible()
    dialog.close()


@pytest.mark.slow
def test_auto_fix_with_the_shipped_models_removes_the_face_mask(qtbot, settings):
    missing = [kind for kind in ("segmenter", "encoder", "generator") if not (SHIPPED_WEIGHTS / f"{kind}.pt").is_file()]
    if missing:
        pytest.skip(f"shipped weights missing in {SHIPPED_WEIGHTS}: {', '.join(missing)}")
    window = _window(qtbot, settings, SHIPPED_WEIGHTS)
    doc = window.document
    truth, reference = doc.reference.true_mask, doc.reference.image
    before = doc.image.copy()
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.auto_fix()
    figures = doc.undo_stack.command(0).figures
    assert figures.faces >= 1
    assert figures.reference["iou"] > 0.3
    assert psnr(doc.image, reference, truth) > psnr(before, reference, truth) + 3


def _paint_hole(doc) -> None:
    hole = np.zeros(doc.mask.shape, np.uint8)
    hole[150:260, 180:330] = 255
    doc.write_mask(0, 0, hole)


def _telea_window(qtbot, settings, random_weights_dir):
    window = _window(qtbot, settings, random_weights_dir)
    window.set_method("telea")
    return window, window.document


def test_fifty_inpaints_with_the_real_identity_backend_in_a_row(qtbot, settings, random_weights_dir):
    """The editor once crashed (segfault) and once froze on "Measuring identity…" inside DeepFace's Dlib
    model on the worker thread: 50 inpaint + identity runs in a row, each one undo step with its verdict."""
    window, doc = _telea_window(qtbot, settings, random_weights_dir)
    _paint_hole(doc)
    for run in range(50):
        with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
            assert window.inpaint_mask() is not None
        figures = doc.undo_stack.command(doc.undo_stack.count() - 1).figures
        assert figures.identity or figures.identity_note, f"run {run}: no identity figure and no reason"
        assert "crashed" not in figures.identity_note and "did not answer" not in figures.identity_note, run
    assert doc.undo_stack.count() == 50 and window.inpaint_action.isEnabled()


def test_cancel_while_identity_hangs_returns_at_once_and_keeps_the_edit(qtbot, settings, random_weights_dir):
    """A frozen identity backend (its child process stopped) is what the user once met: Cancel gives
    control back within a second, the fill stays (one undo step) and its figure says why it is missing."""
    import os
    import signal

    from facestudio.identity.isolated import shared_comparer

    window, doc = _telea_window(qtbot, settings, random_weights_dir)
    _paint_hole(doc)
    with qtbot.waitSignal(window.manager.finished, timeout=JOB_TIMEOUT_MS):
        window.inpaint_mask()  # the identity child is up
    first = doc.undo_stack.command(0).figures
    if not first.identity or first.identity[0].backend != "deepface":
        pytest.skip(f"the DeepFace backend does not run here: {first.identity_note}")
    child = shared_comparer("deepface")._process
    os.kill(child.pid, signal.SIGSTOP)
    try:
        with qtbot.waitSignal(window.manager.partial, timeout=JOB_TIMEOUT_MS):
            window.inpaint_mask()
        qtbot.wait(300)  # now inside "Measuring identity…"
        assert window.manager.is_busy()
        started = time.perf_counter()
        with qtbot.waitSignal(window.manager.busy_changed, timeout=5000):
            window.cancel_action.trigger()
        assert time.perf_counter() - started < 1.0
    finally:
        if child.is_alive():
            os.kill(child.pid, signal.SIGCONT)
    assert doc.undo_stack.count() == 2  # the fill was kept
    assert doc.undo_stack.command(1).figures.identity_note == "not measured: cancelled"
    assert window.inpaint_action.isEnabled()


def test_a_bug_in_a_job_is_logged_with_its_traceback(qtbot, manager):
    from facestudio.logs import LOG_FILE, log_dir, setup_logging

    path = setup_logging()
    assert path == log_dir() / LOG_FILE

    def broken(context: JobContext) -> None:
        context.step(0.5, "about to fail")
        raise RuntimeError("an engine bug, for the log")

    with qtbot.waitSignal(manager.failed, timeout=10_000) as failed:
        manager.submit("Broken job", broken)
    assert failed.args[1] == "Broken job failed: an engine bug, for the log"
    for handler in __import__("logging").getLogger("facestudio").handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "Broken job failed" in text and "Traceback" in text and "RuntimeError: an engine bug, for the log" in text
