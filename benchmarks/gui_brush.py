"""Brush-stroke frame rate on a big photo (target: >= 30 frames/s on 12 megapixels).

The editor opens a 4000x3000 photo (the sample portrait scaled up: real image content) in a 1440x900
window; a stroke of real mouse events loops over the photo, and after every move the pending repaint
is drawn before the next move, so each frame includes painting the mask, updating the overlay and
drawing the view. Measured at fit-to-window and at 100 % zoom, and again with the whole viewport
repainted on every frame (the cost of a frame while panning or zooming).

    python benchmarks/gui_brush.py [--megapixels 12] [--moves 200] [--brush 60]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facestudio.gui.app import application  # noqa: E402
from facestudio.gui.main_window import MainWindow  # noqa: E402
from facestudio.sample import load_sample  # noqa: E402


def big_photo(megapixels: float) -> np.ndarray:
    """The sample portrait resized to about `megapixels` at 4:3."""
    width = int(round(math.sqrt(megapixels * 1e6 * 4 / 3)))
    height = int(round(width * 3 / 4))
    return cv2.resize(load_sample().image, (width, height), interpolation=cv2.INTER_CUBIC)


class PaintCounter(QObject):
    """Counts the canvas viewport's paint events, so a 'frame' is proven to have been drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def stroke_fps(window: MainWindow, moves: int, full_repaint: bool) -> float:
    """Frames per second of one stroke: press, `moves` mouse moves, release.

    After each move the pending repaint is drawn before the next move: only the region the stroke
    dirtied (what Qt does in use), or the whole viewport with `full_repaint` (the worst case: every
    frame as costly as a pan or zoom).
    """
    app = QApplication.instance()
    viewport = window.canvas.viewport()
    counter = PaintCounter()
    viewport.installEventFilter(counter)
    rect = viewport.rect()
    centre = QPointF(rect.center())
    radius = 0.3 * min(rect.width(), rect.height())
    points = [QPoint(int(centre.x() + radius * math.cos(t)), int(centre.y() + 0.6 * radius * math.sin(2 * t)))
              for t in np.linspace(0, 2 * math.pi, moves)]
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
    app.processEvents()
    counter.count = 0
    started = time.perf_counter()
    for point in points[1:]:
        QTest.mouseMove(viewport, point)
        if full_repaint:
            viewport.repaint()
        else:
            app.processEvents()
    elapsed = time.perf_counter() - started
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])
    viewport.removeEventFilter(counter)
    if counter.count < len(points) - 1:
        raise RuntimeError(f"only {counter.count} of {len(points) - 1} moves were painted")
    return (len(points) - 1) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--brush", type=float, default=60.0, help="brush diameter in photo pixels")
    args = parser.parse_args()

    app = application()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, device="cpu")
    window.resize(1440, 900)
    window.show()
    photo = big_photo(args.megapixels)
    loaded = time.perf_counter()
    window.document.load(photo, None, "benchmark")
    app.processEvents()
    load_s = time.perf_counter() - loaded
    window.brush.size = args.brush
    window.select_tool("brush")

    results = {}
    for label, set_view in (("fit", window.canvas.fit), ("100%", window.canvas.actual_size)):
        set_view()
        app.processEvents()
        stroke_fps(window, 20, full_repaint=False)  # warm-up
        results[label] = round(stroke_fps(window, args.moves, full_repaint=False), 1)
        results[f"{label} full"] = round(stroke_fps(window, args.moves, full_repaint=True), 1)
    undo_started = time.perf_counter()
    window.document.undo_stack.undo()
    app.processEvents()
    undo_ms = (time.perf_counter() - undo_started) * 1000

    report = {
        "photo": f"{photo.shape[1]}x{photo.shape[0]} ({photo.shape[0] * photo.shape[1] / 1e6:.1f} MP)",
        "brush_px": args.brush,
        "moves": args.moves,
        "fps_fit": results["fit"],
        "fps_100_percent": results["100%"],
        "fps_fit_full_viewport_repaint": results["fit full"],
        "fps_100_percent_full_viewport_repaint": results["100% full"],
        "load_to_canvas_s": round(load_s, 3),
        "undo_one_stroke_ms": round(undo_ms, 1),
        "undo_steps_bytes": sum(window.document.undo_stack.command(i).patch.nbytes
                                for i in range(window.document.undo_stack.count())),
        "target_fps": 30,
    }
    report["meets_target"] = min(results["fit"], results["100%"]) >= 30
    print(json.dumps(report, indent=2))
    window.document.undo_stack.setClean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
