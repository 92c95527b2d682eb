"""Does auto-fix find the face in TIGHT face crops wearing occluders it never saw? (issue 13)

    python benchmarks/detect_tight.py [--data ../shared/data] [--per-source 60] [--threads 1] \
        [--variants native,tighter,stretched,exif] [--real face-masks,rof/sunglasses,rof/masked] [--real-limit N] \
        [--negatives 40] [--no-fallback] [--checkpoint resources/weights/detector.pt] [--json out.json]

Held-out faces (test split of `training.prepare_data.split_of`) from faces/{utk,celeba-crops,aaf,scut}, their 68
landmarks found with dlib (HOG box, else the source's fixed box, as training.prepare_data does), wear one occluder
of a kind held out of training (`training.occlusion.synthesize` with the test split's assets: EVAL_KINDS). Each is
shown to `pipeline.auto_fix` (facestudio.load_pipeline, the app's path) in several framings:

- native: the photo at its own size (UTK 200, CelebA 26-156, AAF ~300, SCUT 320 px);
- tighter: re-cropped to the landmarks' bounding box (+-10 %), cutting forehead, hair, often chin or cheeks;
- stretched: resized anisotropically to 400x300 (or 300x400), the face 1.33x wider (or taller) than it is;
- exif: the stretched photo stored rotated by 90 degrees in a JPEG with an EXIF orientation tag (6 or 8), read
  back with facestudio.imageio.read_image as the CLI does.

A face is found when auto_fix returns one (no NoFaceError); "via fallback" counts those the tight-crop fallback
gave (facestudio.faces.tight_crop_face); "right place" = the face's box overlaps the true face box with IoU >= 0.3;
"lm err" is the median distance of its five landmarks from the true ones over the true box side. Real photos:
../shared/data/occluded-real/face-masks (747 tight crops of real masks) and occluded-real/rof/{sunglasses,masked}
(unaligned head crops), no boxes: found = auto_fix returned a face. Negatives: face-free photos (scikit-image
samples, gradients, noise, shapes: training.scenes.random_background) as 1280x960 and 640x480 scenes, which
must raise NoFaceError, and as 256x256 crops, where the fallback (wrongly) takes the whole photo for a face.
`--no-fallback` measures the app as it was before the fallback (detector only). `--method telea` (default)
fills with OpenCV Telea: face finding does not depend on the fill method, and it keeps the run short.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import facestudio  # noqa: E402
import facestudio.faces as faces_module  # noqa: E402
from facestudio.api import NoFaceError  # noqa: E402
from facestudio.detection import box_from_landmarks, five_point_landmarks, iou_matrix  # noqa: E402
from facestudio.imageio import read_image  # noqa: E402

SOURCES = ("utk", "celeba-crops", "aaf", "scut")
VARIANTS = ("native", "tighter", "stretched", "exif")
REAL_FOLDERS = ("face-masks", "rof/sunglasses", "rof/masked")
FOUND_IOU = 0.3
STRETCH_SIZE = (400, 300)  # the user's report: a 400x300 stretched face


# --------------------------------------------------------------------------------------------- faces
def held_out_faces(data: Path, per_source: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB photo, 68x2 dlib landmarks) of `per_source` test-split faces of each source, spread over it."""
    from training.prepare_data import FALLBACK_BOX, split_of

    import dlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    chosen = []
    for source in SOURCES:
        paths = [p for p in sorted((data / "faces" / source).glob("*.jpg")) if split_of(p.stem) == "test"]
        step = max(1, len(paths) // per_source)
        for path in paths[::step][:per_source]:
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            height, width = image.shape[:2]
            found = list(detector(image, 2 if max(height, width) < 90 else 1))
            if found:
                centre = np.array([width / 2, height / 2])
                box = min(found, key=lambda r: np.hypot(r.center().x - centre[0], r.center().y - centre[1])
                          - 0.5 * r.width())
            else:
                x0, y0, x1, y1 = FALLBACK_BOX[source]
                box = dlib.rectangle(round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height))
            points = np.array([[p.x, p.y] for p in predictor(image, box).parts()], np.float64)
            chosen.append((f"{source}/{path.stem}", image, points))
    return chosen


def occlude(faces, data: Path, seed: int):
    """Each face with one held-out occluder: (name, kind, image, landmarks68)."""
    from training.occluders.assets import OccluderAssets
    from training.occlusion import synthesize

    assets = OccluderAssets.load(data, "test")
    out = []
    for index, (name, image, points) in enumerate(faces):
        sample = synthesize(image, points, np.random.default_rng([seed, index]), assets=assets)
        out.append((name, sample.kind, sample.image, points))
    return out


