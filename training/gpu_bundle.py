"""Build `gpu_bundle/`, what a GPU machine without internet needs beside the git working tree.

    python -m training.gpu_bundle [--data data_cache] [--out gpu_bundle] [--max-mb auto] [--no-wheels]

The GPU machine takes the working tree plus carried paths, 64 MiB in all, and has torch + CUDA, numpy,
OpenCV and PyYAML but not kornia or efficientnet-pytorch. The bundle holds:
- `data.tar`: ONE uncompressed tar (JPEG crops do not compress) of a data cache, `data_cache/meta.npz`,
  `data_cache/faces/<source>/<name>.jpg` and `data_cache/occluders/`: every validation face, then training
  faces taken round-robin over the sources until the byte budget; test faces stay home. meta.npz is
  rewritten to the chosen rows, so the cache reads as any other (`training.data.FaceCache`);
- `wheels/`: kornia and efficientnet-pytorch as wheels (pure Python), for `pip install --no-index`;
- `stub/kornia_rs/`: kornia imports kornia_rs (a 5 MB compiled wheel) for `kornia.io` alone, which
  training never calls; a stand-in module keeps those 5 MB for faces.
The budget is what the working tree leaves of the 64 MiB (less a margin); the build fails if the bundle
does not fit. `gpu_bundle/` is git-ignored. `training/gpu_run.sh` uses it.
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

LOG = logging.getLogger("training.gpu_bundle")
REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
CARRY_LIMIT = 64 * MIB  # working tree + carried paths, per device call
MARGIN = 2 * MIB  # files other people add to the tree before the call
WHEELS = ("kornia==0.9.0", "efficientnet-pytorch==0.7.1")
STUB = '"""Stand-in for kornia_rs on the GPU machine: kornia imports it for kornia.io, which training never uses."""\n' \
       "from types import SimpleNamespace\n\nio = SimpleNamespace()\n"
ARCHIVE_ROOT = "data_cache"


def working_tree_bytes(repo: Path = REPO) -> int:
    """Bytes of what a device call sends besides the carry: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, check=True).stdout.split(b"\0")
    total = 0
    for name in filter(None, listed):
        path = repo / name.decode()
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def choose_rows(meta: dict[str, np.ndarray], face_bytes: np.ndarray, budget: int) -> np.ndarray:
    """Rows to pack, in meta order: every val row, then train rows round-robin by source while they fit."""
    splits, sources = meta["split"], meta["source"]
    chosen = list(np.flatnonzero(splits == "val"))
    used = int(face_bytes[chosen].sum())
    queues = [list(np.flatnonzero((splits == "train") & (sources == s))) for s in np.unique(sources)]
    while any(queues):
        for queue in queues:
            if not queue:
                continue
            row = queue.pop(0)
            if used + face_bytes[row] > budget:
                queues = [[] for _ in queues]
                break
            chosen.append(row)
            used += int(face_bytes[row])
    return np.array(sorted(chosen), dtype=np.int64)


