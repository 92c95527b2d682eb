"""One edit step and its figures, for every front end: the editor's jobs, batch and the CLI.

    step = steps.auto_fix(pipeline, image, "gan")              # StepResult: image, mask, faces, figures
    step = steps.with_identity(step, steps.measure_identity(pipeline, image, step.image, step.faces))
    step.figures.rows()                                        # what the editor shows
    step.figures.record()                                      # what a report row holds

Faces are found once per step and passed down; each figure has one name (`FIGURES`) and is
computed here, once. The identity figure is measured after the fill, face by face, with the
default backend: DeepFace's Dlib model in a child process (`identity.isolated`: a crash or hang
there costs the figure, never the edit), else FaceStudio's encoder. When it cannot be measured the
step says why (`Figures.identity_note`) instead of showing a number.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from facestudio.faces import Face, find_faces

logger = logging.getLogger(__name__)

KINDS = ("detect", "inpaint", "auto_fix")
# The identity figure looks at each face with some context around the detector's box.
FACE_CONTEXT = 0.2
BACKEND_NAMES = {"deepface": "DeepFace Dlib", "encoder": "FaceStudio encoder"}
# name -> label: every figure a step can carry, in the order people read them.
FIGURES: dict[str, str] = {
    "faces": "faces found",
    "mask_percent": "mask area",
    "ms": "time",
    "method": "method",
    "device": "device",
    "identity": "same person",
    "reference_photo": "reference photo",
    "psnr": "PSNR",
    "ssim": "SSIM",
    "psnr_hole": "PSNR in the hole",
    "ssim_hole": "SSIM in the hole",
    "iou": "mask IoU",
    "dice": "mask Dice",
}
REFERENCE_FIGURES = ("psnr", "ssim", "psnr_hole", "ssim_hole", "iou", "dice")


@dataclass(frozen=True)
class FaceIdentity:
    """Is the fixed face still the same person? One face's before/after comparison."""

    box: tuple[int, int, int, int]  # the region compared (the face box plus FACE_CONTEXT), photo px
    distance: float
    threshold: float
    same: bool
    backend: str

    def verdict(self) -> str:
        """In words a photographer reads: "same person: yes (distance 0.05, threshold 0.07, DeepFace Dlib)"."""
        name = BACKEND_NAMES.get(self.backend, self.backend)
        answer = "yes" if self.same else "NO"
        return f"{answer} (distance {self.distance:.3f}, threshold {self.threshold:.2f}, {name})"


@dataclass(frozen=True)
class Figures:
    """Measured facts about one step. `identity` is per face (empty when not measured, and then
    `identity_note` says why); `reference` holds the REFERENCE_FIGURES when a reference is known (a clean
    ground truth to score against). `reference_photos`: per face, the name of the reference photo of the
    person that guided its fill (None: none), empty when the step was given no reference photo."""

    method: str
    device: str
    faces: int
    mask_percent: float
    ms: float
    identity: tuple[FaceIdentity, ...] = ()
    identity_note: str = ""
    reference: Mapping[str, float] = field(default_factory=dict)
    reference_photos: tuple[str | None, ...] = ()

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs in reading order, formatted for people."""
        rows = [
            (FIGURES["faces"], str(self.faces)),
            (FIGURES["mask_percent"], f"{self.mask_percent:.2f} %"),
            (FIGURES["ms"], f"{self.ms / 1000.0:.2f} s"),
            (FIGURES["method"], self.method),
            (FIGURES["device"], self.device),
        ]
        if self.identity:
            several = len(self.identity) > 1
            for number, face in enumerate(self.identity, 1):
                label = f"{FIGURES['identity']} (face {number})" if several else FIGURES["identity"]
                rows.append((label, face.verdict()))
        elif self.identity_note:
            rows.append((FIGURES["identity"], self.identity_note))
        several = len(self.reference_photos) > 1
        for number, name in enumerate(self.reference_photos, 1):
            label = f"{FIGURES['reference_photo']} (face {number})" if several else FIGURES["reference_photo"]
            rows.append((label, name or "none"))
        for key in REFERENCE_FIGURES:
            value = self.reference.get(key)
            if value is not None:
                rows.append((FIGURES[key], _number(value, " dB" if key.startswith("psnr") else "")))
        return rows

    def summary(self) -> str:
        """A short tail for the undo step's name in the History list."""
        parts = [f"{self.faces} face{'s' if self.faces != 1 else ''}", f"{self.ms / 1000.0:.1f} s"]
        psnr = self.reference.get("psnr")
        if psnr is not None and math.isfinite(psnr):
            parts.append(f"PSNR {psnr:.1f} dB")
        if self.identity:
            parts.append("same person" if all(face.same for face in self.identity) else "identity changed")
        return " · ".join(parts)

    def record(self) -> dict[str, Any]:
        """The figures under their names, as a report row holds them."""
        return figure_record(self.faces, self.mask_percent, self.ms, self.identity, self.reference,
                             self.reference_photos)


