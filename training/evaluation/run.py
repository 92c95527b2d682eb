"""One pass over the evaluation faces: every method on the same holes, scored case by case.

Faces stream through in chunks (synthesize holes, segment, fill with every method, score,
describe with dlib, encode probes), so memory holds one chunk of images plus the scores. What
is evaluated is a set of callables (`Evaluators`): the trained models and OpenCV Telea in a real
run, an oracle that returns the truth in the tests (which must then score perfectly).

Identity (dlib descriptors, ~80 ms of CPU each) is measured on the occluder-shaped holes, the
app's use; DeepFace's verdict (two detections and descriptors per pair) on the held-out occluder
case of the first `deepface_faces` faces only.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facestudio.classic import telea_inpaint
from training.data import FaceCache
from training.evaluation.cases import (
    FREE_FORM_GROUPS,
    HELDOUT,
    OCCLUDER_GROUPS,
    EvalFace,
    HoleCase,
    chunks,
    evaluation_order,
    load_faces,
    make_cases,
)
from training.evaluation.dlib_identity import DlibDescriptor, distances
from training.evaluation.scores import (
    INPUT,
    CaseScores,
    fill_scores,
    gender_accuracy,
    impostor_share,
    mask_scores,
    top1,
)
from training.occluders.assets import OccluderAssets

Filler = Callable[[Sequence[HoleCase]], list[np.ndarray]]
Segmenter = Callable[[Sequence[HoleCase]], list[np.ndarray]]
Encoder = Callable[[Sequence[np.ndarray]], tuple[np.ndarray, np.ndarray]]
SamePerson = Callable[[np.ndarray, np.ndarray], "bool | None"]  # None: could not judge


@dataclass(frozen=True)
class EvaluationConfig:
    """How many faces, the gallery size, the seed, faces per chunk, faces given to DeepFace."""

    n: int = 500
    gallery: int = 500
    seed: int = 0
    chunk: int = 16
    deepface_faces: int = 100


@dataclass
class Evaluators:
    """What is evaluated. fillers: inpainting methods by name (case -> filled crop); segmenter:
    case -> HxW 0/255 mask; encoder: crops -> (unit identity vectors, predicted genders);
    describer: dlib's descriptor; same_person: DeepFace's verdict on (result, truth)."""

    fillers: dict[str, Filler]
    segmenter: Segmenter | None = None
    encoder: Encoder | None = None
    describer: DlibDescriptor | None = None
    same_person: SamePerson | None = None


def telea_filler(cases: Sequence[HoleCase]) -> list[np.ndarray]:
    """OpenCV Telea, through the app's `facestudio.classic.telea_inpaint`."""
    return [telea_inpaint(case.image, case.mask) for case in cases]


@dataclass
class SheetRow:
    """One contact-sheet row: a case's input, true mask, segmenter mask, each fill, the truth."""

    label: str
    face: int
    image: np.ndarray
    mask: np.ndarray
    segmented: np.ndarray | None
    fills: dict[str, np.ndarray]
    truth: np.ndarray


@dataclass
class EvaluationResult:
    """Per-case scores, the encoder's identification summary, contact-sheet rows, stage timings."""

    faces: int
    gallery: int
    cases: list[CaseScores]
    encoder: dict[str, Any]
    sheet: list[SheetRow]
    timings: dict[str, dict[str, float]]