def framings(image: np.ndarray, points: np.ndarray, variant: str, rng: np.random.Generator, workdir: Path):
    """(photo as the app sees it, 68 landmarks in it) for one framing of an occluded face."""
    height, width = image.shape[:2]
    if variant == "native":
        return image, points
    if variant == "tighter":
        low, high = points.min(axis=0), points.max(axis=0)
        span = high - low
        x0, y0 = low - span * rng.uniform(-0.1, 0.1, size=2)
        x1, y1 = high + span * rng.uniform(-0.1, 0.1, size=2)
        x0, y0 = int(max(0, round(x0))), int(max(0, round(y0)))
        x1, y1 = int(min(width, round(x1))), int(min(height, round(y1)))
        return np.ascontiguousarray(image[y0:y1, x0:x1]), points - (x0, y0)
    wide = rng.random() < 0.5
    size = STRETCH_SIZE if wide else STRETCH_SIZE[::-1]
    stretched = cv2.resize(image, size, interpolation=cv2.INTER_AREA if size[0] < width else cv2.INTER_LINEAR)
    moved = (points + 0.5) * (size[0] / width, size[1] / height) - 0.5
    if variant == "stretched":
        return stretched, moved
    assert variant == "exif"
    from PIL import Image

    orientation = 6 if rng.random() < 0.5 else 8  # 6: stored turned 90 deg counter-clockwise, shown clockwise
    stored = np.ascontiguousarray(np.rot90(stretched, 1 if orientation == 6 else -1))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = workdir / "exif.jpg"
    Image.fromarray(stored).save(path, quality=92, exif=exif.tobytes())
    return read_image(path), moved


# --------------------------------------------------------------------------------------------- scoring
def run_fix(pipeline, image: np.ndarray, method: str):
    """The faces auto_fix worked on, or None when it raised NoFaceError."""
    try:
        return pipeline.auto_fix(image, method=method).faces
    except NoFaceError:
        return None


def fallback_used(face) -> bool:
    return face.source.endswith("tight-crop")


def score_tight(pipeline, samples, variants, method: str, seed: int) -> tuple[dict, list[dict]]:
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for variant in variants:
            for index, (name, kind, image, points) in enumerate(samples):
                rng = np.random.default_rng([seed, index, VARIANTS.index(variant)])
                photo, moved = framings(image, points, variant, rng, Path(workdir))
                truth_landmarks = five_point_landmarks(moved)
                truth = box_from_landmarks(truth_landmarks)
                found = run_fix(pipeline, photo, method)
                row = {"name": name, "kind": kind, "variant": variant, "shape": list(photo.shape[:2]),
                       "found": found is not None}
                if found:
                    best = max(found, key=lambda f: iou_matrix(np.array([f.box], np.float64), truth[None])[0, 0])
                    row.update(
                        fallback=fallback_used(best), source=best.source,
                        iou=float(iou_matrix(np.array([best.box], np.float64), truth[None])[0, 0]),
                        landmark_error=float(np.linalg.norm(best.landmarks - truth_landmarks, axis=1).mean()
                                             / truth[2]),
                    )
                rows.append(row)
    summary = {}
    for variant in variants:
        for source in SOURCES + ("all",):
            picked = [r for r in rows if r["variant"] == variant and (source == "all" or r["name"].startswith(source))]
            if picked:
                summary[f"{variant}/{source}"] = summarise(picked)
    summary["all/all"] = summarise(rows)
    return summary, rows


def summarise(rows: list[dict]) -> dict:
    found = [r for r in rows if r["found"]]
    fallback = [r for r in found if r.get("fallback")]
    errors = [r["landmark_error"] for r in fallback]
    return {
        "photos": len(rows),
        "found": len(found) / len(rows),
        "via_fallback": len(fallback),
        "via_whole_frame": sum(r["source"] == "tight-crop" for r in fallback),
        "right_place": sum(r["iou"] >= FOUND_IOU for r in found) / len(rows),
        "fallback_landmark_error": float(np.median(errors)) if errors else None,
        "detected_landmark_error": float(np.median([r["landmark_error"] for r in found if not r.get("fallback")]
                                                  or [np.nan])),
    }


