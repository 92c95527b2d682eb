"""Cheap checks of the PyInstaller spec and build script; the real build is `make test-package`.

The spec is executed as PyInstaller executes it, with PyInstaller's own hook helpers, but with
recorders in place of the Analysis/PYZ/EXE/COLLECT build steps (those take minutes and gigabytes).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC = REPO_ROOT / "packaging" / "facestudio.spec"
# Imports of excluded modules the engine is allowed to have: optional backends it guards.
OPTIONAL_IMPORTS = {"deepface", "dlib", "face_recognition_models", "ray"}

pytest.importorskip("PyInstaller", reason="PyInstaller is not installed (pip install -e '.[package]')")
sys.path.insert(0, str(REPO_ROOT / "packaging"))
import build  # noqa: E402  (packaging/build.py)


class BuildStep:
    """Stands in for one of PyInstaller's build steps: keeps its arguments."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        BuildStep.calls.append((self.name, args, kwargs))
        result = type(self.name, (), {})()
        result.datas = list(kwargs.get("datas", []))
        result.binaries, result.pure, result.scripts = [], [], []
        return result


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The spec's namespace after executing it, plus the recorded build-step calls."""
    BuildStep.calls = []
    namespace: dict[str, Any] = {
        "SPECPATH": str(SPEC.parent),
        "__file__": str(SPEC),
        **{name: BuildStep(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")},
    }
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    namespace["calls"] = {name: (args, kwargs) for name, args, kwargs in BuildStep.calls}
    return namespace


def analysis_arguments(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["calls"]["Analysis"][1]


def test_spec_builds_one_folder_app_from_the_launcher(spec: dict[str, Any]) -> None:
    scripts = spec["calls"]["Analysis"][0][0]
    assert [Path(script) for script in scripts] == [REPO_ROOT / "packaging" / "launcher.py"]
    assert Path(scripts[0]).is_file()
    exe_kwargs = spec["calls"]["EXE"][1]
    assert exe_kwargs["name"] == "FaceStudio" and exe_kwargs["exclude_binaries"] is True  # one folder, not one file
    assert spec["calls"]["COLLECT"][1]["name"] == "FaceStudio"


def test_spec_excludes_training_tests_and_unused_heavy_modules(spec: dict[str, Any]) -> None:
    excludes = set(analysis_arguments(spec)["excludes"])
    for module in ("torchvision", "tensorboard", "torch.utils.tensorboard", "training", "tests", "pytest",
                   "deepface", "dlib", "matplotlib", "ray", "PyQt5", "PySide6.QtWebEngineCore", "PySide6.Qt3DCore",
                   "PySide6.QtQuick", "PySide6.QtQml", "PySide6.QtMultimedia"):
        assert module in excludes, module
    for needed in ("torch", "PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "cv2", "skimage", "scipy"):
        assert needed not in excludes, needed


def test_spec_collects_the_data_the_engine_opens(spec: dict[str, Any]) -> None:
    datas = {(Path(source).name, destination) for source, destination in analysis_arguments(spec)["datas"]}
    assert ("haarcascade_frontalface_default.xml", "cv2/data") in datas
    assert ("astronaut.png", "skimage/data") in datas
    assert any(destination == "qtawesome/fonts" and name.endswith(".ttf") for name, destination in datas)
    hidden = set(analysis_arguments(spec)["hiddenimports"])
    # imported by name at run time (cli.COMMANDS, checkpoint kinds), so invisible to the analysis
    assert {"facestudio.selftest", "facestudio.batch", "facestudio.models.generator", "facestudio.gui.app"} <= hidden


def test_spec_collects_every_haar_cascade_the_engine_names(spec: dict[str, Any]) -> None:
    named = {match for source in (REPO_ROOT / "facestudio").rglob("*.py")
             for match in re.findall(r"haarcascade_\w+\.xml", source.read_text(encoding="utf-8"))}
    collected = {Path(source).name for source, destination in analysis_arguments(spec)["datas"]
                 if destination == "cv2/data"}
    assert named and named <= collected, named - collected


def test_spec_ships_weights_where_the_frozen_api_looks(spec: dict[str, Any], tmp_path: Path) -> None:
    for name in ("segmenter.pt", "generator.pt", "MANIFEST.json", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    spec["WEIGHTS_DIR"] = tmp_path
    try:
        shipped = spec["shipped_resources"]()
    finally:
        spec["WEIGHTS_DIR"] = REPO_ROOT / "resources" / "weights"
    weights = sorted(Path(source).name for source, destination in shipped if destination == "resources/weights")
    assert weights == ["MANIFEST.json", "generator.pt", "segmenter.pt"]
    # Frozen, facestudio/api.py lives in <bundle>/_internal/facestudio/ and looks in ../resources/weights.
    api_source = (REPO_ROOT / "facestudio" / "api.py").read_text(encoding="utf-8")
    assert 'package.parent / "resources" / "weights"' in api_source


def test_spec_drops_torch_test_programs_but_keeps_its_libraries(spec: dict[str, Any]) -> None:
    is_dropped = spec["is_dropped"]
    assert is_dropped("torch/test/Dict_test") and is_dropped("torch/bin/protoc")
    assert not is_dropped("torch/bin/torch_shm_manager")  # `import torch` fails without it
    assert is_dropped("PySide6/Qt/translations/qtbase_de.qm")
    assert not is_dropped("torch/lib/libtorch_cpu.so") and not is_dropped("resources/weights/generator.pt")


def test_engine_imports_no_module_the_bundle_excludes(spec: dict[str, Any]) -> None:
    excludes = set(analysis_arguments(spec)["excludes"])
    offending = []
    for source in sorted((REPO_ROOT / "facestudio").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                parts = name.split(".")
                prefixes = {".".join(parts[: index + 1]) for index in range(len(parts))}
                if prefixes & excludes and parts[0] not in OPTIONAL_IMPORTS:
                    offending.append(f"{source.relative_to(REPO_ROOT)}: {name}")
    assert not offending, offending


def test_build_refuses_to_start_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(build, "WEIGHTS_DIR", tmp_path)
    assert build.main(["--dist", str(tmp_path / "dist"), "--work", str(tmp_path / "work")]) == build.EXIT_BUILD_FAILED
    error = capsys.readouterr().err
    assert str(tmp_path) in error and "segmenter.pt" in error and "--allow-missing-weights" in error
    assert not (tmp_path / "dist").exists()


def test_audit_names_what_a_bundle_must_not_hold(tmp_path: Path) -> None:
    internal = tmp_path / "FaceStudio" / "_internal"
    (internal / "torchvision").mkdir(parents=True)
    (internal / "PySide6" / "Qt" / "lib").mkdir(parents=True)
    (internal / "PySide6" / "Qt" / "lib" / "libQt6WebEngineCore.so.6").write_bytes(b"")
    problems = build.audit_bundle(tmp_path / "FaceStudio")
    text = " ".join(problems)
    assert "no executable FaceStudio" in text
    assert "torchvision" in text and "libQt6WebEngineCore.so.6" in text
    assert "lacks resources/weights/segmenter.pt" in text


def test_check_fails_with_reasons_on_a_broken_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "FaceStudio" / "_internal").mkdir(parents=True)
    assert build.check_bundle(tmp_path / "FaceStudio") == build.EXIT_CHECK_FAILED
    captured = capsys.readouterr()
    assert "no executable" in captured.err
    assert "selftest" in captured.out and "cannot run" in captured.out
    assert "window" in captured.out and "did not open" in captured.out
