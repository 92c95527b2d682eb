"""Per-case scores and their summaries: per group, per occluder kind, overall, against the targets.

Image measures come from `facestudio.metrics` (the app's own PSNR/SSIM/L1/IoU/Dice). A fill that
reproduces the truth exactly has an infinite PSNR; it is counted as `PSNR_CAP_DB` so that means
stay finite and results.json stays plain JSON (a 128 px crop one grey level off in one pixel
scores 95 dB, so the cap never hides a real difference). Means are over cases, skipping the
undefined (NaN) ones, and each summary says how many cases it covers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facestudio import metrics
from training.evaluation.cases import FREE_FORM_GROUPS, GROUPS, HELDOUT, OCCLUDER_GROUPS
from training.evaluation.dlib_identity import SAME_PERSON_DISTANCE

PSNR_CAP_DB = 100.0
FILL_METRICS = ("psnr", "psnr_hole", "ssim", "ssim_hole", "l1", "l1_hole")
OVERALL = "overall"
# "overall" inpainting: every hole on data the models never saw (free-form buckets + held-out occluders).
OVERALL_GROUPS: tuple[str, ...] = (*FREE_FORM_GROUPS, HELDOUT)
INPUT = "input"  # the occluded face itself, as an identity baseline


@dataclass
class CaseScores:
    """Every score of one case. `fills`: method -> measure -> value; `identity`: variant (the
    input or a method) -> dlib distance to the truth; `deepface`: variant -> same person."""

    face: int
    group: str
    kind: str
    area: float
    segmentation: dict[str, float] = field(default_factory=dict)
    fills: dict[str, dict[str, float]] = field(default_factory=dict)
    identity: dict[str, float] = field(default_factory=dict)
    deepface: dict[str, bool] = field(default_factory=dict)


def fill_scores(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """PSNR (capped), SSIM and L1 of a fill against the truth, whole image and in the hole."""
    scores = metrics.compare_to_reference(result, truth, mask)
    for key in ("psnr", "psnr_hole"):
        if math.isinf(scores[key]):
            scores[key] = PSNR_CAP_DB
    return {key: float(scores[key]) for key in FILL_METRICS}


def mask_scores(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """IoU and Dice of a predicted mask, plus the pixel counts a pooled IoU needs."""
    found, hidden = predicted > 0, true > 0
    return {
        "iou": metrics.iou(predicted, true),
        "dice": metrics.dice(predicted, true),
        "intersection": float(np.count_nonzero(found & hidden)),
        "union": float(np.count_nonzero(found | hidden)),
    }


def summarize_segmentation(cases: Sequence[CaseScores]) -> dict[str, Any]:
    """Per occluder group: mean IoU and Dice overall and per kind, and the pooled IoU."""
    summary: dict[str, Any] = {}
    for group in OCCLUDER_GROUPS:
        scored = [case for case in cases if case.group == group and case.segmentation]
        if not scored:
            continue
        by_kind: dict[str, list[CaseScores]] = defaultdict(list)
        for case in scored:
            by_kind[case.kind].append(case)
        summary[group] = {
            OVERALL: _mask_summary(scored),
            "by_kind": {kind: _mask_summary(by_kind[kind]) for kind in sorted(by_kind)},
        }
    return summary


def summarize_inpainting(cases: Sequence[CaseScores]) -> dict[str, Any]:
    """Per group (and "overall"): case count, mean hole area and each method's mean measures."""
    summary: dict[str, Any] = {}
    for group in (*GROUPS, OVERALL):
        members = OVERALL_GROUPS if group == OVERALL else (group,)
        scored = [case for case in cases if case.group in members and case.fills]
        if not scored:
            continue
        methods = _ordered_variants({method for case in scored for method in case.fills})
        summary[group] = {
            "count": len(scored),
            "mean_area": _mean(case.area for case in scored),
            "methods": {method: _fill_means([case.fills[method] for case in scored if method in case.fills])
                        for method in methods},
        }
        if "ours" in summary[group]["methods"] and "telea" in summary[group]["methods"]:
            ours, telea = summary[group]["methods"]["ours"], summary[group]["methods"]["telea"]
            summary[group]["psnr_hole_gain_over_telea"] = ours["psnr_hole"] - telea["psnr_hole"]
    return summary


def summarize_identity(cases: Sequence[CaseScores]) -> dict[str, Any]:
    """Per group: each variant's mean dlib distance to the truth and share under the threshold;
    DeepFace's same-person share where it was run."""
    summary: dict[str, Any] = {}
    for group in GROUPS:
        scored = [case for case in cases if case.group == group and case.identity]
        if not scored:
            continue
        variants = _ordered_variants({v for case in scored for v in case.identity})
        entry: dict[str, Any] = {}
        for variant in variants:
            values = np.array([case.identity[variant] for case in scored if variant in case.identity])
            entry[variant] = {
                "distance": float(values.mean()),
                "same_share": float((values < SAME_PERSON_DISTANCE).mean()),
                "count": int(values.size),
            }
            verdicts = [case.deepface[variant] for case in scored if variant in case.deepface]
            if verdicts:
                entry[variant]["deepface_same_share"] = float(np.mean(verdicts))
                entry[variant]["deepface_count"] = len(verdicts)
        summary[group] = entry
    return summary


