"""Build the FaceStudio desktop bundle (dist/FaceStudio/) with PyInstaller, and check it.

    python packaging/build.py                  # build; needs resources/weights/*.pt
    python packaging/build.py --clean --check  # from scratch, then run the bundle's self-test and time its window

Run it with the Python of the environment to bundle (the project's .venv with `pip install -e ".[package]"`):
PyInstaller collects what that environment has installed. `--check` runs `FaceStudio --selftest` (the
gan fill by default) and `FaceStudio gui --screenshot` from the finished folder and fails when either
fails, or when the folder holds something the spec excludes. Exit codes: 0 built (and checked),
1 a check failed, 2 the build could not start or PyInstaller failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "facestudio.spec"
APP_NAME = "FaceStudio"
WEIGHTS_DIR = ROOT / "resources" / "weights"
REQUIRED_WEIGHTS = ("detector.pt", "segmenter.pt", "encoder.pt", "generator.pt")
DEFAULT_DIST = ROOT / "dist"
DEFAULT_WORK = ROOT / "build" / "pyinstaller"
# Top-level packages that must not be in the bundle (a file or folder of that name under _internal/,
# or a module in its archive). The spec's EXCLUDED_MODULES says why each is left out.
FORBIDDEN_PACKAGES = ("torchvision", "tensorboard", "tensorflow", "deepface", "dlib", "training", "tests", "kornia",
                      "matplotlib", "ray")
FORBIDDEN_QT_LIBRARIES = ("Qt6WebEngine", "Qt63D", "Qt6Quick", "Qt6Qml", "Qt6Multimedia")
PYZ_TYPECODE = "z"  # an embedded module archive in PyInstaller's executable
SELFTEST_TIMEOUT_S = 600
WINDOW_TIMEOUT_S = 300
EXIT_CHECK_FAILED = 1
EXIT_BUILD_FAILED = 2


@dataclass(frozen=True)
class Timed:
    """A finished run of the bundle's executable."""

    returncode: int
    output: str
    seconds: float


def main(argv: Sequence[str] | None = None) -> int:
    """Build (and with --check, test) the bundle; returns the exit code."""
    args = build_parser().parse_args(argv)
    missing = [name for name in REQUIRED_WEIGHTS if not (WEIGHTS_DIR / name).is_file()]
    if missing and not args.allow_missing_weights:
        print(f"{WEIGHTS_DIR}: missing {', '.join(missing)}: train or copy the weights first "
              "(or pass --allow-missing-weights for a bundle that can only run Telea)", file=sys.stderr)
        return EXIT_BUILD_FAILED
    bundle = args.dist / APP_NAME
    if args.clean:
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.rmtree(args.work, ignore_errors=True)

    started = time.perf_counter()
    if not run_pyinstaller(args.dist, args.work, clean=args.clean):
        return EXIT_BUILD_FAILED
    size_mb, files = folder_size(bundle) / 1e6, sum(1 for path in bundle.rglob("*") if path.is_file())
    print(f"bundle: {bundle} ({size_mb:.0f} MB, {files} files), built in {time.perf_counter() - started:.0f} s")
    if not args.check:
        return 0
    return check_bundle(bundle, selftest_method=args.method)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Build the FaceStudio bundle with PyInstaller.")
    parser.add_argument("--clean", action="store_true", help="remove the previous bundle and build cache first")
    parser.add_argument("--check", action="store_true", help="then run the bundle's self-test and time its window")
    parser.add_argument("--method", choices=("gan", "telea"), default="gan", help="the self-test's fill method")
    parser.add_argument("--allow-missing-weights", action="store_true",
                        help="build even without trained weights (the bundle's gan self-test then fails)")
    parser.add_argument("--dist", type=Path, default=DEFAULT_DIST, help=f"output folder (default: {DEFAULT_DIST})")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"build cache (default: {DEFAULT_WORK})")
    return parser


