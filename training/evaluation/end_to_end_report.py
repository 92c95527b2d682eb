"""results.md, results.json and the contact sheets of the end-to-end evaluation (`end_to_end.py`).

Tables put the methods side by side with gan - telea (paired over the same cases) next to them:
by hole bucket over every face size, by face size over every hole, and hole PSNR by both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facestudio.atomic import atomic_write
from training.evaluation.end_to_end import ALL, BUCKET_LABELS, RealCase, SheetCase
from training.evaluation.report import _header, _plain, _row, write_json

MEASURES = {  # key -> (column label, digits); identity is a share, shown in %
    "psnr_hole": ("hole PSNR dB", 2),
    "ssim": ("SSIM", 4),
    "identity_kept": ("identity kept", None),
    "content_left": ("content left", 3),
    "sharpness": ("sharpness", 2),
    "ms": ("ms / photo", 0),
}
QUALITY = ("psnr_hole", "ssim", "identity_kept")
ARTEFACTS = ("content_left", "sharpness", "ms")
UNPAIRED = ("ms",)  # a difference of times says nothing the two columns do not
TILE_LABEL_PX = 18
GAP_PX = 12
FONT = cv2.FONT_HERSHEY_SIMPLEX


def write_report(summary: dict[str, Any], out: Path, figures: Sequence[str]) -> tuple[Path, Path]:
    """OUT/results.json (every number) and OUT/results.md (the tables)."""
    json_path = write_json(summary, out / "results.json")
    markdown_path = out / "results.md"
    atomic_write(markdown_path, markdown(_plain(summary), figures))  # `out` exists: write_json made it
    return markdown_path, json_path


def markdown(summary: dict[str, Any], figures: Sequence[str]) -> str:
    """The Markdown report of `summary` (setup, results, optional real section)."""
    setup = summary["setup"]
    methods = setup["methods"]
    lines = ["# End-to-end evaluation: photo in, photo out", "", f"Command: `{setup['command']}`", ""]
    lines += [_setup_line(setup), "", _method_paragraph(setup)]
    results = summary.get("results")
    if results:
        lines += ["", "## By hole (every face size)"]
        measured = QUALITY if setup["identity"] else tuple(m for m in QUALITY if m != "identity_kept")
        lines += _tables(results["by_bucket"], methods, measured, lambda key: BUCKET_LABELS.get(key, key))
        lines += ["", "## By face size (every hole)", "",
                  "Face size: the side of the face's canonical crop in the photo (native: the test photo as it is, "
                  "mean size given)."]
        lines += _tables(results["by_setting"], methods, measured, _setting_label)
        if "gan" in methods and "telea" in methods:
            lines += _cross_table(results["by_setting_bucket"])
        lines += _outside_lines(results["outside_changed"])
    if "real" in summary:
        lines += _real_lines(summary["real"])
    lines += [line for name in figures for line in ("", f"![{name}]({name})")]
    return "\n".join(lines) + "\n"


def _setup_line(setup: dict[str, Any]) -> str:
    sources = ", ".join(f"{count} {source}" for source, count in setup.get("faces_by_source", {}).items())
    return (
        f"Weights `{setup['weights']}` (generator.pt sha256 `{setup['generator_sha256']}`), detector "
        f"{setup['detector']}, device {setup['device']}, {setup['threads']} torch thread(s); seed {setup['seed']}. "
        f"{setup.get('faces', 0)} test-split faces ({sources or 'none'}), settings: "
        f"{', '.join(setup.get('settings', [])) or 'none'}; {setup.get('cases', 0)} cases "
        f"({setup.get('skipped_cases', 0)} skipped: hole off the photo). "
        f"Run time {setup['wall_s'] / 60:.1f} min wall."
    )


def _method_paragraph(setup: dict[str, Any]) -> str:
    identity = ("Identity kept: share of cases whose dlib descriptor distance to the truth is < 0.6 (both at the "
                f"truth's 68 landmarks), on faces of at least {setup['min_identity_px']:.0f} px; the noisy input's "
                "share is its baseline." if setup["identity"] else "Identity was not measured (--no-identity).")
    return (
        "Each case is a whole photo with a hole of known truth, filled with a random colour plus strong grain "
        "(the occluder), given to `pipeline.inpaint(photo, mask, method=...)` exactly as `facestudio fix IMG "
        "--masks MASK` calls it, every method on the same pipeline and the same noisy photo. Holes are drawn in "
        "the canonical 128 px face crop (free-form per area bucket, held-out occluder silhouettes) and warped "
        "into the photo, so a hole's share is of the face crop at every size. Hole PSNR: over the hole's pixels "
        f"(an exact fill counts as {setup['psnr_cap_db']:.0f} dB). SSIM: whole photo (padding left out). "
        "Content left: least-squares slope of (output - truth) on (noisy input - truth) in the hole, the truth's "
        "own values held fixed (0: none of the noise survives, 1: all of it). Sharpness: mean |Laplacian| of the output over the truth's in the hole "
        "shrunk by 2 px (< 1 blurrier, > 1 noisier than the photo). " + identity +
        " Times: one `inpaint` call, the face detector included (gan)."
    )


def _setting_label(key: str) -> str:
    return "all" if key == ALL else key


def _tables(groups: dict[str, Any], methods: Sequence[str], quality: Sequence[str], label) -> list[str]:
    """Two tables over the same rows: fill quality, then artefacts and time."""
    lines: list[str] = []
    for measures in (quality, ARTEFACTS):
        lines += ["", *_measure_table(groups, methods, measures, label)]
    return lines


def _measure_table(groups: dict[str, Any], methods: Sequence[str], measures: Sequence[str], label) -> list[str]:
    paired = "gan" in methods and "telea" in methods
    columns = ["", "cases", "face px", "hole % of face"]
    for measure in measures:
        name = MEASURES[measure][0]
        columns += [f"{name} {method}" for method in methods]
        if measure == "identity_kept":
            columns.append(f"{name} input")
        if paired and measure not in UNPAIRED:
            columns.append(f"{name} gan - telea")
    lines = _header(*columns)
    for key, group in groups.items():
        if not group["cases"]:
            continue
        cells = [label(key), group["cases"], _number(group["mean_face_px"], 0), _number(_pct(group["mean_area"]), 1)]
        for measure in measures:
            cells += [_value(measure, group["methods"][method].get(measure)) for method in methods]
            if measure == "identity_kept":
                cells.append(_value(measure, group.get("input_identity_kept")))
            if paired and measure not in UNPAIRED:
                cells.append(_value(measure, group.get("gan_minus_telea", {}).get(measure), signed=True))
        lines.append(_row(*cells))
    return lines


def _cross_table(cross: dict[str, dict[str, Any]]) -> list[str]:
    buckets = [bucket for bucket in BUCKET_LABELS if bucket != ALL]
    lines = ["", "## Hole PSNR gan - telea (dB), by face size and hole", "",
             *_header("face size", *(BUCKET_LABELS[b].split(" (")[0] for b in buckets))]
    for setting, groups in cross.items():
        cells = [_value("psnr_hole", groups[b].get("gan_minus_telea", {}).get("psnr_hole"), signed=True)
                 if groups.get(b, {}).get("cases") else "-" for b in buckets]
        lines.append(_row(setting, *cells))
    return lines


def _outside_lines(outside: dict[str, Any]) -> list[str]:
    lines = ["", "## Pixels outside the mask changed (must be 0)", "", *_header("method", "pixels", "cases")]
    for method, counts in outside.items():
        flag = "" if counts["pixels"] == 0 else " **(not 0)**"
        lines.append(_row(method, f"{counts['pixels']}{flag}", counts["cases"]))
    return lines


def _real_lines(real: dict[str, Any]) -> list[str]:
    return [
        "", "## Real masked photos: auto_fix (no truth)", "",
        f"{real['photos']} photos from occluded-real/face-masks (median side {_number(real['median_side_px'], 0)} px): "
        f"no face found in {real['no_face']}; on the others the segmenter's mask covered "
        f"{_number(_pct(real['mean_mask_share']), 1)} % of the photo on average, "
        f"{_number(real['mean_ms'], 0)} ms each. "
        "Look at real_contact_sheet.png (input | mask found | auto-fix) for surviving mask borders.",
    ]


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _value(measure: str, value: float | None, signed: bool = False) -> str:
    digits = MEASURES[measure][1]
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if digits is None:  # a share
        return f"{100 * value:+.1f} pt" if signed else f"{100 * value:.1f} %"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


# ---------------------------------------------------------------------------------------------- sheets
def contact_sheet(cases: Sequence[SheetCase], per_row: int = 2) -> np.ndarray:
    """HxWx3 uint8 RGB grid: per case a label, then its tiles (input | each method | truth)."""
    if not cases:
        return np.full((40, 400, 3), 255, np.uint8)
    blocks = [_block(case.label, list(case.tiles.values())) for case in cases]
    header = _block("", [], names=list(cases[0].tiles), width=blocks[0].shape[1])
    return _grid([header] * min(per_row, len(blocks)), blocks, per_row)


def real_sheet(cases: Sequence[RealCase], tile: int = 160, per_row: int = 3) -> np.ndarray:
    """HxWx3 uint8 RGB grid: per photo its name, then input | mask found (red over the photo) | auto-fix."""
    if not cases:
        return np.full((40, 400, 3), 255, np.uint8)
    blocks = []
    for case in cases:
        tiles = [_enlarge(case.image, tile)]
        if case.mask is None:
            tiles += [_text_tile("no face found", tile), _text_tile("", tile)]
            label = f"{case.name}: no face"
        else:
            tint = case.image.astype(np.float32)
            tint[case.mask > 0] = 0.45 * tint[case.mask > 0] + 0.55 * np.array([255, 0, 0], np.float32)
            tiles += [_enlarge(tint.astype(np.uint8), tile), _enlarge(case.output, tile)]
            label = f"{case.name} {case.image.shape[1]}x{case.image.shape[0]}"
        blocks.append(_block(label, tiles))
    header = _block("", [], names=["input", "mask found", "auto-fix"], width=blocks[0].shape[1])
    return _grid([header] * min(per_row, len(blocks)), blocks, per_row)


def write_png(image: np.ndarray, path: Path) -> Path:
    """Write an RGB sheet as PNG (max compression); raises OSError when it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"{path}: cannot write the image")
    return path


