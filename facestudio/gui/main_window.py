"""The editor window: menus, toolbar, docks, status bar, files, engine actions and settings.

It wires the parts together and owns no pixels: the Document holds the state, the Canvas draws it,
tools and commands change it, and the ModelManager runs engine jobs on its own thread.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import (QAction, QActionGroup, QCloseEvent, QColor, QDragEnterEvent, QDropEvent, QIcon,
                           QKeySequence)
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QToolBar, QToolButton, QWidget)

from shiboken6 import isValid

from facestudio.gui import mask_ops
from facestudio.gui.autosave import INTERVAL_MS, Autosave, Snapshot, read_snapshot
from facestudio.gui.canvas import Canvas
from facestudio.gui.commands import apply_engine_result, push_mask_change
from facestudio.gui.document import Document, FaceBox, Reference, ReferencePhotoChoice
from facestudio.gui.jobs import (METHODS, auto_fix_job, detect_occlusions_job, face_boxes_of, inpaint_job,
                                 reference_photo_job)
from facestudio.steps import StepResult
from facestudio.gui.panels import HistoryPanel, LayersPanel, ReferencePhotoPanel, current_figures
from facestudio.gui.tools import (BrushSettings, BrushTool, EraserTool, FaceBoxTool, FillTool, LassoTool,
                                  RectangleTool, Tool)
from facestudio.gui.worker import ModelManager

logger = logging.getLogger(__name__)
APP_NAME = "FaceStudio"
MAX_RECENT = 10
GROW_SHRINK_PX = 4
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
SAVE_FILTERS = {"PNG image (*.png)": ".png", "JPEG image (*.jpg *.jpeg)": ".jpg",
                "WebP image (*.webp)": ".webp", "TIFF image (*.tif *.tiff)": ".tif"}
MASK_FILTER = "PNG mask (*.png);;All files (*)"
ENGINE_TITLES = {"detect": "Detect occlusions", "inpaint": "Inpaint mask", "auto_fix": "Auto-fix"}


class MainWindow(QMainWindow):
    """One photo, its mask and history; every long computation goes to the worker."""

    def __init__(self, settings: QSettings | None = None, device: str | None = None,
                 weights_dir: Path | None = None, parent: QWidget | None = None, detector: str = "auto",
                 autosave_root: Path | None = None) -> None:
        super().__init__(parent)
        self.autosave = Autosave(autosave_root)
        self._autosaved_state: tuple[int, int] | None = None  # (undo index, edit count) last written
        self.settings = settings if settings is not None else QSettings()
        self.document = Document(self)
        self.brush = BrushSettings()
        self.canvas = Canvas(self.document, self.brush, self)
        self.setCentralWidget(self.canvas)
        self.manager = ModelManager(device, weights_dir, self, detector)
        self._weights_dir = weights_dir
        self.method = "gan"
        self._generation = 0          # bumps when another photo is loaded: older job results are stale
        self._job_generation = -1
        self._job_command: tuple[int, object] = (-1, None)  # (job id, the undo step its early result made)
        self._engine_job = -1  # the id of the editor's own latest engine job (the batch dialog submits others)
        self._reference_photo_job = (-1, -1)  # (job id, generation) of the reference photo being prepared
        self.last_error: str | None = None     # the latest one-line problem shown to the user
        self.batch_dialog: QWidget | None = None

        self.tools: dict[str, Tool] = {
            tool.name: tool for tool in (BrushTool(self.canvas, self.brush), EraserTool(self.canvas, self.brush),
                                         RectangleTool(self.canvas), LassoTool(self.canvas), FillTool(self.canvas),
                                         FaceBoxTool(self.canvas))}
        self._build_docks()
        self._build_actions()
        self._build_reference_photo_dock()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self.select_tool("brush")
        self.setAcceptDrops(True)
        self.setWindowIcon(app_icon())
        self._update_title()
        self._on_busy(False)
        self._edits = 0  # counts document changes, so an autosave knows whether anything moved since the last
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)
        self.autosave_timer.start()

    # ------------------------------------------------------------------ construction

    def _build_docks(self) -> None:
        self.history = HistoryPanel(self.document.undo_stack)
        self.layers = LayersPanel(self.brush)
        self.history_dock = self._dock("History", "historyDock", self.history)
        self.layers_dock = self._dock("Layers", "layersDock", self.layers)
        self.splitDockWidget(self.layers_dock, self.history_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.layers_dock], [320], Qt.Orientation.Horizontal)

    def _build_reference_photo_dock(self) -> None:
        self.reference_photo_panel = ReferencePhotoPanel(self.reference_photo_action, self.clear_reference_photo_action)
        self.reference_photo_dock = self._dock("Reference photo", "referencePhotoDock", self.reference_photo_panel)
        self.splitDockWidget(self.layers_dock, self.reference_photo_dock, Qt.Orientation.Vertical)

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None, icon: str | None = None,
                tip: str | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            action.setIcon(qta.icon(icon))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        sk = QKeySequence.StandardKey
        a = self._action
        self.open_action = a("&Open…", self.open_dialog, sk.Open, "mdi6.folder-open-outline", "Open a photo")
        self.sample_action = a("Open &sample", self.open_sample, None, "mdi6.account-box-outline",
                               "Open the embedded sample (its true mask and clean photo are known)")
        self.save_action = a("&Save", self.save, sk.Save, "mdi6.content-save-outline", "Save the photo")
        self.save_as_action = a("Save &As…", self.save_as, sk.SaveAs, "mdi6.content-save-edit-outline",
                                "Save the photo as PNG, JPEG, WebP or TIFF")
        self.export_mask_action = a("&Export mask…", self.export_mask, "Ctrl+E", "mdi6.export",
                                    "Save the mask layer as a grayscale PNG (white = hole)")
        self.import_mask_action = a("&Import mask…", self.import_mask, "Ctrl+I", "mdi6.import",
                                    "Load a mask image (white = hole) as the mask layer")
        self.reference_action = a("Compare with &reference…", self.choose_reference, None, "mdi6.compare",
                                  "Pick the clean photo (and optionally its true mask) to score results against")
        self.batch_action = a("&Batch process folder…", self.open_batch, "Ctrl+B", "mdi6.folder-multiple-image",
                              "Auto-fix every photo of a folder")
        self.quit_action = a("&Quit", self.close, sk.Quit, "mdi6.exit-to-app")

        stack = self.document.undo_stack
        self.undo_action = stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence(sk.Undo))
        self.undo_action.setIcon(qta.icon("mdi6.undo"))
        self.redo_action = stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence(sk.Redo), QKeySequence("Ctrl+Y")])
        self.redo_action.setIcon(qta.icon("mdi6.redo"))
        self.clear_action = a("&Clear mask", self.clear_mask, "Ctrl+Shift+Backspace", "mdi6.eraser-variant")
        self.invert_action = a("In&vert mask", self.invert_mask, "Ctrl+Shift+I", "mdi6.invert-colors")
        self.grow_action = a(f"&Grow mask ({GROW_SHRINK_PX} px)", self.grow_mask, "Ctrl+Shift+=",
                             "mdi6.arrow-expand-all")
        self.shrink_action = a(f"S&hrink mask ({GROW_SHRINK_PX} px)", self.shrink_mask, "Ctrl+Shift+-",
                               "mdi6.arrow-collapse-all")
        self.delete_face_action = a("&Delete face box", self.delete_face_box, sk.Delete, "mdi6.close-box-outline",
                                    "Remove the selected face box")
        self.bigger_action = a("Bigger brush", self.brush_bigger, "]")
        self.smaller_action = a("Smaller brush", self.brush_smaller, "[")

        self.zoom_in_action = a("Zoom &in", self.canvas.zoom_in, sk.ZoomIn, "mdi6.magnify-plus-outline")
        self.zoom_in_action.setShortcuts([QKeySequence(sk.ZoomIn), QKeySequence("Ctrl+=")])
        self.zoom_out_action = a("Zoom &out", self.canvas.zoom_out, sk.ZoomOut, "mdi6.magnify-minus-outline")
        self.fit_action = a("&Fit to window", self.canvas.fit, "Ctrl+0", "mdi6.fit-to-screen-outline")
        self.actual_action = a("&Actual size (100 %)", self.canvas.actual_size, "Ctrl+1", "mdi6.numeric-1-box-outline")
        self.show_mask_action = a("Show &mask", self.canvas.set_mask_visible, "M", "mdi6.eye-outline", checkable=True)
        self.show_mask_action.setChecked(True)
        self.show_faces_action = a("Show face &boxes", self.canvas.set_faces_visible, None, checkable=True)
        self.show_faces_action.setChecked(True)
        self.figures_action = a("Show &figures overlay", self.canvas.set_figures_enabled, "Ctrl+Shift+F",
                                "mdi6.chart-box-outline", checkable=True)
        self.figures_action.setChecked(False)  # the History panel shows them; the photo stays uncovered

        self.detect_action = a("&Detect occlusions", self.detect_occlusions, "Ctrl+D", "mdi6.image-search-outline",
                               "Find faces and mark what hides them in the mask layer")
        self.inpaint_action = a("&Inpaint mask", self.inpaint_mask, "Ctrl+Return", "mdi6.auto-fix",
                                "Fill the masked hole")
        self.autofix_action = a("&Auto-fix", self.auto_fix, "Ctrl+Shift+Return", "mdi6.face-man-shimmer-outline",
                                "Detect faces, segment occlusions and inpaint them, all at once")
        self.reference_photo_action = a(
            "Reference &photo…", self.choose_reference_photo, None, "mdi6.account-box-multiple-outline",
            "Another photo of the person: it guides the fill of the faces (Auto-fix and Inpaint, GAN)")
        self.clear_reference_photo_action = a("C&lear reference photo", self.clear_reference_photo, None,
                                              "mdi6.account-remove-outline", "Fill without a reference photo")
        self.clear_reference_photo_action.setEnabled(False)
        self.cancel_action = a("&Cancel", self.manager.cancel, "Ctrl+.", "mdi6.stop-circle-outline",
                               "Stop the running job")
        self.method_group = QActionGroup(self)
        self.method_actions: dict[str, QAction] = {}
        for method in METHODS:
            label = {"gan": "GAN (identity-aware)", "telea": "Telea (classical, fast)"}[method]
            action = QAction(label, self, checkable=True)
            action.triggered.connect(lambda checked, m=method: self.set_method(m))
            self.method_group.addAction(action)
            self.method_actions[method] = action

        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for name, tool in self.tools.items():
            action = a(f"{tool.label}", lambda checked=False, n=name: self.select_tool(n), tool.shortcut, tool.icon,
                       f"{tool.label} ({tool.shortcut})", checkable=True)
            self.tool_group.addAction(action)
            self.tool_actions[name] = action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.open_action, self.sample_action])
        self.recent_menu = file_menu.addMenu(qta.icon("mdi6.history"), "Open &recent")
        file_menu.addSeparator()
        file_menu.addActions([self.save_action, self.save_as_action])
        file_menu.addSeparator()
        file_menu.addActions([self.import_mask_action, self.export_mask_action, self.reference_action])
        file_menu.addSeparator()
        file_menu.addAction(self.batch_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.clear_action, self.invert_action, self.grow_action, self.shrink_action])
        edit_menu.addSeparator()
        edit_menu.addAction(self.delete_face_action)

        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_action])
        view_menu.addSeparator()
        view_menu.addActions([self.show_mask_action, self.show_faces_action, self.figures_action])
        view_menu.addSeparator()
        view_menu.addActions([self.history_dock.toggleViewAction(), self.layers_dock.toggleViewAction(),
                              self.reference_photo_dock.toggleViewAction()])

        tools_menu = bar.addMenu("&Tools")
        tools_menu.addActions(list(self.tool_actions.values()))
        tools_menu.addSeparator()
        tools_menu.addActions([self.bigger_action, self.smaller_action])

        process_menu = bar.addMenu("&Process")
        process_menu.addActions([self.detect_action, self.inpaint_action, self.autofix_action])
        process_menu.addActions([self.reference_photo_action, self.clear_reference_photo_action])
        method_menu = process_menu.addMenu("&Method")
        method_menu.addActions(list(self.method_actions.values()))
        process_menu.addSeparator()
        process_menu.addAction(self.cancel_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&About FaceStudio", self.about))

    def _build_toolbar(self) -> None:
        main = QToolBar("Main", self)
        main.setObjectName("mainToolbar")
        main.setIconSize(QSize(22, 22))
        main.addActions([self.open_action, self.save_action])
        main.addSeparator()
        main.addActions([self.undo_action, self.redo_action])
        main.addSeparator()
        main.addActions(list(self.tool_actions.values()))
        main.addSeparator()
        main.addActions([self.detect_action, self.inpaint_action])
        autofix_button = QToolButton()
        autofix_button.setDefaultAction(self.autofix_action)
        autofix_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        main.addWidget(autofix_button)
        self.method_combo = QComboBox()
        self.method_combo.addItems(list(METHODS))
        self.method_combo.setToolTip("Inpainting method: gan (learned, keeps identity) or telea (classical)")
        self.method_combo.currentTextChanged.connect(self.set_method)
        main.addWidget(self.method_combo)
        main.addAction(self.cancel_action)
        main.addSeparator()
        main.addActions([self.zoom_out_action, self.zoom_in_action, self.fit_action, self.actual_action])
        self.addToolBar(main)
        self.toolbar = main

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.pixel_label = QLabel()
        self.zoom_label = QLabel()
        self.device_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.cancel_action)
        for widget in (self.progress, self.cancel_button, self.pixel_label, self.zoom_label, self.device_label):
            status.addPermanentWidget(widget)
        requested = self.manager.requested_device or "auto"
        self.device_label.setText(f"device: {requested} (models load on first use)")

    def _connect(self) -> None:
        doc, stack = self.document, self.document.undo_stack
        stack.cleanChanged.connect(lambda clean: self._update_title() if isValid(self.document) else None)
        stack.indexChanged.connect(lambda index: self._refresh_figures())
        doc.path_changed.connect(self._update_title)
        doc.reset.connect(self._refresh_figures)
        doc.image_changed.connect(self._count_edit)
        doc.mask_changed.connect(self._count_edit)
        doc.faces_changed.connect(self._count_edit)
        doc.reference_photo_changed.connect(self._show_reference_photo)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.cursor_moved.connect(self._show_pixel)
        self.canvas.tool_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        layers = self.layers
        layers.mask_visible_changed.connect(self.show_mask_action.setChecked)
        self.show_mask_action.toggled.connect(layers.mask_visible.setChecked)
        layers.mask_visible_changed.connect(self.canvas.set_mask_visible)
        layers.mask_opacity_changed.connect(self.canvas.set_mask_opacity)
        layers.mask_colour_changed.connect(self.canvas.set_mask_colour)
        layers.faces_visible_changed.connect(self.show_faces_action.setChecked)
        self.show_faces_action.toggled.connect(layers.faces_visible.setChecked)
        layers.overlay_toggled.connect(self.figures_action.setChecked)
        self.figures_action.toggled.connect(layers.overlay.setChecked)
        layers.split_changed.connect(self.canvas.set_split)
        layers.brush_changed.connect(self.canvas.update_brush_cursor)
        m = self.manager
        m.busy_changed.connect(self._on_busy)
        m.loading.connect(lambda device: self.statusBar().showMessage(f"Loading models ({device})…"))
        m.loaded.connect(lambda device: self.device_label.setText(f"device: {device}"))
        m.progress.connect(self._on_progress)
        m.partial.connect(self._on_job_partial)
        m.finished.connect(self._on_job_finished)
        m.failed.connect(self._on_job_failed)
        m.cancelled.connect(self._on_job_cancelled)

    # ------------------------------------------------------------------ files

    def open_dialog(self) -> None:
        if not self.maybe_save("opening another photo"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self._last_folder(), OPEN_FILTER)
        if path:
            self.open_path(path, ask=False)

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open a photo file; False (with a one-line message) when it cannot be read or the user cancels."""
        from facestudio.imageio import ImageReadError, read_image

        if ask and not self.maybe_save("opening another photo"):
            return False
        file = Path(path)
        try:
            image = read_image(file)
        except ImageReadError as error:
            self._error(str(error))
            self._forget_recent(file)
            return False
        self._load(image, file, file.name, None)
        self._remember_recent(file)
        self.settings.setValue("files/last_folder", str(file.parent))
        self.statusBar().showMessage(f"Opened {file} ({image.shape[1]}x{image.shape[0]})", 5000)
        return True

    def open_sample(self, ask: bool = True) -> bool:
        """Open the embedded sample; its clean photo and true mask become the reference."""
        from facestudio.sample import load_sample

        if ask and not self.maybe_save("opening the sample"):
            return False
        sample = load_sample()
        reference = Reference(sample.reference, sample.true_mask, "the clean sample photo")
        self._load(sample.image, None, sample.name, reference)
        self.statusBar().showMessage("The sample: run Auto-fix to see the result scored against the clean photo.",
                                     10000)
        return True

    def _load(self, image, path: Path | None, name: str, reference: Reference | None) -> None:
        self._generation += 1
        self.document.load(image, path, name, reference)
        self.autosave.clear()  # the old photo's changes were saved or discarded

    # ------------------------------------------------------------------ autosave and recovery

    def _count_edit(self, *args) -> None:
        self._edits += 1

    def autosave_now(self) -> bool:
        """Write the document to the autosave folder if it changed since the last autosave (the timer
        calls this every minute); an unmodified document has nothing to keep."""
        doc = self.document
        if not doc.is_modified:
            self.autosave.clear()
            self._autosaved_state = None
            return False
        state = (doc.undo_stack.index(), self._edits)
        if state == self._autosaved_state:
            return False
        stack = doc.undo_stack
        snapshot = Snapshot(
            original=doc.original, image=doc.image, mask=doc.mask,
            faces=[{"x": f.x, "y": f.y, "w": f.w, "h": f.h, "score": f.score,
                    "landmarks": None if f.landmarks is None else [list(p) for p in f.landmarks]} for f in doc.faces],
            path=str(doc.path) if doc.path else None, name=doc.name,
            history=[stack.text(index) for index in range(stack.index())], saved_at=time.time())
        try:
            self.autosave.write(snapshot)
        except Exception as error:  # noqa: BLE001 - a full disk must not stop the editing
            logger.warning("autosave failed: %s", error)
            return False
        self._autosaved_state = state
        return True

    def offer_recovery(self) -> bool:
        """After a crash: offer the newest work a dead editor left in the autosave folder. True when recovered."""
        for folder in self.autosave.left_behind():
            try:
                snapshot = read_snapshot(folder)
            except Exception as error:  # noqa: BLE001 - a damaged autosave is dropped with a log line
                logger.warning("unreadable autosave %s dropped: %s", folder, error)
                shutil.rmtree(folder, ignore_errors=True)
                continue
            steps = len(snapshot.history)
            answer = QMessageBox.question(
                self, APP_NAME,
                f"FaceStudio closed unexpectedly. Recover the unsaved work on {snapshot.name} "
                f"from {snapshot.when} ({steps} edit{'s' if steps != 1 else ''})?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
            if answer != QMessageBox.StandardButton.Yes:
                shutil.rmtree(folder, ignore_errors=True)
                return False
            self.recover(snapshot)
            shutil.rmtree(folder, ignore_errors=True)
            return True
        return False

    def recover(self, snapshot: Snapshot) -> None:
        """The photo as opened, then one undo step to the recovered edit (Undo goes back to the original)."""
        path = Path(snapshot.path) if snapshot.path else None
        self._load(snapshot.original, path, snapshot.name, None)
        faces = [FaceBox(f["x"], f["y"], f["w"], f["h"], f.get("score"),
                         None if f.get("landmarks") is None else tuple(tuple(p) for p in f["landmarks"]))
                 for f in snapshot.faces]
        apply_engine_result(self.document, f"Recovered unsaved work ({snapshot.when})", snapshot.image,
                            snapshot.mask, faces, None)
        self.statusBar().showMessage(f"Recovered the unsaved work on {snapshot.name}: Save to keep it.", 10000)

    def save(self) -> bool:
        """Save like a photo editor: to the file chosen with Save As this session; the first time, ask
        where (proposing NAME-fixed.png beside the opened photo), so the original is never re-encoded
        unless the user chose it, explicitly."""
        target = self.document.save_target
        return self.save_to(target) if target is not None else self.save_as()

    def suggested_save_path(self) -> Path:
        """NAME-fixed.png beside the opened photo, or in the last folder used (the sample, a new photo)."""
        opened = self.document.path
        folder = opened.parent if opened is not None else Path(self._last_folder())
        return folder / f"{Path(self.document.name).stem}-fixed.png"

    def save_as(self) -> bool:
        suggested = self.suggested_save_path()
        path, chosen = QFileDialog.getSaveFileName(self, "Save photo as", str(suggested), ";;".join(SAVE_FILTERS))
        if not path:
            return False
        file = Path(path)
        if not file.suffix:
            file = file.with_suffix(SAVE_FILTERS.get(chosen, ".png"))
        if self._is_opened_original(file) and not self._confirm_overwrite_original(file):
            return False
        return self.save_to(file)

    def _is_opened_original(self, file: Path) -> bool:
        opened = self.document.path
        if opened is None or self.document.save_target == opened:  # already chosen once for this file
            return False
        try:
            return file.resolve() == opened.resolve()
        except OSError:
            return False

    def _confirm_overwrite_original(self, file: Path) -> bool:
        answer = QMessageBox.warning(
            self, APP_NAME,
            f"Replace the original photo {file.name}?\n\nThe original pixels (and, for a JPEG, its quality) "
            "cannot be recovered afterwards. Choose No to save the result as a new file.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def save_to(self, path: Path) -> bool:
        """Write the photo (pixels upright: orientation is already applied); marks the document saved."""
        from facestudio.imageio import ImageWriteError, write_image

        try:
            write_image(path, self.document.image)
        except ImageWriteError as error:
            self._error(str(error))
            return False
        self.document.mark_saved(path)
        self.autosave.clear()
        self._remember_recent(path)
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def export_mask(self) -> bool:
        from facestudio.imageio import ImageWriteError, write_image

        suggested = Path(self._last_folder()) / f"{Path(self.document.name).stem}-mask.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export mask", str(suggested), MASK_FILTER)
        if not path:
            return False
        file = Path(path) if Path(path).suffix else Path(path).with_suffix(".png")
        try:
            write_image(file, self.document.mask)
        except ImageWriteError as error:
            self._error(str(error))
            return False
        self.statusBar().showMessage(f"Exported the mask to {file}", 5000)
        return True

    def import_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import mask", self._last_folder(), OPEN_FILTER)
        if path:
            self.import_mask_from(Path(path))

    def import_mask_from(self, path: Path) -> bool:
        """Replace the mask layer with a mask file (white = hole) as one undo step."""
        from facestudio.imageio import ImageReadError, read_mask

        try:
            mask = read_mask(path, self.document.mask.shape)
        except ImageReadError as error:
            self._error(str(error))
            return False
        before = self.document.mask.copy()
        self.document.mask[...] = mask
        if not push_mask_change(self.document, f"Import mask {path.name}", before):
            self.statusBar().showMessage("The imported mask equals the current one.", 5000)
        return True

    def choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Reference: the clean photo", self._last_folder(), OPEN_FILTER)
        if not path:
            return
        mask_path, _ = QFileDialog.getOpenFileName(
            self, "Its true mask (optional: cancel to skip)", str(Path(path).parent), OPEN_FILTER)
        self.set_reference_files(Path(path), Path(mask_path) if mask_path else None)

    def set_reference_files(self, image_path: Path, mask_path: Path | None = None) -> bool:
        """Score later engine steps against this clean photo (and true mask)."""
        from facestudio.imageio import ImageReadError, read_image, read_mask

        try:
            image = read_image(image_path)
            if image.shape != self.document.image.shape:
                raise ImageReadError(image_path, f"reference is {image.shape[1]}x{image.shape[0]} px but the photo "
                                                 f"is {self.document.width}x{self.document.height} px")
            true_mask = read_mask(mask_path, image.shape) if mask_path else None
        except ImageReadError as error:
            self._error(str(error))
            return False
        self.document.set_reference(Reference(image, true_mask, image_path.name))
        self.statusBar().showMessage(f"Engine steps are now scored against {image_path.name}", 8000)
        return True

    def open_batch(self) -> None:
        try:
            from facestudio.gui.batch_dialog import BatchDialog
        except ImportError as error:
            QMessageBox.information(self, APP_NAME, f"Batch processing is not available: {error}")
            return
        self.batch_dialog = BatchDialog(self.manager, self, open_in_editor=lambda path: self.open_path(path))
        self.batch_dialog.show()

    # ------------------------------------------------------------------ unsaved changes

    def maybe_save(self, reason: str = "closing") -> bool:
        """Ask about unsaved changes; True when it is fine to go on (saved or discarded)."""
        if not self.document.is_modified:
            return True
        answer = QMessageBox.question(
            self, APP_NAME, f"Save the changes to {self.document.name} before {reason}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)  # Enter never throws work away nor writes over a file
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save("closing"):
            event.ignore()
            return
        self._save_settings()
        self.manager.shutdown()
        self.autosave.clear()  # closed on purpose: saved or discarded
        event.accept()

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_path(files[0]))  # leave the drop handler before any dialog

    # ------------------------------------------------------------------ mask edits

    def _mask_operation(self, text: str, operation) -> None:
        before = self.document.mask.copy()
        operation(self.document.mask)
        if not push_mask_change(self.document, text, before):
            self.statusBar().showMessage(f"{text}: nothing to change.", 4000)

    def clear_mask(self) -> None:
        self._mask_operation("Clear mask", lambda mask: mask.fill(0))

    def invert_mask(self) -> None:
        self._mask_operation("Invert mask", mask_ops.invert)

    def grow_mask(self) -> None:
        self._mask_operation(f"Grow mask {GROW_SHRINK_PX} px", lambda mask: mask_ops.grow(mask, GROW_SHRINK_PX))

    def shrink_mask(self) -> None:
        self._mask_operation(f"Shrink mask {GROW_SHRINK_PX} px", lambda mask: mask_ops.shrink(mask, GROW_SHRINK_PX))

    def delete_face_box(self) -> None:
        tool = self.tools["face"]
        assert isinstance(tool, FaceBoxTool)
        if not tool.remove_selected():
            self.statusBar().showMessage("Select a face box with the Face box tool first.", 4000)

    # ------------------------------------------------------------------ tools

    def select_tool(self, name: str) -> None:
        self.canvas.set_tool(self.tools[name])
        self.tool_actions[name].setChecked(True)

    def brush_bigger(self) -> None:
        self.brush.bigger()
        self.layers.sync_brush()
        self.canvas.update_brush_cursor()

    def brush_smaller(self) -> None:
        self.brush.smaller()
        self.layers.sync_brush()
        self.canvas.update_brush_cursor()

    def set_method(self, method: str) -> None:
        if method not in METHODS:
            return
        self.method = method
        self.method_actions[method].setChecked(True)
        if self.method_combo.currentText() != method:
            self.method_combo.setCurrentText(method)

    # ------------------------------------------------------------------ engine

    def detect_occlusions(self) -> int | None:
        doc = self.document
        return self._submit("detect", detect_occlusions_job(doc.image, doc.reference))

    def inpaint_mask(self) -> int | None:
        doc = self.document
        hole = doc.hole_mask()
        if not hole.any():
            self.statusBar().showMessage("The mask is empty: paint the hole first, or run Detect occlusions.", 8000)
            return None
        return self._submit("inpaint", inpaint_job(doc.image, hole, self.method, doc.reference, doc.faces,
                                                   self._reference_photo()))

    def auto_fix(self) -> int | None:
        """Auto-fix the photo: the faces in the document's face boxes when there are any, else those found."""
        doc = self.document
        return self._submit("auto_fix", auto_fix_job(doc.image, self.method, doc.reference, doc.faces,
                                                     self._reference_photo()))

    def _reference_photo(self):
        choice = self.document.reference_photo
        return None if choice is None else choice.photo

    # ------------------------------------------------------------------ reference photo

    def choose_reference_photo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Reference photo: another photo of the person",
                                              self._last_folder(), OPEN_FILTER)
        if path:
            self.set_reference_photo_file(Path(path))

    def set_reference_photo_file(self, path: Path) -> int | None:
        """Prepare `path` as the reference photo on the worker (once) and compare it with the photo's faces;
        the panel shows it when ready. The job's id, or None when the worker is busy."""
        doc = self.document
        job_id = self.manager.submit("Reference photo", reference_photo_job(Path(path), doc.image, doc.faces))
        if job_id is None:
            self.statusBar().showMessage(f"Busy with {self.manager.current_title()}: wait or cancel it.", 5000)
            return None
        self._reference_photo_job = (job_id, self._generation)
        self.progress.setValue(0)
        self.progress.setFormat("Reference photo…")
        return job_id

    def clear_reference_photo(self) -> None:
        self.document.set_reference_photo(None)
        self.statusBar().showMessage("No reference photo: fills use the face itself.", 5000)

    def _on_reference_photo_ready(self, choice: ReferencePhotoChoice) -> None:
        self.document.set_reference_photo(choice)
        if choice.different_person:
            self.statusBar().showMessage(f"Warning: {choice.name} shows a different person; the fills use it "
                                         "until you clear it.", 15000)
        else:
            self.statusBar().showMessage(f"Reference photo {choice.name}: it guides Auto-fix and Inpaint.", 8000)

    def _show_reference_photo(self) -> None:
        choice = self.document.reference_photo
        self.reference_photo_panel.show_choice(choice)
        self.clear_reference_photo_action.setEnabled(choice is not None)

    def _submit(self, kind: str, job) -> int | None:
        title = ENGINE_TITLES[kind] + ("" if kind == "detect" else f" ({self.method})")
        job_id = self.manager.submit(title, job)
        if job_id is None:
            self.statusBar().showMessage(f"Busy with {self.manager.current_title()}: wait or cancel it.", 5000)
            return None
        self._job_generation = self._generation
        self._engine_job = job_id
        self.progress.setValue(0)
        self.progress.setFormat(f"{title}…")
        return job_id

    def _on_busy(self, busy: bool) -> None:
        for action in (self.detect_action, self.inpaint_action, self.autofix_action, self.reference_photo_action):
            action.setEnabled(not busy)
        self.method_combo.setEnabled(not busy)
        self.cancel_action.setEnabled(busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _on_progress(self, job_id: int, fraction: float, text: str) -> None:
        self.progress.setValue(round(fraction * 100))
        self.progress.setFormat(text)
        self.statusBar().showMessage(text)

    def _on_job_partial(self, job_id: int, step: StepResult) -> None:
        """The fill exists: put it in the document as one undo step now; its figures follow."""
        if job_id != self._engine_job:  # the batch dialog's run, on the same worker
            return
        if self._job_generation != self._generation:
            self.statusBar().showMessage("A result for a photo that is no longer open was discarded.", 5000)
            return
        self._job_command = (job_id, self._apply_step(step))

    def _on_job_finished(self, job_id: int, step: StepResult) -> None:
        if job_id == self._reference_photo_job[0]:
            if self._reference_photo_job[1] == self._generation:  # not for a photo that is no longer open
                self._on_reference_photo_ready(step)
            return
        if job_id != self._engine_job:
            return
        if self._job_generation != self._generation:
            self.statusBar().showMessage("A result for a photo that is no longer open was discarded.", 5000)
            return
        applied_id, command = self._job_command
        if applied_id == job_id:  # delivered before: only the figures are new
            if command is not None:
                command.figures = step.figures
                command.setText(self._step_text(step))
                self.history.refresh()
                self._refresh_figures()
        else:
            self._apply_step(step)
        self._job_command = (-1, None)
        title = self._step_title(step)
        self.statusBar().showMessage(f"{title} done in {step.figures.ms / 1000.0:.1f} s", 8000)

    def _on_job_cancelled(self, job_id: int) -> None:
        if job_id != self._engine_job:
            return
        applied_id, command = self._job_command
        self._job_command = (-1, None)
        if applied_id != job_id or command is None:
            self.statusBar().showMessage("Cancelled: the photo is unchanged.", 8000)
            return
        # Cancelled while the figures were measured: the fill stays (Undo removes it), the figure says why.
        command.figures = replace(command.figures, identity=(), identity_note="not measured: cancelled")
        self.history.refresh()
        self._refresh_figures()
        self.statusBar().showMessage("Cancelled while measuring: the fill is kept (Undo removes it).", 8000)

    def _apply_step(self, step: StepResult):
        """One undo step for an engine step; after a fill the result is what the user sees (the mask
        layer is hidden: M shows it again)."""
        faces = None if step.kind == "inpaint" else face_boxes_of(step.faces)
        command = apply_engine_result(self.document, self._step_text(step), step.image, step.mask, faces,
                                      step.figures)
        if step.image is not None:
            self.show_mask_action.setChecked(False)
        return command

    def _step_title(self, step: StepResult) -> str:
        return ENGINE_TITLES[step.kind] + ("" if step.kind == "detect" else f" ({step.figures.method})")

    def _step_text(self, step: StepResult) -> str:
        return f"{self._step_title(step)} · {step.figures.summary()}"

    def _on_job_failed(self, job_id: int, message: str) -> None:
        if job_id in (self._engine_job, self._reference_photo_job[0]):
            self._error(message)

    def _refresh_figures(self) -> None:
        if not isValid(self.canvas):
            return
        found = current_figures(self.document.undo_stack)
        self.canvas.set_figures(found[1] if found else None)

    # ------------------------------------------------------------------ status, title, messages

    def _show_pixel(self, x: int, y: int) -> None:
        if x < 0:
            self.pixel_label.setText("")
            return
        self.pixel_label.setText(f"{x}, {y}  mask {int(self.document.mask[y, x])}")

    def _update_title(self) -> None:
        marker = " *" if self.document.is_modified else ""
        where = f" — {self.document.path.parent}" if self.document.path else ""
        self.setWindowTitle(f"{self.document.name}{marker}{where} — {APP_NAME}")

    def _error(self, message: str) -> None:
        """One-line problem: in the status bar and a non-blocking dialog, never a crash."""
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_error = message

    def about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}",
                          f"<b>{APP_NAME}</b><p>Finds faces, segments what hides them and paints the hidden part "
                          "back, keeping the person recognisable.</p><p>Device: "
                          f"{self.manager.device_name or 'not loaded yet'}</p>")

    # ------------------------------------------------------------------ settings and recent files

    def _recent(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, path: Path) -> None:
        entry = str(path.resolve())
        recent = [entry] + [p for p in self._recent() if p != entry]
        self.settings.setValue("files/recent", recent[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _forget_recent(self, path: Path) -> None:
        entry = str(path.resolve())
        self.settings.setValue("files/recent", [p for p in self._recent() if p != entry])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self._recent()
        for entry in recent:
            action = self.recent_menu.addAction(Path(entry).name)
            action.setToolTip(entry)
            action.setStatusTip(entry)
            action.triggered.connect(lambda checked=False, p=entry: self.open_path(p))
        self.recent_menu.setEnabled(bool(recent))

    def _last_folder(self) -> str:
        return str(self.settings.value("files/last_folder", str(Path.home())))

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.brush.size = float(s.value("brush/size", self.brush.size))
        self.brush.hardness = float(s.value("brush/hardness", self.brush.hardness))
        self.layers.sync_brush()
        colour = QColor(str(s.value("mask/colour", self.canvas.mask_colour().name())))
        if colour.isValid():
            self.canvas.set_mask_colour(colour)
            self.layers.set_colour(colour)
        opacity = int(s.value("mask/opacity_percent", 50))
        self.layers.opacity.setValue(opacity)
        self.canvas.set_mask_opacity(opacity / 100.0)
        self.set_method(str(s.value("engine/method", "gan")))
        self._rebuild_recent_menu()

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("brush/size", self.brush.size)
        s.setValue("brush/hardness", self.brush.hardness)
        s.setValue("mask/colour", self.canvas.mask_colour().name())
        s.setValue("mask/opacity_percent", self.layers.opacity.value())
        s.setValue("engine/method", self.method)
        s.sync()


def app_icon() -> QIcon:
    """The window icon: a face glyph in the mask colour (drawn from qtawesome's bundled font, no file)."""
    return qta.icon("mdi6.face-man-shimmer-outline", color="#ff285a")
