"""The per-run report of a batch: report.csv (one row per photo) and report.json (the run and the rows).

Both are replaced atomically at the end of a run (cancelled or interrupted runs included), so a
reader never sees half a report. Columns: file, status, reason, faces, mask_percent, ms (model),
read_ms, write_ms, result, mask, one column per figure the pipeline reported, and, when the
identity module ran, identity_distance / identity_verdict (one value per face, ";"-separated); with
reference photos, reference_photo: per face, the file name of the one that guided its fill ("" for none).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from facestudio.api import default_weights_dir
from facestudio.atomic import atomic_write
from facestudio.batch.engine import CANCELLED, DONE, SKIPPED, BatchOptions, FileOutcome
from facestudio.batch.plan import BatchItem, remove_stale_temporaries
from facestudio.faces import detector_name
from facestudio.steps import figure_record

logger = logging.getLogger(__name__)

REPORT_CSV = "report.csv"
REPORT_JSON = "report.json"
JOURNAL = "journal.jsonl"  # one JSON line per finished photo, appended and synced as it finishes

_IDENTITY_COLUMNS = ("identity_distance", "identity_verdict")
_BASE_COLUMNS = ("file", "status", "reason", "faces", "mask_percent", "ms", "read_ms", "write_ms", "result", "mask")


class RunReport:
    """Collects outcomes during a run and writes the two report files into the output folder."""

    def __init__(self, output_dir: Path, settings: Mapping[str, Any]) -> None:
        self.output_dir = Path(output_dir)
        self.settings = dict(settings)
        self.outcomes: list[FileOutcome] = []
        self.started = time.time()
        self.cancelled = False
        # Until the run ends, any report written (periodically, or the last one a kill left) says so.
        self.state = "interrupted"
        self.journal_path = self.output_dir / JOURNAL
        self.earlier = _read_journal(self.journal_path)  # printable file name -> its latest journal record
        self._written_at = 0.0

    def add(self, outcome: FileOutcome) -> None:
        """Record an outcome; a photo's own result (not a skip) also goes to the journal at once."""
        self.outcomes.append(outcome)
        if outcome.status not in (SKIPPED, CANCELLED):
            self.journal(outcome)

    def journal(self, outcome: FileOutcome) -> None:
        """Append the outcome's row to the journal and sync it. BatchJob calls this (`on_fixed`) before a
        photo's outputs are written, so outputs a killed run left always have their figures on record."""
        row = _printable(self._row(outcome))
        record = {"row": row, "entry": _printable(_json_row(outcome, row))}
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with open(self.journal_path, "a", encoding="utf-8") as journal:
                journal.write(json.dumps(record, ensure_ascii=False) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
        except OSError as error:  # the run goes on; the final report still has the row
            logger.warning("%s: could not append to the journal: %s", self.journal_path, error)
        self.earlier[row["file"]] = record

    def finished_earlier(self, item: BatchItem) -> bool:
        """Whether the journal records the item's photo as done (with its figures)."""
        record = self.earlier.get(_printable(item.name))
        return record is not None and record["row"].get("status") == DONE

    def write_if_due(self, every_s: float = 5.0) -> None:
        """Rewrite the report if the last write is `every_s` old: a run killed now leaves a report that
        lists what was done and says the run was interrupted."""
        if time.monotonic() - self._written_at >= every_s:
            self.write()

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(outcome.status for outcome in self.outcomes))

    @property
    def paths(self) -> tuple[Path, Path]:
        return self.output_dir / REPORT_CSV, self.output_dir / REPORT_JSON

    def write(self) -> tuple[Path, Path]:
        """Write report.csv and report.json atomically; returns their paths."""
        outcomes = sorted(self.outcomes, key=lambda outcome: outcome.index)
        rows, entries = [], []
        for outcome in outcomes:
            row = _printable(self._row(outcome))
            earlier = self.earlier.get(row["file"]) if outcome.status == SKIPPED else None
            if earlier is not None and earlier["row"].get("status") == DONE:
                # finished by an earlier run (resumed): its row, with its figures, from the journal
                row = {**earlier["row"], "reason": "done in an earlier run"}
                entry = {**earlier["entry"], "reason": row["reason"]}
            else:
                entry = _printable(_json_row(outcome, row))
            rows.append(row)
            entries.append(entry)
        csv_path, json_path = self.paths
        self.output_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(csv_path, _csv_text(rows))
        counts = dict(Counter(row["status"] for row in rows))
        run = {
            **self.settings,
            "started": _iso(self.started),
            "finished": _iso(time.time()),
            "seconds": round(time.time() - self.started, 3),
            "state": self.state,
            "cancelled": self.cancelled,
            "counts": counts,
        }
        document = _printable({"run": run, "files": entries})
        atomic_write(json_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        remove_stale_temporaries((), extra_files=self.paths)  # what a killed run left half-written
        self._written_at = time.monotonic()
        return csv_path, json_path

    def _row(self, outcome: FileOutcome) -> dict[str, Any]:
        figures = figure_record(outcome.faces, outcome.mask_percent, outcome.ms, outcome.identity, outcome.figures,
                                outcome.reference_photos)
        row: dict[str, Any] = {
            "file": outcome.item.name,
            "status": outcome.status,
            "reason": outcome.reason,
            "faces": figures.pop("faces"),
            "mask_percent": figures.pop("mask_percent"),
            "ms": figures.pop("ms"),
            "read_ms": _rounded(outcome.read_ms, 1),
            "write_ms": _rounded(outcome.write_ms, 1),
            "result": _relative(outcome.item.result_path, self.output_dir) if outcome.status == "done" else None,
            "mask": _relative(outcome.item.mask_path, self.output_dir) if outcome.status == "done" else None,
        }
        row.update(figures)  # every other figure under its one name (facestudio.steps)
        return row


def run_settings(
    input_dir: Path, output_dir: Path, recursive: bool, masks_dir: Path | None, options: BatchOptions
) -> dict[str, Any]:
    """The settings a report's "run" section records, the same for the CLI and the GUI.

    "detector" is the one that runs ("learned" or "haar"), not the "auto" that chose it.
    """
    weights_dir = options.weights_dir if options.weights_dir is not None else default_weights_dir()
    return {
        "input": str(input_dir),
        "output": str(output_dir),
        "recursive": recursive,
        "masks": None if masks_dir is None else str(masks_dir),
        "method": options.method,
        "device": options.device or "auto",
        "detector": detector_name(options.detector, weights_dir),
        "existing": options.existing,
        "jobs": options.jobs,
        "references": reference_settings(options),
    }


def reference_settings(options: BatchOptions) -> list[str]:
    """The reference photo files a run is given (what --resume must find unchanged)."""
    paths = ([options.reference] if options.reference is not None else []) + list(options.references)
    return [str(path) for path in paths]


def earlier_settings(output_dir: Path) -> dict[str, Any] | None:
    """The "run" section of the report an earlier run left in `output_dir` (None: none, or unreadable)."""
    try:
        run = json.loads((Path(output_dir) / REPORT_JSON).read_text(encoding="utf-8"))["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return run if isinstance(run, dict) else None


def _csv_text(rows: list[dict[str, Any]]) -> str:
    identity = [key for key in _IDENTITY_COLUMNS if any(key in row for row in rows)]
    extra = sorted({key for row in rows for key in row} - set(_BASE_COLUMNS) - set(_IDENTITY_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*_BASE_COLUMNS, *extra, *identity], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def _read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """The latest record per file of an earlier run's journal (a line cut short by a kill is skipped)."""
    records: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            record = json.loads(line)
            records[str(record["row"]["file"])] = record
        except (ValueError, KeyError, TypeError):
            continue
    return records


def _printable(value: Any) -> Any:
    """`value` with every string made printable UTF-8: a file name that is not valid UTF-8 (Python keeps
    its bytes as surrogates) is shown with \\xNN escapes instead of breaking the report."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(item) for item in value]
    return value


def _json_row(outcome: FileOutcome, row: dict[str, Any]) -> dict[str, Any]:
    entry = {key: row[key] for key in _BASE_COLUMNS}
    entry["source"] = str(outcome.item.source)
    raw = os.fsencode(outcome.item.source)
    if _printable(entry["source"]) != entry["source"]:  # the exact bytes of a name that is not UTF-8
        entry["source_bytes_base64"] = base64.b64encode(raw).decode("ascii")
    entry["figures"] = dict(outcome.figures)
    if outcome.reference_photos:
        entry["reference_photos"] = list(outcome.reference_photos)
    if outcome.identity:
        entry["identity"] = [
            {
                "box": list(face.box),
                "distance": round(face.distance, 6),
                "threshold": face.threshold,
                "same": face.same,
                "backend": face.backend,
            }
            for face in outcome.identity
        ]
    if outcome.traceback:
        entry["traceback"] = outcome.traceback
    return entry


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(timestamp))
