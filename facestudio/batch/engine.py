"""The one batch engine behind `facestudio fix`, `facestudio batch` and the GUI's batch dialog.

`BatchJob.run()` yields one `FileOutcome` per planned photo (done, failed, skipped or cancelled)
and never raises for a bad file: a photo that cannot be read, processed or written becomes a failed
outcome with a one-line reason and the run goes on; so does a photo in which no face is found
(`NO_FACE_REASON`: nothing is written for it). The models load once per run (one Pipeline), and so
are the reference photos prepared (`prepare_references`): once per run, never per photo.

Decoding and encoding overlap with the model work: `jobs` reader threads decode the next photos
while the current one is on the model, and `jobs` writer threads encode finished results, with at
most `jobs` photos waiting on each side so a folder of 40-megapixel photos stays within memory.
Inputs are never written (the plan refuses outputs that land on inputs, and every write passes the
inputs as protected); every output is written atomically, so a run killed at any moment leaves
whole files or none, and the next run removes the temporary files a killed run left.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facestudio import steps
from facestudio.api import NoFaceError, load_pipeline
from facestudio.batch.plan import BatchItem, remove_stale_temporaries
from facestudio.faces import check_detector_choice
from facestudio.imageio import ImageReadError, ImageWriteError, image_size, read_image, read_mask, write_image
from facestudio.references import NoReferenceFaceError, ReferenceGallery, ReferencePhoto
from facestudio.steps import FaceIdentity

logger = logging.getLogger(__name__)

METHODS = ("gan", "telea")
EXISTING_POLICIES = ("skip", "overwrite", "stop")

DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"
CANCELLED = "cancelled"

NO_FACE_REASON = "no face found: draw a face box around it in the editor, or give a mask of what to fill"


class BatchError(Exception):
    """The run as a whole cannot go on (e.g. the models failed to load); str() is one line."""


class OutputsExistError(BatchError):
    """Policy "stop" found outputs of an earlier run; nothing was written."""


class _Pipeline(Protocol):
    """The part of facestudio.api.Pipeline a batch uses."""

    def auto_fix(self, image: np.ndarray, method: str = ...) -> Any: ...

    def inpaint(self, image: np.ndarray, mask: np.ndarray, method: str = ...) -> np.ndarray: ...

    def detect(self, image: np.ndarray) -> list[Any]: ...


@dataclass(frozen=True)
class BatchOptions:
    """How a run processes its photos.

    existing: what to do with a photo whose outputs already exist: "skip" it when both outputs are
    there (what --resume does), "overwrite" them, or "stop" before anything is written.
    jobs: reader and writer threads beside the model; 0 does everything in the calling thread.
    identity: measure whether each fixed face is still the same person (`steps.measure_identity`).
    detector: the face detector ("auto", "learned", "haar"; see facestudio.api.load_pipeline).
    reference: a reference photo of the person guiding the fill of every face (`fix --reference`); a
    file that cannot be read or shows no face stops the run before it starts.
    references: reference photos of several people (`batch --references DIR`): each face takes the one
    of its own person, or none; a bad file is a warning and the others are used.
    """

    method: str = "gan"
    device: str | None = None
    weights_dir: Path | None = None
    existing: str = "stop"
    jobs: int = 2
    identity: bool = True
    detector: str = "auto"
    reference: Path | None = None
    references: tuple[Path, ...] = ()
    # Decoded pixels the run may hold at once, beside the photo on the model (photos read ahead, results
    # waiting to be written); None: a sixth of this machine's memory at 12 bytes a pixel. A photo larger
    # than the budget is processed alone. Memory follows pixels, not file size: a 571 KB PNG can be 196 MP.
    max_pixels_in_flight: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}: use one of {', '.join(METHODS)}")
        check_detector_choice(self.detector)
        if self.existing not in EXISTING_POLICIES:
            raise ValueError(f"unknown existing-output policy {self.existing!r}: use {', '.join(EXISTING_POLICIES)}")
        if self.jobs < 0:
            raise ValueError(f"jobs must be 0 or more, not {self.jobs}")


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one photo. Times are milliseconds; `ms` is the model work alone."""

    index: int
    item: BatchItem
    status: str
    reason: str = ""
    faces: int | None = None
    mask_percent: float | None = None
    figures: Mapping[str, float] = field(default_factory=dict)
    identity: tuple[FaceIdentity, ...] = ()
    ms: float | None = None
    read_ms: float | None = None
    write_ms: float | None = None
    traceback: str | None = None
    reference_photos: tuple[str | None, ...] = ()  # per face, the reference photo that guided it (None: none)

    @property
    def line(self) -> str:
        """The one line a person sees for a failed photo: "<file>: <reason>"."""
        return f"{self.item.source}: {self.reason}"


