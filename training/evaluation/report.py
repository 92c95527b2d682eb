"""results.json (every summary number) and results.md (the tables people read) of an evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from facestudio.atomic import atomic_write
from training.evaluation.cases import ALL_KINDS, FREE_FORM_GROUPS, GROUPS, HELDOUT, bucket_label
from training.evaluation.dlib_identity import SAME_PERSON_DISTANCE
from training.evaluation.run import EvaluationResult
from training.evaluation.scores import (
    INPUT,
    OVERALL,
    PSNR_CAP_DB,
    summarize_identity,
    summarize_inpainting,
    summarize_segmentation,
    target_checks,
)

GROUP_LABELS = {
    **{group: f"free-form {bucket_label(bucket)}" for group, bucket in FREE_FORM_GROUPS.items()},
    HELDOUT: "held-out occluders",
    ALL_KINDS: "all occluder kinds",
    OVERALL: "overall (free-form + held-out occluders)",
}
VARIANT_LABELS = {INPUT: "occluded input", "telea": "OpenCV Telea", "ours": "ours (generator)"}
INPAINTING_COLUMNS = ("PSNR", "PSNR hole", "SSIM", "SSIM hole", "L1", "L1 hole")
FIGURES = {
    "contact_sheet.png": "Contact sheet: input, true mask, segmenter's mask, Telea, ours, truth",
    "quality_by_hole_size.png": "Quality by hole size, ours vs Telea",
    "training_curves.png": "Training losses and validation metrics (runs/*/log.jsonl)",
}


REPO = Path(__file__).resolve().parents[2]


def shown_path(path: Path | str) -> str:
    """`path` relative to the repository when inside it, so reports read the same on every machine."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def build_summary(result: EvaluationResult, setup: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Everything results.json holds: the setup, each section's summary, the targets, the timings."""
    summary: dict[str, Any] = {
        "setup": {**setup, "faces": result.faces, "gallery": result.gallery, "psnr_cap_db": PSNR_CAP_DB,
                  "same_person_distance": SAME_PERSON_DISTANCE},
        "notes": list(notes),
        "segmentation": summarize_segmentation(result.cases),
        "inpainting": summarize_inpainting(result.cases),
        "identity": summarize_identity(result.cases),
        "encoder": result.encoder,
    }
    summary["targets"] = target_checks(summary)
    summary["timing"] = {
        "stages": result.timings,
        "stage_cpu_s": sum(stage["cpu_s"] for stage in result.timings.values()),
    }
    return summary


def write_json(summary: dict[str, Any], path: Path) -> Path:
    """results.json: plain JSON (NaN written as null), floats rounded to 5 decimals."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(_plain(summary), indent=1) + "\n")


def write_markdown(summary: dict[str, Any], path: Path, figures: list[str]) -> Path:
    """results.md: the tables, and links to the figures that were drawn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, markdown(summary, figures))


