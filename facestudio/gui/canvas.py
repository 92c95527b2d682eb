"""The view of a Document: photo, mask overlay, face boxes, brush cursor, before/after split, figures overlay.

Scene coordinates are image pixels. Layers are raster items that own their pixmap and repaint only the
rectangle the document reports as changed, so painting on a 24-megapixel photo converts a few
thousand pixels per mouse move, not the whole image.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPen, QPixmap, QTransform,
                           QWheelEvent)
from PySide6.QtWidgets import (QFrame, QGraphicsItem, QGraphicsLineItem, QGraphicsRectItem, QGraphicsScene,
                               QGraphicsSimpleTextItem, QGraphicsView, QLabel, QStyleOptionGraphicsItem, QWidget)

from facestudio.gui.document import Document
from facestudio.steps import Figures
from facestudio.gui.tools import BrushSettings, Tool

MIN_ZOOM, MAX_ZOOM = 0.01, 64.0
ZOOM_STEP = 1.25
SHARP_ZOOM = 2.0
MAX_REDUCTION_LEVEL = 6
CORNER_HANDLE_PX = 10.0
FACE_COLOUR = QColor(80, 230, 120)
SELECTED_FACE_COLOUR = QColor(255, 210, 40)


def rgb_qimage(rgb: np.ndarray) -> QImage:
    """Wrap an hxwx3 uint8 RGB array as a QImage (no copy: keep the array alive while it is used)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    image._keep = rgb  # type: ignore[attr-defined]  # the buffer must outlive the QImage
    return image


class RasterItem(QGraphicsItem):
    """A layer that owns a pixmap and updates it in place by rectangles (`blit`).

    Zoomed out, it draws from a copy reduced by a power of two (made on first need, kept up to date
    by `blit`), so a full repaint of a 24-megapixel photo at fit-to-window samples about a megapixel
    instead of all of it, and the reduction is area-averaged rather than aliased.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pixmap = QPixmap()
        self._reduced: dict[int, QPixmap] = {}   # level k -> pixmap reduced 2**k times
        self._clip_width: float | None = None
        self._smooth = True

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self.prepareGeometryChange()
        self._pixmap = pixmap
        self._reduced.clear()
        self.update()

    def pixmap(self) -> QPixmap:
        return self._pixmap

    def blit(self, x: int, y: int, image: QImage) -> None:
        """Replace the pixels at (x, y) with `image` (source copy, alpha included) and repaint only there."""
        painter = QPainter(self._pixmap)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(x, y, image)
        painter.end()
        for level in self._reduced:
            self._update_reduced(level, QRect(x, y, image.width(), image.height()))
        self.update(QRectF(x, y, image.width(), image.height()))

    def set_smooth(self, smooth: bool) -> None:
        if smooth != self._smooth:
            self._smooth = smooth
            self.update()

    def set_clip_width(self, width: float | None) -> None:
        """Draw only the left `width` pixels (the 'before' side of the split view); None draws everything."""
        self._clip_width = width
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._pixmap.width(), self._pixmap.height())

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._pixmap.isNull():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._smooth)
        if self._clip_width is not None:
            painter.setClipRect(QRectF(0, 0, self._clip_width, self._pixmap.height()), Qt.ClipOperation.IntersectClip)
        # the view clips to the exposed region; the raster engine only samples what is inside it
        level = self._level_for(option.levelOfDetailFromTransform(painter.worldTransform()))
        if level == 0:
            painter.drawPixmap(0, 0, self._pixmap)
            return
        reduced = self._reduced_pixmap(level)
        scale = float(1 << level)
        painter.drawPixmap(QRectF(0, 0, reduced.width() * scale, reduced.height() * scale), reduced,
                           QRectF(reduced.rect()))

    @staticmethod
    def _level_for(zoom: float) -> int:
        """Largest k with zoom * 2**k <= 1, i.e. the reduction that still has a pixel per screen pixel."""
        level = 0
        while level < MAX_REDUCTION_LEVEL and zoom * (1 << (level + 1)) <= 1.0:
            level += 1
        return level

    def _reduced_pixmap(self, level: int) -> QPixmap:
        if level not in self._reduced:
            scale = 1 << level
            size = QSize(-(-self._pixmap.width() // scale), -(-self._pixmap.height() // scale))
            self._reduced[level] = self._pixmap.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                       Qt.TransformationMode.SmoothTransformation)
        return self._reduced[level]

    def _update_reduced(self, level: int, rect: QRect) -> None:
        """Redo the reduced copy over `rect` (photo pixels), widened to whole reduced pixels."""
        scale = 1 << level
        left, top = rect.left() // scale, rect.top() // scale
        right = min(-(-(rect.right() + 1) // scale), self._reduced[level].width())
        bottom = min(-(-(rect.bottom() + 1) // scale), self._reduced[level].height())
        source = self._pixmap.copy(QRect(left * scale, top * scale, (right - left) * scale, (bottom - top) * scale))
        patch = source.scaled(QSize(right - left, bottom - top), Qt.AspectRatioMode.IgnoreAspectRatio,
                              Qt.TransformationMode.SmoothTransformation)
        painter = QPainter(self._reduced[level])
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawPixmap(left, top, patch)
        painter.end()


class BrushCursorItem(QGraphicsItem):
    """A circle of the brush's diameter, black and white so it shows on any photo."""

    def __init__(self) -> None:
        super().__init__()
        self._diameter = 10.0
        self.setZValue(100)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_diameter(self, diameter: float) -> None:
        self.prepareGeometryChange()
        self._diameter = diameter

    def boundingRect(self) -> QRectF:
        r = self._diameter / 2 + 1
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        r = self._diameter / 2
        for colour, style in ((QColor(0, 0, 0, 200), Qt.PenStyle.SolidLine), (QColor(255, 255, 255), Qt.PenStyle.DashLine)):
            pen = QPen(colour, 0, style)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QRectF(-r, -r, 2 * r, 2 * r))


