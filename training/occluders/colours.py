"""Colour palettes and colour jitter for occluders (RGB, 0..255 float64 triples)."""

from __future__ import annotations

import numpy as np

from training.occluders.face import FaceGeometry

# From very light to very dark skin (roughly the Fitzpatrick / Monk scales), so hands and fingers
# are not all one tone; `skin_tone` also borrows the face's own tone.
SKIN_TONES = np.array(
    [
        [246, 222, 200], [236, 200, 172], [228, 185, 150], [214, 168, 130], [198, 146, 108],
        [176, 124, 90], [150, 100, 70], [120, 78, 54], [92, 60, 42], [66, 44, 32], [226, 190, 140],
    ],
    dtype=np.float64,
)
# black, browns, blond, auburn, grey
HAIR_COLOURS = np.array(
    [[20, 16, 14], [40, 28, 20], [70, 48, 32], [105, 72, 45], [150, 110, 70], [200, 165, 110], [120, 50, 28],
     [170, 165, 160]],
    dtype=np.float64,
)
# Where to read the face's own skin: cheeks and forehead between landmarks, in face units.
SKIN_SAMPLE_POINTS = np.array([[-0.6, 0.5], [0.6, 0.5], [0.0, -0.45], [-0.35, 0.3], [0.35, 0.3]])


def jitter(colour: np.ndarray, rng: np.random.Generator, amount: float = 0.08) -> np.ndarray:
    """`colour` with its brightness and each channel moved by up to `amount` (relative)."""
    gain = rng.uniform(1.0 - amount, 1.0 + amount) * rng.uniform(1.0 - amount / 2, 1.0 + amount / 2, 3)
    return np.clip(np.asarray(colour, np.float64) * gain, 0.0, 255.0)


def face_skin(image: np.ndarray, face: FaceGeometry) -> np.ndarray:
    """Median colour of a few small cheek and forehead patches of the face (RGB)."""
    height, width = image.shape[:2]
    radius = max(1, int(face.unit * 0.06))
    samples = []
    for x, y in face.to_image(SKIN_SAMPLE_POINTS).round().astype(int):
        if radius <= x < width - radius and radius <= y < height - radius:
            samples.append(image[y - radius : y + radius + 1, x - radius : x + radius + 1].reshape(-1, 3))
    if not samples:
        return SKIN_TONES[3].copy()
    return np.median(np.concatenate(samples), axis=0).astype(np.float64)


def skin_tone(image: np.ndarray, face: FaceGeometry, rng: np.random.Generator) -> np.ndarray:
    """A plausible skin colour for a hand in front of this face: its own tone (a person's hand
    usually matches the face) or one from the palette, jittered."""
    if rng.random() < 0.4:
        base = face_skin(image, face) * rng.uniform(0.92, 1.1)
    else:
        base = SKIN_TONES[rng.integers(len(SKIN_TONES))]
    return jitter(base, rng, 0.06)


def hair_colour(rng: np.random.Generator) -> np.ndarray:
    """A natural hair colour, jittered."""
    return jitter(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], rng, 0.12)


def vivid_colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated colour of any hue (stickers, text, paint)."""
    hue = rng.uniform(0.0, 6.0)
    saturation = rng.uniform(0.55, 1.0)
    value = rng.uniform(150.0, 255.0)
    return hsv_colour(hue, saturation, value)


def object_colour(rng: np.random.Generator) -> np.ndarray:
    """A colour a manufactured object has: black, white, greys, or a muted or bright hue."""
    choice = rng.random()
    if choice < 0.2:
        return np.full(3, rng.uniform(15.0, 45.0))
    if choice < 0.35:
        return np.full(3, rng.uniform(200.0, 245.0))
    if choice < 0.5:
        return np.full(3, rng.uniform(70.0, 170.0))
    return hsv_colour(rng.uniform(0.0, 6.0), rng.uniform(0.25, 0.9), rng.uniform(60.0, 230.0))


def hsv_colour(hue: float, saturation: float, value: float) -> np.ndarray:
    """RGB from hue in 0..6 (sextants), saturation 0..1, value 0..255."""
    sextant = int(hue) % 6
    fraction = hue - int(hue)
    low = value * (1 - saturation)
    falling = value * (1 - saturation * fraction)
    rising = value * (1 - saturation * (1 - fraction))
    rgb = (
        (value, rising, low), (falling, value, low), (low, value, rising),
        (low, falling, value), (rising, low, value), (value, low, falling),
    )[sextant]
    return np.array(rgb, np.float64)
