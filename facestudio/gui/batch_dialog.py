"""File -> Batch process folder: the GUI front end of facestudio.batch.

The dialog collects the same settings as `facestudio batch`, then runs the same engine on its own
QThread (not the editor's model worker), so the editor stays usable during a long run. Rows appear
as "waiting" once the folder is planned and change as the engine reports each photo; double-clicking
a finished row opens its result in the editor. Cancel stops after the photo on the model; whatever
was written is whole (the engine writes atomically). Each run leaves report.csv / report.json in
the output folder, as the CLI does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from facestudio.batch import (
    CANCELLED,
    DONE,
    FAILED,
    SKIPPED,
    BatchError,
    BatchItem,
    BatchJob,
    BatchOptions,
    FileOutcome,
    OutputsExistError,
    PlanError,
    RunReport,
    plan_folder,
    run_settings,
)

METHOD_LABELS = {"gan": "Trained inpainter (GAN)", "telea": "Classical fill (OpenCV Telea)"}
EXISTING_LABELS = {
    "skip": "Skip photos already done",
    "overwrite": "Overwrite their outputs",
    "stop": "Stop: do not start",
}
WAITING = "waiting"
COLUMN_FILE, COLUMN_STATUS, COLUMN_REASON = range(3)
_RESULT_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class BatchRequest:
    """What the user asked for, as the worker needs it."""

    input_dir: Path
    output_dir: Path
    recursive: bool
    masks_dir: Path | None
    options: BatchOptions


class BatchWorker(QObject):
    """Plans and runs one batch on a worker thread; every result reaches the UI as a queued signal."""

    planned = Signal(object)     # list[BatchItem]
    processed = Signal(object)   # FileOutcome
    finished = Signal(str)       # "" when the run ended normally, else a one-line error

    def __init__(self, request: BatchRequest) -> None:
        super().__init__()
        self.request = request
        self._stop = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop after the photo now on the model (safe from any thread)."""
        self._stop.set()

    @Slot()
    def run(self) -> None:
        request = self.request
        try:
            items = plan_folder(
                request.input_dir, request.output_dir, recursive=request.recursive, masks_dir=request.masks_dir
            )
            request.output_dir.mkdir(parents=True, exist_ok=True)
        except (PlanError, OSError) as error:
            self.finished.emit(str(error))
            return
        self.planned.emit(items)
        report = RunReport(
            request.output_dir,
            run_settings(request.input_dir, request.output_dir, request.recursive, request.masks_dir, request.options),
        )
        try:
            for outcome in BatchJob(items, request.options).run(self._stop.is_set):
                report.add(outcome)
                self.processed.emit(outcome)
        except OutputsExistError as error:
            self.finished.emit(f"{error}. Choose to skip or overwrite existing outputs.")
            return
        except BatchError as error:
            self.finished.emit(str(error))
            return
        report.cancelled = self._stop.is_set()
        try:
            report.write()
        except OSError as error:
            self.finished.emit(f"{report.output_dir}: could not write the report ({error.strerror or error})")
            return
        self.finished.emit("")