class StageTimer:
    """Wall-clock and CPU seconds spent in each named stage."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[stage] += time.perf_counter() - wall
            self.cpu[stage] += time.process_time() - cpu

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {stage: {"wall_s": self.wall[stage], "cpu_s": self.cpu[stage]} for stage in self.wall}


@dataclass
class _Probes:
    """What the identification needs from the occluded faces of one group."""

    truth: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    genders: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    descriptors: list[np.ndarray] = field(default_factory=list)


def run_evaluation(
    cache: FaceCache,
    assets: OccluderAssets,
    evaluators: Evaluators,
    config: EvaluationConfig = EvaluationConfig(),
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Evaluate on the first `config.n` test faces (and a `config.gallery`-face gallery)."""
    rows = evaluation_order(cache, config.seed)
    count = min(config.n, len(rows))
    gallery_size = min(max(config.gallery, count), len(rows))
    timer = StageTimer()
    scores: list[CaseScores] = []
    probes: dict[str, _Probes] = {group: _Probes() for group in OCCLUDER_GROUPS}
    truth_descriptors: dict[int, np.ndarray] = {}
    sheet: dict[str, SheetRow] = {}
    started = time.perf_counter()
    done = 0
    for chunk_rows in chunks(rows[:count], config.chunk):
        faces = load_faces(cache, chunk_rows, start=done)
        with timer("synthesis"):
            cases = [case for face in faces for case in make_cases(face, assets, config.seed)]
        records = [CaseScores(case.face.index, case.group, case.kind, case.area) for case in cases]
        segmented = _segment(cases, records, evaluators, timer)
        fills = _fill(cases, records, evaluators, timer)
        input_descriptors: dict[int, np.ndarray] = {}
        if evaluators.describer is not None:
            truths, input_descriptors = _identity(faces, cases, records, fills, evaluators.describer, timer)
            truth_descriptors.update(truths)
        if evaluators.same_person is not None:
            _deepface(cases, records, fills, evaluators.same_person, config.deepface_faces, timer)
        _collect_probes(cases, input_descriptors, evaluators.encoder, probes, timer)
        _collect_sheet(cases, segmented, fills, sheet)
        scores.extend(records)
        done += len(faces)
        if progress is not None:
            progress(f"{done}/{count} faces, {time.perf_counter() - started:.0f} s")
    encoder = _identification(cache, rows[:gallery_size], count, probes, truth_descriptors, evaluators, timer)
    if progress is not None:
        progress(f"gallery of {gallery_size} faces done, {time.perf_counter() - started:.0f} s")
    return EvaluationResult(
        faces=count,
        gallery=gallery_size,
        cases=scores,
        encoder=encoder,
        sheet=[sheet[key] for key in sorted(sheet, key=_sheet_order)],
        timings=timer.as_dict(),
    )


def _segment(
    cases: list[HoleCase], records: list[CaseScores], evaluators: Evaluators, timer: StageTimer
) -> dict[int, np.ndarray]:
    """Segmenter masks of the occluder cases (by case position), scored against the true masks."""
    if evaluators.segmenter is None:
        return {}
    chosen = [i for i, case in enumerate(cases) if case.is_occluder]
    with timer("segmenter"):
        predicted = evaluators.segmenter([cases[i] for i in chosen])
    with timer("mask_scores"):
        for i, mask in zip(chosen, predicted):
            records[i].segmentation = mask_scores(mask, cases[i].mask)
    return dict(zip(chosen, predicted))


def _fill(
    cases: list[HoleCase], records: list[CaseScores], evaluators: Evaluators, timer: StageTimer
) -> dict[str, list[np.ndarray]]:
    """Every method's fills of every case, scored against the truth."""
    fills = {}
    for name, filler in evaluators.fillers.items():
        with timer(f"inpaint_{name}"):
            fills[name] = filler(cases)
        with timer("image_scores"):
            for record, case, result in zip(records, cases, fills[name]):
                record.fills[name] = fill_scores(result, case.truth, case.mask)
    return fills