def figure_record(faces: int | None, mask_percent: float | None, ms: float | None,
                  identity: Sequence[FaceIdentity] = (), reference: Mapping[str, float] | None = None,
                  reference_photos: Sequence[str | None] = ()) -> dict[str, Any]:
    """A step's figures as report columns, under their one name each (None: not known for this photo,
    e.g. one that failed); identity and reference_photo have one value per face, ";"-joined (a face
    without a reference photo: empty). Batch reports are built from this."""
    row: dict[str, Any] = {
        "faces": faces,
        "mask_percent": None if mask_percent is None else round(float(mask_percent), 3),
        "ms": None if ms is None else round(float(ms), 1),
    }
    if identity:
        row["identity_distance"] = ";".join(f"{face.distance:.4f}" for face in identity)
        row["identity_verdict"] = ";".join("same" if face.same else "different" for face in identity)
    if reference_photos:
        row["reference_photo"] = ";".join(name or "" for name in reference_photos)
    row.update({key: float(value) for key, value in (reference or {}).items()})
    return row


@dataclass(frozen=True)
class StepResult:
    """A finished step: the new photo (None: unchanged), the mask it found or filled, the faces it used."""

    kind: str
    image: np.ndarray | None
    mask: np.ndarray | None
    faces: list[Face]
    figures: Figures


def mask_percent(mask: np.ndarray) -> float:
    """Share of the photo's pixels in the mask, in percent."""
    return 100.0 * float(np.count_nonzero(mask)) / max(mask.size, 1)


def detect_occlusions(pipeline: Any, image: np.ndarray) -> StepResult:
    """Find the faces and segment what hides them: a mask for the user to correct before filling."""
    started = time.perf_counter()
    faces = find_faces(pipeline.detector, image)
    mask = np.asarray(pipeline.segment(image, faces=faces or None), np.uint8)
    figures = Figures("segmenter", str(pipeline.device), len(faces), mask_percent(mask), _ms(started))
    return StepResult("detect", None, mask, faces, figures)


def inpaint(pipeline: Any, image: np.ndarray, mask: np.ndarray, method: str,
            faces: Sequence[Face] | None = None, reference: Any = None) -> StepResult:
    """Fill the hole `mask` (255 = fill) with `method`; `faces` default to those found here, once.
    `reference`: a reference photo (facestudio.references.ReferencePhoto) for every face, or a
    ReferenceGallery each face takes its own person's from; the figures name the one each face used.
    Only "gan" fills from a reference: with another method it is not used, and the figures say none."""
    started = time.perf_counter()
    reference = reference if method == "gan" else None
    faces = list(faces) if faces is not None else find_faces(pipeline.detector, image)
    guides = reference_photos_for(pipeline, image, faces, reference)
    extra = {} if guides is None else {"reference": guides}
    result = np.asarray(pipeline.inpaint(image, mask, method=method, faces=faces or None, **extra), np.uint8)
    figures = Figures(method, str(pipeline.device), len(faces), mask_percent(mask), _ms(started),
                      reference_photos=_names(guides))
    return StepResult("inpaint", result, None, faces, figures)


