"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

Photos, checkpoints, reports, manifests, training states and the editor's autosave are all written this one
way. The temporary file sits in the target's own folder (a rename is atomic only within one file system) and is
named ".<name>.<8 random characters>.tmp", the pattern facestudio.batch's start-of-run cleanup recognises; it is
flushed and fsynced before `os.replace` puts it in place, and removed when anything fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Content = bytes | str | Callable[[BinaryIO], object]


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which is not safe while other threads create files.
_UMASK = _current_umask()


def atomic_write(path: str | os.PathLike[str], content: Content, *, encoding: str = "utf-8") -> Path:
    """Write `content` to `path` atomically and return the path.

    `content` is bytes, a str (encoded with `encoding`, newlines as given), or a callable that writes to the
    binary file object it is passed (e.g. `lambda stream: torch.save(payload, stream)`). The folder must
    exist. The file gets the permissions a plain `open(path, "w")` would give (0666 less the umask), not
    mkstemp's 0600. Errors (OSError from the disk, anything the callable raises) propagate unchanged after
    the temporary file is removed.
    """
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content.encode(encoding) if isinstance(content, str) else content)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
    return target
