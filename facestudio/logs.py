"""Where FaceStudio keeps its log: a rotating file in the user's log folder, crashes included.

`setup_logging()` (the CLI calls it for every command) sends the engine's and the editor's `logging`
records to `<log folder>/facestudio.log` (1 MB, three old files kept) and, for a crash in native
code, `faulthandler`'s stack dump to `crash.log` beside it, so even a segfault leaves a trace.
The folder is $FACESTUDIO_LOG_DIR, else the platform's user log folder.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOG_ENV = "FACESTUDIO_LOG_DIR"
LOG_FILE = "facestudio.log"
CRASH_FILE = "crash.log"
FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"

_installed: dict[str, object] = {}


def log_dir() -> Path:
    override = os.environ.get(LOG_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "facestudio" / "Logs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "FaceStudio"
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "facestudio"


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log `facestudio.*` records to the rotating file (once per process); returns its path, or None
    when the folder cannot be written (the app runs on without a log)."""
    if "handler" in _installed:
        return _installed["path"]  # type: ignore[return-value]
    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(folder / LOG_FILE, maxBytes=1_000_000, backupCount=3,
                                                       encoding="utf-8")
        crash = open(folder / CRASH_FILE, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("facestudio")
    logger.addHandler(handler)
    logger.setLevel(min(level, logger.level or level))
    if not faulthandler.is_enabled() or sys.stderr is None:
        faulthandler.enable(file=crash, all_threads=True)
    _installed.update(handler=handler, path=folder / LOG_FILE, crash=crash)
    logger.info("FaceStudio started (pid %s, %s)", os.getpid(), " ".join(sys.argv[:3]))
    return folder / LOG_FILE
