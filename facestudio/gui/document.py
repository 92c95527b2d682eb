"""The edited photo as state: image and mask layers, face boxes, the reference, the reference photo
and the undo stack.

Two different things: the *reference* (`Reference`) is a clean copy of this very photo that results
are scored against; the *reference photo* (`ReferencePhotoChoice`) is another photo of the person
that guides the fill (facestudio.references).

The document draws nothing. Commands change it through `write_image`, `write_mask` and `set_faces`;
views listen to its signals, which name the changed rectangle so a 24-megapixel photo repaints only
what moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QUndoStack

UNDO_LIMIT = 200


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in image pixels; `score` is None for a box drawn by hand."""

    x: float
    y: float
    w: float
    h: float
    score: float | None = None
    # The detector's five landmarks ((x, y) x 5, image px) while the box is as it found it: the face is
    # aligned by them (a tilted head), so a later step need not run the detector again to get them.
    landmarks: tuple[tuple[float, float], ...] | None = None

    def moved(self, dx: float, dy: float) -> FaceBox:
        landmarks = None if self.landmarks is None else tuple((x + dx, y + dy) for x, y in self.landmarks)
        return FaceBox(self.x + dx, self.y + dy, self.w, self.h, self.score, landmarks)

    def resized(self, w: float, h: float) -> FaceBox:
        """A box of a new size: the detector's landmarks no longer belong to it."""
        return FaceBox(self.x, self.y, max(1.0, w), max(1.0, h), self.score)


@dataclass(frozen=True)
class Reference:
    """A clean photo to score results against, and optionally the true mask of its occlusion."""

    image: np.ndarray                    # HxWx3 uint8 RGB, same size as the document
    true_mask: np.ndarray | None = None  # HxW uint8, 255 = truly occluded
    name: str = "reference"


@dataclass(frozen=True)
class ReferencePhotoChoice:
    """Another photo of the person, chosen to guide fills: the prepared reference photo (a
    facestudio.references.ReferencePhoto: `.name`, `.crop(size)`), its file, and whether each face of
    the photo is that person (steps.FaceIdentity per face; `note` says why when not measured)."""

    photo: Any
    path: Path
    identity: tuple = ()
    note: str = ""

    @property
    def name(self) -> str:
        return str(self.photo.name)

    @property
    def different_person(self) -> bool:
        """True when some face of the photo is measured as not the reference's person."""
        return any(not face.same for face in self.identity)

    def verdict(self) -> str:
        """The identity verdict in words, a warning first when the reference shows someone else."""
        several = len(self.identity) > 1
        lines = [f"Same person{f' (face {number})' if several else ''}: {face.verdict()}"
                 for number, face in enumerate(self.identity, 1)]
        if not self.identity:
            lines = [f"Same person: {self.note or 'not measured'}"]
        if getattr(self.photo, "eyes_covered", False):
            lines.append("Its eyes are covered (sunglasses?): fills cannot take the eyes from it. "
                         "A photo that shows them guides the eyes too.")
        if self.different_person:
            lines.insert(0, "Warning: the reference photo shows a different person. Fills will still use it: "
                            "clear it if it is the wrong photo.")
        return "\n".join(lines)