class BatchDialog(QDialog):
    """Batch-process a folder with the engine, showing per-photo status, progress and ETA.

    `open_in_editor(path)` is called with a result's path when its row is double-clicked;
    `device` and `weights_dir` choose where and with which checkpoints the models run.
    """

    run_finished = Signal(dict)  # counts per status, after the worker thread has ended

    def __init__(
        self,
        parent: QWidget | None = None,
        open_in_editor: Callable[[Path], object] | None = None,
        device: str | None = None,
        weights_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch process folder")
        self.setModal(False)
        self.resize(760, 560)
        self._open_in_editor = open_in_editor
        self._device = device
        self._weights_dir = weights_dir
        self._thread: QThread | None = None
        self._worker: BatchWorker | None = None
        self._rows: dict[int, QTreeWidgetItem] = {}
        self._counts: dict[str, int] = {}
        self._first_outcome_at: float | None = None
        self._reported = 0
        self._browse_buttons: list[QPushButton] = []
        self._build()

    # ----- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.input_edit = QLineEdit()
        self.recursive_check = QCheckBox("Include sub-folders")
        self.output_edit = QLineEdit()
        self.masks_edit = QLineEdit()
        self.masks_edit.setPlaceholderText("none: find what hides each face automatically")
        self.method_combo = _combo(METHOD_LABELS, "gan")
        self.existing_combo = _combo(EXISTING_LABELS, "skip")

        form = QFormLayout()
        form.addRow("Input folder", self._with_browse(self.input_edit, "Choose the folder of photos"))
        form.addRow("", self.recursive_check)
        form.addRow("Output folder", self._with_browse(self.output_edit, "Choose where results go"))
        form.addRow("Mask folder (optional)", self._with_browse(self.masks_edit, "Choose the folder of masks"))
        form.addRow("Method", self.method_combo)
        form.addRow("Existing outputs", self.existing_combo)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.eta_label = QLabel("")
        self.status_label = QLabel("Choose an input and an output folder, then Start.")
        self.status_label.setWordWrap(True)

        self.file_list = QTreeWidget()
        self.file_list.setHeaderLabels(["File", "Status", "Reason"])
        self.file_list.setRootIsDecorated(False)
        self.file_list.setUniformRowHeights(True)
        self.file_list.header().setSectionResizeMode(COLUMN_FILE, QHeaderView.ResizeMode.Interactive)
        self.file_list.header().setStretchLastSection(True)
        self.file_list.setColumnWidth(COLUMN_FILE, 320)
        self.file_list.itemDoubleClicked.connect(self._open_row)

        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)

        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.eta_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(progress_row)
        layout.addWidget(self.status_label)
        layout.addWidget(self.file_list, 1)
        layout.addWidget(buttons)
        self._settings_widgets = [
            self.input_edit, self.recursive_check, self.output_edit, self.masks_edit,
            self.method_combo, self.existing_combo,
        ]

    def _with_browse(self, edit: QLineEdit, caption: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit, caption))
        layout.addWidget(button)
        self._browse_buttons.append(button)
        return row

    def _browse(self, edit: QLineEdit, caption: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, caption, edit.text())
        if folder:
            edit.setText(folder)

    # ----- running ----------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._thread is not None

    def start(self) -> bool:
        """Start a run with the current settings; False (and a message) when they are incomplete."""
        if self.is_running():
            return False
        request = self._request()
        if request is None:
            return False
        self.file_list.clear()
        self._rows.clear()
        self._counts = {}
        self._reported = 0
        self._first_outcome_at = None
        self.progress_bar.setRange(0, 0)  # busy until the folder is planned
        self.eta_label.setText("")
        self.status_label.setText("Reading the folder and loading the models…")
        self._set_running(True)

        self._worker = BatchWorker(request)
        self._thread = QThread(self)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.planned.connect(self._on_planned)
        self._worker.processed.connect(self._on_processed)
        self._worker.finished.connect(self._on_worker_finished)
        self._thread.finished.connect(self._on_thread_finished)
        self._thread.start()
        return True

    def cancel(self) -> None:
        """Stop the run after the photo now being processed."""
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling after the current photo…")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        """Closing cancels a run and waits for its last write, so no thread outlives the dialog."""
        self._stop_and_wait()
        super().closeEvent(event)

    def reject(self) -> None:
        """Escape / Close behave like closing the window."""
        self._stop_and_wait()
        super().reject()

    def _stop_and_wait(self) -> None:
        if self._thread is not None:
            self.cancel()
            self._thread.quit()  # takes effect once the worker's run() has returned
            self._thread.wait()
            self._on_thread_finished()

    def _request(self) -> BatchRequest | None:
        input_text, output_text = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not input_text or not output_text:
            self.status_label.setText("Choose both an input folder and an output folder.")
            return None
        masks_text = self.masks_edit.text().strip()
        options = BatchOptions(
            method=self.method_combo.currentData(),
            device=self._device,
            weights_dir=self._weights_dir,
            existing=self.existing_combo.currentData(),
        )
        return BatchRequest(
            input_dir=Path(input_text),
            output_dir=Path(output_text),
            recursive=self.recursive_check.isChecked(),
            masks_dir=Path(masks_text) if masks_text else None,
            options=options,
        )

    def _set_running(self, running: bool) -> None:
        for widget in [*self._settings_widgets, *self._browse_buttons]:
            widget.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    # ----- worker signals -----------------------------------------------------------------------
    @Slot(object)
    def _on_planned(self, items: list[BatchItem]) -> None:
        self.progress_bar.setRange(0, max(1, len(items)))
        self.progress_bar.setValue(0)
        for index, item in enumerate(items):
            row = QTreeWidgetItem([item.name, WAITING, ""])
            self._rows[index] = row
        self.file_list.addTopLevelItems(list(self._rows.values()))
        if not items:
            self.status_label.setText("No photos found in the input folder.")
        else:
            self.status_label.setText(f"{len(items)} photo(s) to process.")

    @Slot(object)
    def _on_processed(self, outcome: FileOutcome) -> None:
        row = self._rows.get(outcome.index)
        if row is None:
            return
        row.setText(COLUMN_STATUS, outcome.status)
        row.setText(COLUMN_REASON, outcome.reason)
        row.setToolTip(COLUMN_REASON, outcome.reason)
        if outcome.status == DONE:
            row.setData(COLUMN_FILE, _RESULT_ROLE, str(outcome.item.result_path))
            row.setToolTip(COLUMN_FILE, f"Double-click to open {outcome.item.result_path}")
        self._counts[outcome.status] = self._counts.get(outcome.status, 0) + 1
        self._reported += 1
        self.progress_bar.setValue(self._reported)
        self.eta_label.setText(self._eta_text())
        self.status_label.setText(self._counts_text())

    @Slot(str)
    def _on_worker_finished(self, error: str) -> None:
        if error:
            self.status_label.setText(error)
        else:
            cancelled = self._counts.get(CANCELLED, 0)
            self.status_label.setText(self._counts_text() + (" Cancelled." if cancelled else " Finished."))
        self.eta_label.setText("")
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
        if self._thread is not None:
            self._thread.quit()

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread.deleteLater()
        if self._worker is not None:
            self._worker.deleteLater()
        self._thread = None
        self._worker = None
        self._set_running(False)
        self.run_finished.emit(dict(self._counts))

    def _eta_text(self) -> str:
        """Time left from the pace since the first finished photo (model loading left out)."""
        now = time.monotonic()
        if self._first_outcome_at is None:
            self._first_outcome_at = now
            return ""
        remaining = self.progress_bar.maximum() - self._reported
        if remaining <= 0:
            return ""
        pace = (now - self._first_outcome_at) / max(1, self._reported - 1)
        return f"about {_duration(pace * remaining)} left"

    def _counts_text(self) -> str:
        parts = [f"{self._counts[status]} {status}" for status in (DONE, FAILED, SKIPPED, CANCELLED)
                 if self._counts.get(status)]
        return f"{self._reported} of {self.progress_bar.maximum()}: " + ", ".join(parts) + "."

    def _open_row(self, row: QTreeWidgetItem, _column: int) -> None:
        path = row.data(COLUMN_FILE, _RESULT_ROLE)
        if path and self._open_in_editor is not None:
            self._open_in_editor(Path(path))


def _combo(labels: dict[str, str], current: str) -> QComboBox:
    combo = QComboBox()
    for key, label in labels.items():
        combo.addItem(label, key)
    combo.setCurrentIndex(list(labels).index(current))
    return combo


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"

