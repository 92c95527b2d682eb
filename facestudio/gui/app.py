"""Start the editor: `run()` is what `facestudio gui` calls.

With `screenshot`, the window is rendered after the photo is loaded (and after auto-fix, waiting for
the worker, when asked), saved as a PNG, and the app exits: for the README and for checks.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from facestudio.gui.main_window import APP_NAME, MainWindow, app_icon

ORGANISATION = "FaceStudio"
SCREENSHOT_SIZE = (1440, 900)
AUTO_FIX_TIMEOUT_MS = 15 * 60 * 1000


def application() -> QApplication:
    """The process's QApplication, created once with FaceStudio's names (QSettings uses them)."""
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANISATION)
        QCoreApplication.setApplicationName(APP_NAME)
        app = QApplication(sys.argv[:1])
        app.setWindowIcon(app_icon())
        sys.excepthook = _log_unhandled
    return app  # type: ignore[return-value]


def _log_unhandled(kind, error, trace) -> None:
    """An exception no slot caught: into the log with its traceback (then Python's own report)."""
    logging.getLogger("facestudio.gui").critical("unhandled exception", exc_info=(kind, error, trace))
    sys.__excepthook__(kind, error, trace)


def create_window(image: str | None = None, device: str | None = None, settings: QSettings | None = None,
                  weights_dir: Path | None = None, detector: str = "auto") -> MainWindow:
    """A shown window with `image` open, or the embedded sample when there is none (or it cannot be read)."""
    application()
    window = MainWindow(settings=settings, device=device, weights_dir=weights_dir, detector=detector)
    window.show()
    if image is None or not window.open_path(image, ask=False):
        window.open_sample(ask=False)
    return window


def wait_for_job(window: MainWindow, timeout_ms: int = AUTO_FIX_TIMEOUT_MS) -> bool:
    """Process events until the window's running job ends; False on timeout."""
    manager = window.manager
    if not manager.is_busy():
        return True
    loop = QEventLoop()
    manager.busy_changed.connect(lambda busy: loop.quit() if not busy else None)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(timeout_ms)
    loop.exec()
    return not manager.is_busy()


def save_screenshot(window: MainWindow, path: str | Path) -> Path:
    """Render the whole window (menus, docks, canvas) to an image file."""
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(target)):
        raise OSError(f"{target}: could not write the screenshot (unknown image extension?)")
    return target


def run(image: str | None = None, auto_fix: bool = False, screenshot: str | None = None,
        device: str | None = None, detector: str = "auto") -> int:
    """Open the editor on `image` (or the sample) and run the event loop; returns the exit code."""
    app = application()
    window = create_window(image, device, detector=detector)
    if screenshot is None:
        QTimer.singleShot(0, window.offer_recovery)  # work a crashed editor left behind
        if auto_fix:
            QTimer.singleShot(0, window.auto_fix)
        return app.exec()

    window.resize(*SCREENSHOT_SIZE)
    window.canvas.fit()
    code = 0
    if auto_fix:
        window.auto_fix()
        if not wait_for_job(window):
            print(f"{screenshot}: auto-fix did not finish in time", file=sys.stderr)
            code = 1
        elif window.last_error:
            print(window.last_error, file=sys.stderr)
            code = 1
    try:
        saved = save_screenshot(window, screenshot)
        print(f"screenshot: {saved}")
    except OSError as error:
        print(error, file=sys.stderr)
        code = 1
    window.document.undo_stack.setClean()  # a screenshot run must not ask to save
    window.close()
    return code


if __name__ == "__main__":
    sys.exit(run(*(sys.argv[1:2] or [None])))
