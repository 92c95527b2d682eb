"""Render a contact sheet of every synthetic occlusion kind on real faces, to look at them.

    python -m training.contact_sheet --data ../shared/data --out docs/figures/occlusions.png
    python -m training.contact_sheet --data ../shared/data --timing 200   # CPU ms per sample, per kind

One block per kind: its name (held-out kinds marked), several occluded UTK faces, and the mask of
the last one. Faces are 128 px crops of UTKFace with dlib 68-point landmarks found on the fly.
Held-out kinds are drawn with the test split's assets, the others with the train split's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.occlusion import HELDOUT_KINDS, KINDS, synthesize
from training.occluders.assets import OccluderAssets

FACE_SIZE = 128
UTK_RACES = 5  # UTK file names: AGE_GENDER_RACE_DATE; race 0..4


@dataclass(frozen=True)
class LandmarkedFace:
    """A face crop (HxWx3 uint8 RGB) with its dlib 68 landmarks (68x2 float64, crop px)."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray


def default_data_dir() -> Path:
    """$FACESTUDIO_DATA, else ../shared/data next to the repository."""
    env = os.environ.get("FACESTUDIO_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def load_landmarked_faces(data_root: Path, count: int, size: int = FACE_SIZE, seed: int = 0) -> list[LandmarkedFace]:
    """`count` UTK faces resized to `size` px, spread over UTK's race labels, with the 68 dlib
    landmarks (faces dlib does not find are skipped). UTK crops are already close to the
    project's canonical geometry, so a plain resize stands in for alignment here."""
    import dlib  # only here: the occlusion code itself needs no dlib
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        import face_recognition_models

    folder = Path(data_root) / "faces" / "utk"
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"{folder}: no UTK faces (*.jpg) found")
    by_race: list[list[Path]] = [[] for _ in range(UTK_RACES)]
    for path in paths:
        parts = path.stem.split("_")
        race = int(parts[2]) if len(parts) >= 4 and parts[2].isdigit() and int(parts[2]) < UTK_RACES else 0
        by_race[race].append(path)
    rng = np.random.default_rng(seed)
    for group in by_race:
        rng.shuffle(group)
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    faces: list[LandmarkedFace] = []
    position = 0
    while len(faces) < count and any(position < len(g) for g in by_race):
        for group in by_race:
            if position >= len(group) or len(faces) >= count:
                continue
            face = _landmark_face(group[position], size, detector, predictor)
            if face is not None:
                faces.append(face)
        position += 1
    return faces


def _landmark_face(path: Path, size: int, detector, predictor) -> LandmarkedFace | None:
    bgr = cv2.imread(str(path))
    if bgr is None:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    boxes = detector(rgb, 0)
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.width() * b.height())
    points = np.array([[p.x, p.y] for p in predictor(rgb, box).parts()], dtype=np.float64)
    scale = size / rgb.shape[1]
    resized = cv2.resize(rgb, (size, round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    # cv2.resize maps pixel centres: x' = (x + 0.5) * scale - 0.5
    return LandmarkedFace(path.name, resized, (points + 0.5) * scale - 0.5)


def render_sheet(
    faces: list[LandmarkedFace], assets_by_split: dict[str, OccluderAssets], examples: int, seed: int
) -> np.ndarray:
    """HxWx3 uint8 RGB sheet: two columns of kind blocks (label, `examples` faces, last mask)."""
    tile = faces[0].image.shape[0]
    label_width = 150
    block_width = label_width + (examples + 1) * tile
    blocks = []
    for index, kind in enumerate(KINDS):
        rng = np.random.default_rng([seed, index])
        split = "test" if kind in HELDOUT_KINDS else "train"
        row = [_label_tile(kind, split, tile, label_width)]
        mask = None
        for example in range(examples):
            face = faces[(index * examples + example) % len(faces)]
            sample = synthesize(face.image, face.landmarks, rng, kind=kind, assets=assets_by_split[split])
            row.append(sample.image)
            mask = sample.mask
        row.append(np.repeat(mask[..., None], 3, axis=2))
        blocks.append(np.concatenate(row, axis=1))
    if len(blocks) % 2:
        blocks.append(np.full((tile, block_width, 3), 255, np.uint8))
    half = len(blocks) // 2
    gap = np.full((tile * half, 12, 3), 255, np.uint8)
    return np.concatenate([np.concatenate(blocks[:half]), gap, np.concatenate(blocks[half:])], axis=1)


def time_kinds(
    faces: list[LandmarkedFace], assets_by_split: dict[str, OccluderAssets], samples: int, seed: int = 0
) -> dict[str, float]:
    """Mean CPU milliseconds per `synthesize` call for each kind (one OpenCV thread, as in a data
    loader worker), over `samples` calls cycling through `faces`."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        timings = {}
        for index, kind in enumerate(KINDS):
            rng = np.random.default_rng([seed, index])
            assets = assets_by_split["test" if kind in HELDOUT_KINDS else "train"]
            start = time.process_time()
            for sample in range(samples):
                face = faces[sample % len(faces)]
                synthesize(face.image, face.landmarks, rng, kind=kind, assets=assets)
            timings[kind] = (time.process_time() - start) / samples * 1000.0
        return timings
    finally:
        cv2.setNumThreads(threads)


def _label_tile(kind: str, split: str, height: int, width: int) -> np.ndarray:
    tile = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(tile, kind, (6, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if split == "test":
        red = (170, 30, 30)
        cv2.putText(tile, "(held out)", (6, height // 2 + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, red, 1, cv2.LINE_AA)
    return tile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="data root with faces/utk and occluders/")
    parser.add_argument("--out", type=Path, default=Path("docs/figures/occlusions.png"))
    parser.add_argument("--examples", type=int, default=5, help="occluded faces per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--timing", type=int, metavar="N", help="no sheet: print CPU ms per sample of each kind over N samples"
    )
    args = parser.parse_args(argv)
    try:
        assets = {split: OccluderAssets.load(args.data, split) for split in ("train", "test")}
        faces = load_landmarked_faces(args.data, count=48, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.timing:
        timings = time_kinds(faces, assets, args.timing, args.seed)
        for kind, milliseconds in timings.items():
            print(f"{kind:18s} {milliseconds:6.2f} ms")
        print(f"{'mean over kinds':18s} {np.mean(list(timings.values())):6.2f} ms")
        return 0
    sheet = render_sheet(faces, assets, args.examples, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        print(f"error: {args.out}: cannot write the image", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}, {len(KINDS)} kinds x {args.examples} examples)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