@dataclass
class _Loaded:
    image: np.ndarray
    user_mask: np.ndarray | None
    read_ms: float


@dataclass
class _Fixed:
    image: np.ndarray
    mask: np.ndarray
    faces: int | None
    figures: dict[str, float]
    identity: tuple[FaceIdentity, ...]
    ms: float
    read_ms: float
    note: str
    reference_photos: tuple[str | None, ...] = ()


class BatchJob:
    """A planned run: `run()` yields a FileOutcome per item, in about the plan's order.

    Pass `pipeline` to reuse models already loaded (the GUI, benchmarks; its own detector is used);
    otherwise the first photo that needs them loads them, once, with `options.device`,
    `options.weights_dir` and `options.detector`.
    """

    def __init__(
        self, items: Sequence[BatchItem], options: BatchOptions | None = None, *, pipeline: _Pipeline | None = None,
        on_fixed: Callable[[FileOutcome], None] | None = None, on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.items = list(items)
        self.options = options or BatchOptions()
        self.pipeline = pipeline
        # A reference photo for every face, a gallery of them, or None; prepared by load_models, once.
        self.guide: ReferencePhoto | ReferenceGallery | None = None
        self.on_warning = on_warning or logger.warning  # a reference photo of --references that cannot be used
        # Called with a photo's outcome (its figures) before its outputs are written: a journal that
        # records it first never meets outputs without figures, however the run is killed.
        self.on_fixed = on_fixed

    @property
    def total(self) -> int:
        return len(self.items)

    def existing_outputs(self) -> list[BatchItem]:
        """Items with at least one output already on disk."""
        return [item for item in self.items if item.problem is None and item.any_output_exists()]

    def run(self, should_stop: Callable[[], bool] | None = None) -> Iterator[FileOutcome]:
        """Process every item; `should_stop()` is polled between photos to cancel the run.

        Raises OutputsExistError (before any write) when outputs exist under policy "stop", and
        BatchError when the models cannot be loaded. Closing the iterator early waits for the
        writes already under way, so every output on disk is whole.
        """
        stop = should_stop or (lambda: False)
        settled, work = self.triage()
        yield from settled
        if work and not stop():
            self.load_models()
        yield from self.process(work, stop)

    def triage(self) -> tuple[list[FileOutcome], list[tuple[int, BatchItem]]]:
        """What a run settles before any model work: the outcomes of the photos the plan already failed or
        the policy skips, and the (index, item) pairs to process. Raises OutputsExistError under policy
        "stop"; removes the temporary files a killed run left. Another runner (facestudio.batch.ray_runner)
        starts from the same two lists."""
        if self.options.existing == "stop":
            clashing = self.existing_outputs()
            if clashing:
                raise OutputsExistError(
                    f"{clashing[0].result_path}: output already exists "
                    f"({len(clashing)} photo(s) already have outputs in the output folder)"
                )
        remove_stale_temporaries(self.items)
        settled, work = [], []
        for index, item in enumerate(self.items):
            if item.problem is not None:
                settled.append(FileOutcome(index, item, FAILED, item.problem))
            elif self.options.existing == "skip" and item.outputs_complete():
                settled.append(FileOutcome(index, item, SKIPPED, "outputs already complete"))
            else:
                work.append((index, item))
        return settled, work

    def load_models(self, models: Sequence[str] | None = None) -> None:
        """Load the pipeline and, now rather than on the first photo, the models this run needs (or
        `models`, see models_needed); BatchError when they cannot be loaded."""
        try:
            if self.pipeline is None:
                self.pipeline = load_pipeline(
                    device=self.options.device, weights_dir=self.options.weights_dir, detector=self.options.detector
                )
            load_models = getattr(self.pipeline, "load_models", None)
            if load_models is not None:
                load_models(self.models_needed() if models is None else tuple(models))
        except Exception as error:  # any failure here is the run's, reported as one line
            raise BatchError(f"could not load the models: {error}") from error
        if self.guide is None and (self.options.reference is not None or self.options.references):
            self.guide = prepare_references(self.pipeline, self.options, self.on_warning)

    def models_needed(self) -> tuple[str, ...]:
        """auto_fix finds faces, segments and scores identity with the encoder; "gan" finds faces and
        fills with the generator; the identity check finds faces too."""
        with_masks = any(item.user_mask_path is not None for item in self.items)
        finds_faces = not with_masks or self.options.method == "gan" or self.options.identity
        kinds = ["detector"] if finds_faces else []
        kinds += [] if with_masks else ["segmenter", "encoder"]
        if self.options.method == "gan":
            kinds += ["encoder", "generator"]
        if self.options.reference is not None or self.options.references:
            kinds += ["detector", "encoder"]  # a reference photo's face and identity vector
        return tuple(dict.fromkeys(kinds))

    def process(
        self, work: Sequence[tuple[int, BatchItem]], should_stop: Callable[[], bool] | None = None
    ) -> Iterator[FileOutcome]:
        """Read, fix and write each (index, item) of `work` (from triage), whatever the policy on existing
        outputs (a write replaces them atomically); a FileOutcome each, cancelled ones once stopped."""
        stop = should_stop or (lambda: False)
        jobs = self.options.jobs
        reader = ThreadPoolExecutor(jobs, thread_name_prefix="batch-read") if jobs else _InlineExecutor()
        writer = ThreadPoolExecutor(jobs, thread_name_prefix="batch-write") if jobs else _InlineExecutor()
        queue = deque(work)
        reads: deque[tuple[int, BatchItem, Future]] = deque()
        writes: deque[Future] = deque()
        budget = self.options.max_pixels_in_flight or default_pixel_budget()
        held: dict[int, int] = {}  # index -> decoded pixels of the photos read, on the model or being written
        self.peak_pixels_in_flight = 0

        def prefetch() -> None:
            while queue and len(reads) < max(jobs, 1):
                index, item = queue[0]
                pixels = _pixels_of(item)
                if held and sum(held.values()) + pixels > budget:
                    return  # wait until a photo leaves memory (one over the budget runs alone)
                queue.popleft()
                held[index] = pixels
                self.peak_pixels_in_flight = max(self.peak_pixels_in_flight, sum(held.values()))
                reads.append((index, item, reader.submit(_read, index, item)))

        def written(future: Future) -> FileOutcome:
            outcome = future.result()
            held.pop(outcome.index, None)
            return outcome

        try:
            while not stop():
                prefetch()
                if not reads:
                    if queue and writes:  # the next photo waits for memory: finish a write first
                        yield written(writes.popleft())
                        continue
                    break
                index, item, pending = reads.popleft()
                if jobs:
                    prefetch()
                loaded = pending.result()
                pending = None  # the future holds the decoded photo too
                if isinstance(loaded, FileOutcome):
                    held.pop(index, None)
                    yield loaded
                else:
                    fixed = self._fix(index, item, loaded)
                    del loaded  # the original is not needed once fixed: keep one fewer photo in memory
                    if isinstance(fixed, FileOutcome):
                        held.pop(index, None)
                        yield fixed
                    else:
                        if self.on_fixed is not None:
                            self.on_fixed(_outcome(index, item, fixed, write_ms=None))
                        writes.append(writer.submit(_write, index, item, fixed))
                while writes and (writes[0].done() or len(writes) > jobs):
                    yield written(writes.popleft())
            while writes:
                yield written(writes.popleft())
            for index, item, pending in reads:
                pending.cancel()
                yield FileOutcome(index, item, CANCELLED, "run cancelled")
            for index, item in queue:
                yield FileOutcome(index, item, CANCELLED, "run cancelled")
        finally:
            reader.shutdown(wait=True, cancel_futures=True)
            writer.shutdown(wait=True)

    def _fix(self, index: int, item: BatchItem, loaded: _Loaded) -> _Fixed | FileOutcome:
        """Run one step of `facestudio.steps` on one photo; any failure becomes a failed outcome, never an exception."""
        image = loaded.image
        started = time.perf_counter()
        try:
            if loaded.user_mask is not None:
                step = steps.inpaint(self.pipeline, image, loaded.user_mask, self.options.method, reference=self.guide)
                mask, faces = loaded.user_mask, None
            else:
                step = steps.auto_fix(self.pipeline, image, self.options.method, reference=self.guide)
                mask, faces = step.mask, step.faces
            _check_shapes(image, step.image, mask)
            identity, note = ((), "")
            if self.options.identity:
                identity, note = steps.measure_identity(self.pipeline, image, step.image, step.faces)
        except NoFaceError:
            return FileOutcome(index, item, FAILED, NO_FACE_REASON, faces=0, read_ms=loaded.read_ms)
        except ValueError as error:  # the engine's checks of its input (a photo 1 px high, a mask of the wrong size)
            return FileOutcome(index, item, FAILED, _one_line(error), read_ms=loaded.read_ms)
        except Exception as error:  # one photo's failure must not end the run
            return _failure(index, item, error, f"{image.shape[1]}x{image.shape[0]} px", read_ms=loaded.read_ms)
        ms = (time.perf_counter() - started) * 1000.0
        return _Fixed(
            image=step.image,
            mask=mask,
            faces=None if faces is None else len(faces),
            figures={},
            identity=identity,
            ms=ms,
            read_ms=loaded.read_ms,
            note=note,
            reference_photos=step.figures.reference_photos,
        )


BYTES_PER_PIXEL_IN_FLIGHT = 12  # a decoded RGB photo, its result and mask, with some slack


def default_pixel_budget() -> int:
    """A sixth of the machine's memory, in decoded pixels (4 GB worth when the size is unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = 24 * 1024**3
    return max(1, int(total / 6 / BYTES_PER_PIXEL_IN_FLIGHT))


def prepare_references(
    pipeline: Any, options: BatchOptions, warn: Callable[[str], None]
) -> ReferencePhoto | ReferenceGallery | None:
    """The run's reference photos, each read and prepared once (`Pipeline.reference`, named by its file name):
    `options.reference` for every face (BatchError, one line naming the file, when it cannot be used), or a
    gallery of `options.references` (a file that cannot be used is `warn`ed about and left out)."""
    if options.reference is not None:
        return _warn_if_eyes_covered(_prepare_reference(pipeline, Path(options.reference)), Path(options.reference), warn)
    prepared = []
    for path in options.references:
        try:
            prepared.append(_warn_if_eyes_covered(_prepare_reference(pipeline, Path(path)), Path(path), warn))
        except BatchError as error:
            warn(f"{error}; left out")
    if options.references and not prepared:
        warn("no reference photo can be used: the faces are filled without one")
    return ReferenceGallery(prepared) if prepared else None


def _warn_if_eyes_covered(reference: ReferencePhoto, path: Path, warn: Callable[[str], None]) -> ReferencePhoto:
    """`reference`, after a warning when its own eyes are covered: it still guides the rest of the fill."""
    if reference.eyes_covered:
        warn(f"{path}: the eyes in the reference photo are covered (sunglasses?): it cannot guide the eyes")
    return reference


def _prepare_reference(pipeline: Any, path: Path) -> ReferencePhoto:
    try:
        image = read_image(path)
    except ImageReadError as error:
        raise BatchError(f"{path}: cannot read the reference photo ({error.problem})") from None
    try:
        return pipeline.reference(image, name=path.name)
    except NoReferenceFaceError:
        raise BatchError(f"{path}: no face found in the reference photo") from None
    except ValueError as error:  # the engine's checks of its input (a photo 1 px high)
        raise BatchError(f"{path}: cannot use the reference photo ({_one_line(error)})") from None


def _pixels_of(item: BatchItem) -> int:
    """Decoded pixels of the item's photo, from its header (0 when unreadable: reading it will say why)."""
    try:
        width, height = image_size(item.source)
    except ImageReadError:
        return 0
    return width * height


def run_batch_job(job: BatchJob, should_stop: Callable[[], bool] | None = None) -> Iterator[FileOutcome]:
    """Run `job`, yielding a FileOutcome per photo (see BatchJob.run)."""
    return job.run(should_stop)


def _read(index: int, item: BatchItem) -> _Loaded | FileOutcome:
    started = time.perf_counter()
    try:
        image = read_image(item.source)
    except ImageReadError as error:
        return FileOutcome(index, item, FAILED, error.problem)
    except Exception as error:
        return _failure(index, item, error, "while reading")
    user_mask = None
    if item.user_mask_path is not None:
        if not item.user_mask_path.is_file():
            return FileOutcome(index, item, FAILED, f"no mask {item.user_mask_path}")
        try:
            user_mask = read_mask(item.user_mask_path, image.shape)
        except ImageReadError as error:
            return FileOutcome(index, item, FAILED, f"mask {item.user_mask_path}: {error.problem}")
        except Exception as error:
            return _failure(index, item, error, "while reading the mask")
    return _Loaded(image, user_mask, (time.perf_counter() - started) * 1000.0)


def _write(index: int, item: BatchItem, fixed: _Fixed) -> FileOutcome:
    started = time.perf_counter()
    protected = [item.source] + ([item.user_mask_path] if item.user_mask_path else [])
    try:
        item.result_path.parent.mkdir(parents=True, exist_ok=True)
        write_image(item.mask_path, fixed.mask, protected=protected)
        write_image(item.result_path, fixed.image, protected=protected)
    except ImageWriteError as error:
        return FileOutcome(index, item, FAILED, f"could not write {error.path}: {error.problem}", read_ms=fixed.read_ms)
    except OSError as error:
        return FileOutcome(index, item, FAILED, f"could not write outputs: {_one_line(error)}", read_ms=fixed.read_ms)
    return _outcome(index, item, fixed, write_ms=(time.perf_counter() - started) * 1000.0)


def _outcome(index: int, item: BatchItem, fixed: _Fixed, write_ms: float | None) -> FileOutcome:
    """The done outcome of a fixed photo, with its figures."""
    return FileOutcome(
        index,
        item,
        DONE,
        fixed.note,
        faces=fixed.faces,
        mask_percent=100.0 * float(np.count_nonzero(fixed.mask)) / fixed.mask.size,
        figures=fixed.figures,
        identity=fixed.identity,
        ms=fixed.ms,
        read_ms=fixed.read_ms,
        write_ms=write_ms,
        reference_photos=fixed.reference_photos,
    )


def _failure(index: int, item: BatchItem, error: BaseException, context: str, **times: float) -> FileOutcome:
    """A failed outcome for an unexpected error: the reason is one line, the traceback kept for the report."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        reason = f"out of memory ({context})"
    else:
        reason = f"unexpected error ({context}): {type(error).__name__}: {_one_line(error)}"
    return FileOutcome(index, item, FAILED, reason, traceback=traceback.format_exc(), **times)


def _check_shapes(image: np.ndarray, result: np.ndarray, mask: np.ndarray) -> None:
    if result.shape != image.shape or result.dtype != np.uint8:
        raise RuntimeError(f"pipeline returned a {result.dtype} image of shape {result.shape} for {image.shape}")
    if mask.shape != image.shape[:2] or mask.dtype != np.uint8:
        raise RuntimeError(f"pipeline returned a {mask.dtype} mask of shape {mask.shape} for {image.shape}")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class _InlineExecutor:
    """Runs each task at once in the calling thread (jobs = 0); the functions it runs never raise."""

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        future.set_result(function(*args))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        return None
