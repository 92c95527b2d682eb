"""Fixtures shared by the whole suite: the data folder, real face photos, throw-away model weights.

Qt runs headless here ("offscreen") unless the caller chose a platform. Tests that need the data
folder skip with the reason when it is absent; tests that need model weights use small randomly
initialised checkpoints, so they never depend on the shipped (trained) ones.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The user cache (autosave, DeepFace's weights folder) of a test run is its own, never the developer's.
os.environ.setdefault("FACESTUDIO_CACHE", tempfile.mkdtemp(prefix="facestudio-cache-"))
os.environ.setdefault("FACESTUDIO_LOG_DIR", tempfile.mkdtemp(prefix="facestudio-logs-"))

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "FACESTUDIO_DATA"


def data_folder() -> Path:
    """$FACESTUDIO_DATA, else ../shared/data next to the repository."""
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else REPO_ROOT / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (see shared/data/README.md); skips the test when it is absent."""
    folder = data_folder()
    if not (folder / "faces").is_dir():
        pytest.skip(f"shared data not found at {folder.resolve()} (set {DATA_ENV} to its path)")
    return folder


@pytest.fixture(scope="session")
def face_paths(data_root: Path) -> list[Path]:
    """Five real face photos: three UTKFace crops (200 px) and two tight CelebA crops."""
    utk = sorted((data_root / "faces" / "utk").glob("*.jpg"))[:3]
    celeba = sorted((data_root / "faces" / "celeba-crops").glob("*.jpg"))[:2]
    if len(utk) < 3 or len(celeba) < 2:
        pytest.skip(f"too few face photos under {data_root / 'faces'}")
    return utk + celeba


@pytest.fixture(scope="session")
def random_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with small, randomly initialised segmenter / encoder / generator checkpoints
    written by facestudio.models.checkpoint (fixed seed: the same weights every session)."""
    import torch

    from facestudio.models import FaceEncoder, InpaintGenerator, OcclusionSegmenter, save_checkpoint

    torch.set_num_threads(2)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("random-weights")
    models = {
        "segmenter": OcclusionSegmenter(base_channels=8, depth=2, blocks_per_stage=1, max_channels=32),
        "encoder": FaceEncoder(width_coefficient=0.25),
        "generator": InpaintGenerator(base_channels=8, bottleneck_channels=16, dilations=(2, 1)),
    }
    # A plain-str torch_version: torch.__version__ itself (a TorchVersion) is refused by weights-only loading.
    metadata = {"note": "random weights for tests", "torch_version": str(torch.__version__)}
    for kind, model in models.items():
        save_checkpoint(folder / f"{kind}.pt", model.eval(), metadata=metadata)
    return folder


@pytest.fixture(scope="session")
def blind_weights_dir(tmp_path_factory: pytest.TempPathFactory, random_weights_dir: Path) -> Path:
    """random_weights_dir's checkpoints plus a small, untrained detector.pt: "auto" picks the learned detector,
    whose heatmap starts at a 1 % prior, so it finds no face anywhere (the no-face paths, for real)."""
    import torch

    from facestudio.models import save_checkpoint
    from facestudio.models.detector import FaceDetectorNet

    folder = tmp_path_factory.mktemp("blind-weights")
    for checkpoint in random_weights_dir.glob("*.pt"):
        (folder / checkpoint.name).write_bytes(checkpoint.read_bytes())
    torch.manual_seed(0)
    untrained = FaceDetectorNet(stem=8, widths=(8, 16, 16, 24), depths=(1, 1, 1, 1), neck=16).eval()
    save_checkpoint(folder / "detector.pt", untrained, {"torch_version": str(torch.__version__)})
    return folder


@pytest.fixture(scope="session")
def reference_weights_dir(tmp_path_factory: pytest.TempPathFactory, random_weights_dir: Path) -> Path:
    """random_weights_dir with its generator widened to a reference generator whose reference input weights and
    identity FiLM are random (untrained FiLM is the identity: the vector would change nothing)."""
    import torch

    from facestudio.models import InpaintGenerator, load_checkpoint, save_checkpoint

    folder = tmp_path_factory.mktemp("reference-weights")
    for checkpoint in random_weights_dir.glob("*.pt"):
        (folder / checkpoint.name).write_bytes(checkpoint.read_bytes())
    plain, _ = load_checkpoint(random_weights_dir / "generator.pt", expected_kind="generator")
    widened = InpaintGenerator(**{**plain.config, "reference": True})
    widened.load_state_dict(plain.state_dict())
    torch.manual_seed(1)
    with torch.no_grad():
        widened.enc0.conv.weight[:, 5:] = 0.5 * torch.randn_like(widened.enc0.conv.weight[:, 5:])
        for film in [*widened.dilated_film, widened.merge_film]:
            film.projection.weight.normal_(0.0, 0.5)
    save_checkpoint(folder / "generator.pt", widened.eval())
    return folder
