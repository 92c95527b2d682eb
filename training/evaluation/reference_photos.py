"""Reference-photo evaluation on known people (ROF), photo in -> photo out through the public API.

People: the ROF people of the evaluation splits (`val`, `test` by a hash of the person's name, as
`prepare_data` splits the ROF cache), whom `training.train_reference` never trains on. Per person,
their clean photos where dlib's detector finds the face; the first (by name) is the reference photo,
the others are the gallery and the synthetic probes.

    synthetic  a clean gallery photo with a test-split occluder (sunglasses over the eyes, or a face mask)
               drawn from its dlib landmarks, the hole filled with noise; filled by Telea, by the
               generator without a reference and with the person's reference photo
               (`pipeline.inpaint(photo, mask, reference=...)`); scored against the truth (hole PSNR,
               sharpness, ...) and by dlib's distance to the truth (< 0.6: the same person)
    real       the person's real sunglasses / face-mask photos through `pipeline.auto_fix`: as they
               were, Telea, the generator without and with the reference photo; each judged by dlib
               against the gallery: the same person when the distance to the mean descriptor of the
               person's gallery is < 0.6, and top-1 when that person's gallery mean is the nearest
               of all evaluated people's

A real photo where the app finds no face stays as it was ("not fixed"); dlib describes every variant of a
photo in one face box (the app's face, else dlib's own detection, else a central box), with the 68
landmarks fitted on each variant, as a recogniser would see that photo.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluation.dlib_identity import SAME_PERSON_DISTANCE, DlibDescriptor
from facestudio.alignment import warp_to_crop
from training.evaluation.end_to_end import (Hole, SourceFace, add_noise, canonical_matrix, face_tile, hole_in, name_key,
                                            native_setting, read_rgb)
from training.evaluation.end_to_end_scores import score_case
from training.evaluation.end_to_end_report import SheetCase
from training.occlusion import synthesize

log = logging.getLogger(__name__)

EVAL_SPLITS = ("val", "test")
HOLE_KINDS = {"eyes": "sunglasses", "lower face": "mask_template"}
REAL_KINDS = ("sunglasses", "masked")
NONE, TELEA, GAN, REFERENCE = "as it was", "telea", "gan", "gan + reference"


@dataclass
class Person:
    name: str
    clean: list[Path]  # clean photos dlib finds a face in, sorted; clean[0] is the reference photo
    real: dict[str, list[Path]] = field(default_factory=dict)  # kind -> real occluded photos

    @property
    def reference(self) -> Path:
        return self.clean[0]

    @property
    def gallery(self) -> list[Path]:
        return self.clean[1:]


def eval_people(rof: Path, per_person: int, splits: Sequence[str] = EVAL_SPLITS) -> list[Person]:
    """The people of `splits` with a reference photo and at least two gallery photos."""
    from training.prepare_data import ROF_KINDS, split_of

    index = list(csv.DictReader((rof / "index.csv").open()))
    by_person: dict[str, dict[str, list[Path]]] = {}
    for row in index:
        if split_of(row["person"]) in splits:
            by_person.setdefault(row["person"], {}).setdefault(row["kind"], []).append(rof / row["path"])
    annotator = _annotator()
    people = []
    for name in sorted(by_person):
        kinds = by_person[name]
        clean = [path for path in sorted(kinds.get("neutral", [])) if _dlib_finds(annotator, read_rgb(path))]
        if len(clean) < 3:
            continue
        real = {kind: sorted(kinds.get(kind, []))[:per_person] for kind in REAL_KINDS if kind in ROF_KINDS}
        people.append(Person(name, clean[: per_person + 1], real))
    return people


# --------------------------------------------------------------------------------------------- synthetic
@dataclass
class SyntheticCase:
    person: str
    photo: str
    hole: str
    scores: dict[str, dict[str, float]]  # method -> measure -> value ("identity": dlib distance to the truth)


def run_synthetic(people: Sequence[Person], pipeline, assets, describer: DlibDescriptor | None, seed: int,
                  sheet_cases: int = 8, tile: int = 128) -> tuple[list[SyntheticCase], list[SheetCase]]:
    """Every gallery photo x hole kind, filled three ways (see the module doc)."""
    annotator = _annotator()
    cases, sheet = [], []
    for person in people:
        reference = pipeline.reference(read_rgb(person.reference), name=person.reference.name)
        for path in person.gallery:
            image = read_rgb(path)
            landmarks = _landmarks(annotator, image)
            face = SourceFace(path.stem, "rof", image, landmarks, np.ones(image.shape[:2], bool),
                              name_key(f"{person.name}/{path.name}"), len(cases))
            setting = native_setting(face)
            crop_matrix = canonical_matrix(landmarks)
            crop = warp_to_crop(image, crop_matrix, 128)
            crop_landmarks = landmarks @ crop_matrix[:, :2].T + crop_matrix[:, 2]
            truth_descriptor = describer.describe([image], [landmarks]) if describer else None
            for hole_name, kind in HOLE_KINDS.items():
                rng = np.random.default_rng([seed, face.key, len(hole_name)])
                occlusion = synthesize(crop, crop_landmarks, rng, kind=kind, assets=assets)
                mask = hole_in(setting, Hole(hole_name, kind, np.where(occlusion.mask > 0, 255, 0).astype(np.uint8)))
                if not mask.any():
                    continue
                noisy = add_noise(image, mask, rng)
                outputs = {
                    TELEA: pipeline.inpaint(noisy, mask, method="telea"),
                    GAN: pipeline.inpaint(noisy, mask),
                    REFERENCE: pipeline.inpaint(noisy, mask, reference=reference),
                }
                scores = {method: score_case(output, noisy, image, mask) for method, output in outputs.items()}
                if describer is not None:
                    found = describer.describe(list(outputs.values()), [landmarks] * len(outputs))
                    for method, descriptor in zip(outputs, found):
                        scores[method]["identity"] = float(np.linalg.norm(descriptor - truth_descriptor[0]))
                cases.append(SyntheticCase(person.name, path.name, hole_name, scores))
                if len(sheet) < sheet_cases and len(cases) % 3 == 1:
                    tiles = {"input": noisy, **outputs, "truth": image}
                    label = f"{person.name} {hole_name} | " + " ".join(
                        f"{m} {scores[m]['psnr_hole']:.1f}" for m in outputs)
                    sheet.append(SheetCase(label, {
                        **{name: face_tile(img, crop_matrix, tile) for name, img in tiles.items()},
                        "reference": face_tile(reference.image, canonical_matrix(_landmarks(
                            annotator, reference.image)), tile)}))
        log.info("synthetic: %s done, %d cases", person.name, len(cases))
    return cases, sheet


def summarize_synthetic(cases: Sequence[SyntheticCase]) -> dict[str, Any]:
    """Per hole kind and overall: each method's mean of each measure, and the same-person rate."""
    summary: dict[str, Any] = {}
    for hole in [*HOLE_KINDS, "all"]:
        chosen = [case for case in cases if hole in ("all", case.hole)]
        if not chosen:
            continue
        methods: dict[str, Any] = {}
        for method in chosen[0].scores:
            values = {measure: float(np.mean([c.scores[method][measure] for c in chosen]))
                      for measure in chosen[0].scores[method]}
            if "identity" in chosen[0].scores[method]:
                values["same_person"] = float(np.mean([c.scores[method]["identity"] < SAME_PERSON_DISTANCE
                                                       for c in chosen]))
            methods[method] = values
        summary[hole] = {"cases": len(chosen), "methods": methods}
    return summary


