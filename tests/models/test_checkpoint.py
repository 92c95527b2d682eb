"""Checkpoint format: round trips for every model kind and one clear error per broken file."""

from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from facestudio.models import (
    CheckpointError,
    FaceEncoder,
    InpaintGenerator,
    OcclusionSegmenter,
    PatchDiscriminator,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from facestudio.models.checkpoint import CHECKPOINT_FORMAT, model_kinds


def _image(size: int = 32, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _mask(size: int = 32, batch: int = 2) -> torch.Tensor:
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, size // 4 : size // 2, size // 4 : 3 * size // 4] = 1
    return mask


def _identity(batch: int = 2) -> torch.Tensor:
    return F.normalize(torch.randn(batch, 128, generator=torch.Generator().manual_seed(1)), dim=1)


# kind -> (small model factory, forward on fixed inputs)
CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module], torch.Tensor]]] = {
    "segmenter": (
        lambda: OcclusionSegmenter(base_channels=8, depth=2, blocks_per_stage=1),
        lambda m: m(_image()),
    ),
    "encoder": (lambda: FaceEncoder(width_coefficient=0.5), lambda m: m(_image())),
    "generator": (
        lambda: InpaintGenerator(base_channels=8, bottleneck_channels=16, dilations=[2]),
        lambda m: m(_image(), _mask(), _identity()),
    ),
    "discriminator": (
        lambda: PatchDiscriminator(base_channels=8, num_layers=3),
        lambda m: m(_image(), _mask()),
    ),
}


def _trained_a_little(kind: str) -> nn.Module:
    """A model whose weights and BatchNorm statistics are no longer their initial values."""
    torch.manual_seed(0)
    model, run = CASES[kind][0](), CASES[kind][1]
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [norm.momentum for norm in batch_norms]
    for norm in batch_norms:
        norm.momentum = None  # running stats := this batch's stats, so eval activations are sane
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
        run(model)  # train-mode pass: sets BatchNorm running stats, spectral-norm vectors
    for norm, momentum in zip(batch_norms, momenta):
        norm.momentum = momentum
    return model.eval()


@pytest.fixture(scope="module")
def saved_segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "segmenter.pt"
    save_checkpoint(path, _trained_a_little("segmenter"), metadata={"steps": 10})
    return path


@pytest.mark.parametrize("kind", sorted(CASES))
def test_round_trip_rebuilds_model_with_same_outputs(tmp_path: Path, kind: str) -> None:
    model = _trained_a_little(kind)
    metadata = {"steps": 1200, "data": ["utk", "celeba"], "metrics": {"psnr": 27.5}, "note": None}
    path = save_checkpoint(tmp_path / f"{kind}.pt", model, metadata=metadata)

    loaded, loaded_metadata = load_checkpoint(path, expected_kind=kind)
    assert type(loaded) is type(model) and not loaded.training
    assert {k: loaded_metadata[k] for k in metadata} == metadata
    assert loaded_metadata["parameters"] == sum(p.numel() for p in model.parameters())
    for name, tensor in loaded.state_dict().items():
        assert tensor.dtype == model.state_dict()[name].dtype, name
    run = CASES[kind][1]
    with torch.no_grad():
        expected, actual = run(model), run(loaded)
    assert torch.allclose(actual, expected, atol=2e-2, rtol=1e-2)


def test_file_is_weights_only_loadable_with_fp16_floats(saved_segmenter: Path) -> None:
    payload = torch.load(saved_segmenter, weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT and payload["format_version"] == 1
    assert payload["kind"] == "segmenter"
    assert payload["class"] == "facestudio.models.segmenter:OcclusionSegmenter"
    assert OcclusionSegmenter(**payload["config"])  # constructor kwargs, as stored
    dtypes = {t.dtype for t in payload["state_dict"].values()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    assert torch.int64 in dtypes  # BatchNorm's num_batches_tracked stays an integer
    assert payload["metadata"]["steps"] == 10 and "created" in payload["metadata"]


def test_full_precision_save_is_exact(tmp_path: Path) -> None:
    model = _trained_a_little("generator")
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "g.pt", model, half=False))
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_save_is_atomic_and_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "model.pt"
    save_checkpoint(path, _trained_a_little("segmenter"), metadata={"steps": 1})
    save_checkpoint(path, _trained_a_little("segmenter"), metadata={"steps": 2})
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]
    assert load_checkpoint(path)[1]["steps"] == 2


