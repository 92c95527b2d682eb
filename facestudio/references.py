"""Reference photos: another photo of the person whose face is being fixed.

A fill that has never seen the person cannot know their eyes; another photo of them can. A
`ReferencePhoto` is prepared once (`Pipeline.reference(image)`: its largest face found, its identity
vector, its aligned crops made on demand) and then guides any number of fills: the generator is
conditioned on the reference's identity vector instead of the occluded face's, and a reference
generator (`InpaintGenerator(reference=True)`) also sees the reference's aligned crop.

`match_references` gives each face of a photo the reference of the closest person, or none when no
reference is close enough to be the same person: a fill guided by someone else's face is worse than
none, so a face is never matched on closeness alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from facestudio.face import Face
from facestudio.faces import face_crop
from facestudio.identity.encoder_backend import ENCODER_THRESHOLD


# The eyes' part of the canonical crop (rows, columns as shares of its side; eyes at 0.30 of its height),
# and the share of it covered above which a reference's eyes count as covered.
EYE_REGION = ((0.2, 0.42), (0.15, 0.85))
EYES_COVERED = 0.3


class NoReferenceFaceError(ValueError):
    """The reference photo shows no face the detector finds."""


@dataclass(eq=False)
class ReferencePhoto:
    """A reference photo prepared for fills: `face` in `image`, its unit identity `vector`, and
    `occluded`, what covers that face (a square bool mask of its canonical crop), which is not copied.

    `name` says where it came from (a file name), for reports and the editor.
    """

    image: np.ndarray = field(repr=False)
    face: Face
    vector: np.ndarray = field(repr=False)
    name: str = "reference"
    occluded: np.ndarray | None = field(default=None, repr=False)  # what covers its face, in its canonical crop
    _crops: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def crop(self, size: int) -> np.ndarray:
        """The reference face's aligned `size` px crop (HxWx3 uint8), the geometry the generator's crops have."""
        if size not in self._crops:
            self._crops[size] = face_crop(self.image, self.face, size).image
        return self._crops[size]

    @property
    def eyes_covered(self) -> bool:
        """Whether something covers the reference's own eyes (its sunglasses, a hand): then it cannot give
        the fill the person's eyes, and the editor says so."""
        if self.occluded is None:
            return False
        side = self.occluded.shape[0]
        (top, bottom), (left, right) = ((int(round(a * side)), int(round(b * side))) for a, b in EYE_REGION)
        return float(self.occluded[top:bottom, left:right].mean()) > EYES_COVERED

    def occlusion(self, size: int) -> np.ndarray | None:
        """What covers the reference's own face (glasses, a hand) in its `size` px crop (HxW bool), or None."""
        if self.occluded is None:
            return None
        plane = cv2.resize(self.occluded.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
        return plane > 0


@dataclass(eq=False)
class ReferenceGallery:
    """Reference photos of several people (e.g. a folder of them): each face of a photo takes the one of
    its own person (`match_references`), or none."""

    references: list[ReferencePhoto]
    threshold: float = ENCODER_THRESHOLD

    def match(self, face_vectors: np.ndarray) -> list[ReferencePhoto | None]:
        return match_references(face_vectors, self.references, self.threshold)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine of two unit vectors (0 = the same vector, up to 2)."""
    return float(1.0 - np.clip(np.dot(a, b), -1.0, 1.0))


def match_references(
    face_vectors: np.ndarray, references: Sequence[ReferencePhoto], threshold: float = ENCODER_THRESHOLD
) -> list[ReferencePhoto | None]:
    """For each face (rows of unit encoder vectors), the reference of the closest person whose cosine
    distance is within `threshold` (the encoder's calibrated same-person threshold), else None."""
    if not references:
        return [None] * len(face_vectors)
    table = np.stack([reference.vector for reference in references])
    matched: list[ReferencePhoto | None] = []
    for vector in np.asarray(face_vectors, dtype=np.float32):
        distances = 1.0 - table @ vector
        best = int(np.argmin(distances))
        matched.append(references[best] if distances[best] <= threshold else None)
    return matched
