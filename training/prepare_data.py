"""Build the training data cache (`data_cache/`) from ../shared/data.

Every face in faces/utk, faces/celeba-crops, faces/aaf and faces/scut is located with dlib (HOG detector +
68-point shape predictor), warped to the canonical 128 px crop of docs/ARCHITECTURE.md, and described by the dlib
ResNet 128-d descriptor computed on the original photo. Training then never runs dlib again: the
encoder distils the stored descriptor and the occlusion synthesizer places occluders from the
stored landmarks. The occluder images are copied at a size a 128 px crop can use (longest side
<= 512 px) so that the whole cache stays small enough to carry to a GPU machine.

    python -m training.prepare_data [--data ../shared/data] [--out data_cache] [--workers 2]

The run is resumable: faces are processed in chunks whose results are kept in data_cache/.parts/
until all chunks are done and merged into data_cache/meta.npz.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from facestudio.atomic import atomic_write

CROP_SIZE = 128
CANONICAL_LANDMARKS = np.array(
    [[0.302, 0.301], [0.698, 0.301], [0.500, 0.505], [0.322, 0.691], [0.678, 0.691]], dtype=np.float64
)
FACE_SOURCES = ("utk", "celeba-crops", "aaf", "scut")
# Real photos of known people (occluded-real/rof): clean ones for reference-photo training, sunglasses and
# masked ones to evaluate on. Named KIND__PERSON__STEM and split by person, so no person is on both sides.
REFERENCE_SOURCE = "rof"
ROF_KINDS = {"neutral": "", "sunglasses": "_wearing_sunglasses", "masked": "_wearing_mask"}
# Where dlib's HOG box sits relative to the image when it does detect the face (median over the
# detected faces of each source); used as the box for the shape predictor when detection fails.
# aaf / scut: medians over 59 / 60 detected faces of every 45th photo (SCUT's white side bars are
# part of the 320 px frame, so its box is narrower than the photo).
FALLBACK_BOX = {
    "utk": (0.060, 0.060, 0.905, 0.840),
    "celeba-crops": (0.058, 0.157, 0.915, 0.989),
    "aaf": (0.181, 0.382, 0.783, 0.984),
    "scut": (0.227, 0.306, 0.756, 0.866),
    "rof": (0.15, 0.15, 0.85, 0.90),  # head crops: the face fills most of the photo
}
DETECTOR_HOG, DETECTOR_BOX = "hog", "box"
SPLIT_FRACTIONS = (("train", 800), ("val", 900), ("test", 1000))  # cumulative, per mille
JPEG_QUALITY = 92  # what ARCHITECTURE.md asks for; lowered automatically when the cache would not fit
JPEG_QUALITY_FLOOR = 60
CACHE_BUDGET_MB = 45.0  # the cache is carried to a GPU machine with a 64 MiB limit on carried files
OCCLUDER_MAX_SIDE = 384  # an occluder covers at most ~128 px of a crop; 384 leaves room for zoom
CHUNK_SIZE = 400
META_BYTES_PER_FACE = 600  # landmarks, descriptor, labels in the compressed meta.npz
JPEG_PARAMS = (cv2.IMWRITE_JPEG_OPTIMIZE, 1)


def default_data_dir() -> Path:
    """The shared data folder: $FACESTUDIO_DATA, else ../shared/data next to the repository."""
    env = os.environ.get("FACESTUDIO_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def split_of(name: str) -> str:
    """Deterministic train/val/test split (80/10/10 %) from a hash of the file name."""
    bucket = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:4], "big") % 1000
    for split, upper in SPLIT_FRACTIONS:
        if bucket < upper:
            return split
    raise AssertionError("unreachable")


def face_name(source: str, path: Path) -> str:
    """A face's name in the cache: the file stem, or KIND__PERSON__STEM for ROF (its stems repeat per person)."""
    if source != REFERENCE_SOURCE:
        return path.stem
    kind = path.parent.parent.name
    person = path.parent.name.removesuffix(ROF_KINDS.get(kind, ""))
    return f"{kind}__{person}__{path.stem}"


def split_key(source: str, name: str) -> str:
    """What the split hashes: the name, or for ROF the person (all of a person's photos on one side)."""
    return name.split("__")[1] if source == REFERENCE_SOURCE else name


