"""The editor's engine actions as jobs for the ModelManager: detect, inpaint, auto-fix, and preparing
a reference photo (another photo of the person that guides the fills).

Each job runs one step of `facestudio.steps` (faces found once and passed down) and hands the
result over as soon as the fill exists (`context.deliver`), so the photo changes on screen at once;
the identity figure is measured after that and arrives with the job's final result. A crash, hang
or Cancel while measuring costs only the figure (it then says why it is missing), never the edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facestudio import steps
from facestudio.api import Face, NoFaceError
from facestudio.gui.document import FaceBox, Reference, ReferencePhotoChoice
from facestudio.gui.worker import Job, JobCancelled, JobContext

METHODS = ("gan", "telea")
USER_SOURCE = "user"  # Face.source of a face the user marked with a box
NO_FACE_MESSAGE = ("no face found in the photo: draw a box around the face with the Face box tool (F), "
                   "then run Auto-fix again.")


def detect_occlusions_job(image: np.ndarray, reference: Reference | None) -> Job:
    """Find faces and segment what hides them; the mask is for the user to correct before inpainting."""
    image = image.copy()

    def job(context: JobContext) -> steps.StepResult:
        context.step(0.0, "Loading models…")
        pipeline = context.pipeline
        context.step(0.2, "Finding faces and segmenting occlusions…")
        step = steps.detect_occlusions(pipeline, image)
        return steps.with_reference(step, _mask_scores(step.mask, reference))

    return job


def inpaint_job(image: np.ndarray, mask: np.ndarray, method: str, reference: Reference | None,
                face_boxes: list[FaceBox] | None = None, reference_photo: Any = None) -> Job:
    """Fill the hole the user marked (`mask`, 255 = hole) with the chosen method. The document's face
    boxes, when it has any, are the faces (so the detector does not run again). `reference_photo`: a
    prepared reference photo (ReferencePhotoChoice.photo) that guides the fill of every face."""
    image, mask = image.copy(), mask.copy()
    face_boxes = list(face_boxes or [])

    def job(context: JobContext) -> steps.StepResult:
        context.step(0.0, "Loading models…")
        pipeline = context.pipeline
        context.step(0.2, f"Inpainting ({method})…")
        faces = _faces_of_boxes(face_boxes) if face_boxes else None
        step = steps.inpaint(pipeline, image, mask, method, faces, reference=reference_photo)
        return _finish(context, pipeline, image, step, mask, reference)

    return job


def auto_fix_job(image: np.ndarray, method: str, reference: Reference | None,
                 face_boxes: list[FaceBox] | None = None, reference_photo: Any = None) -> Job:
    """Detect faces, segment occlusions and inpaint them, all at once (one engine call).

    With `face_boxes` (the document's, drawn or kept by the user) those faces are fixed instead of
    the detector's; no box and no face found ends the job with NO_FACE_MESSAGE. `reference_photo`:
    as for `inpaint_job`; the step's figures name it per face.
    """
    image = image.copy()
    face_boxes = list(face_boxes or [])

    def job(context: JobContext) -> steps.StepResult:
        context.step(0.0, "Loading models…")
        pipeline = context.pipeline
        context.step(0.1, f"Auto-fix ({method}): faces, occlusions, inpainting…")
        try:
            step = steps.auto_fix(pipeline, image, method, _faces_of_boxes(face_boxes) if face_boxes else None,
                                  reference=reference_photo)
        except NoFaceError:
            raise NoFaceError(NO_FACE_MESSAGE) from None
        return _finish(context, pipeline, image, step, step.mask, reference)

    return job


def reference_photo_job(path: Path, image: np.ndarray, face_boxes: list[FaceBox] | None = None) -> Job:
    """Read and prepare the reference photo at `path` once (its largest face, its identity vector) and
    say whether each face of `image` (the document's boxes, else those found) is its person, with the
    identity figure the editor shows after a fill. Fails with one line when the file cannot be read or
    shows no face."""
    from facestudio.imageio import read_image

    image, path = image.copy(), Path(path)
    face_boxes = list(face_boxes or [])

    def job(context: JobContext) -> ReferencePhotoChoice:
        context.step(0.0, "Loading models…")
        pipeline = context.pipeline
        context.step(0.2, f"Preparing the reference photo {path.name}…")
        photo = pipeline.reference(read_image(path), name=path.name)
        context.step(0.5, "Comparing the faces with the reference photo…")
        faces = _faces_of_boxes(face_boxes) if face_boxes else None
        _, (identity, note) = steps.measure_reference_identity(pipeline, image, faces, photo,
                                                               should_stop=lambda: context.cancelled)
        context.check()
        return ReferencePhotoChoice(photo, path, identity, note)

    return job


def face_boxes_of(faces: list[Face]) -> list[FaceBox]:
    """Document boxes for engine faces; a box the user drew stays score-less, as drawn."""
    return [FaceBox(*(float(v) for v in face.box), score=None if face.source == USER_SOURCE else float(face.score),
                    landmarks=None if face.source == USER_SOURCE else
                    tuple((float(x), float(y)) for x, y in np.asarray(face.landmarks)))
            for face in faces]


def _faces_of_boxes(boxes: list[FaceBox]) -> list[Face]:
    """Engine faces for the document's boxes. A box that holds the detector's landmarks keeps them
    (they follow a tilted head); a box drawn by hand (no score) becomes a USER_SOURCE face whose
    landmarks are estimated from the box."""
    faces = []
    for box in boxes:
        key = tuple(int(round(value)) for value in (box.x, box.y, box.w, box.h))
        if box.landmarks is not None:
            faces.append(Face(box=key, score=box.score or 0.0, landmarks=np.asarray(box.landmarks, np.float32),
                              source="detected"))
        elif box.score is None:
            faces.append(Face(box=key, source=USER_SOURCE))
        else:
            faces.append(Face(box=key, score=box.score))
    return faces


def _finish(context: JobContext, pipeline: Any, before: np.ndarray, step: steps.StepResult, hole: np.ndarray,
            reference: Reference | None) -> steps.StepResult:
    """Reference scores, then hand the fill over at once; the identity figure follows."""
    if reference is not None:
        step = steps.with_reference(step, _reference_scores(step.image, hole, reference))
    context.deliver(step)
    context.step(0.8, "Measuring identity…")
    try:
        measured = steps.measure_identity(pipeline, before, step.image, step.faces, should_stop=lambda: context.cancelled)
    except JobCancelled:
        measured = ((), "not measured: cancelled")
    if context.cancelled:
        measured = ((), "not measured: cancelled")
    return steps.with_identity(step, measured)


def _reference_scores(after: np.ndarray, hole: np.ndarray, reference: Reference) -> dict[str, float]:
    return steps.reference_scores(after, hole, reference.image, reference.true_mask)


def _mask_scores(found: np.ndarray, reference: Reference | None) -> dict[str, float]:
    """IoU and Dice of a found mask against the true one, when the reference has it."""
    return steps.mask_scores(found, None if reference is None else reference.true_mask)
