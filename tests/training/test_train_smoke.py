"""Each training script runs a few CPU steps on real faces, resumes where it stopped, and exports a
checkpoint the app can load. Tiny model configs keep every run to seconds."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from facestudio.models import FaceEncoder, load_checkpoint, save_checkpoint
from training import prepare_data

DATA = Path(os.environ.get("FACESTUDIO_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
TINY = {
    "segmenter": ["model.base_channels=8", "model.depth=2"],
    "encoder": ["model.width_coefficient=0.25"],
    "inpainter": ["model.generator.base_channels=8", "model.generator.bottleneck_channels=16",
                  "model.discriminator.base_channels=8", "model.discriminator.num_layers=3",
                  "loss.adversarial_start=1", "loss.adversarial_ramp=2"],
    "detector": ["model.stem=8", "model.widths=[8,16,16,24]", "model.depths=[1,1,1,1]", "model.neck=16",
                 "scene.height=128", "scene.width=128", "val.scenes=4"],
}


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 real faces (6 train, 2 val, 2 test per source) through the real pipeline, built once per session."""
    if not (DATA / "faces" / "utk").is_dir():
        pytest.skip(f"shared face data not found at {DATA}")
    return prepare_data.build_small_cache(DATA, tmp_path_factory.getbasetemp() / "small_cache")


def run_script(name: str, cache: Path, out: Path, steps: int, *extra: str) -> dict[str, float]:
    module = __import__(f"training.train_{name}", fromlist=["main"])
    torch.set_num_threads(2)
    argv = ["--data", str(cache), "--out", str(out), "--steps", str(steps), "--batch-size", "2",
            "--workers", "0", "--device", "cpu",
            "--set", "train.val_every=2", "train.val_samples=4", "train.log_every=1", *TINY[name], *extra]
    return module.main(argv)


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def check_run(out: Path, steps: int) -> list[dict]:
    """The log has finite losses for every step, validation metrics, a sample grid and the state."""
    records = read_log(out)
    train = [r for r in records if "losses" in r]
    assert [r["step"] for r in train] == list(range(1, steps + 1))
    assert all("nonfinite" not in r["losses"] and all(map(math.isfinite, r["losses"].values())) for r in train)
    validations = [r for r in records if "val" in r]
    assert validations and all(math.isfinite(v) for r in validations for v in r["val"].values())
    assert any(out.glob("samples_*.png"))
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert state["step"] == steps
    return records


def check_resume(name: str, cache: Path, out: Path, *extra: str) -> None:
    """A second run with --resume continues at step 3; without --resume it refuses the folder."""
    with pytest.raises(SystemExit, match="--resume"):
        run_script(name, cache, out, 4, *extra)
    run_script(name, cache, out, 4, "--resume", *extra)
    steps = [r["step"] for r in read_log(out) if "losses" in r]
    assert steps == [1, 2, 3, 4]


