"""The canvas with real mouse and key events: strokes, undo/redo, pixel-exact painting, zoom, tools."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from facestudio.gui.document import FaceBox
from tests.gui.conftest import drag, viewport_point


def test_a_stroke_changes_the_mask_and_one_undo_restores_it_exactly(window):
    doc = window.document
    before = doc.mask.copy()
    drag(window.canvas, [(150, 150), (200, 170), (260, 175), (300, 240)])
    assert np.count_nonzero(doc.mask != before) > 1000
    assert doc.undo_stack.count() == 1 and doc.undo_stack.text(0) == "Brush stroke"
    assert doc.is_modified
    doc.undo_stack.undo()
    assert np.array_equal(doc.mask, before)
    assert not doc.is_modified


def test_redo_puts_the_same_stroke_back(window):
    doc = window.document
    drag(window.canvas, [(100, 300), (160, 320), (220, 330)])
    painted = doc.mask.copy()
    doc.undo_stack.undo()
    doc.undo_stack.redo()
    assert np.array_equal(doc.mask, painted)
    # the overlay shows the redone stroke: its pixmap has the mask colour there
    overlay = window.canvas.mask_item.pixmap().toImage()
    assert overlay.pixelColor(160, 320).alpha() == 255 and overlay.pixelColor(5, 5).alpha() == 0


def test_eraser_and_right_button_erase(window):
    doc = window.document
    window.select_tool("rectangle")
    drag(window.canvas, [(100, 100), (140, 140)])
    assert doc.mask[100:141, 100:141].min() == 255 and doc.mask[99, 100] == 0
    window.select_tool("eraser")
    drag(window.canvas, [(120, 120), (120, 121)])
    assert doc.mask[120, 120] == 0
    window.select_tool("brush")
    drag(window.canvas, [(110, 110), (110, 111)], button=Qt.MouseButton.RightButton)
    assert doc.mask[110, 110] == 0
    assert doc.undo_stack.count() == 3


def test_painting_is_pixel_exact_at_high_zoom(window):
    canvas, doc = window.canvas, window.document
    canvas.set_zoom(8.0)
    canvas.centerOn(QPointF(200, 100))
    window.brush.size = 1
    drag(canvas, [(203, 101)])
    assert np.argwhere(doc.mask).tolist() == [[101, 203]]
    drag(canvas, [(198, 97), (201, 97)])  # a 1 px line of four pixels
    assert sorted(map(tuple, np.argwhere(doc.mask[97]).tolist())) == [(198,), (199,), (200,), (201,)]


def test_fit_and_actual_size_and_wheel_zoom(window, qtbot):
    canvas = window.canvas
    QTest.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == 1.0 and not canvas.is_fitted()
    QTest.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.is_fitted()
    shown = canvas.mapFromScene(QRectF(0, 0, window.document.width, window.document.height)).boundingRect()
    assert canvas.viewport().rect().contains(shown)
    assert shown.width() > 0.9 * canvas.viewport().width() or shown.height() > 0.9 * canvas.viewport().height()
    fitted = canvas.zoom()
    window.zoom_in_action.trigger()
    assert abs(canvas.zoom() - fitted * 1.25) < 1e-9
    centre = QPointF(canvas.viewport().rect().center())
    wheel = QWheelEvent(centre, canvas.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), wheel)
    assert abs(canvas.zoom() - fitted * 1.25 ** 3) < 1e-9
    window.resize(1000, 700)  # no longer fitted: a resize keeps the zoom
    qtbot.wait(10)
    assert abs(canvas.zoom() - fitted * 1.25 ** 3) < 1e-9


def test_brackets_resize_the_brush_and_its_cursor(window):
    size = window.brush.size
    QTest.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.brush.size > size
    assert window.layers.size.value() == round(window.brush.size)
    QTest.keyClick(window, Qt.Key.Key_BracketLeft)
    QTest.keyClick(window, Qt.Key.Key_BracketLeft)
    assert window.brush.size < size
    assert window.canvas.brush_cursor.boundingRect().width() == window.brush.size + 2


def test_holding_tab_shows_the_original_then_returns(window):
    canvas = window.canvas
    drag(canvas, [(200, 200), (220, 220)])
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_Tab)
    assert canvas.showing_original()
    assert canvas.before_item.isVisible() and not canvas.mask_item.isVisible()
    QTest.keyRelease(canvas, Qt.Key.Key_Tab)
    assert not canvas.showing_original() and canvas.mask_item.isVisible()
    assert not canvas.before_item.isVisible()
    window.layers.split.setValue(40)
    assert canvas.before_item.isVisible() and canvas.split_line.isVisible()
    assert canvas.split_line.pos().x() == 0.4 * window.document.width


def test_lasso_and_fill_are_one_step_each(window):
    doc = window.document
    window.select_tool("lasso")
    drag(window.canvas, [(300, 300), (360, 300), (360, 360), (300, 360)])
    assert doc.mask[330, 330] == 255 and doc.mask[290, 330] == 0
    window.select_tool("brush")
    window.brush.size = 3
    drag(window.canvas, [(50, 400), (90, 400), (90, 440), (50, 440), (50, 400)])  # an outline
    assert doc.mask[420, 70] == 0
    window.select_tool("fill")
    drag(window.canvas, [(70, 420)])
    assert doc.mask[420, 70] == 255 and doc.mask[460, 70] == 0
    assert [doc.undo_stack.text(i) for i in range(doc.undo_stack.count())] == ["Lasso", "Brush stroke", "Fill"]
    doc.undo_stack.undo()
    assert doc.mask[420, 70] == 0


def test_face_boxes_can_be_added_moved_and_removed(window):
    doc, canvas = window.document, window.canvas
    window.select_tool("face")
    drag(canvas, [(100, 100), (180, 190)])
    assert len(doc.faces) == 1
    box = doc.faces[0]
    assert (round(box.x), round(box.y)) == (100, 100)
    drag(canvas, [(140, 140), (150, 145)])  # grab inside and move by (10, 5)
    moved = doc.faces[0]
    assert (round(moved.x - box.x), round(moved.y - box.y)) == (10, 5) and moved.w == box.w
    drag(canvas, [(140, 140)], button=Qt.MouseButton.RightButton)
    assert doc.faces == []
    assert [doc.undo_stack.text(i) for i in range(3)] == ["Add face box", "Move face box", "Remove face box"]
    doc.undo_stack.undo()
    assert doc.faces == [moved]
    doc.undo_stack.undo()
    assert doc.faces == [box]
    doc.set_faces([FaceBox(10, 10, 40, 40, 0.9)])
    assert canvas.face_box_at(QPointF(30, 30)) == (0, False)
    assert canvas.face_box_at(QPointF(50, 50))[1] is True


def test_viewport_point_maps_back_to_the_same_pixel(window):
    canvas = window.canvas
    for zoom in (0.37, 1.0, 3.0):
        canvas.set_zoom(zoom)
        canvas.centerOn(QPointF(256, 256))
        pos = canvas.scene_pos(QPointF(viewport_point(canvas, 250, 260)))
        assert (int(pos.x()), int(pos.y())) == (250, 260)


def test_a_big_photo_zoomed_out_shows_new_strokes(window, qtbot):
    """Zoomed out, layers draw from reduced copies: a stroke must reach those copies too."""
    import cv2

    from facestudio.sample import load_sample

    doc, canvas = window.document, window.canvas
    doc.load(cv2.resize(load_sample().reference, (3000, 2400)), None, "big")
    assert canvas.zoom() < 0.5
    qtbot.wait(20)
    spot = viewport_point(canvas, 1500, 1800)
    before = canvas.viewport().grab().toImage().pixelColor(spot)
    window.brush.size = 120
    drag(canvas, [(1400, 1800), (1600, 1800)])
    qtbot.wait(20)
    after = canvas.viewport().grab().toImage().pixelColor(spot)
    colour = canvas.mask_colour()
    # half-transparent mask colour over the photo: clearly towards the mask colour
    assert abs(after.red() - colour.red()) < abs(before.red() - colour.red()) or \
        abs(after.blue() - colour.blue()) < abs(before.blue() - colour.blue())
    assert abs(after.red() - before.red()) + abs(after.green() - before.green()) + abs(after.blue() - before.blue()) > 60
    doc.undo_stack.undo()
    qtbot.wait(20)
    undone = canvas.viewport().grab().toImage().pixelColor(spot)
    assert abs(undone.red() - before.red()) + abs(undone.green() - before.green()) <= 6


def test_middle_button_and_space_drag_pan_without_painting(window):
    canvas = window.canvas
    canvas.set_zoom(4.0)
    canvas.centerOn(QPointF(256, 256))
    bar = canvas.horizontalScrollBar()
    start = bar.value()
    viewport = canvas.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(400, 300))
    QTest.mouseMove(viewport, QPoint(300, 300))
    QTest.mouseRelease(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(300, 300))
    assert bar.value() == start + 100
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(300, 300))
    QTest.mouseMove(viewport, QPoint(350, 300))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(350, 300))
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert bar.value() == start + 50
    assert not window.document.mask.any() and window.document.undo_stack.count() == 0


def test_a_fast_lasso_flick_marks_its_triangle_or_says_why_it_marked_nothing(window):
    """A fast drag gives few motion events: one move still closes a triangle; none (press, release) is a
    line that encloses nothing, and the status bar says so instead of dropping the gesture silently."""
    doc = window.document
    window.select_tool("lasso")
    drag(window.canvas, [(100, 100), (300, 120), (200, 300)])  # press, one move, release
    assert doc.undo_stack.count() == 1 and doc.mask[170, 200] == 255
    window.statusBar().clearMessage()
    drag(window.canvas, [(320, 320), (420, 420)])  # press, release: no move event at all
    assert doc.undo_stack.count() == 1
    assert "encloses nothing" in window.statusBar().currentMessage()
