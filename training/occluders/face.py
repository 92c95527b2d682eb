"""Face geometry from dlib's 68 landmarks, in a frame that occluders are designed in.

Painters place things in *face units*: the origin is the midpoint of the eye centres, x runs
from the image-left eye to the image-right eye, y points down the face, and one unit is the
distance between the eye centres. Designing in this frame makes every occluder follow the face's
position, size and roll in any image, whatever its size. On an average UTK face the landmarks
sit at roughly: brows y -0.33, nose tip (0, 0.53), mouth corners (+-0.47, 0.95),
chin (0, 1.68), jaw ends (+-1.1, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JAW = slice(0, 17)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)
NOSE_BRIDGE_TOP, NOSE_TIP, CHIN = 27, 30, 8


@dataclass(frozen=True)
class FaceGeometry:
    """Where a face is in an image: `landmarks` (68x2 float64 image px) plus the face frame."""

    landmarks: np.ndarray
    origin: np.ndarray  # midpoint of the eye centres, image px
    axis_x: np.ndarray  # unit vector, image-left eye -> image-right eye
    axis_y: np.ndarray  # unit vector down the face (axis_x turned 90 degrees clockwise on screen)
    unit: float  # distance between the eye centres, image px
    image_shape: tuple[int, int]  # (height, width) of the image the landmarks belong to
    linear: np.ndarray  # 2x2, face units -> image px (columns: axis_x, axis_y, times unit)

    @classmethod
    def from_landmarks(cls, landmarks68: np.ndarray, image_shape: tuple[int, ...]) -> FaceGeometry:
        """Build the frame; raises ValueError for landmarks that are not 68x2 or not a face."""
        points = np.asarray(landmarks68, dtype=np.float64)
        if points.shape != (68, 2) or not np.all(np.isfinite(points)):
            raise ValueError(f"landmarks68 must be a finite 68x2 array, got shape {points.shape}")
        left_eye = points[LEFT_EYE].mean(axis=0)
        right_eye = points[RIGHT_EYE].mean(axis=0)
        across = right_eye - left_eye
        unit = float(np.hypot(*across))
        if unit < 2.0:
            raise ValueError(f"landmarks68: eye centres are {unit:.2f} px apart, too close to place occluders")
        axis_x = across / unit
        axis_y = np.array([-axis_x[1], axis_x[0]])
        if (points[MOUTH].mean(axis=0) - (left_eye + right_eye) / 2) @ axis_y <= 0:
            raise ValueError(
                "landmarks68 are mirrored (the mouth is on the wrong side of the eye line): after flipping "
                "an image, reorder its landmarks to dlib's 68-point order too"
            )
        linear = unit * np.stack([axis_x, axis_y], axis=1)
        shape = (int(image_shape[0]), int(image_shape[1]))
        return cls(points, (left_eye + right_eye) / 2, axis_x, axis_y, unit, shape, linear)

    @property
    def roll(self) -> float:
        """Angle of the eye line in radians (image coordinates: positive = clockwise on screen)."""
        return float(np.arctan2(self.axis_x[1], self.axis_x[0]))

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Face-unit points (...x2) -> image px (...x2, float64)."""
        return np.asarray(points, dtype=np.float64) @ self.linear.T + self.origin

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """Image px (...x2) -> face units (...x2)."""
        relative = (np.asarray(points, dtype=np.float64) - self.origin) / self.unit
        return np.stack([relative @ self.axis_x, relative @ self.axis_y], axis=-1)

    def landmark(self, index: int) -> np.ndarray:
        """One landmark in face units."""
        return self.to_face(self.landmarks[index])

    def face_landmarks(self) -> np.ndarray:
        """All 68 landmarks in face units."""
        return self.to_face(self.landmarks)

    def jaw_point_at(self, height: float, side: int) -> np.ndarray:
        """Face-unit point of the jaw contour at face height `height` on `side` (-1 image-left,
        +1 image-right), interpolated along the contour (clamped to its ends)."""
        jaw = self.face_landmarks()[JAW]
        half = jaw[:9] if side < 0 else jaw[8:][::-1]  # from the top of the contour down to the chin
        heights = np.maximum.accumulate(half[:, 1])  # monotonic for np.interp even on odd landmarks
        x = np.interp(height, heights, half[:, 0])
        return np.array([x, float(np.clip(height, heights[0], heights[-1]))])

    def yaw_ratio(self) -> float:
        """Where the upper nose bridge sits between the two sides of the jaw at its height: 0.5 for
        a frontal face, lower when the nose is nearer the image-left side (head turned that way)."""
        face = self.face_landmarks()
        bridge = face[NOSE_BRIDGE_TOP + 1]
        left = self.jaw_point_at(bridge[1], -1)
        right = self.jaw_point_at(bridge[1], +1)
        width = right[0] - left[0]
        return float(np.clip((bridge[0] - left[0]) / width, 0.0, 1.0)) if width > 1e-6 else 0.5

    def pixel_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) HxW float32: every pixel of the image in face units (for shading and patterns
        that follow the face, e.g. a scarf's folds)."""
        height, width = self.image_shape
        xs = (np.arange(width, dtype=np.float32) - np.float32(self.origin[0]))[None, :]
        ys = (np.arange(height, dtype=np.float32) - np.float32(self.origin[1]))[:, None]
        inverse = np.float32(1.0 / self.unit)
        ax, ay = self.axis_x.astype(np.float32) * inverse, self.axis_y.astype(np.float32) * inverse
        return xs * ax[0] + ys * ax[1], xs * ay[0] + ys * ay[1]