@pytest.mark.slow
def test_segmenter_trains_resumes_and_exports(small_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "segmenter"
    metrics = run_script("segmenter", small_cache, out, 3, "--export", str(tmp_path / "segmenter.pt"))
    check_run(out, 3)
    assert 0.0 <= metrics["iou"] <= 1.0 and 0.0 <= metrics["pixel_accuracy"] <= 1.0
    model, metadata = load_checkpoint(tmp_path / "segmenter.pt", expected_kind="segmenter")
    assert metadata["steps"] == 3 and "iou" in metadata["val_metrics"] and metadata["data"]["faces"] == 12
    assert model(torch.zeros(1, 3, 128, 128)).shape == (1, 1, 128, 128)
    check_resume("segmenter", small_cache, out)


@pytest.mark.slow
def test_encoder_trains_resumes_and_exports(small_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "encoder"
    metrics = run_script("encoder", small_cache, out, 3, "--export", str(tmp_path / "encoder.pt"))
    check_run(out, 3)
    assert 0.0 <= metrics["top1_occluded_vs_clean"] <= 1.0 and metrics["gallery_size"] == 4
    model, metadata = load_checkpoint(tmp_path / "encoder.pt", expected_kind="encoder")
    identity = model(torch.zeros(2, 3, 128, 128))
    assert identity.shape == (2, 128) and torch.allclose(identity.norm(dim=1), torch.ones(2), atol=1e-3)
    check_resume("encoder", small_cache, out)


@pytest.mark.slow
def test_inpainter_trains_with_an_encoder_resumes_and_exports(small_cache: Path, tmp_path: Path) -> None:
    encoder_path = save_checkpoint(tmp_path / "encoder.pt", FaceEncoder(width_coefficient=0.25))
    out = tmp_path / "inpainter"
    extra = ("--encoder", str(encoder_path))
    metrics = run_script("inpainter", small_cache, out, 3, "--export", str(tmp_path / "generator.pt"), *extra)
    records = check_run(out, 3)
    losses = [r["losses"] for r in records if "losses" in r]
    assert "identity" in losses[0] and "perceptual" in losses[0]
    assert "g_adv" in losses[-1] and "d_loss" in losses[-1]  # the adversarial loss ramped in
    assert {"psnr", "psnr_hole", "ssim", "identity_cosine", "psnr_hole_gain_over_telea"} <= set(metrics)
    model, metadata = load_checkpoint(tmp_path / "generator.pt", expected_kind="generator")
    assert metadata["steps"] == 3 and metadata["data"]["identity_source"].startswith("encoder")
    out_image = model(torch.zeros(1, 3, 128, 128), torch.ones(1, 1, 128, 128), torch.zeros(1, 128))
    assert out_image.shape == (1, 3, 128, 128)
    check_resume("inpainter", small_cache, out, *extra)


@pytest.mark.slow
def test_inpainter_trains_without_an_encoder(small_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "inpainter"
    run_script("inpainter", small_cache, out, 2)
    losses = [r["losses"] for r in read_log(out) if "losses" in r]
    assert "identity" not in losses[0] and all(math.isfinite(l["l1_hole"]) for l in losses)


@pytest.mark.slow
def test_detector_trains_resumes_exports_and_gets_its_threshold_on_val(small_cache: Path, tmp_path: Path) -> None:
    from facestudio.detection import LearnedFaceDetector
    from training import evaluate_detector

    out, shipped = tmp_path / "detector", tmp_path / "detector.pt"
    metrics = run_script("detector", small_cache, out, 3, "--export", str(shipped))
    train = [r for r in read_log(out) if "losses" in r]
    assert [r["step"] for r in train] == [1, 2, 3] and all(map(math.isfinite, train[-1]["losses"].values()))
    assert 0.0 <= metrics["recall_occluded"] <= 1.0 and metrics["score_threshold"] in evaluate_detector.THRESHOLDS
    _, metadata = load_checkpoint(shipped, expected_kind="detector")
    assert metadata["steps"] == 3 and metadata["data"]["scene"]["height"] == 128
    check_resume("detector", small_cache, out)

    with pytest.raises(SystemExit):  # a threshold chosen on the test split would flatter the test figures
        evaluate_detector.main(["--checkpoint", str(shipped), "--data", str(small_cache), "--write-threshold", "1"])
    report = tmp_path / "val.json"
    evaluate_detector.main(["--checkpoint", str(shipped), "--data", str(small_cache), "--split", "val",
                            "--scenes", "3", "--height", "128", "--width", "128", "--json", str(report),
                            "--write-threshold", "100"])  # every threshold passes: the lowest is chosen
    assert json.loads(report.read_text())["shipped_threshold"] == min(evaluate_detector.THRESHOLDS)
    detector = LearnedFaceDetector(shipped, "cpu")
    assert detector.score_threshold == min(evaluate_detector.THRESHOLDS)
    assert "val split, 3 128x128 scenes" in detector.metadata["score_threshold_source"]


@pytest.mark.parametrize("kind", ["detector", "segmenter"])
def test_fine_tune_starts_from_an_exported_checkpoint(kind: str, small_cache: Path, tmp_path: Path) -> None:
    """--init seeds a new run with an exported model's weights (the shipped one, for fine-tuning)."""
    first, exported = tmp_path / "first", tmp_path / "first.pt"
    # A large LR, so that the exported weights are far from the initial ones every run starts from.
    run_script(kind, small_cache, first, 2, "optim.lr=0.05", "optim.warmup_steps=1", "--export", str(exported))
    seeded, _ = load_checkpoint(exported, expected_kind=kind)
    out = tmp_path / "fine_tune"
    # (more --set overrides go first: they extend the TINY ones run_script passes)
    run_script(kind, small_cache, out, 1, "optim.lr=1e-9", "optim.warmup_steps=1", "--init", str(exported),
               "--export", str(tmp_path / "tuned.pt"))
    tuned, metadata = load_checkpoint(tmp_path / "tuned.pt", expected_kind=kind)
    assert metadata["data"]["init"]["steps"] == 2
    tuned_parameters = dict(tuned.named_parameters())  # (batch-norm statistics move with any forward pass)
    for name, value in seeded.named_parameters():  # one step at a vanishing LR: still the seeded weights
        torch.testing.assert_close(tuned_parameters[name].float(), value.float(), atol=2e-3, rtol=1e-2)
    fresh, fresh_export = tmp_path / "fresh", tmp_path / "fresh.pt"
    run_script(kind, small_cache, fresh, 1, "optim.lr=1e-9", "optim.warmup_steps=1",
               "--export", str(fresh_export))
    untrained, _ = load_checkpoint(fresh_export, expected_kind=kind)
    untrained_parameters = dict(untrained.named_parameters())
    assert any(not torch.allclose(untrained_parameters[name].float(), value.float(), atol=2e-3)
               for name, value in seeded.named_parameters())


def test_export_cli_writes_a_loadable_checkpoint(small_cache: Path, tmp_path: Path) -> None:
    from training import export

    out = tmp_path / "segmenter"
    run_script("segmenter", small_cache, out, 1)
    export.main([str(out), str(tmp_path / "shipped.pt")])
    model, metadata = load_checkpoint(tmp_path / "shipped.pt", expected_kind="segmenter")
    assert metadata["trained_by"] == "training.train_segmenter" and metadata["steps"] == 1
    with pytest.raises(SystemExit, match="training state not found"):
        export.main([str(tmp_path / "missing"), str(tmp_path / "x.pt")])


@pytest.mark.slow
def test_inpainter_recipe_two_scales_feature_matching_style(small_cache: Path, tmp_path: Path) -> None:
    """The issue-15 recipe options train together: the half-scale discriminator is a model of the state,
    and the feature-matching and style losses are logged once the adversarial loss has ramped in."""
    encoder_path = save_checkpoint(tmp_path / "encoder.pt", FaceEncoder(width_coefficient=0.25))
    out = tmp_path / "inpainter"
    run_script("inpainter", small_cache, out, 3, "model.discriminator_scales=2", "loss.feature_matching=1.0",
               "loss.style=10.0", "--encoder", str(encoder_path))  # the overrides join run_script's --set
    records = check_run(out, 3)
    losses = [r["losses"] for r in records if "losses" in r]
    assert "style" in losses[0] and "feature_matching" not in losses[0]  # before the adversarial start
    assert losses[-1]["feature_matching"] > 0 and losses[-1]["g_adv"] != 0
    assert all(0.0 <= r["data_wait_share"] <= 1.0 for r in records if "losses" in r)
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert {"discriminator", "discriminator_half"} <= set(state["models"]) <= set(state["optimizers"]) | {"generator_ema"}