def subset_meta(meta: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """meta.npz arrays restricted to `rows` (per-face arrays: first axis = faces; others kept)."""
    faces = len(meta["names"])
    return {k: (v[rows] if v.ndim and v.shape[0] == faces else v) for k, v in meta.items()}


def pack_data(data: Path, archive: Path, budget: int) -> dict[str, int]:
    """Write `archive` from the cache at `data` within `budget` bytes; returns what it holds."""
    with np.load(data / "meta.npz") as loaded:
        meta = {k: loaded[k] for k in loaded.files}
    paths = [data / "faces" / str(s) / f"{n}.jpg" for s, n in zip(meta["source"], meta["names"])]
    face_bytes = np.array([p.stat().st_size + 512 for p in paths], dtype=np.int64)  # + tar header
    occluders = [p for p in sorted((data / "occluders").rglob("*")) if p.is_file()]
    fixed = sum(p.stat().st_size + 512 for p in occluders) + (meta["names"].nbytes * 4) + 10 * 1024
    rows = choose_rows(meta, face_bytes, budget - fixed)
    if not len(rows) or not (meta["split"][rows] == "train").any():
        raise SystemExit(f"{data}: no training face fits a {budget / MIB:.1f} MiB data budget")
    buffer = io.BytesIO()
    np.savez(buffer, **subset_meta(meta, rows))
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".tar.partial")
    with tarfile.open(partial, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(f"{ARCHIVE_ROOT}/meta.npz")
        info.size = buffer.getbuffer().nbytes
        buffer.seek(0)
        tar.addfile(info, buffer)
        for row in rows:
            tar.add(paths[row], arcname=f"{ARCHIVE_ROOT}/{paths[row].relative_to(data)}", recursive=False)
        for path in occluders:
            tar.add(path, arcname=f"{ARCHIVE_ROOT}/{path.relative_to(data)}", recursive=False)
    partial.replace(archive)
    splits = meta["split"][rows]
    return {"faces": int(len(rows)), "train": int((splits == "train").sum()), "val": int((splits == "val").sum()),
            "of": int(len(paths)), "bytes": archive.stat().st_size}


def fetch_wheels(folder: Path) -> list[Path]:
    """kornia and efficientnet-pytorch wheels in `folder` (pip download / pip wheel when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for requirement in WHEELS:
        stem = requirement.split("==")[0].replace("-", "_")
        if any(folder.glob(f"{stem}-*.whl")):
            continue
        # efficientnet-pytorch is an sdist only: `pip wheel` builds its pure-Python wheel
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), requirement],
                       check=True)
    return sorted(folder.glob("*.whl"))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(data: Path, out: Path, max_mb: float | None = None, wheels: bool = True,
          tree_bytes: int | None = None) -> dict[str, int]:
    """Build the bundle; SystemExit when it cannot fit beside the working tree."""
    if not (data / "meta.npz").is_file():
        raise SystemExit(f"{data}: no data cache (meta.npz); build one with `python -m training.prepare_data`")
    tree = working_tree_bytes() if tree_bytes is None else tree_bytes
    allowed = CARRY_LIMIT - MARGIN - tree
    out.mkdir(parents=True, exist_ok=True)
    stub = out / "stub" / "kornia_rs"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text(STUB)
    if wheels:
        fetch_wheels(out / "wheels")
    extras = folder_bytes(out) - (out / "data.tar").stat().st_size if (out / "data.tar").exists() else folder_bytes(out)
    budget = allowed - extras if max_mb is None else int(max_mb * 1e6)
    facts = pack_data(data, out / "data.tar", budget)
    total = folder_bytes(out)
    facts.update(tree=tree, bundle=total, allowed=allowed)
    LOG.info("%s: %d faces (%d train, %d val) of %d, data.tar %.1f MiB; bundle %.1f MiB + working tree %.1f MiB "
             "= %.1f MiB of %d MiB", out, facts["faces"], facts["train"], facts["val"], facts["of"],
             facts["bytes"] / MIB, total / MIB, tree / MIB, (total + tree) / MIB, CARRY_LIMIT // MIB)
    if total > allowed:
        raise SystemExit(f"{out}: {total / MIB:.1f} MiB does not fit the {allowed / MIB:.1f} MiB the working tree "
                         f"leaves of {CARRY_LIMIT // MIB} MiB; pass a smaller --max-mb")
    return facts


def main(argv: list[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO / "data_cache", help="data cache to pack")
    parser.add_argument("--out", type=Path, default=REPO / "gpu_bundle")
    parser.add_argument("--max-mb", type=float, default=None,
                        help="data budget in MB (default: what the working tree leaves of 64 MiB)")
    parser.add_argument("--no-wheels", action="store_true", help="skip the wheels (a machine that has them)")
    parser.add_argument("--clean", action="store_true", help="remove the old bundle first (wheels included)")
    args = parser.parse_args(argv)
    if args.clean and args.out.exists():
        shutil.rmtree(args.out)
    return build(args.data, args.out, args.max_mb, wheels=not args.no_wheels)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
