"""`facestudio --selftest` / `FaceStudio --selftest`: does this installation really fix a face?

Runs auto-fix headless on the embedded sample (the astronaut photo with drawn sunglasses, whose clean
photo and exact occluder mask are known) and scores it against that truth. It passes only when the fix
is clearly real work, judged against two baselines computed on the spot: the occluded input itself
(nothing fixed) and OpenCV Telea filling the *true* mask (a classic fill given the perfect mask).
A bundle that lost its weights, its Haar cascade or a native library fails here, and so does one whose
models produce garbage (random weights fail the mask floor) or whose face detector (the learned one when
detector.pt is shipped, else Haar) misses the sample's face: auto-fix then fixes nothing, and the figures
say so.

One line of figures goes to stdout; on failure one more line on stderr says why. Exit codes:
0 passed, 1 ran but failed a check, 2 could not run (missing or bad weights, unavailable device).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2

METHODS = ("gan", "telea")
# Pass thresholds. The pale mask scores ~12.4 dB PSNR in the hole as it is and Telea on the true mask
# ~14.6 dB, so a fill must gain over doing nothing and may trail the perfect-mask Telea fill only a little.
MIN_MASK_IOU = 0.5
MIN_GAIN_OVER_OCCLUDED_DB = 1.0
MAX_LOSS_TO_TELEA_DB = 3.0
# With method telea the self-test still works when the weights that auto-fix needs are absent:
# the true mask is then filled, which checks the engine and its bundled data but not the models.
AUTO_FIX_WEIGHTS = ("segmenter.pt", "encoder.pt")


class SelftestError(Exception):
    """The self-test could not run at all; the message is one line naming what is missing."""


@dataclass(frozen=True)
class SelftestReport:
    """Figures of one self-test run. PSNR/SSIM are measured over the sample's true occluder mask."""

    sample: str
    method: str
    device: str
    mask_source: str  # "segmenter", or "given" (the true mask: no weights to find it)
    faces: int  # found by the detector; 0: auto-fix had no face to fix and changed nothing
    iou: float  # NaN when the mask was given
    dice: float
    psnr_hole: float
    psnr_hole_occluded: float
    psnr_hole_telea: float
    ssim_hole: float
    identity_similarity: float  # encoder cosine before vs after the fix; NaN without an encoder
    fix_ms: float
    total_s: float
    detector: str = ""  # "learned" or "haar"

    def problems(self) -> list[str]:
        """Every failed check as a short phrase (empty when the self-test passes)."""
        found: list[str] = []
        if self.mask_source == "segmenter" and self.faces == 0:
            found.append(f"the {self.detector or 'face'} detector found no face in the sample")
        if self.mask_source == "segmenter" and not self.iou >= MIN_MASK_IOU:
            found.append(f"mask IoU {self.iou:.2f} < {MIN_MASK_IOU:.2f}")
        needed = self.psnr_hole_occluded + MIN_GAIN_OVER_OCCLUDED_DB
        if not self.psnr_hole >= needed:
            found.append(f"hole PSNR {self.psnr_hole:.1f} dB < occluded input + {MIN_GAIN_OVER_OCCLUDED_DB:.0f} dB")
        floor = self.psnr_hole_telea - MAX_LOSS_TO_TELEA_DB
        if not self.psnr_hole >= floor:
            found.append(f"hole PSNR {self.psnr_hole:.1f} dB < Telea - {MAX_LOSS_TO_TELEA_DB:.0f} dB")
        return found

    def line(self) -> str:
        """The one line of figures the self-test prints."""
        verdict = "FAILED" if self.problems() else "passed"
        face_word = "face" if self.faces == 1 else "faces"
        if self.detector:
            face_word += f" ({self.detector} detector)"
        mask = f"mask IoU {self.iou:.2f} Dice {self.dice:.2f}" if self.mask_source == "segmenter" else (
            "mask given (no weights to find it)"
        )
        identity = "" if math.isnan(self.identity_similarity) else f", identity {self.identity_similarity:.3f}"
        return (
            f"FaceStudio selftest {verdict}: {self.sample}, {self.method} on {self.device}, "
            f"{self.faces} {face_word}, {mask}, hole PSNR {self.psnr_hole:.1f} dB "
            f"(occluded {self.psnr_hole_occluded:.1f}, Telea {self.psnr_hole_telea:.1f}), "
            f"hole SSIM {self.ssim_hole:.3f}{identity}, fix {self.fix_ms:.0f} ms, total {self.total_s:.1f} s"
        )


