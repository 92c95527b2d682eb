"""Autosave of the open document and its recovery after a crash.

Every minute, while the document has changes that are not on disk, the editor writes the photo as
opened, the edited photo, the mask, the face boxes and the history position into a folder of its
own under the user cache (`<cache>/autosave/<pid>/`). A clean exit, a save or a discard removes
it. At the next start, a folder whose process is gone is work that a crash (or a kill) left
behind: the editor offers to recover it, as the opened photo plus one undo step to the edited one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facestudio.imageio import atomic_write, read_image, read_mask, write_image

CACHE_ENV = "FACESTUDIO_CACHE"
SESSION_FILE = "session.json"
INTERVAL_MS = 60_000


def default_autosave_root() -> Path:
    """<user cache>/facestudio/autosave, or $FACESTUDIO_CACHE/autosave."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser() / "autosave"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "facestudio" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "facestudio"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facestudio"
    return base / "autosave"


@dataclass(frozen=True)
class Snapshot:
    """What an autosave holds."""

    original: np.ndarray
    image: np.ndarray
    mask: np.ndarray
    faces: list[dict]
    path: str | None
    name: str
    history: list[str]  # the undo steps' names up to the current position
    saved_at: float

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))


class Autosave:
    """This process's autosave folder under `root`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_autosave_root()
        self.folder = self.root / str(os.getpid())

    def write(self, snapshot: Snapshot) -> None:
        """Write the snapshot; each file atomically, the session file last (a snapshot without it is ignored)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / SESSION_FILE).unlink(missing_ok=True)
        write_image(self.folder / "original.png", snapshot.original)
        write_image(self.folder / "image.png", snapshot.image)
        write_image(self.folder / "mask.png", snapshot.mask)
        session = {"pid": os.getpid(), "path": snapshot.path, "name": snapshot.name, "faces": snapshot.faces,
                   "history": snapshot.history, "saved_at": snapshot.saved_at}
        atomic_write(self.folder / SESSION_FILE, json.dumps(session, indent=1))

    def clear(self) -> None:
        """Nothing unsaved any more (saved, discarded or closed cleanly)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def left_behind(self) -> list[Path]:
        """Autosave folders of editors that are no longer running, newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if folder == self.folder or not (folder / SESSION_FILE).is_file():
                continue
            if folder.name.isdigit() and _running(int(folder.name)):
                continue
            found.append(folder)
        return sorted(found, key=lambda folder: (folder / SESSION_FILE).stat().st_mtime, reverse=True)


def read_snapshot(folder: Path) -> Snapshot:
    """The snapshot in `folder`; ImageReadError, OSError or ValueError when it is damaged."""
    session = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
    image = read_image(folder / "image.png")
    original = read_image(folder / "original.png")
    mask = read_mask(folder / "mask.png", image.shape)
    if original.shape != image.shape:
        raise ValueError(f"{folder}: the autosaved photos differ in size")
    return Snapshot(original, image, mask, list(session.get("faces") or []), session.get("path"),
                    str(session.get("name") or "recovered"), list(session.get("history") or []),
                    float(session.get("saved_at") or 0.0))


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate it there
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that number: not ours, but alive
        return True
    except OSError:
        return False
    return True