def run_pyinstaller(dist: Path, work: Path, clean: bool) -> bool:
    """Run PyInstaller on the spec with this Python; False (and why on stderr) when it fails."""
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    if clean:
        command.insert(3, "--clean")
    try:
        completed = subprocess.run(command, cwd=ROOT)
    except OSError as error:
        print(f"{sys.executable}: cannot run PyInstaller: {error}", file=sys.stderr)
        return False
    if completed.returncode != 0:
        print(f"{SPEC}: PyInstaller failed (exit {completed.returncode}); is it installed? "
              "pip install -e \".[package]\"", file=sys.stderr)
        return False
    return True


def check_bundle(bundle: Path, selftest_method: str = "gan") -> int:
    """Audit the folder, run its self-test and time its window; print one line per check."""
    problems = audit_bundle(bundle)
    for problem in problems:
        print(f"{bundle}: {problem}", file=sys.stderr)
    executable = executable_path(bundle)

    selftest = run_timed([str(executable), "--selftest", "--method", selftest_method], SELFTEST_TIMEOUT_S)
    print(f"selftest ({selftest.seconds:.1f} s, exit {selftest.returncode}): {selftest.output}")
    if selftest.returncode != 0:
        problems.append("the self-test failed")

    with tempfile.TemporaryDirectory() as folder:
        screenshot = Path(folder) / "window.png"
        window = run_timed([str(executable), "gui", "--screenshot", str(screenshot)], WINDOW_TIMEOUT_S)
        shown = window.returncode == 0 and screenshot.is_file()
    verdict = "shown and captured" if shown else f"did not open: {window.output}"
    print(f"window ({window.seconds:.1f} s, exit {window.returncode}): {verdict}")
    if not shown:
        problems.append("the window did not open")
    return EXIT_CHECK_FAILED if problems else 0


def audit_bundle(bundle: Path) -> list[str]:
    """What the bundle holds that it must not (excluded packages, unused Qt libraries), or lacks."""
    problems: list[str] = []
    if not executable_path(bundle).is_file():
        problems.append(f"no executable {executable_path(bundle).name}")
    internal = bundle / "_internal"
    found = [name for name in FORBIDDEN_PACKAGES if (internal / name).exists()]
    found += sorted(module for module in archived_modules(executable_path(bundle))
                    if module.split(".")[0] in FORBIDDEN_PACKAGES)
    found += sorted({path.name for path in internal.rglob("*")
                     if path.name.removeprefix("lib").startswith(FORBIDDEN_QT_LIBRARIES)})
    if found:
        problems.append(f"holds excluded packages or libraries: {', '.join(found[:10])}")
    for name in REQUIRED_WEIGHTS:
        if not (internal / "resources" / "weights" / name).is_file():
            problems.append(f"lacks resources/weights/{name}")
    return problems


def archived_modules(executable: Path) -> list[str]:
    """Names of the Python modules in the executable's PYZ archive (empty when it cannot be read)."""
    from PyInstaller.archive.readers import CArchiveReader

    if not executable.is_file():
        return []
    package = CArchiveReader(str(executable))
    archives = [name for name, entry in package.toc.items() if entry[-1] == PYZ_TYPECODE]
    return sorted({module for name in archives for module in package.open_embedded_archive(name).toc})


def executable_path(bundle: Path) -> Path:
    return bundle / (f"{APP_NAME}.exe" if sys.platform == "win32" else APP_NAME)


def run_timed(command: list[str], timeout_s: float) -> Timed:
    """Run a bundle command headless (Qt offscreen when there is no display); keep its last two output lines."""
    environment = dict(os.environ)
    if sys.platform.startswith("linux") and not (environment.get("DISPLAY") or environment.get("WAYLAND_DISPLAY")):
        environment.setdefault("QT_QPA_PLATFORM", "offscreen")
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=environment)
    except subprocess.TimeoutExpired:
        return Timed(returncode=124, output=f"timed out after {timeout_s:.0f} s", seconds=time.perf_counter() - started)
    except OSError as error:
        return Timed(returncode=127, output=f"{command[0]}: cannot run: {error}", seconds=time.perf_counter() - started)
    lines = [line for line in (completed.stdout + completed.stderr).splitlines() if line.strip()]
    return Timed(completed.returncode, " | ".join(lines[-2:]), time.perf_counter() - started)


def folder_size(folder: Path) -> int:
    """Bytes of the files under `folder` (links not followed)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


if __name__ == "__main__":
    sys.exit(main())
