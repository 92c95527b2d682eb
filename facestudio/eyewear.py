"""Complete the mask of dark lenses the segmenter only outlined.

On real sunglasses the segmenter is sure of the frames and often unsure of the lens inside them: dark
glass with reflections looks like nothing it was trained on. The occlusion mask then is a ring, and the
fill leaves a dark lens with a skin-coloured rim. A region the mask encloses (after closing small gaps
in the frame) in the eye band is a lens when it is much darker than the skin around the mask, even in
its brightest tenth (a reflection is smaller), and no wider than one eye's lens (the eye slit of a
balaclava is dark too, and the eyes in it are the face's own); then it joins the mask. Clear or lightly tinted glasses
enclose eye whites and skin about as light as the skin outside, so they keep the eyes: the eyes a lens
lets through are the person's own, better than any fill. On synthetic clear eyeglasses drawn on ROF
faces no lens was filled; a plain darkness test (median only) filled the eyes of one in twenty.
"""

from __future__ import annotations

import cv2
import numpy as np

DARK_RATIO = 0.6  # an enclosed region whose median is darker than this share of the skin's lightness...
BRIGHT_RATIO = 0.8  # ... and whose bright part (BRIGHT_PART percentile) is darker than this share
BRIGHT_PART = 90.0
GAP = 5.0 / 128.0  # frame gaps up to this share of the crop side are closed before finding lenses
SKIN_RING = 8.0 / 128.0  # the skin is read on a ring this wide outside the mask
MIN_AREA = 12.0 / 128.0 ** 2  # enclosed specks smaller than this share of the crop are filled whatever their colour
EYE_BAND = (0.1, 0.55)  # lenses lie in this band of the crop's height (canonical eyes at 0.30)
MAX_LENS_WIDTH = 0.45  # a lens covers one eye; a wider opening (a balaclava's eye slit) shows the eyes themselves


def complete_lenses(mask: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """`mask` (HxW bool, a face crop's occlusion mask) with the dark lenses it encloses filled in;
    `crop` is that crop (HxWx3 uint8 RGB)."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask
    side = mask.shape[0]
    gap = max(3, int(round(GAP * side)) | 1)
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (gap, gap))) > 0
    enclosed = _enclosed(closed)
    if not enclosed.any():
        return mask
    lightness = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    width = max(3, int(round(SKIN_RING * side)) | 1)
    around = cv2.dilate((closed | enclosed).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))) > 0
    ring = around & ~closed & ~enclosed
    if np.count_nonzero(ring) < 16:
        return mask
    skin = float(np.median(lightness[ring]))
    top, bottom = (int(round(share * mask.shape[0])) for share in EYE_BAND)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(enclosed.astype(np.uint8), connectivity=4)
    completed = mask | closed
    for label in range(1, count):
        region = labels == label
        if stats[label, cv2.CC_STAT_AREA] < MIN_AREA * side * side:
            completed |= region  # a speck inside the occluder (a reflection) is part of it
        elif (top <= centroids[label][1] <= bottom and stats[label, cv2.CC_STAT_WIDTH] <= MAX_LENS_WIDTH * side
              and _dark_lens(lightness[region], skin)):
            completed |= region
    return completed


def _dark_lens(lightness: np.ndarray, skin: float) -> bool:
    """Whether an enclosed region's lightness values are a dark lens's: dark on the whole, and dark even in
    its bright part (eyes behind clear glass show skin and eye whites; a dark lens at most a reflection)."""
    median, bright = np.percentile(lightness, [50, BRIGHT_PART])
    return bool(median < DARK_RATIO * skin and bright < BRIGHT_RATIO * skin)


def _enclosed(mask: np.ndarray) -> np.ndarray:
    """The pixels outside `mask` that no path outside it joins to the crop's border."""
    outside = (~mask).astype(np.uint8)
    count, labels = cv2.connectedComponents(outside, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = np.ones(count, bool)
    enclosed[border] = False
    enclosed[0] = False
    return enclosed[labels] & (outside > 0)