def _identity(
    faces: list[EvalFace],
    cases: list[HoleCase],
    records: list[CaseScores],
    fills: dict[str, list[np.ndarray]],
    describer: DlibDescriptor,
    timer: StageTimer,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """dlib distance to the truth of the occluded input and of every fill, for occluder cases.

    Returns the truth descriptors by face index and the occluded inputs' descriptors by case
    position: the identification reuses them as gallery and as dlib's own probes.
    """
    with timer("dlib_identity"):
        described = describer.describe([face.clean for face in faces], [face.landmarks for face in faces])
        truths = {face.index: descriptor for face, descriptor in zip(faces, described)}
        chosen = [i for i, case in enumerate(cases) if case.is_occluder]
        if not chosen:
            return truths, {}
        landmarks = [cases[i].face.landmarks for i in chosen]
        reference = np.stack([truths[cases[i].face.index] for i in chosen])
        variants = {INPUT: [cases[i].image for i in chosen]}
        variants.update({name: [fill[i] for i in chosen] for name, fill in fills.items()})
        inputs: dict[int, np.ndarray] = {}
        for variant, images in variants.items():
            descriptors = describer.describe(images, landmarks)
            for i, distance in zip(chosen, distances(descriptors, reference)):
                records[i].identity[variant] = float(distance)
            if variant == INPUT:
                inputs = dict(zip(chosen, descriptors))
    return truths, inputs


def _deepface(
    cases: list[HoleCase],
    records: list[CaseScores],
    fills: dict[str, list[np.ndarray]],
    same_person: SamePerson,
    face_limit: int,
    timer: StageTimer,
) -> None:
    """DeepFace's same-person verdict against the truth, held-out occluder case of the first faces."""
    with timer("deepface"):
        for i, case in enumerate(cases):
            if case.group != HELDOUT or case.face.index >= face_limit:
                continue
            variants = {INPUT: case.image, **{name: fill[i] for name, fill in fills.items()}}
            for variant, image in variants.items():
                verdict = same_person(image, case.truth)
                if verdict is not None:
                    records[i].deepface[variant] = bool(verdict)


def _collect_probes(
    cases: list[HoleCase],
    input_descriptors: dict[int, np.ndarray],
    encoder: Encoder | None,
    probes: dict[str, _Probes],
    timer: StageTimer,
) -> None:
    """Encoder vectors, gender predictions and dlib descriptors of the occluded faces, per group."""
    for group, store in probes.items():
        members = [i for i, case in enumerate(cases) if case.group == group]
        store.truth.extend(cases[i].face.index for i in members)
        store.labels.extend(cases[i].face.gender for i in members)
        if encoder is not None and members:
            with timer("encoder"):
                vectors, genders = encoder([cases[i].image for i in members])
            store.vectors.extend(vectors)
            store.genders.extend(int(g) for g in genders)
        store.descriptors.extend(input_descriptors[i] for i in members if i in input_descriptors)


def _identification(
    cache: FaceCache,
    gallery_rows: np.ndarray,
    count: int,
    probes: dict[str, _Probes],
    truth_descriptors: dict[int, np.ndarray],
    evaluators: Evaluators,
    timer: StageTimer,
) -> dict[str, Any]:
    """Top-1 of each group's occluded probes among the clean gallery (encoder, and dlib as the
    reference it is distilled from); gender accuracy of the encoder on the occluded faces."""
    summary: dict[str, Any] = {"gallery": int(len(gallery_rows)), "probes": count}
    gallery_vectors, gallery_descriptors = [], []
    for start in range(0, len(gallery_rows), 64):
        faces = load_faces(cache, gallery_rows[start : start + 64], start=start)
        if evaluators.encoder is not None:
            with timer("encoder"):
                gallery_vectors.append(evaluators.encoder([face.clean for face in faces])[0])
        if evaluators.describer is not None:
            missing = [face for face in faces if face.index not in truth_descriptors]
            if missing:
                with timer("dlib_identity"):
                    described = evaluators.describer.describe([f.clean for f in missing],
                                                              [f.landmarks for f in missing])
                truth_descriptors.update(zip((f.index for f in missing), described))
            gallery_descriptors.append(np.stack([truth_descriptors[face.index] for face in faces]))
    if evaluators.encoder is not None:
        gallery = np.concatenate(gallery_vectors)
        summary["top1"] = {
            g: top1(np.stack(p.vectors), np.array(p.truth), gallery) for g, p in probes.items() if p.vectors
        }
        summary["gender_accuracy"] = {
            g: gender_accuracy(np.array(p.genders), np.array(p.labels)) for g, p in probes.items() if p.genders
        }
    if evaluators.describer is not None:
        gallery = np.concatenate(gallery_descriptors)
        summary["dlib_impostor_same_share"] = impostor_share(gallery)
        summary["dlib_top1"] = {
            g: top1(np.stack(p.descriptors), np.array(p.truth), gallery, metric="euclidean")
            for g, p in probes.items()
            if p.descriptors
        }
    return summary


def _collect_sheet(
    cases: list[HoleCase],
    segmented: dict[int, np.ndarray],
    fills: dict[str, list[np.ndarray]],
    sheet: dict[str, SheetRow],
) -> None:
    """Keep the first case of each held-out occluder kind and of each free-form bucket, the
    free-form ones on faces the sheet does not show yet."""
    shown = {row.face for row in sheet.values()}
    heldout_first = sorted(range(len(cases)), key=lambda i: cases[i].group != HELDOUT)
    for i in heldout_first:
        case = cases[i]
        if case.group == HELDOUT:
            key = f"{HELDOUT}:{case.kind}"
        elif case.group in FREE_FORM_GROUPS and case.face.index not in shown:
            key = case.group
        else:
            continue
        if key in sheet:
            continue
        label = case.kind if case.group == HELDOUT else f"free-form {round(100 * case.area)} %"
        sheet[key] = SheetRow(
            label=label,
            face=case.face.index,
            image=case.image,
            mask=case.mask,
            segmented=segmented.get(i),
            fills={name: fill[i] for name, fill in fills.items()},
            truth=case.truth,
        )
        shown.add(case.face.index)


def _sheet_order(key: str) -> tuple[int, str]:
    """Held-out occluders first (alphabetically), then the free-form buckets, smallest first."""
    return (0, key) if key.startswith(HELDOUT) else (1, key)