def top1(probes: np.ndarray, truth: np.ndarray, gallery: np.ndarray, metric: str = "cosine") -> float:
    """Share of probes whose nearest gallery entry is their own face (`truth`: gallery indices).

    metric "cosine": vectors are unit length, nearest = largest dot product; "euclidean": smallest distance.
    """
    probes, gallery = np.asarray(probes, np.float64), np.asarray(gallery, np.float64)
    if metric == "cosine":
        nearest = np.argmax(probes @ gallery.T, axis=1)
    elif metric == "euclidean":
        squared = (probes**2).sum(1)[:, None] - 2.0 * probes @ gallery.T + (gallery**2).sum(1)[None, :]
        nearest = np.argmin(squared, axis=1)
    else:
        raise ValueError(f"unknown metric {metric!r}: use cosine or euclidean")
    return float(np.mean(nearest == np.asarray(truth)))


def impostor_share(descriptors: np.ndarray) -> float:
    """Share of pairs of different faces whose dlib descriptors are under the same-person distance:
    the false-match rate that puts the identity shares in scale (NaN with fewer than two faces)."""
    descriptors = np.asarray(descriptors, np.float64)
    if len(descriptors) < 2:
        return math.nan
    squared = (descriptors**2).sum(1)
    pairwise = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * descriptors @ descriptors.T, 0.0))
    different = ~np.eye(len(descriptors), dtype=bool)
    return float(np.mean(pairwise[different] < SAME_PERSON_DISTANCE))


def gender_accuracy(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy over the faces with a known gender label (-1 = unknown), and how many there were."""
    known = np.asarray(labels) >= 0
    count = int(known.sum())
    accuracy = float(np.mean(np.asarray(predicted)[known] == np.asarray(labels)[known])) if count else math.nan
    return {"accuracy": accuracy, "count": count}


def target_checks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 3's v1 targets that this evaluation measures, each with its value and verdict
    (`met` is None where the value could not be measured, e.g. a checkpoint is missing)."""
    segmentation = summary.get("segmentation", {}).get(HELDOUT, {}).get(OVERALL, {})
    overall = summary.get("inpainting", {}).get(OVERALL, {})
    ours_overall = overall.get("methods", {}).get("ours", {})
    identity = summary.get("identity", {}).get(HELDOUT, {}).get("ours", {})
    encoder = summary.get("encoder", {}).get("top1", {}).get(HELDOUT)
    rows = [
        ("segmentation IoU, held-out occluders", ">= 0.90", segmentation.get("iou"), lambda v: v >= 0.90),
        ("segmentation Dice, held-out occluders", ">= 0.93", segmentation.get("dice"), lambda v: v >= 0.93),
        ("hole PSNR gain over Telea, overall (dB)", ">= 4.0", overall.get("psnr_hole_gain_over_telea"),
         lambda v: v >= 4.0),
        ("whole-image SSIM, overall", ">= 0.92", ours_overall.get("ssim"), lambda v: v >= 0.92),
        ("identity kept (dlib < 0.6), held-out occluders", ">= 0.97", identity.get("same_share"), lambda v: v >= 0.97),
        ("encoder top-1, held-out occluded probes", ">= 0.95", encoder, lambda v: v >= 0.95),
    ]
    checks = []
    for name, target, value, passes in rows:
        measured = value is not None and math.isfinite(value)
        checks.append({"name": name, "target": target, "value": value if measured else None,
                       "met": bool(passes(value)) if measured else None})
    return checks


def _fill_means(fills: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: _mean(fill[key] for fill in fills) for key in FILL_METRICS}


def _mask_summary(cases: Sequence[CaseScores]) -> dict[str, float]:
    union = sum(case.segmentation["union"] for case in cases)
    intersection = sum(case.segmentation["intersection"] for case in cases)
    return {
        "count": len(cases),
        "iou": _mean(case.segmentation["iou"] for case in cases),
        "dice": _mean(case.segmentation["dice"] for case in cases),
        "iou_pooled": intersection / union if union else 1.0,
        "mean_area": _mean(case.area for case in cases),
    }


def _ordered_variants(variants: set[str]) -> list[str]:
    """The input first, then Telea, then the rest alphabetically."""
    first = [v for v in (INPUT, "telea") if v in variants]
    return first + sorted(variants - set(first))


def _mean(values: Iterable[float]) -> float:
    array = np.array(list(values), dtype=np.float64)
    array = array[~np.isnan(array)]
    return float(array.mean()) if array.size else math.nan
