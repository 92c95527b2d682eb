"""`Face`, one face in a photo (box and five landmarks), on its own.

Both detectors make Faces: the Haar one in `facestudio.faces` and the learned one in `facestudio.detection`,
which `faces.build_face_detector` loads. Keeping the record in a module that imports neither lets detection.py
use it without importing faces.py back. Import it from `facestudio.faces` (or `facestudio`), its public home.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facestudio.alignment import BOX_RELATIVE_LANDMARKS

Box = tuple[int, int, int, int]  # x, y, width, height in photo pixels


@dataclass(eq=False)
class Face:
    """One face in a photo: its box, five landmarks (see alignment.py), confidence and who found it.

    `Face(box=(x, y, w, h))` is a face known only by its box (one a person drew): its landmarks are
    then estimated from the box the way Haar faces get theirs (`landmarks_from_box`).
    """

    box: Box
    landmarks: np.ndarray | None = None  # 5x2 float32, photo pixels
    score: float = 1.0
    source: str = "box"

    def __post_init__(self) -> None:
        values = [float(value) for value in self.box]
        if not all(np.isfinite(values)):
            raise ValueError(f"a face box is (x, y, width, height) in finite numbers, got {tuple(values)}")
        self.box = tuple(int(round(value)) for value in values)  # type: ignore[assignment]
        if len(self.box) != 4 or self.box[2] <= 0 or self.box[3] <= 0:
            raise ValueError(f"a face box is (x, y, width, height) with a positive size, got {self.box}")
        if self.landmarks is None:
            self.landmarks = landmarks_from_box(self.box)
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2)
        self.score = float(self.score)

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def as_dict(self) -> dict[str, object]:
        """Plain-Python view for JSON reports."""
        return {
            "box": list(self.box),
            "landmarks": self.landmarks.round(2).tolist(),
            "score": round(self.score, 4),
            "source": self.source,
        }


def landmarks_from_box(box: Box | np.ndarray) -> np.ndarray:
    """Five landmarks (5x2 float32) estimated from a Haar-style box (x, y, w, h)."""
    x, y, width, height = (float(value) for value in box)
    return (BOX_RELATIVE_LANDMARKS * np.float32([width, height]) + np.float32([x, y])).astype(np.float32)