def measure(method: str = "gan", device: str | None = None, weights_dir: str | Path | None = None) -> SelftestReport:
    """Run auto-fix on the sample and score it; raises SelftestError when it cannot run."""
    if method not in METHODS:
        raise SelftestError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    started = time.perf_counter()
    import numpy as np

    from facestudio.api import NoFaceError, load_pipeline
    from facestudio.devices import DeviceError
    from facestudio.metrics import compare_to_reference, psnr
    from facestudio.models.checkpoint import CheckpointError
    from facestudio.sample import load_sample

    sample = load_sample()
    try:
        pipeline = load_pipeline(device=device, weights_dir=weights_dir)
    except (DeviceError, RuntimeError) as error:  # RuntimeError: OpenCV's Haar cascade file is missing
        raise SelftestError(_one_line(error)) from None
    try:
        missing = [name for name in AUTO_FIX_WEIGHTS if not (pipeline.weights_dir / name).is_file()]
        use_true_mask = method == "telea" and bool(missing)
        fix_started = time.perf_counter()
        if use_true_mask:
            fixed = pipeline.inpaint(sample.image, sample.true_mask, "telea")
            found_mask, faces, identity = None, len(pipeline.detect(sample.image)), math.nan
        else:
            try:
                result = pipeline.auto_fix(sample.image, method=method)
                fixed, found_mask, faces = result.image, result.mask, len(result.faces)
                identity = float(result.metrics.get("identity_similarity", math.nan))
            except NoFaceError:  # scored as what the app would show: the photo unchanged, nothing found
                fixed, found_mask, faces, identity = sample.image, np.zeros_like(sample.true_mask), 0, math.nan
        fix_ms = (time.perf_counter() - fix_started) * 1000.0
        telea = pipeline.inpaint(sample.image, sample.true_mask, "telea")
    except CheckpointError as error:
        hint = "" if method == "telea" else " (`--selftest --method telea` checks the rest without the models)"
        raise SelftestError(f"{_one_line(error)}{hint}") from None

    scores = compare_to_reference(fixed, sample.reference, sample.true_mask, sample.true_mask, found_mask)
    return SelftestReport(
        sample=sample.name,
        method=method,
        device=pipeline.device,
        mask_source="given" if use_true_mask else "segmenter",
        faces=faces,
        iou=scores.get("iou", math.nan),
        dice=scores.get("dice", math.nan),
        psnr_hole=scores["psnr_hole"],
        psnr_hole_occluded=psnr(sample.image, sample.reference, sample.true_mask),
        psnr_hole_telea=psnr(telea, sample.reference, sample.true_mask),
        ssim_hole=scores["ssim_hole"],
        identity_similarity=identity,
        fix_ms=fix_ms,
        total_s=time.perf_counter() - started,
        detector=pipeline.detector_name,
    )


def run_selftest(method: str = "gan", device: str | None = None, weights_dir: str | Path | None = None) -> int:
    """Print the self-test's line (and, on failure, why on stderr); return the exit code."""
    try:
        report = measure(method=method, device=device, weights_dir=weights_dir)
    except SelftestError as error:
        print(f"FaceStudio selftest cannot run: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print(report.line(), flush=True)
    problems = report.problems()
    if problems:
        print(f"FaceStudio selftest failed: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_PASSED


def build_parser() -> argparse.ArgumentParser:
    """Arguments after `--selftest`."""
    parser = argparse.ArgumentParser(
        prog="facestudio --selftest",
        description="Auto-fix the embedded sample headless and check the result against its known truth.",
    )
    parser.add_argument("--method", choices=METHODS, default="gan", help="fill method (default: gan)")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--weights", type=Path, default=None, metavar="DIR", help="weights folder (default: bundled)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`facestudio --selftest [--method gan|telea] [--device D] [--weights DIR]`; returns the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_selftest(method=args.method, device=args.device, weights_dir=args.weights)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