def auto_fix(pipeline: Any, image: np.ndarray, method: str, faces: Sequence[Face] | None = None,
             reference: Any = None) -> StepResult:
    """Find faces (or take `faces`), segment, grow and fill; NoFaceError when there is no face.
    `reference`: as for `inpaint` (passed to Pipeline.auto_fix, which matches a gallery itself)."""
    started = time.perf_counter()
    reference = reference if method == "gan" else None
    extra = {} if reference is None else {"reference": reference}
    outcome = pipeline.auto_fix(image, method=method, faces=list(faces) if faces is not None else None, **extra)
    mask = np.asarray(outcome.mask, np.uint8)
    used = tuple(outcome.metrics.get("references") or ()) if reference is not None else ()
    figures = Figures(method, str(pipeline.device), len(outcome.faces), mask_percent(mask), _ms(started),
                      reference_photos=used)
    return StepResult("auto_fix", np.asarray(outcome.image, np.uint8), mask, list(outcome.faces), figures)


def reference_photos_for(pipeline: Any, image: np.ndarray, faces: Sequence[Face], reference: Any) -> list[Any] | None:
    """One reference photo or None per face of `faces` (None: no reference given, or no face); a
    ReferenceGallery is matched by the faces' identity vectors (Pipeline.references_for)."""
    if reference is None or not faces:
        return None
    return pipeline.references_for(reference, list(faces), image)


def _names(guides: Sequence[Any] | None) -> tuple[str | None, ...]:
    return () if guides is None else tuple(None if guide is None else guide.name for guide in guides)


def measure_identity(pipeline: Any, before: np.ndarray, after: np.ndarray, faces: Sequence[Face],
                     should_stop: Callable[[], bool] | None = None) -> tuple[tuple[FaceIdentity, ...], str]:
    """Each face before vs after the edit (the whole photo when there are no faces): (per-face
    figures, "") or ((), why it was not measured). Never raises for a backend's failure."""
    try:
        from facestudio import identity
    except ImportError as error:  # a build without the identity module
        return (), f"not measured: {error}"
    height, width = before.shape[:2]
    regions = [face_region(face.box, width, height) for face in faces] or [(0, 0, width, height)]
    pairs = [((x, y, w, h), before[y : y + h, x : x + w], after[y : y + h, x : x + w]) for x, y, w, h in regions]
    return _measure_pairs(identity, pipeline, pairs, should_stop)


def measure_reference_identity(pipeline: Any, image: np.ndarray, faces: Sequence[Face] | None, reference: Any,
                               should_stop: Callable[[], bool] | None = None
                               ) -> tuple[list[Face], tuple[tuple[FaceIdentity, ...], str]]:
    """Is each face of `image` (`faces`, default those found here) the person of the reference photo
    `reference` (facestudio.references.ReferencePhoto)? The same figure, backend and failure handling as
    `measure_identity`, each face against the reference's face: (the faces, (per-face figures, "") or ((), why))."""
    faces = list(faces) if faces is not None else find_faces(pipeline.detector, image)
    if not faces:
        return faces, ((), "not measured: no face found in the photo")
    try:
        from facestudio import identity
    except ImportError as error:  # a build without the identity module
        return faces, ((), f"not measured: {error}")
    height, width = image.shape[:2]
    rx, ry, rw, rh = face_region(reference.face.box, reference.image.shape[1], reference.image.shape[0])
    theirs = reference.image[ry : ry + rh, rx : rx + rw]
    pairs = []
    for face in faces:
        x, y, w, h = face_region(face.box, width, height)
        pairs.append(((x, y, w, h), image[y : y + h, x : x + w], theirs))
    return faces, _measure_pairs(identity, pipeline, pairs, should_stop)


Region = tuple[int, int, int, int]


