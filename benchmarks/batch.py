"""Batch throughput: photos per second through the batch engine, on 200 px faces and 12-megapixel photos.

    python benchmarks/batch.py                      # Markdown table on stdout
    python benchmarks/batch.py --faces 32 --photos 4 --jobs 0 2 --methods telea gan --device cpu
    python benchmarks/batch.py --ray                # local batch (jobs 2) vs Ray with 2 workers, same photos

Faces are UTKFace crops from ../shared/data (or $FACESTUDIO_DATA). The 12 MP photos (4000x3000)
are composed here: a textured background with three of those faces pasted at 450-650 px, saved as
JPEG q92, so decoding and encoding cost what a camera file costs. The whole engine is timed: read,
detect, segment, fill, write result and mask (PNG), with the models loaded once beforehand. With
no trained weights in resources/weights the models are randomly initialised with their default
(shipped) sizes: the fill is noise but the time is the same. `--jobs` compares reading/writing in
the model's thread (0) with reader/writer threads (N). "CPU ms/photo" is this process's CPU time
(all threads): on a machine shared with other work it is steadier than the wall-clock columns.

`--ray` runs each set through the local batch (jobs 2, this process; `--threads` and one torch thread) and
through `facestudio batch --ray`'s runner on a Ray started here with `--ray-workers` CPU workers (each loads
its own models, one torch thread), and checks that Ray wrote byte-identical outputs to the local batch with
one torch thread (torch's CPU results can depend on its thread count: the gan fill of a large face does).
Ray's "seconds" include its workers' start-up and model loading (every run pays them); "photos/s once
started" leaves them out: (photos - 1) / (seconds minus the seconds of a run of one photo), which is what
a long run approaches. Ray's own start (`ray.init`) is in the caption, not in the rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from facestudio.api import default_weights_dir, load_pipeline  # noqa: E402
from facestudio.batch import DONE, BatchJob, BatchOptions, plan_folder  # noqa: E402

MODEL_KINDS = ("segmenter", "encoder", "generator")
PHOTO_SIZE = (4000, 3000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=24, help="200 px face photos to process (default 24)")
    parser.add_argument("--photos", type=int, default=4, help="12 MP photos to process (default 4)")
    parser.add_argument("--methods", nargs="+", default=["telea", "gan"], choices=["telea", "gan"])
    parser.add_argument("--jobs", nargs="+", type=int, default=[0, 2], help="reader/writer threads to compare")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--weights", type=Path, default=None, help="checkpoint folder (default: shipped, else random)")
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--ray", action="store_true", help="compare the local batch with Ray (see above)")
    parser.add_argument("--ray-workers", type=int, default=2, help="Ray workers for --ray (default 2)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    faces = _face_files(args.data, max(args.faces, 3))
    with tempfile.TemporaryDirectory(prefix="facestudio-bench-") as scratch:
        scratch = Path(scratch)
        weights, weights_note = _weights(args.weights, scratch / "weights")
        pipeline = load_pipeline(device=args.device, weights_dir=weights)
        pipeline.load_models(MODEL_KINDS)
        sets = {
            "200 px faces": _copy_faces(faces[: args.faces], scratch / "faces"),
            "12 MP photos": _compose_photos(faces, args.photos, scratch / "photos"),
        }
        if args.ray:
            return _compare_with_ray(args, pipeline, sets, scratch, weights, weights_note)
        rows = []
        for label, folder in sets.items():
            _warm_up(pipeline, folder, scratch / "warm-up", args.methods)
            for method in args.methods:
                for jobs in args.jobs:
                    rows.append((label, method, jobs, *_time_run(pipeline, folder, scratch / "out", method, jobs)))

    print(f"Batch throughput, device {pipeline.device}, {args.threads} torch threads, {os.cpu_count()} CPUs; "
          f"weights: {weights_note}; identity check off.\n")
    print("| photos | method | jobs | count | seconds | photos/s | ms/photo | CPU ms/photo |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, method, jobs, count, seconds, cpu_seconds in rows:
        print(f"| {label} | {method} | {jobs} | {count} | {seconds:.2f} | {count / seconds:.2f} | "
              f"{1000 * seconds / count:.0f} | {1000 * cpu_seconds / count:.0f} |")
    return 0


def _time_run(pipeline, folder: Path, output: Path, method: str, jobs: int) -> tuple[int, float, float]:
    """Photos processed, wall seconds, and CPU seconds of this process (all threads) for one run."""
    options = BatchOptions(method=method, existing="overwrite", jobs=jobs, identity=False)
    return _timed(BatchJob(plan_folder(folder, output), options, pipeline=pipeline))


def _timed(job) -> tuple[int, float, float]:
    """Run `job` (a BatchJob or RayBatchJob): photos, wall seconds, this process's CPU seconds."""
    started, cpu_started = time.perf_counter(), time.process_time()
    outcomes = list(job.run())
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    failed = [outcome.line for outcome in outcomes if outcome.status != DONE]
    if failed:
        raise SystemExit(f"benchmark run failed: {failed[0]}")
    return len(outcomes), seconds, cpu_seconds


