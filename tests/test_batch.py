"""The batch engine and `facestudio batch`: awkward files, untouched inputs, atomic writes, resume, reports.

Real face photos from ../shared/data (skipped when absent), real files of every awkward kind made
here, the real Pipeline on small random checkpoints with method "telea" (segmenter and encoder
run; no trained weights needed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facestudio.api import load_pipeline
from facestudio.batch import (
    CANCELLED,
    DONE,
    FAILED,
    NO_FACE_REASON,
    SKIPPED,
    BatchJob,
    BatchOptions,
    PlanError,
    plan_files,
    plan_folder,
)
from facestudio.cli import main
from facestudio.imageio import read_image

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipeline(random_weights_dir: Path):
    return load_pipeline(device="cpu", weights_dir=random_weights_dir)


@pytest.fixture(scope="module")
def face(face_paths: list[Path]) -> np.ndarray:
    """A real 200x200 UTKFace photo as RGB."""
    return read_image(face_paths[0])


def run_job(items, pipeline, **options) -> dict[str, object]:
    """Run a job with the shared pipeline; outcomes by item name."""
    settings = {"method": "telea", "existing": "overwrite", "identity": False, **options}
    job = BatchJob(items, BatchOptions(**settings), pipeline=pipeline)
    return {outcome.item.name: outcome for outcome in job.run()}


def gradient_photo() -> np.ndarray:
    """A 240x320 photo with no face in it (a colour gradient)."""
    ramp = np.linspace(30, 220, 320, dtype=np.float32)
    return np.dstack([np.tile(ramp, (240, 1)), np.tile(ramp[::-1], (240, 1)), np.full((240, 320), 120.0)]).astype(
        np.uint8
    )


def save_rgb(path: Path, image: np.ndarray, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, **options)
    return path


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def temporaries(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(".tmp")]


# ----- awkward files that must fail with a reason, the rest of the run going on -------------------
def _zero_byte(folder: Path, face: np.ndarray) -> Path:
    path = folder / "empty.jpg"
    path.write_bytes(b"")
    return path


def _truncated_jpeg(folder: Path, face: np.ndarray) -> Path:
    whole = save_rgb(folder / "whole.tmp.jpg", face, quality=95)
    data = whole.read_bytes()
    whole.unlink()
    path = folder / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def _not_an_image(folder: Path, face: np.ndarray) -> Path:
    path = folder / "notes.jpg"
    path.write_text("shopping list: film, batteries\n" * 20)
    return path


def _dangling_link(folder: Path, face: np.ndarray) -> Path:
    path = folder / "moved.jpg"
    path.symlink_to(folder / "gone" / "moved.jpg")
    return path


def _unreadable(folder: Path, face: np.ndarray) -> Path:
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions cannot make a file unreadable")
    path = save_rgb(folder / "locked.jpg", face)
    path.chmod(0)
    return path


def _one_pixel_high(folder: Path, face: np.ndarray) -> Path:
    return save_rgb(folder / "line.png", np.full((1, 300, 3), 128, np.uint8))


BAD_FILES = {
    "zero-byte": (_zero_byte, "empty file"),
    "truncated": (_truncated_jpeg, "truncated"),
    "non-image with an image extension": (_not_an_image, "not an image"),
    "dangling link": (_dangling_link, "no such file"),
    "unreadable": (_unreadable, "permission denied"),
    "one pixel high": (_one_pixel_high, "image is too small (300x1 px)"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_reported_with_its_reason_and_the_run_goes_on(case, tmp_path, face, pipeline):
    make, reason = BAD_FILES[case]
    source = tmp_path / "in"
    save_rgb(source / "a_good.jpg", face)
    bad = make(source, face)
    save_rgb(source / "z_good.png", face)

    outcomes = run_job(plan_folder(source, tmp_path / "out"), pipeline)

    assert outcomes[bad.name].status == FAILED
    assert reason in outcomes[bad.name].reason
    assert str(bad) in outcomes[bad.name].line
    assert not (tmp_path / "out" / (bad.stem + ".png")).exists()
    assert outcomes["a_good.jpg"].status == DONE and outcomes["z_good.png"].status == DONE


def test_a_photo_with_no_face_is_reported_and_the_run_goes_on(tmp_path, face, pipeline):
    source = tmp_path / "in"
    save_rgb(source / "a_face.jpg", face)
    save_rgb(source / "b_landscape.png", gradient_photo())
    save_rgb(source / "c_face.png", face)

    outcomes = run_job(plan_folder(source, tmp_path / "out"), pipeline)

    missed = outcomes["b_landscape.png"]
    assert missed.status == FAILED and missed.reason == NO_FACE_REASON and missed.faces == 0
    assert missed.reason.startswith("no face found") and missed.traceback is None
    assert not any((tmp_path / "out" / name).exists() for name in ("b_landscape.png", "b_landscape.mask.png"))
    assert outcomes["a_face.jpg"].status == DONE and outcomes["c_face.png"].status == DONE
    assert outcomes["a_face.jpg"].faces == 1


def test_unknown_detector_is_refused():
    with pytest.raises(ValueError, match="unknown face detector 'hog'"):
        BatchOptions(detector="hog")


# ----- awkward files that must be processed ---------------------------------------------------------
def _grayscale(folder: Path, face: np.ndarray) -> tuple[Path, np.ndarray]:
    gray = np.asarray(Image.fromarray(face).convert("L"))
    return save_rgb(folder / "gray.png", gray), np.repeat(gray[..., None], 3, axis=2)


def _rgba(folder: Path, face: np.ndarray) -> tuple[Path, np.ndarray]:
    alpha = np.full(face.shape[:2], 255, np.uint8)
    alpha[:20, :20] = 0  # a transparent corner reads as white
    expected = face.copy()
    expected[:20, :20] = 255
    return save_rgb(folder / "rgba.png", np.dstack([face, alpha])), expected


def _sixteen_bit(folder: Path, face: np.ndarray) -> tuple[Path, np.ndarray]:
    path = folder / "sixteen.png"
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(face, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    return path, face


def _cmyk(folder: Path, face: np.ndarray) -> tuple[Path, np.ndarray]:
    path = folder / "cmyk.jpg"
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(face).convert("CMYK").save(path, quality=98)
    return path, face


def _exif_rotated(folder: Path, face: np.ndarray) -> tuple[Path, np.ndarray]:
    upright = np.ascontiguousarray(face[:, 30:170])  # 200 high x 140 wide, so rotation shows in the size
    stored = np.ascontiguousarray(np.rot90(upright))  # orientation 6: displayed after a quarter turn clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    return save_rgb(folder / "rotated.jpg", stored, quality=98, exif=exif), upright


GOOD_AWKWARD = {
    "grayscale": _grayscale,
    "rgba": _rgba,
    "16-bit": _sixteen_bit,
    "cmyk": _cmyk,
    "exif-rotated": _exif_rotated,
}


@pytest.mark.parametrize("case", list(GOOD_AWKWARD))
def test_awkward_photo_is_processed_as_displayed(case, tmp_path, face, pipeline):
    path, displayed = GOOD_AWKWARD[case](tmp_path / "in", face)
    hole = np.zeros(displayed.shape[:2], np.uint8)
    hole[120:150, 40:100] = 255
    save_rgb(tmp_path / "masks" / f"{path.stem}.png", hole)

    outcome = run_job(plan_folder(tmp_path / "in", tmp_path / "out", masks_dir=tmp_path / "masks"), pipeline)[path.name]

    assert outcome.status == DONE, outcome.reason
    result = read_image(outcome.item.result_path)
    assert result.shape == displayed.shape
    assert np.array_equal(result[hole == 0], read_image(path)[hole == 0])
    assert np.abs(result[hole == 0].astype(int) - displayed[hole == 0]).mean() < 3.0  # upright, right colours
    assert np.array_equal(np.asarray(Image.open(outcome.item.mask_path)), hole)


def test_nested_folders_mirror_the_tree_and_outputs_inside_the_input_are_not_read_back(tmp_path, face, pipeline):
    source = tmp_path / "shoot"
    for relative in ("top.jpg", "day1/a.jpg", "day1/portraits/b.png", ".hidden/c.jpg"):
        save_rgb(source / relative, face)
    output = source / "fixed"  # inside the input tree, as people do

    flat = run_job(plan_folder(source, output), pipeline)
    assert sorted(flat) == ["top.jpg"]

    nested = run_job(plan_folder(source, output, recursive=True), pipeline)
    assert sorted(nested) == ["day1/a.jpg", "day1/portraits/b.png", "top.jpg"]
    assert all(outcome.status == DONE for outcome in nested.values())
    for relative in ("top", "day1/a", "day1/portraits/b"):
        assert (output / f"{relative}.png").is_file() and (output / f"{relative}.mask.png").is_file()
    again = plan_folder(source, output, recursive=True)
    assert sorted(item.name for item in again) == sorted(nested)


def test_very_large_photo_is_processed_within_bounded_memory(tmp_path, face, pipeline):
    """8000x5000 (40 MP): the run's memory peak stays a small multiple of the photo's own size."""
    canvas = Image.new("RGB", (8000, 5000), (92, 110, 128))
    canvas.paste(Image.fromarray(face).resize((800, 800)), (3600, 2000))
    save_rgb(tmp_path / "in" / "panorama.jpg", np.asarray(canvas), quality=90)
    del canvas
    photo_bytes = 8000 * 5000 * 3

    baseline = _rss_bytes()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        outcome = run_job(plan_folder(tmp_path / "in", tmp_path / "out"), pipeline)["panorama.jpg"]
    finally:
        done.set()
        sampler.join()

    assert outcome.status == DONE, outcome.reason
    with Image.open(outcome.item.result_path) as result:
        assert result.size == (8000, 5000)
    assert peak[0] - baseline < 12 * photo_bytes, f"peak grew by {(peak[0] - baseline) / 2**20:.0f} MiB"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ----- inputs, outputs, atomicity ------------------------------------------------------------------
def test_inputs_are_byte_identical_after_a_run_and_outputs_never_land_on_inputs(tmp_path, face, pipeline):
    source = tmp_path / "in"
    save_rgb(source / "a.jpg", face)
    save_rgb(source / "a.png", face)  # a.jpg and a.png would both write a.png
    save_rgb(source / "b.png", face)
    save_rgb(source / "b.mask.jpg", face)  # its output b.mask.png is b.png's mask output
    _truncated_jpeg(source, face)
    before = tree_hashes(source)

    outcomes = run_job(plan_files([source], source), pipeline)  # fix with -o the input folder

    after = tree_hashes(source)
    assert {name: after[name] for name in before} == before
    assert "would overwrite the input" in outcomes[str(source / "a.jpg")].reason
    assert "would overwrite the input" in outcomes[str(source / "a.png")].reason
    assert outcomes[str(source / "b.png")].status == FAILED  # its output b.png is itself
    assert outcomes[str(source / "b.mask.jpg")].status == DONE
    with pytest.raises(PlanError, match="must differ"):
        plan_folder(source, source)


def test_jobs_do_not_change_results_and_cancel_stops_between_photos(tmp_path, face_paths, pipeline):
    source, masks = tmp_path / "in", tmp_path / "masks"
    for index, path in enumerate(face_paths * 2):
        photo = read_image(path)
        hole = np.zeros(photo.shape[:2], np.uint8)
        hole[photo.shape[0] // 2 :, index * 3 :] = 255
        save_rgb(source / f"{index:02d}.png", photo)
        save_rgb(masks / f"{index:02d}.png", hole)
    serial = run_job(plan_folder(source, tmp_path / "serial", masks_dir=masks), pipeline, jobs=0)
    threaded = run_job(plan_folder(source, tmp_path / "threaded", masks_dir=masks), pipeline, jobs=3)
    assert [o.status for o in serial.values()] == [DONE] * 10 == [o.status for o in threaded.values()]
    assert tree_hashes(tmp_path / "serial") == tree_hashes(tmp_path / "threaded")

    seen: list[str] = []
    options = BatchOptions("telea", existing="overwrite", identity=False)
    job = BatchJob(plan_folder(source, tmp_path / "cancelled", masks_dir=masks), options, pipeline=pipeline)
    for outcome in job.run(should_stop=lambda: len(seen) >= 2):
        seen.append(outcome.status)
    assert seen.count(DONE) >= 2 and seen.count(CANCELLED) >= 1 and len(seen) == 10
    written = sorted((tmp_path / "cancelled").glob("*.mask.png"))
    assert len(written) == seen.count(DONE) and not temporaries(tmp_path / "cancelled")


def test_user_masks_are_used_and_a_missing_or_mis_sized_mask_fails_that_photo(tmp_path, face, pipeline):
    source, masks = tmp_path / "in", tmp_path / "masks"
    for name in ("a", "b", "c"):
        save_rgb(source / f"{name}.jpg", face)
    hole = np.zeros(face.shape[:2], np.uint8)
    hole[120:160, 60:140] = 255
    save_rgb(masks / "a.png", hole)
    save_rgb(masks / "c.png", hole[:100])

    outcomes = run_job(plan_folder(source, tmp_path / "out", masks_dir=masks), pipeline)

    assert outcomes["a.jpg"].status == DONE
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a.mask.png")), hole)
    result, original = read_image(tmp_path / "out" / "a.png"), read_image(source / "a.jpg")
    assert np.array_equal(result[hole == 0], original[hole == 0])
    assert not np.array_equal(result[hole > 0], original[hole > 0])
    assert outcomes["b.jpg"].status == FAILED and outcomes["b.jpg"].reason == f"no mask {masks / 'b.png'}"
    assert outcomes["c.jpg"].status == FAILED and "mask is 200x100 px but the image is 200x200 px" in outcomes[
        "c.jpg"
    ].reason


# ----- the command: reports, existing outputs, resume after SIGKILL --------------------------------
def batch_command(*arguments: object, identity: bool = False) -> list[str]:
    """`facestudio batch` arguments; the identity check (deepface, slow) only when a test is about it."""
    flags = ["--method", "telea", "--device", "cpu", *([] if identity else ["--no-identity"])]
    return ["batch", *map(str, arguments), *flags]


def test_batch_writes_report_files_and_exits_non_zero_when_a_photo_failed(tmp_path, face_paths, random_weights_dir,
                                                                          capsys):
    source, output = tmp_path / "in", tmp_path / "out"
    for path in face_paths[:2]:
        save_rgb(source / "people" / path.name, read_image(path))
    _not_an_image(source, read_image(face_paths[0]))

    code = main(batch_command(source, output, "--recursive", "--weights", random_weights_dir))

    assert code == 1
    errors = capsys.readouterr().err.splitlines()
    assert f"{source / 'notes.jpg'}: not an image (unrecognised or corrupt file)" in errors
    assert not any("Traceback" in line for line in errors)
    with open(output / "report.csv", newline="") as stream:
        rows = {row["file"]: row for row in csv.DictReader(stream)}
    assert set(rows) == {"notes.jpg", *(f"people/{path.name}" for path in face_paths[:2])}
    assert rows["notes.jpg"]["status"] == FAILED and rows["notes.jpg"]["reason"].startswith("not an image")
    for path in face_paths[:2]:
        row = rows[f"people/{path.name}"]
        mask = np.asarray(Image.open(output / row["mask"]))
        assert row["status"] == DONE and (output / row["result"]).is_file()
        assert float(row["mask_percent"]) == pytest.approx(100 * np.count_nonzero(mask) / mask.size, abs=1e-3)
        assert int(row["faces"]) >= 0 and float(row["ms"]) > 0
        assert "identity_similarity" not in row  # one identity figure: the verdict (off in this run)
        assert "identity_distance" not in row
    report = json.loads((output / "report.json").read_text())
    assert report["run"]["counts"] == {DONE: 2, FAILED: 1}
    assert report["run"]["method"] == "telea" and report["run"]["recursive"] is True
    assert [entry["file"] for entry in report["files"]] == list(rows)


def test_batch_report_has_a_no_face_row_and_names_the_detector(tmp_path, face_paths, random_weights_dir, capsys):
    source, output = tmp_path / "in", tmp_path / "out"
    save_rgb(source / "portrait.jpg", read_image(face_paths[0]))
    landscape = save_rgb(source / "landscape.png", gradient_photo())

    code = main(batch_command(source, output, "--weights", random_weights_dir, "--detector", "haar"))

    assert code == 1
    assert f"{landscape}: {NO_FACE_REASON}" in capsys.readouterr().err.splitlines()
    with open(output / "report.csv", newline="") as stream:
        rows = {row["file"]: row for row in csv.DictReader(stream)}
    assert rows["landscape.png"]["status"] == FAILED and rows["landscape.png"]["reason"] == NO_FACE_REASON
    assert rows["landscape.png"]["faces"] == "0" and rows["landscape.png"]["result"] == ""
    assert rows["portrait.jpg"]["status"] == DONE and int(rows["portrait.jpg"]["faces"]) == 1
    report = json.loads((output / "report.json").read_text())
    assert report["run"]["detector"] == "haar" and report["run"]["counts"] == {DONE: 1, FAILED: 1}


def test_batch_with_the_learned_detector_and_no_detector_weights_cannot_start(tmp_path, face_paths,
                                                                              random_weights_dir, capsys):
    source = tmp_path / "in"
    save_rgb(source / "portrait.jpg", read_image(face_paths[0]))

    code = main(batch_command(source, tmp_path / "out", "--weights", random_weights_dir, "--detector", "learned"))

    assert code == 2
    error = capsys.readouterr().err
    assert f"{random_weights_dir / 'detector.pt'}: checkpoint file not found" in error
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error


def test_existing_outputs_stop_by_default_and_resume_or_overwrite_on_request(tmp_path, face_paths,
                                                                             random_weights_dir, capsys):
    source, output = tmp_path / "in", tmp_path / "out"
    for path in face_paths[:2]:
        save_rgb(source / path.name, read_image(path))
    weights = ["--weights", random_weights_dir]
    assert main(batch_command(source, output, *weights)) == 0
    first = tree_hashes(output)
    capsys.readouterr()

    assert main(batch_command(source, output, *weights)) == 2
    assert "already exists" in capsys.readouterr().err and tree_hashes(output) == first

    assert main(batch_command(source, output, "--resume", *weights)) == 0
    assert json.loads((output / "report.json").read_text())["run"]["counts"] == {DONE: 2}  # from the journal

    assert main(batch_command(source, output, "--existing", "overwrite", *weights)) == 0
    assert json.loads((output / "report.json").read_text())["run"]["counts"] == {DONE: 2}
    assert main(batch_command(source, output, "--resume", "--existing", "overwrite", *weights)) == 2


def masked_folder(source: Path, masks: Path, face: np.ndarray, count: int) -> int:
    """`count` 800x600 JPEG photos of the face (each shifted a little) and a mask each; returns count."""
    hole = np.zeros((600, 800), np.uint8)
    hole[300:400, 300:450] = 255
    photo = np.asarray(Image.fromarray(face).resize((800, 600)))
    for index in range(count):
        save_rgb(source / f"{index:02d}.jpg", np.roll(photo, index * 7, axis=1), quality=90)
        save_rgb(masks / f"{index:02d}.png", hole)
    return count


def test_sigkill_mid_run_then_resume_finishes_with_no_partial_or_temporary_files(tmp_path, face, random_weights_dir):
    source, masks, output = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    count = masked_folder(source, masks, face, 16)
    inputs_before = tree_hashes(source)
    (output).mkdir()
    stale = output / ".05.png.a1b2c3d4.tmp"  # what a killed write leaves; a person's file stays
    stale.write_bytes(b"half a png")
    keep = output / ".notes.tmp"
    keep.write_text("mine")

    command = [sys.executable, "-m", "facestudio", *batch_command(source, output, "--masks", masks, "--jobs", "2",
                                                                  "--weights", random_weights_dir)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(output.glob("*.mask.png"))) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    finished_before = {path.name for path in output.glob("[0-9][0-9].png")}
    assert 0 < len(finished_before) < count
    for path in output.glob("[0-9]*.png"):  # whatever is there under its final name is a whole image
        assert read_image(path).shape[:2] == (600, 800)

    code = main(batch_command(source, output, "--masks", masks, "--resume", "--weights", random_weights_dir))

    assert code == 0
    assert sorted(path.name for path in output.glob("[0-9][0-9].png")) == [f"{i:02d}.png" for i in range(count)]
    assert len(list(output.glob("*.mask.png"))) == count
    assert temporaries(output) == [keep]
    report = json.loads((output / "report.json").read_text())
    counts = report["run"]["counts"]
    # the killed run's photos come back from its journal with their figures (journaled before their
    # outputs were written, so none is left without them)
    assert counts == {DONE: count}
    assert report["run"]["state"] == "finished"
    assert all(entry["ms"] for entry in report["files"] if entry["status"] == DONE)
    assert tree_hashes(source) == inputs_before


def test_sigterm_stops_like_ctrl_c_with_a_report_then_resume_has_every_row_with_its_figures(
        tmp_path, face, random_weights_dir):
    """What `timeout`, systemd and `docker stop` send: the run finishes the photo being written, writes
    a report that says it was terminated and lists every input, and exits 143; --resume then reports
    every photo as done, with its figures (those of the first run from its journal)."""
    source, masks, output = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    count = masked_folder(source, masks, face, 16)
    arguments = batch_command(source, output, "--masks", masks, "--jobs", "2", "--weights", random_weights_dir)
    process = subprocess.Popen([sys.executable, "-m", "facestudio", *arguments], cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(output.glob("*.mask.png"))) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    assert process.returncode == 143, process.stderr.read().decode()[-2000:]
    report = json.loads((output / "report.json").read_text())
    assert report["run"]["state"] == "terminated" and len(report["files"]) == count
    statuses = {entry["file"]: entry["status"] for entry in report["files"]}
    assert set(statuses) == {f"{i:02d}.jpg" for i in range(count)} and set(statuses.values()) <= {DONE, CANCELLED}
    assert 0 < list(statuses.values()).count(DONE) < count
    for name, status in statuses.items():  # "done" means both outputs are there and whole
        if status == DONE:
            assert read_image(output / name.replace(".jpg", ".png")).shape[:2] == (600, 800)

    assert main(batch_command(source, output, "--masks", masks, "--resume", "--weights", random_weights_dir)) == 0
    resumed = json.loads((output / "report.json").read_text())
    assert resumed["run"]["state"] == "finished"
    assert sorted(entry["file"] for entry in resumed["files"]) == sorted(statuses)
    assert {entry["status"] for entry in resumed["files"]} == {DONE}
    assert all(entry["ms"] for entry in resumed["files"])  # each with its figures


def test_report_holds_identity_distance_and_verdict_per_face(tmp_path, face_paths, random_weights_dir):
    identity = pytest.importorskip("facestudio.identity", reason="the identity module is not installed")
    source, output = tmp_path / "in", tmp_path / "out"
    for path in face_paths[:2]:
        save_rgb(source / path.name, read_image(path))

    assert main(batch_command(source, output, "--weights", random_weights_dir, identity=True)) == 0

    with open(output / "report.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    files = json.loads((output / "report.json").read_text())["files"]
    for row, entry in zip(rows, files, strict=True):
        faces = int(row["faces"])
        assert faces >= 1 and len(row["identity_distance"].split(";")) == faces == len(entry["identity"])
        for measured, verdict in zip(entry["identity"], row["identity_verdict"].split(";")):
            assert measured["backend"] in identity.BACKENDS and measured["distance"] >= 0
            assert verdict == ("same" if measured["distance"] <= measured["threshold"] else "different")


def test_a_file_name_that_is_not_utf8_gets_a_printable_report_row_and_its_bytes(tmp_path, face_paths, capsys):
    """`b\\xff.jpg` crashed the report (and every --resume of the folder): now its row shows the name with
    an escape, report.json keeps the exact bytes, and a resume skips it like any finished photo."""
    import base64

    source, output = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    odd = os.fsdecode(bytes(source) + b"/b\xff.jpg")
    save_rgb(Path(odd), read_image(face_paths[0]))
    save_rgb(source / "good.jpg", read_image(face_paths[1]))
    assert main(batch_command(source, output, "--method", "telea", "--no-identity")) == 0
    with open(output / "report.csv", newline="", encoding="utf-8") as stream:
        rows = {row["file"]: row for row in csv.DictReader(stream)}
    assert set(rows) == {"b\\xff.jpg", "good.jpg"} and rows["b\\xff.jpg"]["status"] == DONE
    files = {entry["file"]: entry for entry in json.loads((output / "report.json").read_text("utf-8"))["files"]}
    assert os.fsdecode(base64.b64decode(files["b\\xff.jpg"]["source_bytes_base64"])) == odd  # round-trips
    assert "source_bytes_base64" not in files["good.jpg"]
    assert main(batch_command(source, output, "--method", "telea", "--no-identity", "--resume")) == 0
    with open(output / "report.csv", newline="", encoding="utf-8") as stream:
        resumed = list(csv.DictReader(stream))  # finished before: their rows and figures, from the journal
    assert {row["status"] for row in resumed} == {DONE}
    assert {row["reason"] for row in resumed} == {"done in an earlier run"} and all(row["ms"] for row in resumed)


def test_batch_of_a_file_says_it_is_a_file(tmp_path, face_paths, capsys):
    photo = save_rgb(tmp_path / "one.jpg", read_image(face_paths[0]))
    assert main(batch_command(photo, tmp_path / "out")) != 0
    error = capsys.readouterr().err.strip()
    assert error.endswith("is a file, not a folder (batch takes a folder; for one photo use 'facestudio fix one.jpg -o OUTDIR')")
    assert "\n" not in error


def test_resume_redoes_an_output_that_is_cut_short_or_of_another_size(tmp_path, face_paths):
    source, output = tmp_path / "in", tmp_path / "out"
    for index in range(3):
        save_rgb(source / f"p{index}.jpg", read_image(face_paths[index]))
    assert main(batch_command(source, output, "--method", "telea", "--no-identity")) == 0
    result = output / "p0.png"
    result.write_bytes(result.read_bytes()[: result.stat().st_size // 2])  # a truncated PNG
    save_rgb(output / "p1.png", np.zeros((7, 9, 3), np.uint8))  # whole, but not this photo's result
    assert main(batch_command(source, output, "--method", "telea", "--no-identity", "--resume")) == 0
    with open(output / "report.csv", newline="") as stream:
        status = {row["file"]: row["status"] for row in csv.DictReader(stream)}
    assert status == {"p0.jpg": DONE, "p1.jpg": DONE, "p2.jpg": DONE}  # p2 from the journal, the others redone
    for index in range(2):
        assert read_image(output / f"p{index}.png").shape == read_image(source / f"p{index}.jpg").shape


def test_a_photo_one_pixel_high_is_one_clean_line_and_a_row(tmp_path, face_paths, capsys):
    source, output = tmp_path / "in", tmp_path / "out"
    save_rgb(source / "line.png", np.full((1, 300, 3), 128, np.uint8))
    save_rgb(source / "good.jpg", read_image(face_paths[0]))
    assert main(batch_command(source, output)) == 1
    errors = capsys.readouterr().err.splitlines()
    assert f"{source / 'line.png'}: image is too small (300x1 px)" in errors
    report = json.loads((output / "report.json").read_text())
    row = {entry["file"]: entry for entry in report["files"]}["line.png"]
    assert row["status"] == FAILED and row["reason"] == "image is too small (300x1 px)" and "traceback" not in row


def test_a_pixel_budget_holds_big_photos_one_at_a_time(tmp_path, face, pipeline):
    """Memory follows pixels: with a budget of 1.5 photos, a --jobs 2 run never holds two decoded photos
    at once (reads ahead wait); with room, it reads ahead as before. Outputs are the same."""
    source, masks = tmp_path / "in", tmp_path / "masks"
    photo = np.asarray(Image.fromarray(face).resize((800, 600)))
    hole = np.zeros((600, 800), np.uint8)
    hole[250:350, 300:500] = 255
    for index in range(6):
        save_rgb(source / f"{index}.png", np.roll(photo, index * 5, axis=0))
        save_rgb(masks / f"{index}.png", hole)
    pixels = 800 * 600
    peaks = {}
    for name, budget in (("tight", int(1.5 * pixels)), ("roomy", 100 * pixels)):
        items = plan_folder(source, tmp_path / name, masks_dir=masks)
        job = BatchJob(items, BatchOptions(method="telea", existing="overwrite", identity=False, jobs=2,
                                           max_pixels_in_flight=budget), pipeline=pipeline)
        assert {outcome.status for outcome in job.run()} == {DONE}
        peaks[name] = job.peak_pixels_in_flight
    assert peaks["tight"] == pixels and peaks["roomy"] >= 2 * pixels
    assert tree_hashes(tmp_path / "tight") == tree_hashes(tmp_path / "roomy")


# ----- --references DIR: each face takes the reference photo of its own person ----------------------
# Real people (ROF, neutral photos) the shipped encoder separates: each one's two photos are within the
# same-person threshold (0.239: Al Pacino 0.07, Brie Larson 0.14), the other person's far beyond it (> 0.99).
ROF_PEOPLE = {"pacino.jpg": "al_pacino", "larson.jpg": "brie_larson"}


def reference_folders(data_root: Path, folder: Path) -> tuple[Path, Path, dict[str, str]]:
    """IN holds a second photo of each person and a photo of a third person (Anthony Davis) who has no
    reference; REFS holds one photo per person and a file that is not a photo. Returns IN, REFS and the
    reference photo expected for each photo of IN ("": none)."""
    neutral = data_root / "occluded-real" / "rof" / "neutral"
    source, references = folder / "in", folder / "refs"
    expected = {}
    for name, person in ROF_PEOPLE.items():
        if not (neutral / person / "000002.jpg").is_file():
            pytest.skip(f"ROF photos of {person} not found under {neutral}")
        save_rgb(references / name, read_image(neutral / person / "000001.jpg"), quality=95)
        save_rgb(source / name, read_image(neutral / person / "000002.jpg"), quality=95)
        expected[name] = name
    save_rgb(source / "davis.jpg", read_image(neutral / "anthony_davis" / "000002.jpg"), quality=95)
    expected["davis.jpg"] = ""
    (references / "notes.jpg").write_text("a shopping list, not a photo\n")
    return source, references, expected


def reference_batch(source: Path, output: Path, *arguments: object) -> list[str]:
    """`facestudio batch` with the gan fill and the shipped weights (identity matching must be meaningful)."""
    return ["batch", str(source), str(output), "--method", "gan", "--device", "cpu", "--no-identity",
            *map(str, arguments)]


def test_batch_references_give_each_face_its_own_persons_reference_photo(tmp_path, data_root, capsys):
    source, references, expected = reference_folders(data_root, tmp_path)
    inputs_before = {**tree_hashes(source), **tree_hashes(references)}
    output = tmp_path / "out"

    code = main(reference_batch(source, output, "--references", references))

    assert code == 0, capsys.readouterr().err
    errors = capsys.readouterr().err.splitlines()
    warnings = [line for line in errors if "warning" in line]
    assert warnings == [f"facestudio batch: warning: {(references / 'notes.jpg').absolute()}: cannot read the "
                        "reference photo (not an image (unrecognised or corrupt file)); left out"]
    with open(output / "report.csv", newline="") as stream:
        rows = {row["file"]: row for row in csv.DictReader(stream)}
    assert set(rows) == set(expected)
    for name, reference in expected.items():
        assert rows[name]["status"] == DONE and int(rows[name]["faces"]) >= 1
        assert rows[name]["reference_photo"].split(";") == [reference] * int(rows[name]["faces"]), name
    report = json.loads((output / "report.json").read_text())
    assert report["run"]["references"] == [str((references / name).absolute())
                                           for name in ("larson.jpg", "notes.jpg", "pacino.jpg")]
    entries = {entry["file"]: entry for entry in report["files"]}
    assert entries["pacino.jpg"]["reference_photos"][0] == "pacino.jpg"
    assert entries["davis.jpg"]["reference_photos"][0] is None
    assert {**tree_hashes(source), **tree_hashes(references)} == inputs_before  # inputs are never written

    # --resume must be given the reference photos the run was given: other ones would mix two runs' fills
    assert main(reference_batch(source, output, "--references", references, "--resume")) == 0
    capsys.readouterr()
    fewer = tmp_path / "fewer"
    save_rgb(fewer / "pacino.jpg", read_image(references / "pacino.jpg"))
    assert main(reference_batch(source, output, "--references", fewer, "--resume")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"facestudio batch: --resume: the earlier run in {output} was given other reference photos (--references); "
        "give the same ones, or use another output folder"]
    assert main(reference_batch(source, output, "--resume")) == 2


def test_batch_references_of_an_empty_folder_cannot_start(tmp_path, face_paths, random_weights_dir, capsys):
    source, empty = tmp_path / "in", tmp_path / "refs"
    save_rgb(source / "portrait.jpg", read_image(face_paths[0]))
    empty.mkdir()

    code = main(batch_command(source, tmp_path / "out", "--weights", random_weights_dir, "--references", empty))

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [f"facestudio batch: {empty}: no reference photos in it"]
