"""Dock panels: the History (undo steps and each engine step's figures), the Layers/brush controls and
the reference photo (another photo of the person that guides the fills)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QPixmap, QUndoStack
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSizePolicy, QSlider, QSpinBox, QTableWidget, QTableWidgetItem, QToolButton,
                               QUndoView, QVBoxLayout, QWidget)

from shiboken6 import isValid

from facestudio.gui.canvas import rgb_qimage
from facestudio.gui.commands import ImageEdit
from facestudio.gui.document import ReferencePhotoChoice
from facestudio.steps import Figures
from facestudio.gui.tools import BrushSettings


def current_figures(stack: QUndoStack) -> tuple[str, Figures] | None:
    """The latest engine step at or before the stack's current position, with its name."""
    if not isValid(stack):  # the stack announces its own destruction as an index change
        return None
    for index in range(stack.index() - 1, -1, -1):
        command = stack.command(index)
        if isinstance(command, ImageEdit) and command.figures is not None:
            return command.text(), command.figures
    return None


class HistoryPanel(QWidget):
    """Every edit as a step (click one to go back to it) and the figures of the current engine step."""

    def __init__(self, stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stack = stack
        self.view = QUndoView(stack)
        self.view.setEmptyLabel("Opened")
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.horizontalHeader().setVisible(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 3)
        stack.indexChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        if not isValid(self) or not isValid(self.table):
            return
        found = current_figures(self._stack)
        if found is None:
            self.title.setText("<i>No engine step yet: run Auto-fix or Inpaint to see its figures.</i>")
            self.table.setRowCount(0)
            return
        name, figures = found
        self.title.setText(f"<b>{name.split(' · ')[0]}</b>")
        rows = figures.rows()
        self.table.setRowCount(len(rows))
        for row, (label, value) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(label))
            self.table.setItem(row, 1, QTableWidgetItem(value))
        self.table.resizeRowsToContents()


class LayersPanel(QWidget):
    """Mask colour, opacity and visibility; face boxes; before/after split; figures overlay; brush."""

    mask_visible_changed = Signal(bool)
    mask_opacity_changed = Signal(float)
    mask_colour_changed = Signal(QColor)
    faces_visible_changed = Signal(bool)
    split_changed = Signal(float)
    overlay_toggled = Signal(bool)
    brush_changed = Signal()

    def __init__(self, brush: BrushSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.brush = brush
        self._colour = QColor(255, 40, 90)

        self.mask_visible = QCheckBox("Show mask")
        self.mask_visible.setChecked(True)
        self.mask_visible.toggled.connect(self.mask_visible_changed)
        self.colour_button = QPushButton()
        self.colour_button.setToolTip("Mask colour")
        self.colour_button.setFixedWidth(48)
        self.colour_button.clicked.connect(self._choose_colour)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.valueChanged.connect(lambda v: self.mask_opacity_changed.emit(v / 100.0))
        mask_row = QHBoxLayout()
        mask_row.addWidget(self.mask_visible)
        mask_row.addStretch(1)
        mask_row.addWidget(self.colour_button)
        mask_box = QGroupBox("Mask layer")
        mask_form = QFormLayout(mask_box)
        mask_form.addRow(mask_row)
        mask_form.addRow("Opacity", self.opacity)

        self.faces_visible = QCheckBox("Show face boxes")
        self.faces_visible.setChecked(True)
        self.faces_visible.toggled.connect(self.faces_visible_changed)
        self.overlay = QCheckBox("Show figures on the canvas")
        self.overlay.setChecked(False)
        self.overlay.toggled.connect(self.overlay_toggled)
        self.split = QSlider(Qt.Orientation.Horizontal)
        self.split.setRange(0, 100)
        self.split.setValue(0)
        self.split.setToolTip("Before/after: the original photo on the left of the split (hold Tab for all of it)")
        self.split.valueChanged.connect(lambda v: self.split_changed.emit(v / 100.0))
        view_box = QGroupBox("View")
        view_form = QFormLayout(view_box)
        view_form.addRow(self.faces_visible)
        view_form.addRow(self.overlay)
        view_form.addRow("Before | after", self.split)

        self.size = QSpinBox()
        self.size.setRange(int(BrushSettings.MIN_SIZE), int(BrushSettings.MAX_SIZE))
        self.size.setSuffix(" px")
        self.size.setToolTip("Brush diameter in photo pixels ( [ and ] )")
        self.size.valueChanged.connect(self._on_size)
        self.hardness = QSlider(Qt.Orientation.Horizontal)
        self.hardness.setRange(0, 100)
        self.hardness.setToolTip("Hardness: 100 % paints a hard edge, lower values a soft one")
        self.hardness.valueChanged.connect(self._on_hardness)
        brush_box = QGroupBox("Brush and eraser")
        brush_form = QFormLayout(brush_box)
        brush_form.addRow("Size", self.size)
        brush_form.addRow("Hardness", self.hardness)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(mask_box)
        layout.addWidget(view_box)
        layout.addWidget(brush_box)
        # as tall as its controls: the History dock below takes the rest
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.sync_brush()
        self.set_colour(self._colour)

    def sync_brush(self) -> None:
        """Show the brush settings' current values (after [ ] or a restore from settings)."""
        for widget, value in ((self.size, round(self.brush.size)), (self.hardness, round(self.brush.hardness * 100))):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    def set_colour(self, colour: QColor) -> None:
        self._colour = QColor(colour)
        self.colour_button.setStyleSheet(f"background-color: {colour.name()}; border: 1px solid #555;")

    def colour(self) -> QColor:
        return QColor(self._colour)

    def _choose_colour(self) -> None:
        colour = QColorDialog.getColor(self._colour, self, "Mask colour")
        if colour.isValid():
            self.set_colour(colour)
            self.mask_colour_changed.emit(colour)

    def _on_size(self, value: int) -> None:
        self.brush.size = float(value)
        self.brush_changed.emit()

    def _on_hardness(self, value: int) -> None:
        self.brush.hardness = value / 100.0
        self.brush_changed.emit()


class ReferencePhotoPanel(QWidget):
    """The reference photo that guides the fills: its face, its name, and whether it is the photo's person.
    A different person is a warning here (not a dialog): the fills use the photo until it is cleared."""

    THUMBNAIL = 96

    def __init__(self, choose: QAction, clear: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(self.THUMBNAIL, self.THUMBNAIL)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("border: 1px solid #888;")
        self.name = QLabel()
        self.name.setWordWrap(True)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QToolButton()
        self.choose_button.setDefaultAction(choose)
        self.clear_button = QToolButton()
        self.clear_button.setDefaultAction(clear)
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.thumbnail)
        top.addWidget(self.name, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.verdict)
        layout.addLayout(buttons)
        # never shorter than its text: the verdict's warnings may take several wrapped lines
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.show_choice(None)

    def show_choice(self, choice: ReferencePhotoChoice | None) -> None:
        """Show `choice` (None: no reference photo)."""
        if choice is None:
            self.thumbnail.clear()
            self.thumbnail.setText("none")
            self.name.setText("<i>No reference photo: fills use the face itself. Choose another photo of the "
                              "person to guide them.</i>")
            self.verdict.setText("")
            return
        face = choice.photo.crop(self.THUMBNAIL)
        self.thumbnail.setPixmap(QPixmap.fromImage(rgb_qimage(face)))
        self.name.setText(f"<b>{choice.name}</b><br>guides Auto-fix and Inpaint (GAN)")
        self.name.setToolTip(str(choice.path))
        self.verdict.setText(choice.verdict())
        self.verdict.setStyleSheet("color: #c62828; font-weight: bold;" if choice.different_person else "")