def utk_labels(stem: str) -> tuple[int, int, int]:
    """(age, gender, race) from a UTKFace file stem `AGE_GENDER_RACE_DATE`; -1 where malformed."""
    parts = stem.split("_")
    values = []
    for index, upper in ((0, 130), (1, 1), (2, 4)):
        try:
            value = int(parts[index])
        except (IndexError, ValueError):
            value = -1
        values.append(value if 0 <= value <= upper else -1)
    if len(parts) < 4:  # a few UTK names lack one field: the remaining ones are not trustworthy
        return (values[0], -1, -1)
    return (values[0], values[1], values[2])


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """The five canonical points (eyes, nose tip, mouth corners) from 68 dlib landmarks, 5x2."""
    return np.stack(
        [
            landmarks68[36:42].mean(axis=0),
            landmarks68[42:48].mean(axis=0),
            landmarks68[30],
            landmarks68[48],
            landmarks68[54],
        ]
    )


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) sending src points to dst, 2x3.

    Umeyama's closed form without reflection; used instead of cv2.estimateAffinePartial2D because
    that one runs RANSAC and is not deterministic across OpenCV builds.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = (singular * sign).sum() / src_c.var(axis=0).sum()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points Nx2 through a 2x3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


@dataclass
class FaceRecord:
    """What the cache stores for one face (see docs/ARCHITECTURE.md, training data cache)."""

    name: str
    source: str
    split: str
    detector: str
    landmarks68: np.ndarray  # 68x2, crop pixels
    descriptor: np.ndarray  # 128, dlib descriptor of the clean face
    age: int
    gender: int
    race: int
    coverage: float  # share of the crop that lies inside the source photo


class FaceAnnotator:
    """dlib detector, 68-point shape predictor and ResNet descriptor, loaded once per process."""

    def __init__(self) -> None:
        import warnings

        import dlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
            import face_recognition_models

        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self.recognizer = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())

    def locate(self, image: np.ndarray, source: str):
        """The face box to fit landmarks in, and whether the HOG detector or the fixed box gave it."""
        height, width = image.shape[:2]
        upsample = 2 if max(height, width) < 90 else 1
        detections = list(self.detector(image, upsample))
        if detections:
            centre = np.array([width / 2, height / 2])

            def distance(rect) -> float:  # tight crops: the face nearest the centre is the subject
                return float(np.hypot(*(np.array([rect.center().x, rect.center().y]) - centre)))

            return min(detections, key=lambda r: distance(r) - 0.5 * r.width()), DETECTOR_HOG
        x0, y0, x1, y1 = FALLBACK_BOX[source]
        box = self._dlib.rectangle(
            int(round(x0 * width)), int(round(y0 * height)), int(round(x1 * width)), int(round(y1 * height))
        )
        return box, DETECTOR_BOX

    def annotate(self, image: np.ndarray, source: str):
        """(68x2 landmarks in photo pixels, 128-d descriptor, detector used) for an RGB photo."""
        box, detector = self.locate(image, source)
        shape = self.shape_predictor(image, box)
        landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        descriptor = np.array(self.recognizer.compute_face_descriptor(image, shape), dtype=np.float32)
        return landmarks, descriptor, detector


def align_face(image: np.ndarray, landmarks68: np.ndarray, size: int = CROP_SIZE):
    """(size x size RGB crop, 2x3 photo->crop matrix, coverage) in the canonical geometry."""
    matrix = similarity_transform(five_points(landmarks68), CANONICAL_LANDMARKS * size)
    scale = float(np.hypot(*matrix[:, 0]))
    interpolation = cv2.INTER_CUBIC if scale > 1.0 else cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(
        np.full(image.shape[:2], 255, np.uint8), matrix, (size, size), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return crop, matrix, float((inside > 0).mean())


_ANNOTATOR: FaceAnnotator | None = None


def _init_worker() -> None:
    global _ANNOTATOR
    cv2.setNumThreads(1)
    _ANNOTATOR = FaceAnnotator()


def process_face(task: tuple[str, str, str, str, int, int]) -> FaceRecord | str:
    """Annotate, align and save one face; returns its record, or an error line for an unreadable file."""
    source_path, source, name, out_path, quality, size = task
    assert _ANNOTATOR is not None, "worker not initialised"
    bgr = cv2.imread(source_path, cv2.IMREAD_COLOR)
    if bgr is None:
        return f"{source_path}: not a readable image, skipped"
    image = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    landmarks, descriptor, detector = _ANNOTATOR.annotate(image, source)
    crop, matrix, coverage = align_face(image, landmarks, size)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(out_path, cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality, *JPEG_PARAMS])
    if not ok:
        return f"{out_path}: could not write the aligned crop"
    age, gender, race = utk_labels(name) if source == "utk" else (-1, -1, -1)
    return FaceRecord(
        name=name,
        source=source,
        split=split_of(split_key(source, name)),
        detector=detector,
        landmarks68=apply_affine(matrix, landmarks).astype(np.float32),
        descriptor=descriptor,
        age=age,
        gender=gender,
        race=race,
        coverage=coverage,
    )