class Document(QObject):
    """One photo being edited. Every change goes through `undo_stack` so it can be undone."""

    reset = Signal()                 # a different photo (or size) replaced everything
    image_changed = Signal(QRect)    # pixels of the photo changed inside the rect
    mask_changed = Signal(QRect)     # mask values changed inside the rect
    faces_changed = Signal()
    reference_changed = Signal()
    reference_photo_changed = Signal()
    path_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self._image = np.zeros((1, 1, 3), np.uint8)
        self._original = self._image
        self._mask = np.zeros((1, 1), np.uint8)
        self._faces: list[FaceBox] = []
        self._path: Path | None = None
        self._save_target: Path | None = None
        self._name = "untitled"
        self._reference: Reference | None = None
        self._reference_photo: ReferencePhotoChoice | None = None

    # --- whole-document changes (not undoable: they start a new editing session) ---

    def load(self, image: np.ndarray, path: Path | None = None, name: str | None = None,
             reference: Reference | None = None) -> None:
        """Replace the photo, clear mask, faces and history."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
        self.undo_stack.clear()
        self._image = np.ascontiguousarray(image).copy()
        self._original = self._image.copy()
        self._original.setflags(write=False)
        self._mask = np.zeros(image.shape[:2], np.uint8)
        self._faces = []
        self._path = path
        self._save_target = None  # Save asks where the first time: never the opened file behind the user's back
        self._name = name or (path.name if path else "untitled")
        self._reference = None
        self.set_reference(reference)
        self.set_reference_photo(None)  # it was compared with the faces of the photo it was chosen for
        self.undo_stack.setClean()
        self.reset.emit()
        self.path_changed.emit()

    def set_reference(self, reference: Reference | None) -> None:
        """Attach a clean reference (and true mask) so engine steps are scored against it."""
        if reference is not None:
            if reference.image.shape != self._image.shape:
                raise ValueError(f"reference is {reference.image.shape[1]}x{reference.image.shape[0]}, "
                                 f"the photo is {self.width}x{self.height}")
            if reference.true_mask is not None and reference.true_mask.shape != self._mask.shape:
                raise ValueError("the true mask does not have the photo's size")
        self._reference = reference
        self.reference_changed.emit()

    def set_reference_photo(self, choice: ReferencePhotoChoice | None) -> None:
        """Guide later fills with another photo of the person (None: no reference photo). Not an undo step."""
        self._reference_photo = choice
        self.reference_photo_changed.emit()

    def mark_saved(self, path: Path) -> None:
        """The image now lives at `path` (where Save writes from now on): the current state is the clean one."""
        self._path = path
        self._save_target = path
        self._name = path.name
        self.undo_stack.setClean()
        self.path_changed.emit()

    # --- fine-grained changes, used by commands ---

    def write_mask(self, x: int, y: int, patch: np.ndarray) -> None:
        """Copy `patch` into the mask at (x, y) and announce the changed rectangle."""
        h, w = patch.shape[:2]
        self._mask[y:y + h, x:x + w] = patch
        self.mask_changed.emit(QRect(x, y, w, h))

    def write_image(self, x: int, y: int, patch: np.ndarray) -> None:
        """Copy `patch` (hxwx3) into the photo at (x, y) and announce the changed rectangle."""
        h, w = patch.shape[:2]
        self._image[y:y + h, x:x + w] = patch
        self.image_changed.emit(QRect(x, y, w, h))

    def notify_mask_changed(self, rect: QRect) -> None:
        """A tool painted into `mask` in place (live stroke feedback); tell the views."""
        if not rect.isEmpty():
            self.mask_changed.emit(rect)

    def set_faces(self, faces: list[FaceBox]) -> None:
        self._faces = list(faces)
        self.faces_changed.emit()

    # --- read access ---

    @property
    def image(self) -> np.ndarray:
        """The current photo, HxWx3 uint8 RGB. Change it only through commands."""
        return self._image

    @property
    def original(self) -> np.ndarray:
        """The photo as it was opened (read-only), for before/after."""
        return self._original

    @property
    def mask(self) -> np.ndarray:
        """The mask layer, HxW uint8, 255 = hole. Tools paint into it in place during a stroke."""
        return self._mask

    @property
    def faces(self) -> list[FaceBox]:
        return list(self._faces)

    @property
    def reference(self) -> Reference | None:
        return self._reference

    @property
    def reference_photo(self) -> ReferencePhotoChoice | None:
        return self._reference_photo

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def save_target(self) -> Path | None:
        """Where Save writes without asking: a file the user chose this session (Save As), else None."""
        return self._save_target

    @property
    def name(self) -> str:
        return self._name

    @property
    def width(self) -> int:
        return int(self._image.shape[1])

    @property
    def height(self) -> int:
        return int(self._image.shape[0])

    @property
    def bounds(self) -> QRect:
        return QRect(0, 0, self.width, self.height)

    @property
    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def hole_mask(self) -> np.ndarray:
        """The mask as the engine wants it: 255 where the value is at least half, else 0."""
        return np.where(self._mask >= 128, 255, 0).astype(np.uint8)
