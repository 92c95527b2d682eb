"""What the editor's engine actions do, as jobs for the ModelManager: detect, inpaint, auto-fix.

Each job calls only the public engine API (`facestudio.api` through `context.pipeline`,
`facestudio.metrics`, `facestudio.identity`), checks for cancel between stages, and returns an
`EngineResult` that the window turns into one undo step carrying the step's figures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from facestudio.gui.document import FaceBox, Reference
from facestudio.gui.figures import IdentityCheck, StepFigures
from facestudio.gui.mask_ops import area_percent
from facestudio.gui.worker import Job, JobContext

METHODS = ("gan", "telea")
USER_SOURCE = "user"  # Face.source of a face the user marked with a box
NO_FACE_MESSAGE = ("no face found in the photo: draw a box around the face with the Face box tool (F), "
                   "then run Auto-fix again.")


@dataclass(frozen=True)
class EngineResult:
    """A finished engine step; None fields were not changed by it."""

    kind: str                       # "detect", "inpaint" or "auto_fix"
    image: np.ndarray | None
    mask: np.ndarray | None
    faces: list[FaceBox] | None
    figures: StepFigures


def detect_occlusions_job(image: np.ndarray, reference: Reference | None) -> Job:
    """Find faces and segment what hides them; the mask is for the user to correct before inpainting."""
    image = image.copy()

    def job(context: JobContext) -> EngineResult:
        context.step(0.0, "Loading models…")
        pipeline = context.pipeline
        started = time.perf_counter()
        context.step(0.2, "Finding faces…")
        faces = _face_boxes(pipeline.detect(image))
        context.step(0.4, "Segmenting occlusions…")
        mask = np.asarray(pipeline.segment(image), np.uint8)
        figures = StepFigures(method="segmenter", device=str(pipeline.device), seconds=time.perf_counter() - started,
                              faces_found=len(faces), mask_area_percent=area_percent(mask),
                              reference=_mask_scores(mask, reference))
        return EngineResult("detect", None, mask, faces, figures)

    return job


def inpaint_job(image: np.ndarray, mask: np.ndarray, method: str, reference: Reference | None) -> Job:
    """Fill the hole the user marked (`mask`, 255 = hole) with the chosen method."""
    image, mask = image.copy(), mask.copy()

    def job(context: JobContext) -> EngineResult:
        context.step(0.0, "Loading models…")
        pipeline = context.pipeline
        started = time.perf_counter()
        context.step(0.1, "Finding faces…")
        faces_found = len(pipeline.detect(image))
        context.step(0.2, f"Inpainting ({method})…")
        result = np.asarray(pipeline.inpaint(image, mask, method=method), np.uint8)
        seconds = time.perf_counter() - started
        context.step(0.7, "Measuring identity…")
        cosine = _encoder_cosine(pipeline, image, result)
        figures = _figures(context, pipeline, image, result, mask, method, seconds, faces_found, cosine, reference)
        return EngineResult("inpaint", result, None, None, figures)

    return job


def auto_fix_job(image: np.ndarray, method: str, reference: Reference | None,
                 face_boxes: list[FaceBox] | None = None) -> Job:
    """Detect faces, segment occlusions and inpaint them, all at once (one engine call).

    With `face_boxes` (the document's, drawn or kept by the user) those faces are fixed instead of
    the detector's; no box and no face found ends the job with NO_FACE_MESSAGE.
    """
    image = image.copy()
    face_boxes = list(face_boxes or [])

    def job(context: JobContext) -> EngineResult:
        from facestudio.api import NoFaceError

        context.step(0.0, "Loading models…")
        pipeline = context.pipeline
        started = time.perf_counter()
        context.step(0.1, f"Auto-fix ({method}): faces, occlusions, inpainting…")
        given = _faces_of_boxes(pipeline, image, face_boxes) if face_boxes else None
        try:
            outcome = pipeline.auto_fix(image, method=method, faces=given)
        except NoFaceError:
            raise NoFaceError(NO_FACE_MESSAGE) from None
        seconds = time.perf_counter() - started
        context.step(0.7, "Measuring…")
        result = np.asarray(outcome.image, np.uint8)
        mask = np.asarray(outcome.mask, np.uint8)
        faces = _face_boxes(outcome.faces)
        cosine = outcome.metrics.get("identity_similarity")
        cosine = float(cosine) if isinstance(cosine, (int, float)) and math.isfinite(cosine) else None
        figures = _figures(context, pipeline, image, result, mask, method, seconds, len(faces), cosine, reference)
        return EngineResult("auto_fix", result, mask, faces, figures)

    return job


def _face_boxes(faces: list[Any]) -> list[FaceBox]:
    """Document boxes for engine faces; a box the user drew stays score-less, as drawn."""
    return [FaceBox(*(float(v) for v in face.box), score=None if face.source == USER_SOURCE else float(face.score))
            for face in faces]


def _faces_of_boxes(pipeline: Any, image: np.ndarray, boxes: list[FaceBox]) -> list[Any]:
    """Engine faces for the document's boxes: a box the detector finds again exactly as it is keeps
    the detector's five landmarks (they follow a tilted head); any other box gets landmarks estimated
    from the box. A box drawn by hand (no score) becomes a USER_SOURCE face."""
    from facestudio.faces import Face

    detected = {tuple(face.box): face for face in pipeline.detect(image)}
    faces = []
    for box in boxes:
        key = tuple(int(round(value)) for value in (box.x, box.y, box.w, box.h))
        if key in detected:
            faces.append(detected[key])
        elif box.score is None:
            faces.append(Face(box=key, source=USER_SOURCE))
        else:
            faces.append(Face(box=key, score=box.score))  # a detector's box it no longer finds as it is
    return faces


def _figures(context: JobContext, pipeline: Any, before: np.ndarray, after: np.ndarray, hole: np.ndarray,
             method: str, seconds: float, faces_found: int, cosine: float | None,
             reference: Reference | None) -> StepFigures:
    check = _identity_check(pipeline, before, after)
    context.step(0.9, "Scoring against the reference…")
    scores: dict[str, float] = {}
    if reference is not None:
        from facestudio.metrics import compare_to_reference

        # "in the hole" means where the occlusion truly was, when that is known
        scored_hole = reference.true_mask if reference.true_mask is not None else hole
        found = hole if reference.true_mask is not None else None
        scores = {key: float(value) for key, value in compare_to_reference(
            after, reference.image, scored_hole, true_mask=reference.true_mask, found_mask=found).items()}
    return StepFigures(method=method, device=str(pipeline.device), seconds=seconds, faces_found=faces_found,
                       mask_area_percent=area_percent(hole), identity_cosine=cosine, identity_check=check,
                       reference=scores)


def _encoder_cosine(pipeline: Any, before: np.ndarray, after: np.ndarray) -> float | None:
    """Cosine of the identity encoder's vectors for the input and the result (None without encoder weights)."""
    from facestudio.models.checkpoint import CheckpointError  # torch is loaded already: the pipeline is

    try:
        a, b = pipeline.embed(before), pipeline.embed(after)
    except CheckpointError:  # telea needs no weights; a missing encoder must not fail the inpaint
        return None
    return float(np.dot(np.ravel(a), np.ravel(b)))


def _identity_check(pipeline: Any, before: np.ndarray, after: np.ndarray) -> IdentityCheck | None:
    """facestudio.identity's verdict on input vs result (its default backend; the "encoder" backend
    uses this job's pipeline), when that module is there and finds a face."""
    try:
        from facestudio import identity
    except ImportError:
        return None
    try:
        outcome = identity.compare(before, after, pipeline=pipeline)
    except identity.IdentityError:  # no face found, backend unavailable: the cosine still stands
        return None
    return IdentityCheck(str(outcome.backend), float(outcome.distance), float(outcome.threshold), bool(outcome.same))


def _mask_scores(found: np.ndarray, reference: Reference | None) -> dict[str, float]:
    """IoU and Dice of a found mask against the true one, when the reference has it."""
    if reference is None or reference.true_mask is None:
        return {}
    from facestudio.metrics import dice, iou

    return {"iou": iou(found, reference.true_mask), "dice": dice(found, reference.true_mask)}
