"""Median milliseconds per face for each model and for the whole auto-fix, at 128 and 256 px.

    python benchmarks/speed.py                      # shipped weights, 2 CPU threads
    python benchmarks/speed.py --random             # default-size random models (no weights needed)
    python benchmarks/speed.py --device cuda --repeats 50

The face is the embedded sample (the astronaut wearing drawn sunglasses, 512 px) unless --image
is given; its aligned crop is what segment / encode / generate / Telea see. "auto_fix" rows time
the public API on the whole photo (detection, segmentation, identity, fill, paste-back and the
identity check), with the generator at that size; "+ reference photo" with a reference photo prepared
once (issue 16: it may cost at most 30 ms per face more). Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SIZES = (128, 256)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    import torch

    torch.set_num_threads(args.threads)
    from facestudio.alignment import crop_mask
    from facestudio.api import Pipeline, default_weights_dir
    from facestudio.classic import telea_inpaint
    from facestudio.devices import resolve_device
    from facestudio.faces import face_crop, whole_image_face
    from facestudio.imageio import read_image

    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory(prefix="facestudio-bench-") as scratch:
        if args.random:
            weights_dir, weights_note = write_random_weights(Path(scratch)), "random (default configs)"
        else:
            weights_dir = Path(args.weights) if args.weights else default_weights_dir()
            weights_note = str(weights_dir)
        image, hole_mask, image_note = load_image(args.image, read_image)
        pipeline = Pipeline(device=device, weights_dir=weights_dir)
        pipeline.load_models()
        segmenter, encoder, generator = (pipeline.model(kind) for kind in ("segmenter", "encoder", "generator"))
        faces = pipeline.detect(image) or [whole_image_face(image)]
        face = max(faces, key=lambda found: found.area)

        rows: dict[str, dict[int, float]] = {}
        for size in SIZES:
            crop = face_crop(image, face, size)
            hole = crop_mask(hole_mask, crop.matrix, size, threshold=1)
            pixels = to_tensor(crop.image, device)
            holes = torch.from_numpy(hole > 0)[None, None].float().to(device)
            with torch.inference_mode():
                identity = encoder(to_tensor(face_crop(image, face, 128).image, device))
            timings = {
                "segment": lambda: segmenter(pixels),
                "encode": lambda: encoder(pixels),
                "generate": lambda: generator(pixels * (1 - holes), holes, identity),
            }
            for name, step in timings.items():
                rows.setdefault(f"{name} (crop)", {})[size] = median_ms(step, args.repeats, device, inference=True)
            rows.setdefault("telea (crop)", {})[size] = median_ms(
                lambda: telea_inpaint(crop.image, hole), args.repeats, device
            )
            per_face = len(faces)
            rows.setdefault("auto_fix gan (photo, per face)", {})[size] = (
                median_ms(lambda: pipeline.auto_fix(image, method="gan", size=size), args.repeats, device) / per_face
            )
            # a reference photo is prepared once (here: the photo mirrored); what it costs per fix is this row's excess
            reference = pipeline.reference(np.ascontiguousarray(image[:, ::-1]), name="mirrored")
            rows.setdefault("auto_fix gan + reference photo (photo, per face)", {})[size] = median_ms(
                lambda: pipeline.auto_fix(image, method="gan", size=size, reference=reference), args.repeats, device
            ) / per_face
            rows.setdefault("auto_fix telea (photo, per face)", {})[size] = (
                median_ms(lambda: pipeline.auto_fix(image, method="telea", size=size), args.repeats, device) / per_face
            )

    print(
        f"Device {device} ({describe_device(device)}), torch {torch.__version__}, {args.threads} CPU threads; "
        f"weights: {weights_note}; photo: {image_note}, {len(faces)} face(s) "
        f"({'detected' if faces[0].source != 'whole-image' else 'whole image'}); median of {args.repeats} runs.\n"
    )
    print("| step | " + " | ".join(f"{size} px" for size in SIZES) + " |")
    print("| --- | " + " | ".join("---:" for _ in SIZES) + " |")
    for name, by_size in rows.items():
        print(f"| {name} | " + " | ".join(f"{by_size[size]:.1f} ms" for size in SIZES) + " |")
    return 0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="weights folder (default: the shipped weights)")
    parser.add_argument("--random", action="store_true", help="time randomly initialised default-size models")
    parser.add_argument("--image", default=None, help="photo to time on (default: the embedded sample)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per figure, after one warm-up")
    return parser.parse_args(argv)


def load_image(path: str | None, read_image: Callable) -> tuple[np.ndarray, np.ndarray, str]:
    """The photo and a hole mask over its eyes (the sample's true sunglasses mask)."""
    from facestudio.sample import load_sample

    sample = load_sample()
    if path is None:
        return sample.image, sample.true_mask, f"sample {sample.image.shape[1]}x{sample.image.shape[0]}"
    image = read_image(path)
    mask = np.zeros(image.shape[:2], np.uint8)
    height, width = image.shape[:2]
    mask[int(height * 0.35) : int(height * 0.5), int(width * 0.25) : int(width * 0.75)] = 255
    return image, mask, f"{path} {width}x{height}"


def write_random_weights(folder: Path) -> Path:
    """Default-config segmenter, encoder and generator with random weights (same cost as trained)."""
    import torch

    from facestudio.models import FaceEncoder, InpaintGenerator, OcclusionSegmenter, save_checkpoint

    torch.manual_seed(0)
    for kind, model in (
        ("segmenter", OcclusionSegmenter()),
        ("encoder", FaceEncoder()),
        ("generator", InpaintGenerator()),
    ):
        save_checkpoint(folder / f"{kind}.pt", model.eval(), metadata={"torch_version": str(torch.__version__)})
    return folder


def to_tensor(crop: np.ndarray, device: str):
    """One HxWx3 uint8 crop as Pipeline feeds it to a model: 1x3xHxW in [-1, 1] on `device`."""
    from facestudio.tensors import images_to_tensor

    return images_to_tensor(crop, device)


def median_ms(step: Callable[[], object], repeats: int, device: str, inference: bool = False) -> float:
    """Median wall time of `step` over `repeats` runs after one warm-up, synchronising CUDA."""
    import torch

    def timed() -> float:
        started = time.perf_counter()
        if inference:
            with torch.inference_mode():
                step()
        else:
            step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - started) * 1000.0

    timed()
    return statistics.median(timed() for _ in range(max(1, repeats)))


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
