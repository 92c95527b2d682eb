"""Decide what a batch run reads and writes, before any pixel is touched.

A plan is a list of `BatchItem`s: one input photo, the two files it produces (<stem>.png, the
result, and <stem>.mask.png, the occlusion mask) and, when masks are given, the mask it uses.
Planning catches what would otherwise go wrong half-way through a run: two inputs that would
write the same output (a.jpg and a.png), an output that would land on an input, an output folder
inside the input tree being read back as input on the next run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from facestudio.imageio import ImageReadError, image_size, read_image, read_mask

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp"})
RESULT_SUFFIX = ".png"
MASK_SUFFIX = ".mask.png"
USER_MASK_SUFFIX = ".png"

# facestudio.atomic.atomic_write (photos, masks and reports) saves to ".<name>.<8 random chars>.tmp" in the
# target folder, then renames. A run killed between the two leaves such a file behind.
_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


class PlanError(Exception):
    """The run cannot start (missing input folder, output folder equal to the input...); one line."""


@dataclass(frozen=True)
class BatchItem:
    """One input photo and the files a run reads and writes for it.

    `name` is how the photo is shown to people and in reports (the path relative to the input
    folder for `batch`, the path as given for `fix`). `problem` is set when the plan already
    knows the photo cannot be processed (it is then reported as failed without being read).
    """

    source: Path
    name: str
    result_path: Path
    mask_path: Path
    user_mask_path: Path | None = None
    problem: str | None = None

    @property
    def outputs(self) -> tuple[Path, Path]:
        return (self.result_path, self.mask_path)

    def outputs_complete(self) -> bool:
        """True when both outputs decode and have the input photo's size. Writes are atomic, but a file
        can still be cut short by a full disk or a copy, or be another photo: those are done again."""
        if not all(_non_empty_file(path) for path in self.outputs):
            return False
        try:
            size = image_size(self.source)
            result = read_image(self.result_path)
            mask = read_mask(self.mask_path)
        except ImageReadError:
            return False
        return (result.shape[1], result.shape[0]) == size and mask.shape == result.shape[:2]

    def any_output_exists(self) -> bool:
        return any(path.exists() for path in self.outputs)


def is_image_name(path: Path) -> bool:
    """True for a visible file whose extension is one a photo may have."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def plan_folder(
    input_dir: Path, output_dir: Path, *, recursive: bool = False, masks_dir: Path | None = None
) -> list[BatchItem]:
    """Plan a `batch` run: OUTPUT mirrors INPUT's tree; masks are looked up at the same relative path.

    Raises PlanError when the input folder is missing or the output folder is the input folder.
    Hidden files and folders are left out, and so are the output and mask folders when they lie
    inside the input tree (so a second run never reads the first run's results as photos).
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if input_dir.is_file():
        raise PlanError(f"{input_dir}: is a file, not a folder (batch takes a folder; for one photo use "
                        f"'facestudio fix {input_dir.name} -o OUTDIR')")
    if not input_dir.is_dir():
        raise PlanError(f"{input_dir}: no such folder")
    if masks_dir is not None and not Path(masks_dir).is_dir():
        raise PlanError(f"{masks_dir}: mask folder does not exist")
    if _same_path(input_dir, output_dir):
        raise PlanError(f"{output_dir}: the output folder must differ from the input folder")
    excluded = [path for path in (output_dir, masks_dir) if path is not None]
    items = []
    for source in _walk_images(input_dir, recursive=recursive, excluded=excluded):
        relative = source.relative_to(input_dir)
        target = output_dir / relative.parent
        user_mask = None if masks_dir is None else Path(masks_dir) / relative.parent / (source.stem + USER_MASK_SUFFIX)
        items.append(_item(source, relative.as_posix(), target, user_mask))
    return _with_conflicts_marked(items)


def plan_files(inputs: Sequence[Path], output_dir: Path, *, masks_dir: Path | None = None) -> list[BatchItem]:
    """Plan a `fix` run: files and the images directly inside folders, all written flat into OUTPUT.

    An input that does not exist becomes an item with a problem (reported, not fatal), so one
    mistyped name does not stop the others.
    """
    output_dir = Path(output_dir)
    if masks_dir is not None and not Path(masks_dir).is_dir():
        raise PlanError(f"{masks_dir}: mask folder does not exist")
    sources: list[tuple[Path, str | None]] = []
    for given in map(Path, inputs):
        if given.is_dir():
            sources.extend((path, None) for path in _walk_images(given, recursive=False, excluded=[output_dir]))
        elif given.exists():
            sources.append((given, None))
        else:
            sources.append((given, "no such file or folder"))
    items = []
    for source, problem in sources:
        user_mask = None if masks_dir is None else Path(masks_dir) / (source.stem + USER_MASK_SUFFIX)
        item = _item(source, str(source), output_dir, user_mask)
        items.append(item if problem is None else _with_problem(item, problem))
    return _with_conflicts_marked(items)


def remove_stale_temporaries(items: Iterable[BatchItem], extra_files: Iterable[Path] = ()) -> list[Path]:
    """Delete temporary files a killed run left next to this plan's outputs; return what was removed.

    Only names of the form ".<one of our output names>.<8 chars>.tmp" are touched, so nothing a
    person put in the output folder can be deleted.
    """
    expected: dict[Path, set[str]] = {}
    for path in [*(p for item in items for p in item.outputs), *extra_files]:
        expected.setdefault(path.parent, set()).add(path.name)
    removed = []
    for folder, names in expected.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMPORARY_NAME.match(entry.name)
            if match and match["name"] in names and entry.is_file(follow_symlinks=False):
                try:
                    os.remove(entry.path)
                    removed.append(Path(entry.path))
                except OSError:
                    pass
    return removed


def _item(source: Path, name: str, target_folder: Path, user_mask: Path | None) -> BatchItem:
    return BatchItem(
        source=source,
        name=name,
        result_path=target_folder / (source.stem + RESULT_SUFFIX),
        mask_path=target_folder / (source.stem + MASK_SUFFIX),
        user_mask_path=user_mask,
    )


def _with_problem(item: BatchItem, problem: str) -> BatchItem:
    return BatchItem(item.source, item.name, item.result_path, item.mask_path, item.user_mask_path, problem)


def _with_conflicts_marked(items: list[BatchItem]) -> list[BatchItem]:
    """Give a problem to every item whose output would land on an input or on another item's output."""
    inputs = {_key(item.source): item.source for item in items if item.problem is None}
    for item in items:
        if item.user_mask_path is not None:
            inputs.setdefault(_key(item.user_mask_path), item.user_mask_path)
    owners: dict[str, BatchItem] = {}
    marked = []
    for item in items:
        problem = item.problem
        for output in item.outputs if problem is None else ():
            key = _key(output)
            if key in inputs:
                problem = f"its output {output} would overwrite the input {inputs[key]}"
            elif key in owners:
                problem = f"its output {output} would also be written for {owners[key].name}; rename one of them"
            if problem:
                break
        if problem is None:
            owners.update((_key(output), item) for output in item.outputs)
        marked.append(item if problem == item.problem else _with_problem(item, problem))
    return marked


def _walk_images(folder: Path, *, recursive: bool, excluded: Sequence[Path]) -> list[Path]:
    """Image files under `folder` in a stable order (sorted per folder), skipping hidden and excluded paths."""
    skip = {_key(path) for path in excluded}
    found = []
    for current, folders, files in os.walk(folder):
        folders[:] = sorted(
            name for name in folders if not name.startswith(".") and _key(Path(current) / name) not in skip
        ) if recursive else []
        found.extend(Path(current) / name for name in sorted(files) if is_image_name(Path(name)))
    return found


def _key(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def _same_path(first: Path, second: Path) -> bool:
    return _key(first) == _key(second)


def _non_empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False
