"""Atomic writes: the target holds the old content or the new, never a part; no temporary file stays behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facestudio.atomic import atomic_write


def test_bytes_text_and_writer_callables_are_written(tmp_path: Path) -> None:
    assert atomic_write(tmp_path / "a.bin", b"\x00\x01") == tmp_path / "a.bin"
    atomic_write(tmp_path / "b.txt", "naïve\r\nline\n")
    atomic_write(tmp_path / "c.bin", lambda stream: stream.write(b"written"))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_bytes() == "naïve\r\nline\n".encode("utf-8")  # newlines as given
    assert (tmp_path / "c.bin").read_bytes() == b"written"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.txt", "c.bin"]
    assert ((tmp_path / "a.bin").stat().st_mode & 0o777) != 0o600  # a plain file's mode, not mkstemp's


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.pt"
    target.write_bytes(b"old")

    def half_then_fail(stream) -> None:
        stream.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["state.pt"]
