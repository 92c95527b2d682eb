"""Fixtures for the editor's tests: throw-away settings, a window on the sample, real mouse gestures.

Qt runs offscreen (tests/conftest.py); `random_weights_dir` (tests/conftest.py) gives small random models.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtTest import QTest

# QSettings() anywhere in the app must never touch the developer's real configuration
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="facestudio-qsettings-"))

REPO = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO / "resources" / "weights"


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "facestudio.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    """A shown 1280x800 editor on the embedded sample; closed without prompts afterwards."""
    from facestudio.gui.main_window import MainWindow

    win = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(win, before_close_func=lambda w: w.document.undo_stack.setClean())
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    win.open_sample(ask=False)
    return win


def viewport_point(canvas, x: float, y: float) -> QPoint:
    """The viewport pixel that shows image pixel (x, y) (its centre)."""
    pos = canvas.viewport_pos(QPointF(x + 0.5, y + 0.5))
    return QPoint(int(np.floor(pos.x())), int(np.floor(pos.y())))


def drag(canvas, points: list[tuple[float, float]], button=Qt.MouseButton.LeftButton,
         modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at the first image point, move through the others, release at the last: one real gesture."""
    viewport = canvas.viewport()
    first = viewport_point(canvas, *points[0])
    QTest.mousePress(viewport, button, modifiers, first)
    for x, y in points[1:]:
        QTest.mouseMove(viewport, viewport_point(canvas, x, y))
    QTest.mouseRelease(viewport, button, modifiers, viewport_point(canvas, *points[-1]))
