"""`facestudio batch --ray`: the same outputs and report as the local batch, on a local 2-CPU Ray.

One Ray for the module (started here, shut down at the end; the runner uses a Ray already started in
its process); photos are small (200 px faces, telea, random weights) so each run costs the actors'
start-up (a few seconds) more than the photos. Skipped where Ray is not installed (the `cluster` extra).
"""

from __future__ import annotations

import ast
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facestudio.batch import DONE, FAILED, NO_FACE_REASON, BatchOptions, RunReport, plan_folder, run_settings
from facestudio.cli import main
from facestudio.imageio import read_image

from test_batch import (
    batch_command, gradient_photo, reference_batch, reference_folders, save_rgb, temporaries, tree_hashes,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMINGS = {"ms", "read_ms", "write_ms"}
REPORTS = {"report.csv", "report.json", "journal.jsonl"}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[cluster]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def mixed_folder(folder: Path, face_paths: list[Path]) -> Path:
    """Four good photos, a corrupt file and a photo with no face."""
    for index, path in enumerate(face_paths[:4]):
        save_rgb(folder / f"face{index}.jpg", read_image(path), quality=95)
    (folder / "corrupt.jpg").write_text("a shopping list, not a photo\n")
    save_rgb(folder / "landscape.png", gradient_photo())
    return folder


def outputs(folder: Path) -> dict[str, str]:
    return {name: digest for name, digest in tree_hashes(folder).items() if name not in REPORTS}


def report_rows(folder: Path) -> tuple[list[dict[str, str]], list[dict[str, object]], dict[str, int]]:
    """report.csv's rows and report.json's entries without the timings, and the run's counts."""
    with open(folder / "report.csv", newline="") as stream:
        rows = [{key: value for key, value in row.items() if key not in TIMINGS} for row in csv.DictReader(stream)]
    document = json.loads((folder / "report.json").read_text())
    entries = [{key: value for key, value in entry.items() if key not in TIMINGS} for entry in document["files"]]
    return rows, entries, document["run"]["counts"]


def journal_files(folder: Path) -> list[str]:
    return [json.loads(line)["row"]["file"] for line in (folder / "journal.jsonl").read_text().splitlines()]


def test_ray_run_gives_the_local_outputs_report_and_error_lines(ray_cluster, tmp_path, face_paths, random_weights_dir,
                                                                 capsys):
    source = mixed_folder(tmp_path / "in", face_paths)
    inputs_before = tree_hashes(source)
    flags = ["--weights", random_weights_dir, "--detector", "haar"]

    local_code = main(batch_command(source, tmp_path / "local", *flags))
    local_errors = sorted(capsys.readouterr().err.splitlines()[:-1])  # the last line names the report's path
    ray_code = main(batch_command(source, tmp_path / "ray", *flags, "--ray"))
    ray_errors = sorted(line for line in capsys.readouterr().err.splitlines()[:-1] if line.startswith(str(source)))

    assert local_code == ray_code == 1
    assert ray_errors == local_errors == sorted([
        f"{source / 'corrupt.jpg'}: not an image (unrecognised or corrupt file)",
        f"{source / 'landscape.png'}: {NO_FACE_REASON}",
    ])
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")  # byte-identical results and masks
    assert len(outputs(tmp_path / "ray")) == 8
    assert report_rows(tmp_path / "ray") == report_rows(tmp_path / "local")
    assert report_rows(tmp_path / "ray")[2] == {DONE: 4, FAILED: 2}
    assert json.loads((tmp_path / "ray" / "report.json").read_text())["run"]["ray"] == "local"
    assert sorted(journal_files(tmp_path / "ray")) == sorted(os.listdir(source))  # one line per photo
    assert tree_hashes(source) == inputs_before


def test_a_killed_worker_is_retried_and_every_photo_is_written_once(ray_cluster, tmp_path, face_paths,
                                                                    random_weights_dir):
    """SIGKILL to the worker process that reported the first photo: Ray restarts it and retries its tasks,
    and the driver still journals and reports each photo once, each with its two outputs."""
    from facestudio.batch.ray_runner import RayBatchJob

    source, output = tmp_path / "in", tmp_path / "out"
    face = read_image(face_paths[0])
    count = 12
    for index in range(count):
        save_rgb(source / f"{index:02d}.png", np.roll(face, index * 5, axis=1))
    options = BatchOptions(method="telea", device="cpu", weights_dir=random_weights_dir, existing="stop",
                           identity=False, detector="haar")
    items = plan_folder(source, output)
    report = RunReport(output, run_settings(source, output, False, None, options))
    job = RayBatchJob(items, options, workers=2, journaled=report.finished_earlier)

    killed = None
    for outcome in job.run():
        report.add(outcome)
        if killed is None:
            killed = next(iter(job.worker_pids))
            os.kill(killed, signal.SIGKILL)
    report.write()

    assert killed is not None and len(job.worker_pids - {killed}) >= 1
    names = [f"{index:02d}" for index in range(count)]
    assert sorted(path.name for path in output.glob("*.mask.png")) == [f"{name}.mask.png" for name in names]
    assert sorted(path.name for path in output.glob("[0-9][0-9].png")) == [f"{name}.png" for name in names]
    assert temporaries(output) == []
    assert sorted(journal_files(output)) == [f"{name}.png" for name in names]  # one journal line per photo
    rows, entries, counts = report_rows(output)
    assert counts == {DONE: count} and sorted(row["file"] for row in rows) == [f"{name}.png" for name in names]
    for path in output.glob("[0-9][0-9].png"):
        assert read_image(path).shape == face.shape


def test_resume_on_ray_redoes_photos_written_but_never_journaled(ray_cluster, tmp_path, face_paths,
                                                                 random_weights_dir):
    """A run killed as a whole between an actor's write and the driver's journal line: --resume does that
    photo again (so its row has its figures) and takes the others from the journal."""
    source, output = tmp_path / "in", tmp_path / "out"
    for index, path in enumerate(face_paths[:3]):
        save_rgb(source / f"p{index}.jpg", read_image(path))
    flags = ["--weights", random_weights_dir, "--detector", "haar", "--ray"]
    assert main(batch_command(source, output, *flags)) == 0
    journal = output / "journal.jsonl"
    journal.write_text("".join(line + "\n" for line in journal.read_text().splitlines()
                               if json.loads(line)["row"]["file"] != "p1.jpg"))

    assert main(batch_command(source, output, "--resume", *flags)) == 0

    with open(output / "report.csv", newline="") as stream:
        rows = {row["file"]: row for row in csv.DictReader(stream)}
    assert {name: row["status"] for name, row in rows.items()} == {"p0.jpg": DONE, "p1.jpg": DONE, "p2.jpg": DONE}
    assert rows["p1.jpg"]["reason"] == "" and rows["p0.jpg"]["reason"] == "done in an earlier run"
    assert all(row["ms"] for row in rows.values())


def test_models_that_cannot_load_on_the_workers_are_one_line_and_exit_2(ray_cluster, tmp_path, face_paths, capsys):
    source = tmp_path / "in"
    save_rgb(source / "portrait.jpg", read_image(face_paths[0]))
    empty = tmp_path / "no-weights"
    empty.mkdir()

    code = main(batch_command(source, tmp_path / "out", "--weights", empty, "--detector", "haar", "--ray"))

    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("facestudio batch: could not load the models: ") and "checkpoint file not found" in error


def test_ray_missing_is_one_line(tmp_path, face_paths, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where the extra is not installed
    source = tmp_path / "in"
    save_rgb(source / "portrait.jpg", read_image(face_paths[0]))

    assert main(batch_command(source, tmp_path / "out", "--ray")) == 2
    assert "facestudio batch: --ray needs Ray: pip install 'facestudio[cluster]'" in capsys.readouterr().err


def test_the_cli_and_the_gui_import_ray_only_for_ray():
    probe = (
        "import sys\nimport facestudio, facestudio.batch\nfrom facestudio.cli import build_parser\n"
        "args = build_parser('batch').parse_args(['batch', 'in', 'out', '--method', 'telea'])\n"
        "assert args.ray is None\n"
        "print('RAY', sorted(name for name in sys.modules if name == 'ray' or name.startswith('ray.')))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                               cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert completed.returncode == 0, completed.stderr
    assert "RAY []" in completed.stdout
    importers = []
    for source in sorted((REPO_ROOT / "facestudio").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(name.split(".")[0] == "ray" or name.endswith("ray_runner") for name in names):
                importers.append(source.relative_to(REPO_ROOT).as_posix())
    # Ray itself only in the runner, the runner only in the batch command (when --ray is given)
    assert sorted(set(importers)) == ["facestudio/batch/commands.py", "facestudio/batch/ray_runner.py"]


def test_ray_actors_prepare_the_reference_photos_and_match_faces_as_the_local_batch(ray_cluster, tmp_path, data_root,
                                                                                   capsys):
    """--references reach the actors as paths (each prepares them once): the same reference_photo column as a
    local run, and the warning about the file that is not a photo shown once, by the driver."""
    source, references, expected = reference_folders(data_root, tmp_path)

    local_code = main(reference_batch(source, tmp_path / "local", "--references", references))
    local_warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    ray_code = main(reference_batch(source, tmp_path / "ray", "--references", references, "--ray",
                                    "--ray-workers", "2"))
    ray_warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]

    assert local_code == ray_code == 0
    assert ray_warnings == local_warnings and len(ray_warnings) == 1 and "notes.jpg" in ray_warnings[0]
    rows = {row["file"]: row for row in report_rows(tmp_path / "ray")[0]}
    assert report_rows(tmp_path / "ray")[0] == report_rows(tmp_path / "local")[0]
    assert {name: row["reference_photo"].split(";")[0] for name, row in rows.items()} == expected