def _enlarge(image: np.ndarray, tile: int) -> np.ndarray:
    """Fit the photo in a `tile` square (nearest neighbours, so its own pixel edges stay visible)."""
    height, width = image.shape[:2]
    scale = tile / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA)
    square = np.full((tile, tile, 3), 255, np.uint8)
    top, left = (tile - size[1]) // 2, (tile - size[0]) // 2
    square[top : top + size[1], left : left + size[0]] = resized
    return square


def _text_tile(text: str, tile: int) -> np.ndarray:
    square = np.full((tile, tile, 3), 235, np.uint8)
    cv2.putText(square, text, (8, tile // 2), FONT, 0.45, (150, 20, 20), 1, cv2.LINE_AA)
    return square


def _block(label: str, tiles: list[np.ndarray], names: list[str] | None = None, width: int | None = None) -> np.ndarray:
    """A label strip over tiles side by side; with `names`, a header strip naming the columns instead."""
    if names is not None:
        strip = np.full((TILE_LABEL_PX, width, 3), 255, np.uint8)
        step = width // len(names)
        for index, name in enumerate(names):
            cv2.putText(strip, name, (index * step + 4, TILE_LABEL_PX - 5), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        return strip
    row = np.concatenate(tiles, axis=1)
    strip = np.full((TILE_LABEL_PX, row.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (4, TILE_LABEL_PX - 5), FONT, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, row], axis=0)


def _grid(header: list[np.ndarray], blocks: list[np.ndarray], per_row: int) -> np.ndarray:
    """Blocks (all one size) `per_row` to a row with white gaps, the header strips on top."""
    height, width = blocks[0].shape[:2]
    gap = np.full((height, GAP_PX, 3), 255, np.uint8)
    padded = blocks + [np.full_like(blocks[0], 255)] * (-len(blocks) % per_row)
    rows = []
    for start in range(0, len(padded), per_row):
        parts = [part for block in padded[start : start + per_row] for part in (block, gap)][:-1]
        rows.append(np.concatenate(parts, axis=1))
    columns = min(per_row, len(blocks))
    strip_gap = np.full((header[0].shape[0], GAP_PX, 3), 255, np.uint8)
    top = np.concatenate([part for strip in header[:columns] for part in (strip, strip_gap)][:-1], axis=1)
    top = np.pad(top, ((0, 0), (0, rows[0].shape[1] - top.shape[1]), (0, 0)), constant_values=255)
    spacer = np.full((GAP_PX // 2, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([top] + [part for row in rows for part in (row, spacer)][:-1], axis=0)
