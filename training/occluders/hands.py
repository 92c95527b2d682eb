"""Hands and fingers in front of the face, skin-toned (the face's own tone or a palette tone).

A hand is built in its own frame: wrist at the origin, fingers along +x, one unit from the wrist
to the middle fingertip. Palm, forearm and fingers are drawn as one anti-aliased silhouette,
shaded across the hand and darker towards its edges; finger outlines, creases and nails are
tinted on top so the fingers read as fingers. Poses: the back of a flat hand (over the mouth or
the eyes, from a side or from below) and a fist with some fingers raised (a finger on the lips,
a V sign, fingers on a cheek).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.occluders.assets import OccluderAssets
from training.occluders.canvas import (
    Canvas, blank, capsule_polygon, draw_polyline, ellipse_points, fill_polygons, gaussian_blur, gradient,
)
from training.occluders.colours import skin_tone
from training.occluders.face import FaceGeometry
from training.occluders.placement import cast_shadow, rotation

# Hand frame, index finger first: bases on the knuckle line; lengths and widths in hand lengths.
FINGER_BASES = np.array([[0.50, -0.165], [0.52, -0.055], [0.51, 0.055], [0.48, 0.16]])
FINGER_LENGTHS = np.array([0.44, 0.48, 0.45, 0.35])
FINGER_WIDTHS = np.array([0.105, 0.11, 0.105, 0.095])
FINGER_SPREAD = np.array([-0.07, -0.02, 0.03, 0.09])  # radians, fanned out
PALM = np.array(
    [[-0.02, -0.18], [0.25, -0.215], [0.5, -0.225], [0.54, -0.12], [0.55, 0.0], [0.53, 0.12], [0.5, 0.215],
     [0.3, 0.225], [-0.02, 0.19]]
)
FIST = np.array(
    [[-0.02, -0.19], [0.3, -0.23], [0.55, -0.21], [0.63, -0.1], [0.64, 0.05], [0.6, 0.18], [0.45, 0.23],
     [0.2, 0.22], [-0.02, 0.2]]
)
FOREARM = np.array([[-1.2, -0.21], [0.0, -0.18], [0.0, 0.19], [-1.2, 0.23]])
THUMB_BASE = np.array([0.14, -0.19])
FLAT_HAND = (True, True, True, True)


@dataclass
class HandPose:
    """Where a hand goes, in face units: hand point `anchor` lands on `target`; `angle` is the
    direction of the fingers in the face frame (0 = towards image-right, pi/2 = down)."""

    target: np.ndarray
    anchor: np.ndarray
    angle: float
    length: float  # wrist to middle fingertip, face units
    mirrored: bool  # thumb on the +y side of the hand frame instead of -y
    extended: tuple[bool, bool, bool, bool] = FLAT_HAND  # which fingers are straight
    fist: bool = False  # the other fingers curled into a fist (else they are left out)


def paint_hand_over_mouth(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """The back of a hand over the mouth, from a side or from below."""
    mirrored = bool(rng.random() < 0.5)
    if rng.random() < 0.65:
        angle = (0.0 if rng.random() < 0.5 else np.pi) + rng.normal(0.0, 0.3)
        target = np.array([rng.normal(0, 0.1), rng.uniform(0.85, 1.15)])
        pose = HandPose(target, np.array([0.6, 0.0]), angle, rng.uniform(2.0, 2.6), mirrored)
    else:
        angle = -np.pi / 2 + rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.6)
        target = np.array([rng.normal(0, 0.12), rng.uniform(0.9, 1.1)])
        pose = HandPose(target, np.array([0.62, 0.0]), angle, rng.uniform(1.9, 2.4), mirrored)
    draw_hand(canvas, face, rng, pose)


def paint_hand_over_eyes(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """A hand across both eyes from a side, or a hand over one eye with the fingers up."""
    mirrored = bool(rng.random() < 0.5)
    if rng.random() < 0.6:
        angle = (0.0 if rng.random() < 0.5 else np.pi) + rng.normal(0.0, 0.25)
        target = np.array([rng.normal(0, 0.1), rng.normal(0.0, 0.1)])
        pose = HandPose(target, np.array([0.62, 0.0]), angle, rng.uniform(2.0, 2.6), mirrored)
    else:
        target = np.array([rng.choice([-0.5, 0.5]) + rng.normal(0, 0.08), rng.uniform(-0.05, 0.15)])
        up = -np.pi / 2 + rng.normal(0.0, 0.3)
        pose = HandPose(target, np.array([0.5, 0.0]), up, rng.uniform(1.9, 2.4), mirrored)
    draw_hand(canvas, face, rng, pose)


def paint_fingers(
    canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, assets: OccluderAssets | None
) -> None:
    """Fingers rather than a whole hand: a finger on the lips, a V sign, fingers on a cheek."""
    choice = rng.random()
    length = rng.uniform(1.9, 2.4)
    mirrored = bool(rng.random() < 0.5)
    if choice < 0.35:  # "shh": fist under the chin, index finger up over the lips
        target = np.array([rng.normal(0, 0.08), rng.uniform(0.95, 1.1)])
        up = -np.pi / 2 + rng.normal(0, 0.15)
        pose = HandPose(target, np.array([0.85, -0.165]), up, length, mirrored, (True, False, False, False), True)
    elif choice < 0.65:  # V sign in front of an eye
        target = np.array([rng.choice([-0.5, 0.5]) + rng.normal(0, 0.1), rng.uniform(-0.1, 0.2)])
        up = -np.pi / 2 + rng.normal(0, 0.25)
        pose = HandPose(target, np.array([0.8, -0.11]), up, length, mirrored, (True, True, False, False), True)
    else:  # two to four fingers on a cheek, the hand below the side of the face
        side = rng.choice([-1.0, 1.0])
        count = int(rng.integers(2, 5))
        extended = (True, True, count > 2, count > 3)
        target = np.array([side * rng.uniform(0.55, 0.85), rng.uniform(0.3, 0.8)])
        angle = -np.pi / 2 + side * rng.uniform(0.2, 0.7)
        pose = HandPose(target, np.array([0.85, 0.0]), angle, length, mirrored, extended)
    draw_hand(canvas, face, rng, pose)


@dataclass
class _HandSketch:
    """The coverage planes of one hand being drawn, and its hand frame -> image px transform."""

    face: FaceGeometry
    pose: HandPose
    silhouette: np.ndarray
    outlines: np.ndarray = field(init=False)
    creases: np.ndarray = field(init=False)
    nails: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.outlines, self.creases, self.nails = (blank(self.silhouette.shape) for _ in range(3))
        self._flip = np.array([1.0, -1.0 if self.pose.mirrored else 1.0])
        self._rotation = rotation(self.pose.angle)
        self._wrist = self.pose.target - self.pose.length * self._rotation @ (self.pose.anchor * self._flip)
        self.line = max(1.0, self.face.unit * self.pose.length * 0.008)  # outline width, px

    def to_image(self, local: np.ndarray) -> np.ndarray:
        """Hand-frame points -> image px."""
        return self.face.to_image(self._wrist + self.pose.length * (np.asarray(local) * self._flip) @ self._rotation.T)

    def body(self, outline: np.ndarray) -> None:
        fill_polygons(self.silhouette, [self.to_image(outline)])

    def straight_finger(self, base: np.ndarray, length: float, width: float, spread: float, curl: float) -> None:
        """Two phalanx capsules, the outer one bent by `curl`, with creases and a nail."""
        middle = base + 0.55 * length * np.array([np.cos(spread), np.sin(spread)])
        bend = spread + curl
        tip = middle + 0.45 * length * np.array([np.cos(bend), np.sin(bend)])
        self.body(capsule_polygon(base, middle, width, width * 0.95))
        self.body(capsule_polygon(middle, tip, width * 0.95, width * 0.85))
        draw_polyline(self.outlines, self.to_image(capsule_polygon(base, tip, width, width * 0.85)), self.line, True)
        along, normal = np.array([np.cos(bend), np.sin(bend)]), np.array([-np.sin(bend), np.cos(bend)])
        for joint in (middle, base + 0.8 * (tip - base)):
            crease = np.array([joint - normal * width * 0.3, joint + normal * width * 0.3])
            draw_polyline(self.creases, self.to_image(crease), self.line * 0.75)
        nail = ellipse_points(tip - 0.07 * along, (0.055, width * 0.3), np.degrees(bend), count=16)
        fill_polygons(self.nails, [self.to_image(nail)])

    def curled_finger(self, base: np.ndarray, width: float) -> None:
        """A finger folded into a fist, seen from the front: a short band across the fist's top."""
        start, end = base + np.array([0.0, -width * 0.35]), base + np.array([0.02, width * 0.35])
        self.body(capsule_polygon(start, end, width * 1.15, width * 1.15))
        outline = capsule_polygon(start, end, width * 1.1, width * 1.1)
        draw_polyline(self.outlines, self.to_image(outline), self.line, True)

    def thumb(self, rng: np.random.Generator) -> None:
        angle = -rng.uniform(0.1, 0.4) if self.pose.fist else -rng.uniform(0.5, 1.0)
        joint = THUMB_BASE + 0.2 * np.array([np.cos(angle), np.sin(angle)])
        bend = angle + rng.uniform(0.2, 0.6)
        tip = joint + 0.17 * np.array([np.cos(bend), np.sin(bend)])
        self.body(capsule_polygon(THUMB_BASE, joint, 0.14, 0.126))
        self.body(capsule_polygon(joint, tip, 0.12, 0.108))
        draw_polyline(self.outlines, self.to_image(capsule_polygon(joint, tip, 0.12, 0.105)), self.line, True)