class Canvas(QGraphicsView):
    """Shows a Document and turns mouse work into tool calls. Zoom, pan, before/after live here."""

    zoom_changed = Signal(float)
    cursor_moved = Signal(int, int)       # image pixel under the mouse (-1, -1 outside)
    tool_message = Signal(str)            # a tool tells the user why a gesture did nothing

    def __init__(self, document: Document, brush: BrushSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.brush = brush
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(38, 40, 44))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # the main window takes dropped files

        self.photo_item = RasterItem()
        self.before_item = RasterItem()
        self.mask_item = RasterItem()
        self.photo_item.setZValue(0)
        self.mask_item.setZValue(1)
        self.before_item.setZValue(2)  # the "before" side shows the photo as opened, without the mask
        self.before_item.setVisible(False)
        for item in (self.photo_item, self.before_item, self.mask_item):
            self._scene.addItem(item)
        self.split_line = QGraphicsLineItem()
        pen = QPen(QColor(255, 255, 255), 2)
        pen.setCosmetic(True)
        self.split_line.setPen(pen)
        self.split_line.setZValue(3)
        self.split_line.setVisible(False)
        self._scene.addItem(self.split_line)
        self.brush_cursor = BrushCursorItem()
        self.brush_cursor.setVisible(False)
        self._scene.addItem(self.brush_cursor)
        self._face_items: list[QGraphicsRectItem] = []
        self._selected_face: int | None = None
        self._faces_visible = True

        self._mask_colour = QColor(255, 40, 90)
        self._mask_lut = self._colour_lut(self._mask_colour)
        self._mask_visible = True
        self.mask_item.setOpacity(0.5)

        self._zoom = 1.0
        self._fit_mode = True
        self._tool: Tool | None = None
        self._tool_active = False
        self._space_down = False
        self._pan_from: QPointF | None = None
        self._split = 0.0
        self._showing_original = False
        self._before_ready = False

        self.figures_label = QLabel(self.viewport())
        self.figures_label.setObjectName("figuresOverlay")
        self.figures_label.setStyleSheet(
            "#figuresOverlay { background: rgba(20, 22, 26, 205); color: #f0f0f0; border-radius: 6px;"
            " padding: 8px 10px; font-size: 12px; }")
        self.figures_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.figures_label.move(12, 12)
        self.figures_label.hide()
        self._figures: Figures | None = None
        self._figures_enabled = False  # off by default: the History panel has them

        document.reset.connect(self._on_reset)
        document.image_changed.connect(self._on_image_changed)
        document.mask_changed.connect(self._on_mask_changed)
        document.faces_changed.connect(self._rebuild_faces)
        self._on_reset()

    # --- document -> layers ---

    def _on_reset(self) -> None:
        doc = self.document
        self.photo_item.set_pixmap(QPixmap.fromImage(rgb_qimage(doc.image)))
        self._before_ready = False
        self.before_item.set_pixmap(QPixmap())
        self.mask_item.set_pixmap(self._mask_pixmap(doc.mask))
        self._scene.setSceneRect(QRectF(0, 0, doc.width, doc.height))
        self.split_line.setLine(0, 0, 0, doc.height)
        self._rebuild_faces()
        self._apply_split()
        if self._tool is not None:
            self._tool.cancel()
        self._tool_active = False
        self.fit()

    def _on_image_changed(self, rect: QRect) -> None:
        x, y, w, h = rect.x(), rect.y(), rect.width(), rect.height()
        self.photo_item.blit(x, y, rgb_qimage(self.document.image[y:y + h, x:x + w]))

    def _on_mask_changed(self, rect: QRect) -> None:
        x, y, w, h = rect.x(), rect.y(), rect.width(), rect.height()
        self.mask_item.blit(x, y, self._mask_qimage(self.document.mask[y:y + h, x:x + w]))

    def _mask_qimage(self, mask: np.ndarray) -> QImage:
        argb = np.ascontiguousarray(self._mask_lut[mask])
        h, w = mask.shape
        image = QImage(argb.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
        image._keep = argb  # type: ignore[attr-defined]
        return image

    def _mask_pixmap(self, mask: np.ndarray) -> QPixmap:
        if not mask.any():  # a new photo's empty mask: skip converting millions of zeros
            pixmap = QPixmap(mask.shape[1], mask.shape[0])
            pixmap.fill(Qt.GlobalColor.transparent)
            return pixmap
        return QPixmap.fromImage(self._mask_qimage(mask))

    @staticmethod
    def _colour_lut(colour: QColor) -> np.ndarray:
        """Mask value -> premultiplied ARGB32 pixel: the value is the alpha, layer opacity comes on top."""
        alpha = np.arange(256, dtype=np.uint32)
        r, g, b = (np.uint32(c) * alpha // 255 for c in (colour.red(), colour.green(), colour.blue()))
        return (alpha << 24) | (r << 16) | (g << 8) | b

    def _rebuild_faces(self) -> None:
        for item in self._face_items:
            self._scene.removeItem(item)
        self._face_items = []
        for index, face in enumerate(self.document.faces):
            item = QGraphicsRectItem(face.x, face.y, face.w, face.h)
            colour = SELECTED_FACE_COLOUR if index == self._selected_face else FACE_COLOUR
            pen = QPen(colour, 2)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(10)
            item.setVisible(self._faces_visible and not self._showing_original)
            if face.score is not None:
                label = QGraphicsSimpleTextItem(f"{face.score:.2f}", item)
                label.setBrush(colour)
                label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
                label.setPos(face.x, face.y)
            self._scene.addItem(item)
            self._face_items.append(item)

    # --- layer appearance ---

    def set_mask_colour(self, colour: QColor) -> None:
        self._mask_colour = QColor(colour)
        self._mask_lut = self._colour_lut(self._mask_colour)
        self.mask_item.set_pixmap(self._mask_pixmap(self.document.mask))

    def mask_colour(self) -> QColor:
        return QColor(self._mask_colour)

    def set_mask_opacity(self, opacity: float) -> None:
        self.mask_item.setOpacity(max(0.0, min(1.0, opacity)))

    def set_mask_visible(self, visible: bool) -> None:
        self._mask_visible = visible
        self.mask_item.setVisible(visible and not self._showing_original)

    def set_faces_visible(self, visible: bool) -> None:
        self._faces_visible = visible
        for item in self._face_items:
            item.setVisible(visible and not self._showing_original)

    def set_figures(self, figures: Figures | None) -> None:
        """Show these figures in the overlay (the current step's), or hide it when None."""
        self._figures = figures
        if figures is not None:
            rows = "".join(f"<tr><td style='color:#9aa4b2; padding-right:10px'>{label}</td><td><b>{value}</b></td></tr>"
                           for label, value in figures.rows())
            self.figures_label.setText(f"<table cellspacing='0' cellpadding='1'>{rows}</table>")
            self.figures_label.adjustSize()
        self.figures_label.setVisible(self._figures_enabled and figures is not None)

    def set_figures_enabled(self, enabled: bool) -> None:
        self._figures_enabled = enabled
        self.figures_label.setVisible(enabled and self._figures is not None)

    # --- before / after ---

    def _ensure_before(self) -> None:
        if not self._before_ready:
            self.before_item.set_pixmap(QPixmap.fromImage(rgb_qimage(self.document.original)))
            self._before_ready = True

    def set_split(self, fraction: float) -> None:
        """Show the original photo on the left `fraction` of the width (0 = none, 1 = all of it)."""
        self._split = max(0.0, min(1.0, fraction))
        self._apply_split()

    def split(self) -> float:
        return self._split

    def show_original(self, on: bool) -> None:
        """While on (Tab held), show the photo as opened, without mask or boxes."""
        self._showing_original = on
        self._apply_split()
        self.mask_item.setVisible(self._mask_visible and not on)
        for item in self._face_items:
            item.setVisible(self._faces_visible and not on)

    def showing_original(self) -> bool:
        return self._showing_original

    def _apply_split(self) -> None:
        fraction = 1.0 if self._showing_original else self._split
        if fraction <= 0.0:
            self.before_item.setVisible(False)
            self.split_line.setVisible(False)
            return
        self._ensure_before()
        width = self.document.width * fraction
        self.before_item.set_clip_width(width)
        self.before_item.setVisible(True)
        self.split_line.setPos(width, 0)
        self.split_line.setVisible(fraction < 1.0)

    # --- zoom ---

    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float, under_mouse: bool = False) -> None:
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        self._fit_mode = False
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse if under_mouse
                                     else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self._apply_zoom(zoom)

    def _apply_zoom(self, zoom: float) -> None:
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._zoom = zoom
        smooth = zoom < SHARP_ZOOM  # well magnified pixels stay square and crisp for exact painting
        for item in (self.photo_item, self.before_item, self.mask_item):
            item.set_smooth(smooth)
        self.zoom_changed.emit(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Show the whole photo; stays fitted when the window is resized until the user zooms."""
        self._fit_mode = True
        view = self.viewport().rect()
        if view.width() < 2 or view.height() < 2 or self.document.width < 1:
            return
        margin = 8
        zoom = min((view.width() - 2 * margin) / self.document.width, (view.height() - 2 * margin) / self.document.height)
        self._apply_zoom(max(MIN_ZOOM, min(MAX_ZOOM, zoom)))
        self.centerOn(self.document.width / 2, self.document.height / 2)

    def is_fitted(self) -> bool:
        return self._fit_mode

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self._zoom * math.pow(ZOOM_STEP, steps), under_mouse=True)
        event.accept()

    # --- tools ---

    def set_tool(self, tool: Tool | None) -> None:
        if self._tool is not None:
            self._tool.cancel()
        self._tool = tool
        self._tool_active = False
        self.viewport().setCursor(tool.cursor if tool else Qt.CursorShape.ArrowCursor)
        self.update_brush_cursor()

    def tool(self) -> Tool | None:
        return self._tool

    def update_brush_cursor(self, scene_pos: QPointF | None = None) -> None:
        show = self._tool is not None and self._tool.shows_brush_cursor and self.underMouse()
        self.brush_cursor.set_diameter(self.brush.size)
        if scene_pos is not None:
            self.brush_cursor.setPos(scene_pos)
            show = self._tool is not None and self._tool.shows_brush_cursor
        self.brush_cursor.setVisible(show)

    def scene_pos(self, viewport_pos: QPointF) -> QPointF:
        """Image coordinates under the centre of the screen pixel at `viewport_pos` (sub-pixel exact)."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(QPointF(math.floor(viewport_pos.x()) + 0.5, math.floor(viewport_pos.y()) + 0.5))

    def viewport_pos(self, image_pos: QPointF) -> QPointF:
        """The viewport point showing `image_pos` (inverse of `scene_pos`, for tests and scripts)."""
        return self.viewportTransform().map(image_pos)

    # ToolHost
    def face_box_at(self, pos: QPointF) -> tuple[int, bool] | None:
        handle = CORNER_HANDLE_PX / max(self._zoom, 1e-6)
        faces = self.document.faces
        for index in reversed(range(len(faces))):
            f = faces[index]
            corner = abs(pos.x() - (f.x + f.w)) <= handle and abs(pos.y() - (f.y + f.h)) <= handle
            inside = f.x <= pos.x() <= f.x + f.w and f.y <= pos.y() <= f.y + f.h
            if corner or inside:
                return index, corner
        return None

    def select_face_box(self, index: int | None) -> None:
        self._selected_face = index
        self._rebuild_faces()

    # --- mouse and keys ---

    def event(self, event: QEvent) -> bool:
        # Tab would move the focus; here it means "show the original while held"
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if key_event.key() == Qt.Key.Key_Tab:
                if not key_event.isAutoRepeat():
                    self.show_original(event.type() == QEvent.Type.KeyPress)
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() == Qt.Key.Key_Escape and self._tool is not None and self._tool_active:
            self._tool.cancel()
            self._tool_active = False
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self._pan_from = None
            self.viewport().setCursor(self._tool.cursor if self._tool else Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        if event.button() == Qt.MouseButton.MiddleButton or (self._space_down and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if self._tool is not None and event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) \
                and not self._tool_active:
            self._tool_active = True
            self._tool.press(self.scene_pos(event.position()), event.button(), event.modifiers())
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            return
        pos = self.scene_pos(event.position())
        self.update_brush_cursor(pos)
        if self._tool is not None and self._tool_active:
            self._tool.move(pos, event.modifiers())
        inside = 0 <= pos.x() < self.document.width and 0 <= pos.y() < self.document.height
        self.cursor_moved.emit(int(pos.x()) if inside else -1, int(pos.y()) if inside else -1)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            cursor = Qt.CursorShape.OpenHandCursor if self._space_down else (
                self._tool.cursor if self._tool else Qt.CursorShape.ArrowCursor)
            self.viewport().setCursor(cursor)
            return
        if self._tool is not None and self._tool_active:
            self._tool_active = False
            self._tool.release(self.scene_pos(event.position()), event.modifiers())
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self.brush_cursor.setVisible(False)
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)
