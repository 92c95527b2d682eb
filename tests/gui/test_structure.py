"""The editor reaches the engine only through its front doors (read from the source, as a newcomer would)."""

from __future__ import annotations

import ast
from pathlib import Path

GUI = Path(__file__).resolve().parents[2] / "facestudio" / "gui"
# facestudio.batch: the batch dialog is that engine's front end (it runs on the editor's worker and Pipeline).
ALLOWED = {"facestudio.api", "facestudio.steps", "facestudio.imageio", "facestudio.sample", "facestudio.batch"}


def engine_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "facestudio" else [f"facestudio.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.startswith("facestudio") and not name.startswith("facestudio.gui")}
    return found


def test_the_gui_imports_only_api_steps_imageio_sample_and_batch() -> None:
    used = {path.name: engine_imports(path) for path in sorted(GUI.glob("*.py"))}
    assert any(used.values())  # the walk finds imports at all
    strays = {name: sorted(modules - ALLOWED) for name, modules in used.items() if modules - ALLOWED}
    assert not strays, f"GUI modules import engine internals: {strays}"


def test_the_engine_never_imports_qt() -> None:
    engine = GUI.parent
    for path in engine.rglob("*.py"):
        if GUI in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        assert "PySide6" not in text and "PyQt" not in text, path
