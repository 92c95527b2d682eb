"""The figures one inpaint or auto-fix step carries: what the History panel and the canvas overlay show."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IdentityCheck:
    """facestudio.identity.compare(input, result): a distance, the backend's threshold and its verdict."""

    backend: str
    distance: float
    threshold: float
    same: bool


@dataclass(frozen=True)
class StepFigures:
    """Measured facts about one engine step; `reference` holds PSNR/SSIM/IoU/Dice when a reference is known."""

    method: str
    device: str
    seconds: float
    faces_found: int
    mask_area_percent: float
    identity_cosine: float | None = None         # encoder cosine of the face before vs after (1 = same vector)
    identity_check: IdentityCheck | None = None  # facestudio.identity's verdict, when that module is there
    reference: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs in reading order, formatted for people."""
        rows = [
            ("faces found", str(self.faces_found)),
            ("mask area", f"{self.mask_area_percent:.2f} %"),
            ("time", f"{self.seconds:.2f} s"),
            ("method", self.method),
            ("device", self.device),
        ]
        if self.identity_cosine is not None:
            rows.append(("identity cosine", f"{self.identity_cosine:.3f}"))
        if self.identity_check is not None:
            check = self.identity_check
            verdict = "same person" if check.same else "different person"
            rows.append((f"identity ({check.backend})",
                         f"{check.distance:.3f} / {check.threshold:.2f}  {verdict}"))
        for key, label, unit in _REFERENCE_FIGURES:
            value = self.reference.get(key)
            if value is not None:
                rows.append((label, _number(value, unit)))
        return rows

    def summary(self) -> str:
        """A short tail for the undo step's name in the History list."""
        parts = [f"{self.faces_found} face{'s' if self.faces_found != 1 else ''}", f"{self.seconds:.1f} s"]
        psnr = self.reference.get("psnr")
        if psnr is not None and math.isfinite(psnr):
            parts.append(f"PSNR {psnr:.1f} dB")
        if self.identity_cosine is not None:
            parts.append(f"id {self.identity_cosine:.2f}")
        return " · ".join(parts)


def _number(value: float, unit: str) -> str:
    """dB figures with 2 decimals, ratios with 3; PSNR of identical pixels is infinite."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return f"∞{unit}"
    return f"{value:.2f}{unit}" if unit else f"{value:.3f}"


# keys of facestudio.metrics.compare_to_reference, in the order they are shown
_REFERENCE_FIGURES = [
    ("psnr", "PSNR", " dB"),
    ("ssim", "SSIM", ""),
    ("psnr_hole", "PSNR in the hole", " dB"),
    ("ssim_hole", "SSIM in the hole", ""),
    ("iou", "mask IoU", ""),
    ("dice", "mask Dice", ""),
]
