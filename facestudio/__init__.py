"""FaceStudio: find faces, segment what hides them, and paint the hidden part back.

The public API lives in `facestudio.api`; its names are re-exported here lazily, so that
`import facestudio` (and `facestudio --help`) stays fast and loads neither OpenCV nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AutoFixResult", "Face", "NoFaceError", "Pipeline", "__version__", "load_pipeline"]

if TYPE_CHECKING:
    from facestudio.api import AutoFixResult, NoFaceError, Pipeline, load_pipeline
    from facestudio.faces import Face

_LAZY = {
    "load_pipeline": "facestudio.api",
    "Pipeline": "facestudio.api",
    "AutoFixResult": "facestudio.api",
    "NoFaceError": "facestudio.api",
    "Face": "facestudio.faces",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'facestudio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
