"""Identity comparisons on real faces: DeepFace ("Dlib") run for real and offline, the encoder backend,
the `facestudio identity` command, and the messages when a backend is missing.

Every test here runs with the network cut (a socket guard that records and refuses any connection
or name lookup) and with FaceStudio's cache in a fresh folder, so the DeepFace weights are placed
from face-recognition-models during the run, never fetched.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest

from facestudio import identity
from facestudio.identity import deepface_backend
from facestudio.identity.dlib_models import RECOGNITION_MODEL, model_file
from facestudio.imageio import read_image, write_image

REPO_ROOT = Path(__file__).resolve().parents[1]
ENCODER_WEIGHTS = REPO_ROOT / "resources" / "weights" / "encoder.pt"
# Four adults who differ from each other in gender or race (UTK file names: AGE_GENDER_RACE_...):
# white man, black woman, asian man, indian woman.
PEOPLE = [(0, 0), (1, 1), (0, 2), (1, 3)]

# Refuses every connection and name lookup; a test process can reach nothing through it.
NETWORK_GUARD = """
import socket
attempts = []
def _refuse(*args, **kwargs):
    attempts.append(repr(args)[:120])
    raise OSError("network access refused by the FaceStudio test guard")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A fresh FACESTUDIO_CACHE and no network for every test of this module; yields the list of
    refused connection attempts, which must stay empty."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args)[:120])
        raise OSError("network access refused by the FaceStudio test guard")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(deepface_backend.CACHE_ENV, str(tmp_path_factory.mktemp("facestudio-cache")))
        patch.delenv("DEEPFACE_HOME", raising=False)  # restored after the module
        for name in ("connect", "connect_ex"):
            patch.setattr(socket.socket, name, refuse)
        patch.setattr(socket, "create_connection", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        yield attempts
    assert attempts == [], f"identity code tried to reach the network: {attempts}"


@pytest.fixture(scope="module")
def deepface_ready() -> None:
    reason = deepface_backend.unavailable_reason()
    if reason is not None:
        pytest.skip(f"DeepFace backend not installed here ({reason}); install: {identity.INSTALL_HINT}")


@pytest.fixture(scope="module")
def people(data_root: Path) -> list[np.ndarray]:
    """One UTK face (adult, 25-40) for each (gender, race) in PEOPLE: four different people."""
    faces = []
    for gender, race in PEOPLE:
        path = next(
            (path for path in sorted((data_root / "faces" / "utk").glob("*.jpg")) if _is_adult(path, gender, race)),
            None,
        )
        if path is None:
            pytest.skip(f"no UTK face with gender {gender} and race {race} under {data_root}")
        faces.append(read_image(path))
    return faces


def _is_adult(path: Path, gender: int, race: int) -> bool:
    fields = path.name.split("_")
    return len(fields) == 4 and 25 <= int(fields[0]) <= 40 and fields[1:3] == [str(gender), str(race)]


def mirrored(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def in_photo(face: np.ndarray, seed: int, size: tuple[int, int] = (600, 800), face_px: int = 260) -> np.ndarray:
    """The face enlarged and pasted off-centre onto a smooth random backdrop: a photo with a face."""
    height, width = size
    noise = np.random.default_rng(seed).integers(0, 256, (height // 20, width // 20, 3), dtype=np.uint8)
    photo = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    top, left = height // 5, width // 3
    photo[top : top + face_px, left : left + face_px] = cv2.resize(face, (face_px, face_px))
    return photo


# ------------------------------------------------------------------------------- deepface, for real
def test_weights_are_placed_in_the_project_cache(deepface_ready: None) -> None:
    placed = Path(os.environ[deepface_backend.CACHE_ENV]) / "deepface" / ".deepface" / "weights" / RECOGNITION_MODEL
    assert placed.is_file()
    shipped = model_file(RECOGNITION_MODEL, "deepface")
    assert placed.stat().st_size == shipped.stat().st_size
    assert os.environ["DEEPFACE_HOME"] == str(deepface_backend.deepface_home())
    assert identity.available_backends()[0] == "deepface"
    assert identity.default_backend() == "deepface"


def test_a_face_and_its_mirror_image_are_the_same_person(deepface_ready: None, people: list[np.ndarray]) -> None:
    for face in people:
        result = identity.compare(face, mirrored(face))
        assert result.backend == "deepface"
        assert result.same, f"mirror image judged a different person: {result}"
        assert 0.0 <= result.distance < result.threshold / 2


def test_different_people_are_told_apart(deepface_ready: None, people: list[np.ndarray]) -> None:
    for (i, first), (j, second) in combinations(enumerate(people), 2):
        result = identity.compare(first, second, backend="deepface")
        assert not result.same, f"people {PEOPLE[i]} and {PEOPLE[j]} judged the same: {result}"
        assert result.distance > result.threshold


def test_a_photo_is_compared_by_its_face(deepface_ready: None, people: list[np.ndarray]) -> None:
    """A tight crop against a photo where that face is small and mirrored: the same person;
    against a photo of someone else: different. The face is found and framed in both."""
    crop = people[0]
    assert identity.compare(crop, mirrored(in_photo(crop, seed=1))).same
    assert not identity.compare(crop, in_photo(people[2], seed=2)).same


def test_an_occluded_face_before_an_edit_matches_the_clean_result(
    deepface_ready: None, people: list[np.ndarray]
) -> None:
    """Before/after of an edit: the detector misses a face hidden by a mask-like patch, so its box
    is taken from the other image of the same size; compared whole, the pair read as different."""
    from facestudio.identity.face_chips import find_face

    clean = in_photo(people[0], seed=3)
    occluded = clean.copy()
    cv2.rectangle(occluded, (300, 280), (500, 380), (200, 210, 230), thickness=-1)  # mouth and chin
    assert find_face(occluded) is None
    result = identity.compare(occluded, clean)
    assert result.same, result


# ---------------------------------------------------------------------------------------- encoder
def test_encoder_backend_measures_cosine_distance(random_weights_dir: Path, people: list[np.ndarray]) -> None:
    """With (random) weights, a face against itself is at distance 0 and the threshold is the encoder's."""
    from facestudio import load_pipeline

    pipeline = load_pipeline(device="cpu", weights_dir=random_weights_dir)
    itself = identity.compare(people[0], people[0].copy(), backend="encoder", pipeline=pipeline)
    assert itself.backend == "encoder" and itself.threshold == identity.ENCODER_THRESHOLD
    assert itself.distance < 1e-5 and itself.same
    other = identity.compare(people[0], people[1], backend="encoder", pipeline=pipeline)
    assert 0.0 < other.distance <= 2.0
    assert other.same == (other.distance <= other.threshold)


def test_encoder_without_weights_names_the_file(tmp_path: Path, people: list[np.ndarray]) -> None:
    from facestudio import load_pipeline

    pipeline = load_pipeline(device="cpu", weights_dir=tmp_path)
    with pytest.raises(identity.BackendUnavailableError, match="encoder") as raised:
        identity.compare(people[0], people[1], backend="encoder", pipeline=pipeline)
    assert str(tmp_path / "encoder.pt") in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.skipif(not ENCODER_WEIGHTS.is_file(), reason=f"no trained encoder weights yet ({ENCODER_WEIGHTS})")
def test_encoder_agrees_with_deepface(deepface_ready: None, people: list[np.ndarray]) -> None:
    pairs = [(face, mirrored(face)) for face in people] + list(combinations(people, 2))
    for first, second in pairs:
        by_deepface = identity.compare(first, second, backend="deepface")
        by_encoder = identity.compare(first, second, backend="encoder")
        assert by_encoder.same == by_deepface.same, f"deepface {by_deepface} vs encoder {by_encoder}"


# ----------------------------------------------------------------------------- missing backends
def test_missing_deepface_says_how_to_install(monkeypatch: pytest.MonkeyPatch, people: list[np.ndarray]) -> None:
    monkeypatch.setitem(sys.modules, "deepface", None)  # what an installation without it raises
    with pytest.raises(identity.BackendUnavailableError) as raised:
        identity.compare(people[0], people[1], backend="deepface")
    message = str(raised.value)
    assert "deepface" in message and identity.INSTALL_HINT in message and "\n" not in message
    assert identity.default_backend() == "encoder"
    assert "deepface" not in identity.available_backends()


def test_missing_dlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch, people: list[np.ndarray]) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(identity.BackendUnavailableError, match="dlib") as raised:
        identity.compare(people[0], people[1], backend="deepface")
    assert identity.INSTALL_HINT in str(raised.value)


def test_bad_arguments_are_refused(people: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match="unknown identity backend"):
        identity.compare(people[0], people[1], backend="vgg")
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        identity.compare(people[0][..., 0], people[1])
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        identity.compare(people[0].astype(np.float32), people[1])


# -------------------------------------------------------------------------------------------- CLI
def run_identity_cli(*arguments: str) -> int:
    parser = argparse.ArgumentParser(prog="facestudio identity")
    identity.add_cli_arguments(parser)
    return identity.run_cli(parser.parse_args(list(arguments)))


@pytest.fixture(scope="module")
def face_files(tmp_path_factory: pytest.TempPathFactory, people: list[np.ndarray]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("identity-files")
    files = {"face": folder / "face.png", "mirror": folder / "mirror.jpg", "other": folder / "other.png"}
    write_image(files["face"], people[0])
    write_image(files["mirror"], mirrored(people[0]))
    write_image(files["other"], people[3])
    return files


def test_cli_json_prints_one_object(
    deepface_ready: None, face_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_identity_cli(str(face_files["face"]), str(face_files["mirror"]), "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"distance", "threshold", "same", "backend"}
    assert printed["same"] is True and printed["backend"] == "deepface"
    assert isinstance(printed["distance"], float) and isinstance(printed["threshold"], float)


def test_cli_prints_distance_threshold_and_verdict(
    deepface_ready: None, face_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from facestudio.cli import main

    assert main(["identity", str(face_files["face"]), str(face_files["other"]), "--backend", "deepface"]) == 0
    printed = capsys.readouterr().out
    assert "distance:" in printed and "threshold: 0.0700" in printed
    assert "different person (deepface)" in printed


def test_cli_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, face_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a photo")
    assert run_identity_cli(str(face_files["face"]), str(fake)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and str(fake) in captured.err
    assert run_identity_cli(str(tmp_path / "missing.png"), str(face_files["face"]), "--json") == 2
    assert "missing.png: no such file" in capsys.readouterr().err


# ---------------------------------------------------------------------- offline in a fresh process
def test_a_fresh_process_compares_offline_without_touching_home(
    deepface_ready: None, face_files: dict[str, Path], tmp_path: Path
) -> None:
    """A new interpreter (no DeepFace model built yet, empty cache, empty HOME) with the network cut:
    the comparison works, nothing tries to connect, and DeepFace writes nothing under HOME."""
    script = NETWORK_GUARD + (
        "from facestudio.cli import main\n"
        f"code = main(['identity', {str(face_files['face'])!r}, {str(face_files['mirror'])!r}, '--json'])\n"
        "import sys; print('ATTEMPTS', attempts, file=sys.stderr); raise SystemExit(code)\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    environment = dict(os.environ, HOME=str(home), PYTHONPATH=str(REPO_ROOT))
    environment[deepface_backend.CACHE_ENV] = str(tmp_path / "cache")
    environment.pop("DEEPFACE_HOME", None)
    environment.pop("XDG_CACHE_HOME", None)
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=environment, cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["same"] is True  # stdout holds the JSON object and nothing else
    assert "ATTEMPTS []" in completed.stderr
    assert list(home.iterdir()) == []
    assert (tmp_path / "cache" / "deepface" / ".deepface" / "weights" / RECOGNITION_MODEL).is_file()