def test_wrapped_model_is_saved_as_the_inner_model(tmp_path: Path) -> None:
    model = _trained_a_little("segmenter")
    path = save_checkpoint(tmp_path / "wrapped.pt", nn.DataParallel(model))
    loaded, _ = load_checkpoint(path, expected_kind="segmenter")
    assert isinstance(loaded, OcclusionSegmenter)
    with torch.no_grad():
        assert torch.allclose(loaded(_image()), model(_image()), atol=2e-2, rtol=1e-2)


def test_save_rejects_metadata_that_is_not_plain_data(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="metadata.when"):
        save_checkpoint(tmp_path / "m.pt", _trained_a_little("segmenter"), metadata={"when": object()})
    assert not any(tmp_path.iterdir())


def test_build_model_and_kind_registry() -> None:
    model = build_model("segmenter", {"base_channels": 8, "depth": 2})
    assert isinstance(model, OcclusionSegmenter) and model.config["depth"] == 2
    assert model_kinds()["detector"] == "facestudio.models.detector:FaceDetectorNet"
    with pytest.raises(KeyError, match="unknown model kind"):
        build_model("upscaler", {})


# --- every broken checkpoint raises CheckpointError naming the file -----------------------------


def _expect_error(path: Path, match: str, **kwargs: Any) -> None:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "weights_only" not in message  # never relay PyTorch's advice to unpickle untrusted files


def _rewrite(source: Path, target: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    payload = torch.load(source, weights_only=True)
    change(payload)
    torch.save(payload, target)
    return target


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "absent.pt", "not found")


def test_truncated_file(tmp_path: Path, saved_segmenter: Path) -> None:
    data = saved_segmenter.read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, r"not a FaceStudio checkpoint \(truncated, corrupt")


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint at all" * 10)
    _expect_error(path, r"not a FaceStudio checkpoint \(truncated, corrupt")


def test_foreign_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save(nn.Linear(2, 2).state_dict(), path)
    _expect_error(path, "not a FaceStudio checkpoint")


def test_newer_format_version(tmp_path: Path, saved_segmenter: Path) -> None:
    path = _rewrite(saved_segmenter, tmp_path / "v99.pt", lambda p: p.update(format_version=99))
    _expect_error(path, "newer")


def test_wrong_kind(saved_segmenter: Path) -> None:
    _expect_error(saved_segmenter, "expected a 'generator'", expected_kind="generator")


def test_unknown_kind(tmp_path: Path, saved_segmenter: Path) -> None:
    path = _rewrite(saved_segmenter, tmp_path / "k.pt", lambda p: p.update(kind="upscaler", **{"class": "os:system"}))
    _expect_error(path, "unknown model kind")


def test_config_that_does_not_rebuild(tmp_path: Path, saved_segmenter: Path) -> None:
    path = _rewrite(saved_segmenter, tmp_path / "c.pt", lambda p: p["config"].update(colour="blue"))
    _expect_error(path, "config does not rebuild OcclusionSegmenter")


def test_missing_weights(tmp_path: Path, saved_segmenter: Path) -> None:
    path = _rewrite(saved_segmenter, tmp_path / "m.pt", lambda p: p["state_dict"].pop("head.weight"))
    _expect_error(path, "missing keys head.weight")


def test_unexpected_weights(tmp_path: Path, saved_segmenter: Path) -> None:
    path = _rewrite(saved_segmenter, tmp_path / "u.pt", lambda p: p["state_dict"].update(extra=torch.zeros(1)))
    _expect_error(path, "unexpected keys extra")


def test_weights_of_wrong_shape(tmp_path: Path, saved_segmenter: Path) -> None:
    def widen(payload: dict[str, Any]) -> None:
        payload["config"]["base_channels"] = 16

    path = _rewrite(saved_segmenter, tmp_path / "s.pt", widen)
    _expect_error(path, "shape mismatch")