def records_to_arrays(records: list[FaceRecord]) -> dict[str, np.ndarray]:
    """Column arrays for meta.npz (fixed-width strings, so loading needs no pickle)."""
    if not records:
        return {"names": np.array([], dtype=str)}
    return {
        "names": np.array([r.name for r in records], dtype=str),
        "source": np.array([r.source for r in records], dtype="<U16"),
        "split": np.array([r.split for r in records], dtype="<U5"),
        "detector": np.array([r.detector for r in records], dtype="<U3"),
        "landmarks68": np.stack([r.landmarks68 for r in records]).astype(np.float16).reshape(-1, 68, 2),
        # float16 keeps ~5e-5 absolute precision on components of ~0.1: far below what distillation resolves
        "descriptor": np.stack([r.descriptor for r in records]).astype(np.float16).reshape(-1, 128),
        "age": np.array([r.age for r in records], dtype=np.int16),
        "gender": np.array([r.gender for r in records], dtype=np.int8),
        "race": np.array([r.race for r in records], dtype=np.int8),
        "coverage": np.array([r.coverage for r in records], dtype=np.float16),
    }


def list_faces(data_dir: Path, sources: tuple[str, ...], limit: int | None) -> list[tuple[str, Path]]:
    """(source, path) of every face photo, sorted so chunks are stable across runs."""
    faces: list[tuple[str, Path]] = []
    for source in sources:
        rof = source == REFERENCE_SOURCE
        folder = data_dir / "occluded-real" / "rof" if rof else data_dir / "faces" / source
        if not folder.is_dir():
            raise SystemExit(f"{folder}: face folder not found (set --data or FACESTUDIO_DATA)")
        found = folder.glob("*/*/*") if rof else folder.iterdir()
        paths = sorted(p for p in found if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        faces.extend((source, p) for p in paths[:limit])
    return faces


def choose_jpeg_quality(faces: list[tuple[str, Path]], budget_bytes: float, size: int = CROP_SIZE,
                        sample: int = 300) -> int:
    """Highest JPEG quality (<= JPEG_QUALITY) at which all faces' `size` px crops should fit the budget.

    Estimated by encoding a deterministic sample of the photos resized to the crop size.
    """
    if not faces or budget_bytes <= 0:
        return JPEG_QUALITY
    step = max(1, len(faces) // sample)
    crops = []
    for _, path in faces[::step]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            crops.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
    for quality in range(JPEG_QUALITY, JPEG_QUALITY_FLOOR - 1, -2):
        params = [cv2.IMWRITE_JPEG_QUALITY, quality, *JPEG_PARAMS]
        mean_bytes = np.mean([len(cv2.imencode(".jpg", crop, params)[1]) for crop in crops])
        if mean_bytes * len(faces) <= budget_bytes:
            return quality
    return JPEG_QUALITY_FLOOR


PER_FACE_KEYS = ("names", "source", "split", "detector", "landmarks68", "descriptor", "age", "gender", "race",
                 "coverage")


def build_faces(
    faces: list[tuple[str, Path]], out_dir: Path, workers: int = 2, quality: int | None = None,
    face_budget_mb: float = CACHE_BUDGET_MB, size: int = CROP_SIZE,
) -> dict[str, np.ndarray]:
    """Process the faces chunk by chunk, then write out_dir/meta.npz and return its arrays.

    Resumable twice over: finished chunks wait in out_dir/.parts/ until the merge, and faces that an
    existing meta.npz already lists are kept, not redone (so a cache can also be extended).
    quality None picks the highest JPEG quality at which crops and metadata fit face_budget_mb; a
    resumed or extended run keeps the quality it started with.
    """
    existing = _read_meta(out_dir / "meta.npz")
    if existing and int(existing["crop_size"]) != size:
        raise SystemExit(f"{out_dir / 'meta.npz'}: holds {int(existing['crop_size'])} px crops, not {size} px; "
                         "use another --out")
    done = set(zip(existing["source"].tolist(), existing["names"].tolist())) if existing else set()
    todo = [(s, p) for s, p in faces if (s, face_name(s, p)) not in done]
    parts_dir = out_dir / ".parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    quality_file = parts_dir / "quality"
    if quality is None:
        if existing and "jpeg_quality" in existing:
            quality = int(existing["jpeg_quality"])
        elif quality_file.exists():
            quality = int(quality_file.read_text())
        else:
            budget = 0.97 * (face_budget_mb * 2**20 - len(faces) * META_BYTES_PER_FACE)  # 3 % estimate margin
            quality = choose_jpeg_quality(faces, budget, size)
    quality_file.write_text(str(quality))
    print(f"{len(faces)} faces ({len(done)} already in meta.npz), JPEG quality {quality}", flush=True)
    chunks = [todo[i:i + CHUNK_SIZE] for i in range(0, len(todo), CHUNK_SIZE)]
    part_paths = [parts_dir / f"chunk_{i:04d}_{len(c)}.npz" for i, c in enumerate(chunks)]
    started, done_faces = time.time(), 0
    context = get_context("spawn")  # dlib objects must not be shared through fork
    with context.Pool(workers, initializer=_init_worker) as pool:
        for index, (chunk, part) in enumerate(zip(chunks, part_paths)):
            if part.exists():
                continue
            tasks = [(str(p), s, face_name(s, p), str(out_dir / "faces" / s / f"{face_name(s, p)}.jpg"), quality, size)
                     for s, p in chunk]
            results = pool.map(process_face, tasks, chunksize=8)
            for problem in (r for r in results if isinstance(r, str)):
                print(problem, file=sys.stderr)
            records = [r for r in results if isinstance(r, FaceRecord)]
            tmp = part.with_suffix(".tmp.npz")
            np.savez(tmp, **records_to_arrays(records))
            tmp.rename(part)
            done_faces += len(chunk)
            elapsed = time.time() - started
            remaining = sum(len(c) for c in chunks[index + 1:])
            print(
                f"chunk {index + 1}/{len(chunks)}: {done_faces} faces in {elapsed:.0f} s, "
                f"~{remaining * elapsed / done_faces / 60:.1f} min left",
                flush=True,
            )
    pieces = ([existing] if existing else []) + [dict(np.load(p)) for p in part_paths]
    pieces = [piece for piece in pieces if len(piece["names"])]
    if not pieces:
        raise SystemExit(f"{out_dir}: no face could be processed")
    meta = {key: np.concatenate([piece[key] for piece in pieces]) for key in PER_FACE_KEYS}
    meta["crop_size"] = np.array(size)
    meta["jpeg_quality"] = np.array(quality)
    meta["canonical_landmarks"] = CANONICAL_LANDMARKS.astype(np.float32)
    # readers (and a resumed run) never see a half-written meta.npz
    atomic_write(out_dir / "meta.npz", lambda stream: np.savez_compressed(stream, **meta))
    shutil.rmtree(parts_dir)
    return meta


def _read_meta(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path) as meta:
        return {key: meta[key] for key in meta.files}


def _save_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    if not cv2.imwrite(str(path), image, params):
        raise SystemExit(f"{path}: could not write the downsized occluder")


def copy_occluders(src_dir: Path, dst_dir: Path, max_side: int = OCCLUDER_MAX_SIDE) -> dict[str, float]:
    """Copy the occluders folder with images downsized to max_side; rescale masks.cfg anchors.

    Returns the scale applied to each image (relative path -> factor).
    """
    if not src_dir.is_dir():
        raise SystemExit(f"{src_dir}: occluders folder not found (set --data or FACESTUDIO_DATA)")
    scales: dict[str, float] = {}
    for path in sorted(src_dir.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(src_dir)
        target = dst_dir / relative
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            if path.name != "masks.cfg":
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SystemExit(f"{path}: occluder image cannot be read")
        scale = min(1.0, max_side / max(image.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        _save_image(target, image)
        scales[relative.as_posix()] = scale
    config_path = src_dir / "masktheface" / "masks.cfg"
    if config_path.is_file():
        (dst_dir / "masktheface" / "masks.cfg").write_text(rescale_mask_config(config_path.read_text(), scales))
    return scales


def rescale_mask_config(text: str, scales: dict[str, float]) -> str:
    """masks.cfg with every anchor `mask_x: X, Y` multiplied by its template's downsizing factor.

    Templates are named `masks/templates/<file>` in the config and live in
    masktheface/templates/<file> here; sections without a template (empty, inpaint) pass through.
    """
    parser = configparser.ConfigParser()
    parser.optionxform = str  # keep key case
    parser.read_string(text)
    lines: list[str] = []
    for section in parser.sections():
        lines.append(f"[{section}]")
        template = parser[section].get("template")
        scale = 1.0
        if template:
            key = "masktheface/templates/" + Path(template).name
            if key not in scales:
                raise SystemExit(f"masks.cfg: section [{section}] names template {template}, which is missing")
            scale = scales[key]
        for key, value in parser[section].items():
            if key.startswith("mask_"):
                x, y = (float(v) for v in value.split(","))
                value = f"{round(x * scale)}, {round(y * scale)}"
            lines.append(f"{key}: {value}")
        lines.append("")
    return "\n".join(lines)


def build_small_cache(data_dir: Path, out_dir: Path, per_split: tuple[int, int, int] = (6, 2, 2),
                      workers: int = 1, sources: tuple[str, ...] = ("utk", "celeba-crops")) -> Path:
    """A small cache of real faces for smoke runs and tests, built in seconds.

    Takes the first `per_split` (train, val, test) faces of each of `sources` (two by default: the
    tests count on 2 test faces per source, and each source costs build time) and links the occluders
    folder instead of copying it. Returns out_dir (unchanged when it already holds a cache).
    """
    if (out_dir / "meta.npz").is_file():
        return out_dir
    wanted = dict(zip(("train", "val", "test"), per_split))
    chosen: list[tuple[str, Path]] = []
    for source in sources:
        taken = {split: 0 for split in wanted}
        for _, path in list_faces(data_dir, (source,), None):
            split = split_of(split_key(source, face_name(source, path)))
            if taken[split] < wanted[split]:
                chosen.append((source, path))
                taken[split] += 1
            if taken == wanted:
                break
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (out_dir / "occluders").exists():
        (out_dir / "occluders").symlink_to((data_dir / "occluders").resolve(), target_is_directory=True)
    build_faces(chosen, out_dir, workers=workers, quality=JPEG_QUALITY)
    return out_dir


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="shared data folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data_cache")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="at most this many faces per source (tests)")
    parser.add_argument("--quality", type=int, default=None,
                        help=f"JPEG quality of the aligned crops (default: the highest <= {JPEG_QUALITY} that fits)")
    parser.add_argument("--max-mb", type=float, default=CACHE_BUDGET_MB, help="size budget of the whole cache")
    parser.add_argument("--sources", nargs="+", default=list(FACE_SOURCES),
                        help=f"face sets: {', '.join(FACE_SOURCES)}, or {REFERENCE_SOURCE} (the known people, for "
                             "reference-photo training and evaluation: build it into its own --out)")
    parser.add_argument("--crop-size", type=int, default=CROP_SIZE, help="side of the aligned crops (e.g. 256)")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    scales = copy_occluders(args.data / "occluders", args.out / "occluders")
    print(f"occluders: {len(scales)} images copied to {args.out / 'occluders'}", flush=True)
    face_budget_mb = args.max_mb - folder_size(args.out / "occluders") / 2**20
    faces = list_faces(args.data, tuple(args.sources), args.limit)
    meta = build_faces(faces, args.out, args.workers, args.quality, face_budget_mb, args.crop_size)
    count = len(meta["names"])
    splits = {s: int((meta["split"] == s).sum()) for s, _ in SPLIT_FRACTIONS}
    fallback = int((meta["detector"] == DETECTOR_BOX).sum())
    size_mb = folder_size(args.out) / 2**20
    print(
        f"{count} faces ({splits}), {fallback} by the fallback box, "
        f"cache {size_mb:.1f} MB, {time.time() - started:.0f} s"
    )
    if size_mb > args.max_mb:
        print(f"{args.out}: cache is {size_mb:.1f} MB, over the {args.max_mb} MB budget; rerun with a lower --quality",
              file=sys.stderr)


if __name__ == "__main__":
    main()
