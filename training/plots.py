"""The evaluation's figures (matplotlib, no display needed): contact sheet, quality by hole size,
training curves.

    python -m training.plots --runs runs --out docs/evaluation/training_curves.png

Figures are drawn on `matplotlib.figure.Figure` objects, never through pyplot's global state, so
they need no backend and are safe to draw from any thread.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from training.evaluation.cases import ALL_KINDS, FREE_FORM_GROUPS, HELDOUT, bucket_label

if TYPE_CHECKING:
    from training.evaluation.run import SheetRow

CELL_INCHES = 1.28  # a 128 px crop drawn at 100 dpi: one image pixel per screen pixel
DPI = 100
METHOD_COLOURS = {"telea": "#8c8c8c", "ours": "#1f77b4"}
METHOD_LABELS = {"telea": "OpenCV Telea", "ours": "ours"}
BAR_GROUPS = {**{group: f"free-form\n{bucket_label(bucket)}" for group, bucket in FREE_FORM_GROUPS.items()},
              HELDOUT: "held-out\noccluders", ALL_KINDS: "all occluder\nkinds"}
# Validation metrics worth a curve, by run folder name; other runs show their first few metrics.
HEADLINE_METRICS = {
    "segmenter": ("iou", "dice"),
    "encoder": ("top1_occluded_vs_clean", "gender_accuracy_occluded", "cosine_occluded_teacher"),
    "inpainter": ("psnr", "psnr_hole", "psnr_hole_gain_over_telea"),  # one unit (dB) per panel
    "detector": ("recall_occluded", "recall_clean", "recall"),
}
FALLBACK_METRICS = 3


def contact_sheet(rows: Sequence[SheetRow], path: Path, methods: Sequence[str] = ("telea", "ours")) -> Path:
    """One row per case: input, true mask, the segmenter's mask against it, each method, truth.

    The segmenter column is white where it agrees on a hole, red where it marks a pixel the
    occluder does not cover, blue where it misses one (grey "n/a" without a segmenter).
    """
    if not rows:
        raise ValueError("contact sheet: no rows to draw")
    shown = [m for m in methods if any(m in row.fills for row in rows)]
    columns = ["input", "true mask", "segmenter\n(red extra, blue missed)",
               *(METHOD_LABELS.get(m, m) for m in shown), "truth"]
    label_width, header = 1.3, 0.45
    width = label_width + CELL_INCHES * len(columns)
    height = header + CELL_INCHES * len(rows)
    figure = Figure(figsize=(width, height), dpi=DPI)
    for r, row in enumerate(rows):
        cells = [row.image, _grey(row.mask), _mask_agreement(row.segmented, row.mask),
                 *(row.fills.get(m) for m in shown), row.truth]
        for c, cell in enumerate(cells):
            left = (label_width + c * CELL_INCHES) / width
            bottom = (height - header - (r + 1) * CELL_INCHES) / height
            axes = figure.add_axes((left, bottom, CELL_INCHES / width, CELL_INCHES / height))
            axes.set_axis_off()
            if cell is None:
                axes.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=9, color="0.4")
                continue
            axes.imshow(cell, interpolation="nearest")
            if r == 0:
                axes.set_title(columns[c], fontsize=8)
        figure.text(0.1 / width, (height - header - (r + 0.5) * CELL_INCHES) / height, row.label,
                    fontsize=8, va="center", ha="left")
    return _save(figure, path)


def quality_by_hole_size(inpainting: dict[str, Any], path: Path) -> Path:
    """Grouped bars per hole type (free-form buckets, occluder shapes): hole PSNR, whole-image SSIM
    and hole L1 of each method."""
    groups = [group for group in BAR_GROUPS if group in inpainting]
    if not groups:
        raise ValueError("quality by hole size: no inpainting results to plot")
    methods = [m for m in METHOD_COLOURS if any(m in inpainting[g]["methods"] for g in groups)]
    panels = (("psnr_hole", "PSNR in the hole (dB), higher is better"),
              ("ssim", "SSIM, whole image, higher is better"),
              ("l1_hole", "L1 in the hole (0..1), lower is better"))
    figure = Figure(figsize=(4.2 * len(panels), 3.8), dpi=DPI, layout="constrained")
    axes_row = figure.subplots(1, len(panels))
    positions = np.arange(len(groups))
    bar = 0.8 / max(len(methods), 1)
    for axes, (key, title) in zip(axes_row, panels):
        for offset, method in enumerate(methods):
            values = [inpainting[g]["methods"].get(method, {}).get(key, math.nan) for g in groups]
            bars = axes.bar(positions + (offset - (len(methods) - 1) / 2) * bar, values, bar,
                            color=METHOD_COLOURS[method], label=METHOD_LABELS[method])
            axes.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
        axes.set_xticks(positions, [BAR_GROUPS[g] for g in groups], fontsize=8)
        axes.set_title(title, fontsize=9)
        axes.margins(y=0.15)
        axes.grid(axis="y", alpha=0.3)
    handles, labels = axes_row[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(methods), fontsize=8)
    figure.suptitle("Inpainting quality by hole type (same holes, same crops for both methods)", fontsize=10)
    return _save(figure, path)


def read_log(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a training log; a line cut off by a running trainer is skipped."""
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
    return records