# ------------------------------------------------------------------------------------------------- real
@dataclass
class RealCase:
    person: str
    photo: str
    kind: str
    fixed: bool  # the app found a face
    descriptors: dict[str, np.ndarray]  # variant -> dlib descriptor


def run_real(people: Sequence[Person], pipeline, describer: DlibDescriptor,
             sheet_cases: int = 8, tile: int = 128) -> tuple[list[RealCase], dict[str, np.ndarray], list[SheetCase]]:
    """Each person's real occluded photos, fixed four ways; the galleries' mean descriptors."""
    from facestudio.api import NoFaceError

    annotator = _annotator()
    galleries = {}
    for person in people:
        images = [read_rgb(path) for path in person.gallery]
        described = describer.describe(images, [_landmarks(annotator, image) for image in images])
        galleries[person.name] = described.mean(axis=0)
    cases, sheet = [], []
    for person in people:
        reference = pipeline.reference(read_rgb(person.reference), name=person.reference.name)
        for kind, paths in person.real.items():
            for path in paths:
                image = read_rgb(path)
                variants = {NONE: image}
                try:
                    found = pipeline.auto_fix(image)
                    faces = found.faces
                    variants[TELEA] = pipeline.auto_fix(image, method="telea", faces=faces).image
                    variants[GAN] = found.image
                    variants[REFERENCE] = pipeline.auto_fix(image, faces=faces, reference=reference).image
                    box = max(faces, key=lambda face: face.area).box
                except NoFaceError:
                    variants.update({TELEA: image, GAN: image, REFERENCE: image})
                    box = None
                descriptors = _describe_in_box(annotator, describer, list(variants.values()), box)
                case = RealCase(person.name, path.name, kind, box is not None, dict(zip(variants, descriptors)))
                cases.append(case)
                if box is not None and len(sheet) < sheet_cases and len(cases) % 4 == 1:
                    matrix = canonical_matrix(_landmarks(annotator, image, box))
                    tiles = {name: face_tile(img, matrix, tile) for name, img in variants.items()}
                    tiles["reference"] = face_tile(reference.image, canonical_matrix(_landmarks(
                        annotator, reference.image)), tile)
                    sheet.append(SheetCase(f"{person.name} {kind} {path.name}", tiles))
        log.info("real: %s done, %d photos", person.name, len(cases))
    return cases, galleries, sheet


