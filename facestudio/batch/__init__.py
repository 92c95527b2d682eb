"""Batch processing: the one engine that `facestudio fix`, `facestudio batch` and the GUI's batch dialog run.

plan.py decides what is read and written, engine.py runs the models over the plan with reading and
writing overlapped, report.py writes report.csv / report.json, commands.py is the console front end.
"""

from facestudio.batch.commands import add_batch_arguments, add_fix_arguments, run_batch, run_fix
from facestudio.batch.engine import (
    CANCELLED,
    DONE,
    EXISTING_POLICIES,
    FAILED,
    METHODS,
    NO_FACE_REASON,
    SKIPPED,
    BatchError,
    BatchJob,
    BatchOptions,
    FaceIdentity,
    FileOutcome,
    OutputsExistError,
    run_batch_job,
)
from facestudio.batch.plan import BatchItem, PlanError, plan_files, plan_folder
from facestudio.batch.report import RunReport, run_settings

__all__ = [
    "CANCELLED",
    "DONE",
    "EXISTING_POLICIES",
    "FAILED",
    "METHODS",
    "NO_FACE_REASON",
    "SKIPPED",
    "BatchError",
    "BatchItem",
    "BatchJob",
    "BatchOptions",
    "FaceIdentity",
    "FileOutcome",
    "OutputsExistError",
    "PlanError",
    "RunReport",
    "add_batch_arguments",
    "add_fix_arguments",
    "plan_files",
    "plan_folder",
    "run_batch",
    "run_batch_job",
    "run_fix",
    "run_settings",
]
