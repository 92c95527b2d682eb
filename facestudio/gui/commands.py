"""Undoable edits of a Document. Each command stores only the rectangle it changed (old and new pixels).

A brush stroke on a 24-megapixel photo touches a few hundred thousand pixels; storing whole copies of
the mask per step would eat gigabytes within minutes. `Patch` keeps the changed box only, and
`MaskStrokeRecorder` saves the mask's old values tile by tile, the first time a stroke touches a tile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QUndoCommand

from facestudio.gui.document import Document, FaceBox
from facestudio.steps import Figures


@dataclass(frozen=True)
class Patch:
    """Old and new values of one rectangle of a layer (mask HxW or image HxWx3)."""

    x: int
    y: int
    before: np.ndarray
    after: np.ndarray

    @property
    def rect(self) -> QRect:
        return QRect(self.x, self.y, self.before.shape[1], self.before.shape[0])

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes

    @classmethod
    def between(cls, before: np.ndarray, after: np.ndarray, within: QRect | None = None) -> Patch | None:
        """The smallest patch turning `before` into `after` (whole layers), or None when equal.

        `within` limits the search to a rectangle already known to hold every change.
        """
        x0, y0 = 0, 0
        if within is not None:
            x0, y0 = within.x(), within.y()
            window = np.s_[y0:y0 + within.height(), x0:x0 + within.width()]
            before, after = before[window], after[window]
        changed = before != after
        if changed.ndim == 3:
            changed = changed.any(axis=2)
        rows = np.flatnonzero(changed.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(changed[rows[0]:rows[-1] + 1].any(axis=0))
        box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        return cls(x0 + int(cols[0]), y0 + int(rows[0]), before[box].copy(), after[box].copy())


class MaskStrokeRecorder:
    """Remembers the mask's values under a stroke before the stroke paints over them.

    Call `before_paint(rect)` before each segment is drawn into the mask in place; `finish()` gives
    the patch of the whole stroke (None if nothing changed).
    """

    TILE = 128

    def __init__(self, mask: np.ndarray) -> None:
        self._mask = mask
        self._saved: dict[tuple[int, int], np.ndarray] = {}
        self._box: QRect = QRect()

    def before_paint(self, rect: QRect) -> None:
        rect = rect.intersected(QRect(0, 0, self._mask.shape[1], self._mask.shape[0]))
        if rect.isEmpty():
            return
        self._box = self._box.united(rect) if not self._box.isEmpty() else QRect(rect)
        t = self.TILE
        for ty in range(rect.top() // t, rect.bottom() // t + 1):
            for tx in range(rect.left() // t, rect.right() // t + 1):
                if (tx, ty) not in self._saved:
                    self._saved[(tx, ty)] = self._mask[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t].copy()

    def finish(self) -> Patch | None:
        if self._box.isEmpty():
            return None
        x0, y0, x1, y1 = self._box.left(), self._box.top(), self._box.right() + 1, self._box.bottom() + 1
        after = self._mask[y0:y1, x0:x1]
        before = after.copy()
        t = self.TILE
        for (tx, ty), tile in self._saved.items():
            # the tile's overlap with the box, in mask coordinates
            ox0, oy0 = max(x0, tx * t), max(y0, ty * t)
            ox1, oy1 = min(x1, tx * t + tile.shape[1]), min(y1, ty * t + tile.shape[0])
            if ox0 < ox1 and oy0 < oy1:
                before[oy0 - y0:oy1 - y0, ox0 - x0:ox1 - x0] = tile[oy0 - ty * t:oy1 - ty * t, ox0 - tx * t:ox1 - tx * t]
        self._saved.clear()
        return _offset(Patch.between(before, after), x0, y0)


def _offset(patch: Patch | None, dx: int, dy: int) -> Patch | None:
    return None if patch is None else Patch(patch.x + dx, patch.y + dy, patch.before, patch.after)


class _AppliedCommand(QUndoCommand):
    """A command whose change is already in the document when it is pushed (live tools, worker results).

    QUndoStack.push calls redo() once; that first call must not apply the change a second time.
    """

    def __init__(self, document: Document, text: str) -> None:
        super().__init__(text)
        self.document = document
        self._pushed = False

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        self.apply(forward=True)

    def undo(self) -> None:
        self.apply(forward=False)

    def apply(self, forward: bool) -> None:
        raise NotImplementedError


class MaskEdit(_AppliedCommand):
    """A change of the mask layer: one brush stroke, a rectangle, a lasso, a fill, an import..."""

    def __init__(self, document: Document, text: str, patch: Patch) -> None:
        super().__init__(document, text)
        self.patch = patch

    def apply(self, forward: bool) -> None:
        p = self.patch
        self.document.write_mask(p.x, p.y, p.after if forward else p.before)


class ImageEdit(_AppliedCommand):
    """An engine step (inpaint, auto-fix, detect): the changed image box, mask box, faces and its figures."""

    def __init__(self, document: Document, text: str, image_patch: Patch | None, mask_patch: Patch | None,
                 faces_before: list[FaceBox] | None = None, faces_after: list[FaceBox] | None = None,
                 figures: Figures | None = None) -> None:
        super().__init__(document, text)
        self.image_patch = image_patch
        self.mask_patch = mask_patch
        self.faces_before = faces_before
        self.faces_after = faces_after
        self.figures = figures

    def apply(self, forward: bool) -> None:
        if self.image_patch is not None:
            p = self.image_patch
            self.document.write_image(p.x, p.y, p.after if forward else p.before)
        if self.mask_patch is not None:
            p = self.mask_patch
            self.document.write_mask(p.x, p.y, p.after if forward else p.before)
        faces = self.faces_after if forward else self.faces_before
        if faces is not None:
            self.document.set_faces(faces)


class FaceBoxEdit(_AppliedCommand):
    """Faces added, moved, resized or removed by hand."""

    def __init__(self, document: Document, text: str, before: list[FaceBox], after: list[FaceBox]) -> None:
        super().__init__(document, text)
        self.before, self.after = list(before), list(after)

    def apply(self, forward: bool) -> None:
        self.document.set_faces(self.after if forward else self.before)


def push_mask_change(document: Document, text: str, before: np.ndarray, within: QRect | None = None) -> bool:
    """Record a whole-mask operation already applied in place (before = the old mask). False if no change."""
    patch = Patch.between(before, document.mask, within)
    if patch is None:
        return False
    document.notify_mask_changed(patch.rect)
    document.undo_stack.push(MaskEdit(document, text, patch))
    return True


def apply_engine_result(document: Document, text: str, image: np.ndarray | None, mask: np.ndarray | None,
                        faces: list[FaceBox] | None, figures: Figures | None) -> ImageEdit | None:
    """Write an engine result into the document as one undo step; None when it changed nothing."""
    image_patch = Patch.between(document.image, image) if image is not None else None
    mask_patch = Patch.between(document.mask, mask) if mask is not None else None
    faces_before = document.faces if faces is not None else None
    if image_patch is None and mask_patch is None and (faces is None or faces == faces_before) and figures is None:
        return None
    command = ImageEdit(document, text, image_patch, mask_patch, faces_before, faces, figures)
    command.apply(forward=True)
    document.undo_stack.push(command)
    return command