def _timed_once_started(make_job, folder: Path, output: Path) -> tuple[int, float, float, float]:
    """A run of one photo, then of all: photos, seconds, CPU seconds, and photos/s once started, i.e.
    (photos - 1) / (seconds - the one-photo run's seconds): start-up and the first photo left out."""
    items = plan_folder(folder, output)
    _, first_seconds, _ = _timed(make_job(items[:1]))
    count, seconds, cpu_seconds = _timed(make_job(items))
    once_started = (count - 1) / (seconds - first_seconds) if seconds > first_seconds else float("nan")
    return count, seconds, cpu_seconds, once_started


def _compare_with_ray(args: argparse.Namespace, pipeline, sets: dict[str, Path], scratch: Path, weights: Path,
                      weights_note: str) -> int:
    """The local batch (jobs 2) and Ray with `args.ray_workers` workers on the same photos, side by side."""
    import ray
    import torch

    from facestudio.batch.ray_runner import RayBatchJob

    rows, different = [], []
    started = time.perf_counter()
    ray.init(num_cpus=args.ray_workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    try:
        for label, folder in sets.items():
            _warm_up(pipeline, folder, scratch / "warm-up", args.methods)
            for method in args.methods:
                options = BatchOptions(method=method, device=args.device, weights_dir=weights,
                                       existing="overwrite", jobs=2, identity=False)
                for threads in sorted({args.threads, 1}, reverse=True):  # one torch thread: what a worker has
                    torch.set_num_threads(threads)
                    local = scratch / f"{label}-{method}-local-{threads}"
                    rows.append((label, method, f"local, jobs 2, {threads} torch thread(s)", *_timed_once_started(
                        lambda items: BatchJob(items, options, pipeline=pipeline), folder, local)))
                torch.set_num_threads(args.threads)
                on_ray = scratch / f"{label}-{method}-ray"
                rows.append((label, method, f"Ray, {args.ray_workers} workers of 1 CPU", *_timed_once_started(
                    lambda items: RayBatchJob(items, options, workers=args.ray_workers), folder, on_ray)))
                ours, theirs = _outputs(local), _outputs(on_ray)
                different += [f"{label}/{method}/{name}" for name in sorted(set(ours) | set(theirs))
                              if ours.get(name) != theirs.get(name)]
    finally:
        ray.shutdown()

    print(f"Local batch vs Ray, device {pipeline.device}, {os.cpu_count()} CPUs; Ray: a local cluster of "
          f"{args.ray_workers} CPUs started in {ray_start:.1f} s, one torch thread per worker; weights: "
          f"{weights_note}; identity check off; outputs byte-identical to the local batch with one torch thread: "
          f"{'yes' if not different else 'NO: ' + ', '.join(different)}.\n")
    print("| photos | method | runner | count | seconds | photos/s | photos/s once started |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for label, method, runner, count, seconds, _, steady in rows:
        print(f"| {label} | {method} | {runner} | {count} | {seconds:.2f} | {count / seconds:.2f} | {steady:.2f} |")
    return 1 if different else 0


def _outputs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.png"))}


def _warm_up(pipeline, folder: Path, output: Path, methods: list[str]) -> None:
    """One photo per method first, so one-off costs (allocator, kernels) stay out of the timings."""
    first = plan_folder(folder, output)[:1]
    for method in methods:
        options = BatchOptions(method=method, existing="overwrite", identity=False)
        list(BatchJob(first, options, pipeline=pipeline).run())


def _face_files(data: Path | None, count: int) -> list[Path]:
    root = data or Path(os.environ.get("FACESTUDIO_DATA") or REPO_ROOT / ".." / "shared" / "data")
    files = sorted((root / "faces" / "utk").glob("*.jpg"))[:count]
    if len(files) < count:
        raise SystemExit(f"{root / 'faces' / 'utk'}: needs {count} face photos, found {len(files)}")
    return files


def _copy_faces(files: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for path in files:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _compose_photos(faces: list[Path], count: int, folder: Path) -> Path:
    """`count` 4000x3000 JPEGs, each a smooth textured background with three faces on it."""
    folder.mkdir(parents=True)
    generator = np.random.default_rng(0)
    width, height = PHOTO_SIZE
    for index in range(count):
        coarse = generator.integers(40, 215, size=(12, 16, 3), dtype=np.uint8)
        background = Image.fromarray(coarse).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
        grain = generator.normal(0.0, 6.0, size=(height, width, 3))
        photo = Image.fromarray(np.clip(np.asarray(background) + grain, 0, 255).astype(np.uint8))
        for slot in range(3):
            side = int(generator.integers(450, 650))
            face = Image.open(faces[(3 * index + slot) % len(faces)]).convert("RGB").resize((side, side))
            photo.paste(face, (300 + slot * 1250, int(generator.integers(300, height - side - 300))))
        photo.save(folder / f"photo_{index:02d}.jpg", quality=92)
    return folder


def _weights(requested: Path | None, scratch: Path) -> tuple[Path, str]:
    """The checkpoint folder to time with, and how to describe it in the table's caption."""
    folder = requested or default_weights_dir()
    if all((folder / f"{kind}.pt").is_file() for kind in MODEL_KINDS):
        return folder, str(folder)
    import torch

    from facestudio.models.checkpoint import build_model, save_checkpoint

    torch.manual_seed(0)
    for kind in MODEL_KINDS:
        metadata = {"note": "random weights for timing", "torch_version": str(torch.__version__)}
        save_checkpoint(scratch / f"{kind}.pt", build_model(kind, {}).eval(), metadata=metadata, kind=kind)
    return scratch, "random, default model sizes (no trained weights found)"


if __name__ == "__main__":
    sys.exit(main())