def find_logs(runs_dir: Path) -> dict[str, Path]:
    """run name -> log.jsonl for every `runs_dir/<name>/log.jsonl` that has records."""
    if not runs_dir.is_dir():
        return {}
    return {path.parent.name: path for path in sorted(runs_dir.glob("*/log.jsonl")) if path.stat().st_size > 0}


def training_curves(logs: dict[str, Path], path: Path) -> Path | None:
    """Per run: training losses (top) and headline validation metrics (bottom) against the step.
    Returns None (and draws nothing) when no log has any record."""
    runs = {name: read_log(log) for name, log in logs.items()}
    runs = {name: records for name, records in runs.items() if any("losses" in r or "val" in r for r in records)}
    if not runs:
        return None
    figure = Figure(figsize=(4.6 * len(runs), 6.4), dpi=DPI, layout="constrained")
    grid = np.asarray(figure.subplots(2, len(runs), squeeze=False))
    for column, (name, records) in enumerate(runs.items()):
        _loss_panel(grid[0, column], name, [r for r in records if "losses" in r])
        _validation_panel(grid[1, column], name, [r for r in records if "val" in r])
    figure.suptitle("Training logs (runs/*/log.jsonl)", fontsize=10)
    return _save(figure, path)


def _loss_panel(axes, name: str, records: list[dict[str, Any]]) -> None:
    axes.set_title(f"{name}: training losses", fontsize=9)
    if not records:
        axes.text(0.5, 0.5, "no training records", ha="center", va="center", transform=axes.transAxes)
        return
    steps = np.array([r["step"] for r in records])
    keys = sorted({key for r in records for key in r["losses"]})
    positive = True
    for key in keys:
        values = np.array([r["losses"].get(key, math.nan) for r in records], dtype=np.float64)
        smoothed = _moving_average(values, max(1, len(values) // 40))
        positive &= bool(np.all(smoothed[np.isfinite(smoothed)] > 0))
        axes.plot(steps, smoothed, label=key, linewidth=1.2 if key in ("loss", "total") else 0.8)
    if positive:
        axes.set_yscale("log")
    axes.set_xlabel("step", fontsize=8)
    axes.legend(fontsize=6, ncol=2)
    axes.grid(alpha=0.3)


def _validation_panel(axes, name: str, records: list[dict[str, Any]]) -> None:
    axes.set_title(f"{name}: validation", fontsize=9)
    if not records:
        axes.text(0.5, 0.5, "no validation records", ha="center", va="center", transform=axes.transAxes)
        return
    available = [key for key in records[-1]["val"] if isinstance(records[-1]["val"][key], (int, float))]
    wanted = [key for key in HEADLINE_METRICS.get(name, ()) if key in available]
    if not wanted:
        wanted = [key for key in available if "@" not in key][:FALLBACK_METRICS]
    steps = np.array([r["step"] for r in records])
    for key in wanted:
        values = np.array([r["val"].get(key, math.nan) for r in records], dtype=np.float64)
        axes.plot(steps, values, marker="o", markersize=3, label=f"{key} ({values[-1]:.3g})")
    axes.set_xlabel("step", fontsize=8)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` records (NaN-aware), so noisy losses show their trend."""
    if window <= 1:
        return values
    valid = np.isfinite(values)
    sums = np.convolve(np.where(valid, values, 0.0), np.ones(window), mode="full")[: len(values)]
    counts = np.convolve(valid.astype(np.float64), np.ones(window), mode="full")[: len(values)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _grey(mask: np.ndarray) -> np.ndarray:
    return np.repeat((mask > 0).astype(np.uint8)[..., None] * 255, 3, axis=2)


def _mask_agreement(found: np.ndarray | None, true: np.ndarray) -> np.ndarray | None:
    """RGB: white both say hole, red only the segmenter, blue only the truth, black neither."""
    if found is None:
        return None
    found, true = found > 0, true > 0
    image = np.zeros((*true.shape, 3), np.uint8)
    image[found & true] = (255, 255, 255)
    image[found & ~true] = (230, 40, 40)
    image[~found & true] = (40, 90, 255)
    return image


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def main(argv: list[str] | None = None) -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description="Draw training curves from runs/*/log.jsonl")
    parser.add_argument("--runs", type=Path, default=repo / "runs", help="folder of training runs")
    parser.add_argument("--out", type=Path, default=repo / "docs" / "evaluation" / "training_curves.png")
    args = parser.parse_args(argv)
    drawn = training_curves(find_logs(args.runs), args.out)
    if drawn is None:
        raise SystemExit(f"{args.runs}: no runs/<model>/log.jsonl with records")
    print(drawn)


if __name__ == "__main__":
    main()