def score_real(pipeline, data: Path, folders, limit, method: str) -> dict:
    results = {}
    for folder in folders:
        paths = sorted(p for p in (data / "occluded-real" / folder).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
        paths = paths[:limit]
        if not paths:
            raise SystemExit(f"{data / 'occluded-real' / folder}: no photos")
        found = fallback = whole = 0
        for path in paths:
            faces = run_fix(pipeline, read_image(path), method)
            found += faces is not None
            fallback += bool(faces) and fallback_used(faces[0])
            whole += bool(faces) and faces[0].source == "tight-crop"
        results[folder] = {"photos": len(paths), "found": found / len(paths), "via_fallback": fallback,
                           "via_whole_frame": whole}
        print(f"real {folder}: {json.dumps(results[folder])}", flush=True)
    return results


def score_negatives(pipeline, count: int, seed: int, method: str) -> dict:
    from training.scenes import ClutterBank, random_background

    clutter = ClutterBank.load(None)
    rng = np.random.default_rng([seed, 99])
    results = {}
    for height, width in ((960, 1280), (480, 640), (256, 256)):
        given = whole = 0
        for _ in range(count):
            faces = run_fix(pipeline, random_background(rng, height, width, clutter), method)
            given += faces is not None
            whole += bool(faces) and faces[0].source == "tight-crop"
        results[f"{width}x{height}"] = {"photos": count, "face_given": given / count, "via_whole_frame": whole}
    return results


# --------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--per-source", type=int, default=60, help="held-out faces per source (4 sources)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--real", default=",".join(REAL_FOLDERS), help="occluded-real folders ('' for none)")
    parser.add_argument("--real-limit", type=int, default=None, help="at most this many photos per real folder")
    parser.add_argument("--negatives", type=int, default=40, help="face-free photos per size")
    parser.add_argument("--method", default="telea", choices=("telea", "gan"))
    parser.add_argument("--checkpoint", type=Path, default=None, help="detector.pt to use instead of the shipped one")
    parser.add_argument("--no-fallback", action="store_true", help="the app before the tight-crop fallback")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    started = time.time()
    detector = "auto"
    if args.checkpoint is not None:
        from facestudio.detection import LearnedFaceDetector

        detector = LearnedFaceDetector(args.checkpoint, "cpu")
    pipeline = facestudio.load_pipeline(device="cpu", detector=detector)
    if args.no_fallback:
        faces_module.find_faces = lambda found_by, image: found_by.detect(image)
    variants = [v for v in args.variants.split(",") if v]
    samples = occlude(held_out_faces(args.data, args.per_source), args.data, args.seed)
    summary, rows = score_tight(pipeline, samples, variants, args.method, args.seed)
    real = score_real(pipeline, args.data, [f for f in args.real.split(",") if f], args.real_limit, args.method)
    negatives = score_negatives(pipeline, args.negatives, args.seed, args.method) if args.negatives else {}

    label = "detector only (before the fallback)" if args.no_fallback else "detector + tight-crop fallback"
    print(f"\nauto_fix on held-out tight crops with held-out occluders, {label}:\n")
    print("| framing | source | photos | face found | via fallback (whole frame) | right place (IoU >= 0.3) "
          "| lm err detected / fallback |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, r in summary.items():
        variant, source = key.split("/", 1)
        fallback_err = "-" if r["fallback_landmark_error"] is None else f"{r['fallback_landmark_error']:.3f}"
        print(f"| {variant} | {source} | {r['photos']} | {100 * r['found']:.1f} % | "
              f"{r['via_fallback']} ({r['via_whole_frame']}) | "
              f"{100 * r['right_place']:.1f} % | {r['detected_landmark_error']:.3f} / {fallback_err} |")
    if real:
        print("\n| real photos | photos | face found | via fallback (whole frame) |\n| --- | --- | --- | --- |")
        for folder, r in real.items():
            print(f"| occluded-real/{folder} | {r['photos']} | {100 * r['found']:.1f} % | {r['via_fallback']} "
                  f"({r['via_whole_frame']}) |")
    if negatives:
        print("\n| face-free photos | photos | a face given (should be 0) | of which whole frame |\n"
              "| --- | --- | --- | --- |")
        for size, r in negatives.items():
            print(f"| {size} | {r['photos']} | {100 * r['face_given']:.1f} % | {r['via_whole_frame']} |")
    print(f"\n{time.time() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"tight": summary, "real": real, "negatives": negatives, "rows": rows},
                                        indent=1))


if __name__ == "__main__":
    main()
