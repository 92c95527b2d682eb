"""Classical inpainting: OpenCV's Telea fast-marching method.

The baseline the learned generator must beat, and the fallback for holes no face crop covers.
"""

from __future__ import annotations

import cv2
import numpy as np


def telea_inpaint(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """Fill the mask's 255 pixels of an HxWx3 uint8 image from their surroundings (Telea 2004).

    Works on the hole's bounding box (plus the `radius` it reads), so small holes in large photos
    stay fast; pixels outside the mask are returned unchanged.
    """
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} px but the image is {image.shape[1]}x{image.shape[0]} px")
    hole = mask > 0
    result = image.copy()
    if not hole.any():
        return result
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    margin = radius + 2
    top, bottom = max(0, rows[0] - margin), min(image.shape[0], rows[-1] + 1 + margin)
    left, right = max(0, cols[0] - margin), min(image.shape[1], cols[-1] + 1 + margin)
    window_hole = hole[top:bottom, left:right]
    window = np.ascontiguousarray(image[top:bottom, left:right])
    filled = cv2.inpaint(window, window_hole.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)
    result[top:bottom, left:right] = np.where(window_hole[..., None], filled, window)
    return result
