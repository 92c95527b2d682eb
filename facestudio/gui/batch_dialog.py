"""File -> Batch process folder: the GUI front end of facestudio.batch.

The dialog collects the same settings as `facestudio batch`, then runs the same engine as one job
on the editor's model worker, with the editor's one Pipeline (the models are not loaded twice);
the editor's engine actions wait while it runs, its tools do not. Rows appear as "waiting" once the
folder is planned and change as the engine reports each photo; double-clicking a finished row opens
its result in the editor. Cancel stops after the photo on the model; whatever was written is whole
(the engine writes atomically). Each run leaves report.csv / report.json in the output folder, as
the CLI does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
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

from facestudio.gui.worker import Job, JobContext, ModelManager
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


def batch_job(request: BatchRequest) -> Job:
    """The run as a worker job: plans the folder, then runs BatchJob on the worker's Pipeline; the plan
    and each outcome reach the dialog as they come (`context.deliver`); returns "" or a one-line error."""

    def job(context: JobContext) -> str:
        try:
            items = plan_folder(
                request.input_dir, request.output_dir, recursive=request.recursive, masks_dir=request.masks_dir
            )
            request.output_dir.mkdir(parents=True, exist_ok=True)
        except (PlanError, OSError) as error:
            return str(error)
        context.deliver(("planned", items))
        report = RunReport(
            request.output_dir,
            run_settings(request.input_dir, request.output_dir, request.recursive, request.masks_dir, request.options),
        )
        try:
            run = BatchJob(items, request.options, pipeline=context.pipeline, on_fixed=report.journal)
            for outcome in run.run(lambda: context.cancelled):
                report.add(outcome)
                context.deliver(("processed", outcome), even_if_cancelled=True)
        except OutputsExistError as error:
            return f"{error}. Choose to skip or overwrite existing outputs."
        except BatchError as error:
            return str(error)
        finally:
            report.cancelled = context.cancelled
        try:
            report.write()
        except OSError as error:
            return f"{report.output_dir}: could not write the report ({error.strerror or error})"
        return ""

    return job


class BatchDialog(QDialog):
    """Batch-process a folder with the engine, showing per-photo status, progress and ETA.

    `open_in_editor(path)` is called with a result's path when its row is double-clicked;
    `device` and `weights_dir` choose where and with which checkpoints the models run.
    """

    run_finished = Signal(dict)  # counts per status, after the worker thread has ended

    def __init__(
        self,
        manager: ModelManager,
        parent: QWidget | None = None,
        open_in_editor: Callable[[Path], object] | None = None,
    ) -> None:
        super().__init__(parent)
        self._manager = manager
        self._job_id: int | None = None
        manager.partial.connect(self._on_partial)
        manager.finished.connect(self._on_finished)
        manager.failed.connect(self._on_failed)
        manager.cancelled.connect(self._on_cancelled)
        self.setWindowTitle("Batch process folder")
        self.setModal(False)
        self.resize(760, 560)
        self._open_in_editor = open_in_editor
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
        return self._job_id is not None

    def start(self) -> bool:
        """Start a run with the current settings; False (and a message) when they are incomplete or the
        editor's worker is busy."""
        if self.is_running():
            return False
        request = self._request()
        if request is None:
            return False
        job_id = self._manager.submit("Batch", batch_job(request))
        if job_id is None:
            self.status_label.setText(f"Busy with {self._manager.current_title()}: wait for it or cancel it.")
            return False
        self._job_id = job_id
        self.file_list.clear()
        self._rows.clear()
        self._counts = {}
        self._reported = 0
        self._first_outcome_at = None
        self.progress_bar.setRange(0, 0)  # busy until the folder is planned
        self.eta_label.setText("")
        self.status_label.setText("Reading the folder and loading the models…")
        self._set_running(True)
        return True

    def cancel(self) -> None:
        """Stop the run after the photo now being processed."""
        if self.is_running():
            self._manager.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling after the current photo…")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        """Closing cancels a run and waits for its last write, so nothing outlives the dialog half-done."""
        self._stop_and_wait()
        super().closeEvent(event)

    def reject(self) -> None:
        """Escape / Close behave like closing the window."""
        self._stop_and_wait()
        super().reject()

    def _stop_and_wait(self) -> None:
        if self.is_running():
            self.cancel()
            self._manager.wait_idle()
            self._end_run()

    def _request(self) -> BatchRequest | None:
        input_text, output_text = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not input_text or not output_text:
            self.status_label.setText("Choose both an input folder and an output folder.")
            return None
        masks_text = self.masks_edit.text().strip()
        options = BatchOptions(
            method=self.method_combo.currentData(),
            device=self._manager.requested_device,
            weights_dir=self._manager.weights_dir,
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
    def _on_partial(self, job_id: int, message: object) -> None:
        if job_id != self._job_id:
            return
        kind, payload = message  # type: ignore[misc]
        if kind == "planned":
            self._on_planned(payload)
        else:
            self._on_processed(payload)

    def _on_finished(self, job_id: int, error: object) -> None:
        if job_id == self._job_id:
            self._on_run_ended(str(error or ""))

    def _on_failed(self, job_id: int, message: str) -> None:
        if job_id == self._job_id:
            self._on_run_ended(message)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._job_id:
            self._on_run_ended("")

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

    def _on_run_ended(self, error: str) -> None:
        if error:
            self.status_label.setText(error)
        else:
            cancelled = self._manager_cancelled()
            self.status_label.setText(self._counts_text() + (" Cancelled." if cancelled else " Finished."))
        self.eta_label.setText("")
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
        self._end_run()

    def _manager_cancelled(self) -> bool:
        return not self.cancel_button.isEnabled() and self.is_running()

    def _end_run(self) -> None:
        if self._job_id is None:
            return
        self._job_id = None
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