def markdown(summary: dict[str, Any], figures: list[str]) -> str:
    """The Markdown report of a summary made by `build_summary`."""
    setup = summary["setup"]
    checkpoints = "".join(f", {kind} `{facts['sha256']}`" for kind, facts in setup.get("checkpoints", {}).items())
    lines = [
        "# FaceStudio evaluation",
        "",
        f"{setup['faces']} test-split faces (never trained on), 128 px aligned crops; identification gallery of "
        f"{setup['gallery']} clean test faces; seed {setup['seed']}. Weights: `{setup['weights']}`{checkpoints}. "
        f"Held-out occluders: {', '.join(setup['heldout_kinds'])} (kinds never trained on, and the test split's "
        "mask templates and textures); all occluder kinds use the test split's assets too.",
        "",
        f"Command: `{setup['command']}` ({setup['wall_s'] / 60:.1f} min wall, {setup['cpu_s'] / 60:.1f} min of CPU; "
        f"device {setup['device']}, {setup['threads']} torch thread(s), {setup['dlib_workers']} dlib process(es)).",
    ]
    lines += [line for note in summary["notes"] for line in ("", f"- {note}")]
    lines += ["", "## Targets (issue 3, v1)", "", *_header("measure", "target", "measured", "met")]
    for check in summary["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[check["met"]]
        lines.append(_row(check["name"], check["target"], _number(check["value"], 3), met))
    lines += _segmentation_tables(summary["segmentation"])
    lines += _inpainting_table(summary["inpainting"])
    lines += _identity_table(summary["identity"], setup, summary["encoder"].get("dlib_impostor_same_share"))
    lines += _encoder_table(summary["encoder"])
    if "alignment" in summary:
        lines += _alignment_table(summary["alignment"])
    lines += _timing_table(summary["timing"])
    lines += [line for name in figures for line in ("", f"![{FIGURES.get(name, name)}]({name})")]
    return "\n".join(lines) + "\n"


def _segmentation_tables(segmentation: dict[str, Any]) -> list[str]:
    lines = ["", "## Segmentation", "", "The segmenter on the occluded crop against the synthesized mask: mean IoU "
             "and Dice over faces; pooled IoU = all intersections over all unions."]
    if not segmentation:
        return lines + ["", "Not measured (no segmenter checkpoint)."]
    for group, entry in segmentation.items():
        lines += ["", f"### {GROUP_LABELS[group].capitalize()}", ""]
        lines += _header("kind", "faces", "hole area", "IoU", "Dice")
        for kind, scores in entry["by_kind"].items():
            lines.append(_row(kind, scores["count"], _percent(scores["mean_area"]), _number(scores["iou"], 3),
                              _number(scores["dice"], 3)))
        overall = entry[OVERALL]
        lines.append(_row(f"**all** (pooled IoU {_number(overall['iou_pooled'], 3)})", overall["count"],
                          _percent(overall["mean_area"]), f"**{_number(overall['iou'], 3)}**",
                          f"**{_number(overall['dice'], 3)}**"))
    return lines


def _inpainting_table(inpainting: dict[str, Any]) -> list[str]:
    lines = ["", "## Inpainting", "", "Both methods fill the same true mask on the same 128 px crop (ours: the "
             "generator conditioned on the encoder's vector of the crop, composited into the hole). PSNR in dB "
             f"(identical = {PSNR_CAP_DB:.0f}), L1 on 0..1; \"hole\" = over hole pixels only.", "",
             *_header("holes", "faces", "hole area", "method", *INPAINTING_COLUMNS)]
    for group in (*GROUPS, OVERALL):
        entry = inpainting.get(group)
        if entry is None:
            continue
        for method, scores in entry["methods"].items():
            lines.append(_row(
                GROUP_LABELS[group], entry["count"], _percent(entry["mean_area"]), VARIANT_LABELS.get(method, method),
                _number(scores["psnr"], 2), _number(scores["psnr_hole"], 2), _number(scores["ssim"], 4),
                _number(scores["ssim_hole"], 4), _number(scores["l1"], 4), _number(scores["l1_hole"], 4),
            ))
        if "psnr_hole_gain_over_telea" in entry:
            gain = f"**{entry['psnr_hole_gain_over_telea']:+.2f}**"
            lines.append(_row(GROUP_LABELS[group], "", "", "*ours - Telea*", "", gain, "", "", "", ""))
    return lines


def _identity_table(identity: dict[str, Any], setup: dict[str, Any], impostors: float | None) -> list[str]:
    lines = ["", "## Identity", "", "dlib ResNet descriptor of each variant against the truth's, at the clean face's "
             f"landmarks (euclidean; same person below {SAME_PERSON_DISTANCE}). DeepFace (\"Dlib\" model, cosine <= "
             f"its threshold) on the held-out occluder case of the first {setup['deepface_faces']} faces."]
    if impostors is not None and not math.isnan(impostors):
        lines[-1] += (f" For scale: two *different* gallery faces are under {SAME_PERSON_DISTANCE} in "
                      f"{_percent(impostors)} of pairs.")
    if not identity:
        return lines + ["", "Not measured (dlib unavailable)."]
    lines += ["", *_header("occluders", "variant", "mean distance", "same person", "DeepFace same person")]
    for group, entry in identity.items():
        for variant, scores in entry.items():
            deepface = ""
            if "deepface_same_share" in scores:
                deepface = f"{_percent(scores['deepface_same_share'])} of {scores['deepface_count']}"
            lines.append(_row(GROUP_LABELS[group], VARIANT_LABELS.get(variant, variant), _number(scores["distance"], 3),
                              f"{_percent(scores['same_share'])} of {scores['count']}", deepface))
    return lines


def _encoder_table(encoder: dict[str, Any]) -> list[str]:
    lines = ["", "## Encoder", "", f"Each probe is an occluded test face; the gallery holds {encoder['gallery']} clean "
             "test faces, its own among them. Top-1: its nearest gallery face is its own (encoder: cosine; dlib "
             "descriptor, the encoder's teacher, as a reference: euclidean). Gender: the encoder's head on occluded "
             "UTK faces."]
    if "top1" not in encoder and "dlib_top1" not in encoder:
        return lines + ["", "Not measured."]
    lines += ["", *_header("probes", "encoder top-1", "dlib top-1 (reference)", "gender accuracy (occluded)")]
    for group in (HELDOUT, ALL_KINDS):
        gender = encoder.get("gender_accuracy", {}).get(group)
        lines.append(_row(GROUP_LABELS[group], _percent(encoder.get("top1", {}).get(group)),
                          _percent(encoder.get("dlib_top1", {}).get(group)),
                          f"{_percent(gender['accuracy'])} of {gender['count']}" if gender else "-"))
    return lines


def _alignment_table(alignment: dict[str, Any]) -> list[str]:
    lines = ["", "## Face alignment: auto_fix in photos"]
    if "not_measured" in alignment:
        return lines + ["", f"Not measured ({alignment['not_measured']})."]
    width, height = alignment["photo"]
    low, high = alignment["face_box_px"]
    lines += ["", f"{alignment['faces']} test faces, each with its held-out occluder case, warped into a "
              f"{width}x{height} photo (face box {low:.0f}-{high:.0f} px, roll up to +-"
              f"{alignment['max_roll_degrees']:.0f} degrees) on a random background; the app's "
              "`auto_fix(photo, faces=[face])` runs with the face framed three ways and is scored in photo space. "
              "Found: a detected box overlaps the true face box with IoU >= 0.3; missed faces are left out of the "
              "other columns. Landmark error: mean distance of the five points over the true inter-ocular distance. "
              "Hole PSNR: the fixed photo against the clean one inside the true mask; Telea fills the same segmented "
              "mask. *vs true landmarks*: the difference from the true-landmark framing on the same faces. "
              f"({alignment['wall_s']:.0f} s wall, {alignment['cpu_s']:.0f} s of CPU.)", "",
              *_header("framing", "found", "landmark error", "IoU", "Dice", "hole PSNR (dB)", "gain over Telea (dB)",
                       "IoU vs true landmarks", "hole PSNR vs true landmarks (dB)")]
    for framing, entry in alignment["framings"].items():
        versus = entry.get("vs_true_landmarks", {})
        lines.append(_row(
            framing, f"{entry['found']} of {entry['faces']}", _number(entry["landmark_error"], 3),
            _number(entry["iou"], 3), _number(entry["dice"], 3), _number(entry["psnr_hole"]["gan"], 2),
            _signed(entry["psnr_hole_gain_over_telea"], 2), _signed(versus.get("iou"), 3),
            _signed(versus.get("psnr_hole"), 2),
        ))
    if alignment["skipped_framings"]:
        lines += ["", *(f"- {name}: not measured ({why})." for name, why in alignment["skipped_framings"].items())]
    return lines


def _timing_table(timing: dict[str, Any]) -> list[str]:
    lines = ["", "## Time per stage", "", "CPU s counts the main process only (dlib's worker processes are in the "
             "total above).", "", *_header("stage", "wall s", "CPU s")]
    for stage, spent in sorted(timing["stages"].items(), key=lambda item: -item[1]["cpu_s"]):
        lines.append(_row(stage, f"{spent['wall_s']:.1f}", f"{spent['cpu_s']:.1f}"))
    return lines


def _header(*names: str) -> list[str]:
    return [_row(*names), _row(*("---" for _ in names))]


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _signed(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{digits}f}"


def _percent(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f} %"


def _plain(value: Any) -> Any:
    """JSON-ready copy: NaN/inf -> None, numpy scalars -> Python, floats rounded to 5 decimals."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else None
    return value