def summarize_real(cases: Sequence[RealCase], galleries: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per kind: share fixed, and per variant the same-person rate and top-1 rate against the galleries."""
    names = sorted(galleries)
    table = np.stack([galleries[name] for name in names])
    summary: dict[str, Any] = {}
    for kind in REAL_KINDS:
        chosen = [case for case in cases if case.kind == kind]
        if not chosen:
            continue
        variants: dict[str, Any] = {}
        per_photo: list[dict[str, Any]] = [{"person": c.person, "fixed": c.fixed} for c in chosen]  # no file names
        for variant in chosen[0].descriptors:
            same, top1 = [], []
            for case, record in zip(chosen, per_photo):
                distances = np.linalg.norm(table - case.descriptors[variant], axis=1)
                own = names.index(case.person)
                same.append(distances[own] < SAME_PERSON_DISTANCE)
                top1.append(int(np.argmin(distances)) == own)
                record[variant] = {"distance": round(float(distances[own]), 4), "top1": top1[-1]}
            variants[variant] = {"same_person": float(np.mean(same)), "top1": float(np.mean(top1))}
        summary[kind] = {"photos": len(chosen), "fixed": float(np.mean([c.fixed for c in chosen])),
                         "variants": variants, "per_photo": per_photo}
    return summary


# ---------------------------------------------------------------------------------------------- dlib
_ANNOTATOR = None


def _annotator():
    global _ANNOTATOR
    if _ANNOTATOR is None:
        from training.prepare_data import FaceAnnotator

        _ANNOTATOR = FaceAnnotator()
    return _ANNOTATOR


def _dlib_finds(annotator, image: np.ndarray) -> bool:
    from training.prepare_data import DETECTOR_HOG

    return annotator.locate(image, "rof")[1] == DETECTOR_HOG


def _landmarks(annotator, image: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """dlib's 68 landmarks in `box` (x, y, w, h), else in dlib's own detection (or the central fallback box)."""
    import dlib

    if box is None:
        rect, _ = annotator.locate(image, "rof")
    else:
        x, y, w, h = (int(round(v)) for v in box)
        rect = dlib.rectangle(x, y, x + w, y + h)
    shape = annotator.shape_predictor(image, rect)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def _describe_in_box(annotator, describer: DlibDescriptor, images: list[np.ndarray],
                     box: tuple[int, int, int, int] | None) -> np.ndarray:
    return describer.describe(images, [_landmarks(annotator, image, box) for image in images])