def _measure_pairs(identity: Any, pipeline: Any, pairs: Sequence[tuple[Region, np.ndarray, np.ndarray]],
                   should_stop: Callable[[], bool] | None) -> tuple[tuple[FaceIdentity, ...], str]:
    """(box, a, b) pairs compared one by one: (per-pair figures, "") or ((), why not measured)."""
    measured = []
    try:
        for box, a, b in pairs:
            result = _compare(identity, pipeline, a, b, should_stop)
            measured.append(FaceIdentity(box, float(result.distance), float(result.threshold),
                                         bool(result.same), str(result.backend)))
    except identity.IdentityError as error:
        logger.warning("identity not measured: %s", error)
        text = " ".join(str(error).split())
        return (), text if text.startswith("identity not measured") else f"not measured: {text}"
    return tuple(measured), ""


def with_identity(step: StepResult, identity: tuple[tuple[FaceIdentity, ...], str]) -> StepResult:
    """`step` with the identity figures `measure_identity` returned."""
    faces, note = identity
    return replace(step, figures=replace(step.figures, identity=faces, identity_note=note))


def with_reference(step: StepResult, scores: Mapping[str, float]) -> StepResult:
    """`step` with figures against a known reference (facestudio.metrics.compare_to_reference, iou, dice)."""
    return replace(step, figures=replace(step.figures, reference={**step.figures.reference, **scores}))


def reference_scores(after: np.ndarray, hole: np.ndarray, reference: np.ndarray,
                     true_mask: np.ndarray | None = None) -> dict[str, float]:
    """PSNR/SSIM of a result against a known clean `reference`, whole and in the hole; "in the hole"
    is where the occlusion truly was (`true_mask`) when that is known, and the found mask's IoU/Dice
    against it are added."""
    from facestudio.metrics import compare_to_reference

    scored_hole = true_mask if true_mask is not None else hole
    found = hole if true_mask is not None else None
    return {key: float(value) for key, value in compare_to_reference(
        after, reference, scored_hole, true_mask=true_mask, found_mask=found).items()}


def mask_scores(found: np.ndarray, true_mask: np.ndarray | None) -> dict[str, float]:
    """IoU and Dice of a found mask against the true one (empty when it is not known)."""
    if true_mask is None:
        return {}
    from facestudio.metrics import dice, iou

    return {"iou": iou(found, true_mask), "dice": dice(found, true_mask)}


def face_region(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """The face box grown by FACE_CONTEXT on each side (identity backends look for the face in it), clipped."""
    x, y, w, h = (float(value) for value in box)
    left, top = max(0, round(x - FACE_CONTEXT * w)), max(0, round(y - FACE_CONTEXT * h))
    right, bottom = min(width, round(x + w + FACE_CONTEXT * w)), min(height, round(y + h + FACE_CONTEXT * h))
    return left, top, max(1, right - left), max(1, bottom - top)


_encoder_fallback_reason: list[str] = []


def _compare(identity: Any, pipeline: Any, a: np.ndarray, b: np.ndarray,
             should_stop: Callable[[], bool] | None) -> Any:
    """DeepFace in its child process when it can run here, else the pipeline's encoder (in process:
    it is FaceStudio's own torch model, safe on the worker thread)."""
    from facestudio.identity.isolated import shared_comparer

    if not _encoder_fallback_reason and importlib.util.find_spec("deepface") is None:
        _encoder_fallback_reason.append("DeepFace is not installed")  # no child process to start for nothing
    if not _encoder_fallback_reason:
        try:
            return shared_comparer("deepface").compare(a, b, should_stop)
        except identity.BackendUnavailableError as error:
            _encoder_fallback_reason.append(str(error))
            logger.info("identity: DeepFace unavailable (%s); using the encoder", error)
    return identity.compare(a, b, backend="encoder", pipeline=pipeline)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _number(value: float, unit: str) -> str:
    """dB figures with 2 decimals, ratios with 3; PSNR of identical pixels is infinite."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return f"∞{unit}"
    return f"{value:.2f}{unit}" if unit else f"{value:.3f}"
