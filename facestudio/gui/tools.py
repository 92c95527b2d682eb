"""Canvas tools: brush, eraser, rectangle, lasso, fill and face boxes.

A tool receives mouse work in image pixels (scene coordinates) from the canvas, changes the document
(live, in place, for immediate feedback) and pushes one undo command when the gesture ends.
Right button or Alt inverts a mask tool (the brush erases, the rectangle subtracts...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem, QGraphicsScene

from facestudio.gui import mask_ops
from facestudio.gui.commands import FaceBoxEdit, MaskEdit, MaskStrokeRecorder, push_mask_change
from facestudio.gui.document import Document, FaceBox

PREVIEW_Z = 40.0
MIN_FACE_BOX = 4.0


@dataclass
class BrushSettings:
    """Brush and eraser size (diameter in image pixels) and hardness (0 soft .. 1 hard edge)."""

    size: float = 24.0
    hardness: float = 1.0

    MIN_SIZE = 1.0
    MAX_SIZE = 2000.0

    def bigger(self) -> None:
        self.size = min(self.MAX_SIZE, max(self.size + 1.0, round(self.size * 1.2)))

    def smaller(self) -> None:
        self.size = max(self.MIN_SIZE, min(self.size - 1.0, round(self.size / 1.2)))


class ToolHost(Protocol):
    """What a tool needs from the canvas."""

    document: Document

    def scene(self) -> QGraphicsScene: ...

    def face_box_at(self, pos: QPointF) -> tuple[int, bool] | None:
        """Index of the face box under `pos` and whether `pos` is on its resize corner."""

    def select_face_box(self, index: int | None) -> None: ...

    @property
    def tool_message(self) -> Any:
        """A signal(str): why a gesture changed nothing, for the status bar."""


def _as_tuple(pos: QPointF) -> tuple[float, float]:
    return (pos.x(), pos.y())


def _qrect(rect: mask_ops.Rect) -> QRect:
    return QRect(*rect)


def _subtracts(button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> bool:
    return button == Qt.MouseButton.RightButton or bool(modifiers & Qt.KeyboardModifier.AltModifier)


class Tool:
    """Base: a named gesture handler. Subclasses override the mouse methods they use."""

    name = "tool"
    label = "Tool"
    icon = "mdi6.cursor-default"
    shortcut = ""
    shows_brush_cursor = False
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, host: ToolHost) -> None:
        self.host = host

    @property
    def document(self) -> Document:
        return self.host.document

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None: ...

    def move(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None: ...

    def release(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None: ...

    def cancel(self) -> None:
        """Abandon a gesture in progress (tool switch, new document)."""


class BrushTool(Tool):
    """Paint the hole (or erase it) along the mouse path; one stroke is one undo step."""

    name, label, icon, shortcut = "brush", "Brush", "mdi6.brush", "B"
    shows_brush_cursor = True
    erases = False

    def __init__(self, host: ToolHost, settings: BrushSettings) -> None:
        super().__init__(host)
        self.settings = settings
        self._recorder: MaskStrokeRecorder | None = None
        self._last: tuple[float, float] = (0.0, 0.0)
        self._erase = self.erases

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        self._erase = self.erases != _subtracts(button, modifiers)
        self._recorder = MaskStrokeRecorder(self.document.mask)
        self._last = _as_tuple(pos)
        self._dab(self._last, self._last)

    def move(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        if self._recorder is None:
            return
        point = _as_tuple(pos)
        self._dab(self._last, point)
        self._last = point

    def release(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        if self._recorder is None:
            return
        self.move(pos, modifiers)
        patch = self._recorder.finish()
        self._recorder = None
        if patch is not None:
            text = "Eraser stroke" if self._erase else "Brush stroke"
            self.document.undo_stack.push(MaskEdit(self.document, text, patch))

    def cancel(self) -> None:
        if self._recorder is not None:
            patch = self._recorder.finish()
            self._recorder = None
            if patch is not None:  # put the pixels back: a cancelled stroke leaves no trace
                self.document.write_mask(patch.x, patch.y, patch.before)

    def _dab(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        assert self._recorder is not None
        mask = self.document.mask
        radius = self.settings.size / 2.0
        bounds = mask_ops.segment_bounds(mask.shape, p0, p1, radius)
        if bounds == mask_ops.EMPTY:
            return
        self._recorder.before_paint(_qrect(bounds))
        touched = mask_ops.paint_segment(mask, p0, p1, radius, self.settings.hardness, erase=self._erase)
        self.document.notify_mask_changed(_qrect(touched))


class EraserTool(BrushTool):
    name, label, icon, shortcut = "eraser", "Eraser", "mdi6.eraser", "E"
    erases = True


class RectangleTool(Tool):
    """Drag a rectangle to add it to the hole (right button / Alt: remove it)."""

    name, label, icon, shortcut = "rectangle", "Rectangle", "mdi6.vector-square", "R"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self._start: QPointF | None = None
        self._subtract = False
        self._preview: QGraphicsRectItem | None = None

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        self._start = QPointF(pos)
        self._subtract = _subtracts(button, modifiers)
        self._preview = _preview_rect(self.host.scene())
        self._preview.setRect(_pixel_rect(pos, pos))

    def move(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        if self._start is not None and self._preview is not None:
            self._preview.setRect(_pixel_rect(self._start, pos))

    def release(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        if self._start is None:
            return
        rect = _pixel_rect(self._start, pos)
        self.cancel()
        value = 0 if self._subtract else 255
        bounds = mask_ops.clip_rect(self.document.mask.shape, (int(rect.x()), int(rect.y()),
                                                                int(rect.width()), int(rect.height())))
        _record_local_change(self.document, "Rectangle" if not self._subtract else "Rectangle (subtract)",
                             bounds, lambda mask: mask_ops.fill_rect(mask, bounds, value))

    def cancel(self) -> None:
        self._start = None
        _remove(self._preview)
        self._preview = None


class LassoTool(Tool):
    """Draw a free outline; its inside joins the hole (right button / Alt: leaves it)."""

    name, label, icon, shortcut = "lasso", "Lasso", "mdi6.lasso", "L"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self._points: list[tuple[float, float]] = []
        self._subtract = False
        self._preview: QGraphicsPathItem | None = None

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        self._points = [_as_tuple(pos)]
        self._subtract = _subtracts(button, modifiers)
        self._preview = QGraphicsPathItem()
        self._preview.setPen(_preview_pen())
        self._preview.setZValue(PREVIEW_Z)
        self.host.scene().addItem(self._preview)

    def move(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        if self._preview is None:
            return
        self._points.append(_as_tuple(pos))
        path = QPainterPath(QPointF(*self._points[0]))
        for x, y in self._points[1:]:
            path.lineTo(x, y)
        self._preview.setPath(path)

    def release(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        if self._preview is None:
            return
        self._points.append(_as_tuple(pos))
        points = self._points
        self.cancel()
        # A fast flick gives few motion events (maybe none): the outline is then a line that encloses
        # nothing. Say so instead of dropping the gesture silently.
        if _enclosed_area(points) < 1.0:
            self.host.tool_message.emit("Lasso: the outline encloses nothing; drag around the area to mark it.")
            return
        pts = np.asarray(points)
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 1
        bounds = mask_ops.clip_rect(self.document.mask.shape, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
        value = 0 if self._subtract else 255
        _record_local_change(self.document, "Lasso" if not self._subtract else "Lasso (subtract)",
                             bounds, lambda mask: mask_ops.fill_polygon(mask, points, value))

    def cancel(self) -> None:
        self._points = []
        _remove(self._preview)
        self._preview = None


def _enclosed_area(points: list[tuple[float, float]]) -> float:
    """Area (px²) of the closed outline through `points` (shoelace formula); 0 for fewer than 3 points."""
    if len(points) < 3:
        return 0.0
    xs, ys = np.asarray(points, np.float64).T
    return 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))


class FillTool(Tool):
    """Click inside an outlined area to fill it (the connected region of equal mask values)."""

    name, label, icon, shortcut = "fill", "Fill", "mdi6.format-color-fill", "G"

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        value = 0 if _subtracts(button, modifiers) else 255
        before = self.document.mask.copy()
        touched = mask_ops.flood_fill(self.document.mask, _as_tuple(pos), value)
        if touched != mask_ops.EMPTY:
            push_mask_change(self.document, "Fill" if value else "Fill (clear)", before, _qrect(touched))


class FaceBoxTool(Tool):
    """Add a face box by dragging on empty space, move one by dragging it, resize it by its corner,
    remove it with the right button (or Delete on the selected box)."""

    name, label, icon, shortcut = "face", "Face box", "mdi6.face-recognition", "F"
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self.selected: int | None = None
        self._mode = ""          # "", "add", "move", "resize"
        self._start = QPointF()
        self._before: list[FaceBox] = []
        self._preview: QGraphicsRectItem | None = None

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        hit = self.host.face_box_at(pos)
        self._before = self.document.faces
        self._start = QPointF(pos)
        if button == Qt.MouseButton.RightButton:
            if hit is not None:
                self._select(hit[0])
                self.remove_selected()
            return
        if hit is not None:
            self._select(hit[0])
            self._mode = "resize" if hit[1] else "move"
            return
        self._select(None)
        self._mode = "add"
        self._preview = _preview_rect(self.host.scene())
        self._preview.setRect(_pixel_rect(pos, pos))

    def move(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        if self._mode == "add" and self._preview is not None:
            self._preview.setRect(_pixel_rect(self._start, pos))
        elif self._mode in ("move", "resize") and self.selected is not None:
            faces = list(self._before)
            box = faces[self.selected]
            # whole pixels: from the pixel grabbed to the pixel under the cursor now
            dx = int(np.floor(pos.x()) - np.floor(self._start.x()))
            dy = int(np.floor(pos.y()) - np.floor(self._start.y()))
            if self._mode == "move":
                faces[self.selected] = box.moved(dx, dy)
            else:
                faces[self.selected] = box.resized(box.w + dx, box.h + dy)
            self.document.set_faces(faces)

    def release(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        mode, self._mode = self._mode, ""
        if mode == "add":
            rect = _pixel_rect(self._start, pos)
            _remove(self._preview)
            self._preview = None
            if rect.width() >= MIN_FACE_BOX and rect.height() >= MIN_FACE_BOX:
                after = self._before + [FaceBox(rect.x(), rect.y(), rect.width(), rect.height())]
                self.document.set_faces(after)
                self.document.undo_stack.push(FaceBoxEdit(self.document, "Add face box", self._before, after))
                self._select(len(after) - 1)
        elif mode in ("move", "resize"):
            self.move(pos, modifiers)
            after = self.document.faces
            if after != self._before:
                text = "Move face box" if mode == "move" else "Resize face box"
                self.document.undo_stack.push(FaceBoxEdit(self.document, text, self._before, after))

    def remove_selected(self) -> bool:
        """Delete the selected face box as one undo step; False when none is selected."""
        faces = self.document.faces
        if self.selected is None or not 0 <= self.selected < len(faces):
            return False
        after = faces[:self.selected] + faces[self.selected + 1:]
        self.document.set_faces(after)
        self.document.undo_stack.push(FaceBoxEdit(self.document, "Remove face box", faces, after))
        self._select(None)
        return True

    def cancel(self) -> None:
        if self._mode in ("move", "resize"):
            self.document.set_faces(self._before)
        self._mode = ""
        _remove(self._preview)
        self._preview = None

    def _select(self, index: int | None) -> None:
        self.selected = index
        self.host.select_face_box(index)


def _record_local_change(document: Document, text: str, bounds: mask_ops.Rect, change) -> None:
    """Apply `change(mask)` that only touches `bounds`, and push it as one undo step if anything changed."""
    if bounds == mask_ops.EMPTY:
        return
    recorder = MaskStrokeRecorder(document.mask)
    recorder.before_paint(_qrect(bounds))
    change(document.mask)
    patch = recorder.finish()
    if patch is not None:
        document.notify_mask_changed(patch.rect)
        document.undo_stack.push(MaskEdit(document, text, patch))


def _pixel_rect(a: QPointF, b: QPointF) -> QRectF:
    """The whole pixels spanned by two corner points (both corners' pixels included)."""
    x0, x1 = sorted((a.x(), b.x()))
    y0, y1 = sorted((a.y(), b.y()))
    left, top = np.floor(x0), np.floor(y0)
    return QRectF(left, top, np.floor(x1) + 1 - left, np.floor(y1) + 1 - top)


def _preview_pen() -> QPen:
    pen = QPen(QColor(255, 255, 255), 0, Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    return pen


def _preview_rect(scene: QGraphicsScene) -> QGraphicsRectItem:
    item = QGraphicsRectItem()
    item.setPen(_preview_pen())
    item.setBrush(QColor(255, 255, 255, 40))
    item.setZValue(PREVIEW_Z)
    scene.addItem(item)
    return item


def _remove(item) -> None:
    if item is not None and item.scene() is not None:
        item.scene().removeItem(item)