def draw_hand(canvas: Canvas, face: FaceGeometry, rng: np.random.Generator, pose: HandPose) -> None:
    """Paint one hand (silhouette, shading, finger outlines, creases, nails) and its shadow."""
    hand = _HandSketch(face, pose, blank(canvas.shape))
    hand.body(FOREARM)
    hand.body(FIST if pose.fist else PALM)
    curl = rng.uniform(0.0, 0.25)
    for finger in range(4):
        base = FINGER_BASES[finger] + ([0.1, 0.0] if pose.fist else [0.0, 0.0])
        if pose.extended[finger]:
            spread = FINGER_SPREAD[finger] * (rng.uniform(0.5, 2.5) if pose.fist else rng.uniform(0.3, 1.5))
            length = FINGER_LENGTHS[finger] * rng.uniform(0.95, 1.05)
            hand.straight_finger(base, length, FINGER_WIDTHS[finger], spread, curl * (1.0 if finger % 2 else 0.7))
        elif pose.fist:
            hand.curled_finger(base, FINGER_WIDTHS[finger])
    hand.thumb(rng)

    skin = skin_tone(canvas.image, face, rng)
    side_a, side_b = hand.to_image(np.array([0.3, -0.3])), hand.to_image(np.array([0.3, 0.3]))
    light = rng.uniform(0.85, 1.15)
    across = gradient(canvas.shape, side_a, side_b, skin * light, skin * (2.0 - light) * 0.9)
    # Rounded volume: darker towards every edge of the silhouette, so fingers look cylindrical.
    px_per_hand = face.unit * pose.length
    volume = gaussian_blur(hand.silhouette.astype(np.float32) * np.float32(1.0 / 255.0), max(0.5, px_per_hand * 0.035))
    canvas.paint(hand.silhouette, across * (np.float32(0.7) + np.float32(0.3) * volume))
    canvas.tint(hand.outlines, skin * 0.6, 0.35)
    canvas.tint(hand.creases, skin * 0.75, 0.3)
    canvas.tint(hand.nails, np.minimum(skin * 1.1 + 15.0, 255.0), 0.35)
    cast_shadow(canvas, face, rng, (0.25, 0.45), (0.03, 0.1), (0.05, 0.09))
    canvas.edge_softness = face.unit * rng.uniform(0.005, 0.015)
