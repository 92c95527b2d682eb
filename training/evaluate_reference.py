"""Evaluate reference photos on known people: fills without and with the person's other photo, beside Telea.

    python -m training.evaluate_reference [--weights resources/weights] [--data ../shared/data]
        [--per-person 4] [--seed 0] [--threads 2] [--out docs/evaluation/reference]

ROF people never trained on (training/evaluation/reference_photos.py says how): synthetic sunglasses and
face masks on their clean photos (truth known) through `pipeline.inpaint(..., reference=...)`, and their
real sunglasses / mask photos through `pipeline.auto_fix(..., reference=...)`, judged by dlib against a
gallery of their clean photos. Writes OUT/results.md, OUT/results.json, OUT/synthetic_sheet.png and
OUT/real_sheet.png, and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    import cv2
    import torch

    import facestudio
    from training.evaluation.dlib_identity import DlibDescriptor
    from training.evaluation.end_to_end_report import contact_sheet, write_png
    from training.evaluation.reference_photos import (eval_people, run_real, run_synthetic, summarize_real,
                                                      summarize_synthetic)
    from training.occluders.assets import OccluderAssets
    from training.prepare_data import default_data_dir

    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m training.evaluate_reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=REPO / "resources" / "weights")
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--per-person", type=int, default=4, help="gallery photos / real photos of each kind per person")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation" / "reference")
    args = parser.parse_args(arguments)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    started = time.perf_counter()
    rof = args.data / "occluded-real" / "rof"
    if not (rof / "index.csv").is_file():
        print(f"error: {rof / 'index.csv'}: ROF photos not found (set --data)", file=sys.stderr)
        return 1
    pipeline = facestudio.load_pipeline("cpu", args.weights, "auto")
    people = eval_people(rof, args.per_person)
    with DlibDescriptor(workers=1) as describer:
        synthetic, synthetic_sheet = run_synthetic(people, pipeline, OccluderAssets.load(args.data, "test"),
                                                   describer, args.seed)
        real, galleries, real_sheet = run_real(people, pipeline, describer)
    summary: dict[str, Any] = {
        "setup": {"command": "python -m training.evaluate_reference " + shlex.join(arguments),
                  "weights": str(args.weights), "people": [p.name for p in people],
                  "uses_reference_input": bool(getattr(pipeline.model("generator"), "uses_reference", False)),
                  "wall_s": time.perf_counter() - started},
        "synthetic": summarize_synthetic(synthetic),
        "real": summarize_real(real, galleries),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_png(contact_sheet(synthetic_sheet), args.out / "synthetic_sheet.png")
    write_png(contact_sheet(real_sheet), args.out / "real_sheet.png")
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    (args.out / "results.md").write_text(text)
    print(text)
    return 0


def markdown(summary: dict[str, Any]) -> str:
    setup = summary["setup"]
    lines = [f"# Reference photos on known people ({len(setup['people'])} people never trained on)", "",
             f"`{setup['command']}` ({setup['wall_s'] / 60:.1f} min; generator sees the reference: "
             f"{'yes' if setup['uses_reference_input'] else 'no, identity vector only'})", "",
             "## Synthetic occluders on clean photos (truth known)", "",
             "| hole | cases | method | hole PSNR | sharpness | content left | same person (dlib < 0.6) | dlib distance |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for hole, group in summary["synthetic"].items():
        for method, values in group["methods"].items():
            lines.append(f"| {hole} | {group['cases']} | {method} | {values['psnr_hole']:.2f} | "
                         f"{values['sharpness']:.2f} | {values['content_left']:.3f} | "
                         f"{100 * values.get('same_person', float('nan')):.0f} % | {values.get('identity', float('nan')):.3f} |")
    lines += ["", "## Real occluded photos against a gallery of the same people's clean photos", "",
              "| kind | photos | fixed (face found) | variant | same person | top-1 |", "| --- | --- | --- | --- | --- | --- |"]
    for kind, group in summary["real"].items():
        for variant, values in group["variants"].items():
            lines.append(f"| {kind} | {group['photos']} | {100 * group['fixed']:.0f} % | {variant} | "
                         f"{100 * values['same_person']:.0f} % | {100 * values['top1']:.0f} % |")
    lines += ["", "![synthetic](synthetic_sheet.png)", "", "![real](real_sheet.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
