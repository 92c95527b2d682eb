"""FaceStudio's editor window (PySide6). The engine is reached only through `facestudio.api` on a worker thread."""
