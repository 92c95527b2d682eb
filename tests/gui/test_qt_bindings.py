"""The Qt bindings must keep Python's reference counts: the editor makes millions of calls per session."""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QGraphicsRectItem


class _Emitter(QObject):
    ping = Signal(int)


def test_void_calls_and_emits_do_not_drain_none_or_true(qapp):
    # PySide6 6.12.0's wheels do not take a reference to the None/True they return on Python < 3.12,
    # so an editing session dies with "Fatal Python error: none_dealloc" after a minute of painting.
    item, emitter = QGraphicsRectItem(), _Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(40):
        item.setVisible(True)
        emitter.ping.emit(1)
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    assert lost_none < 20 and lost_true < 20, (
        f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} loses a reference per call "
        f"(None: {lost_none}, True: {lost_true} in 40 calls): use PySide6-Essentials 6.11.3 or Python >= 3.12")
