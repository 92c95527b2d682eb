"""Reference-photo training: ROF photos in the cache, real pairs and self-references, and a few CPU steps of
the reference trainer from a plain generator."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from facestudio.models import InpaintGenerator, load_checkpoint, save_checkpoint
from training import prepare_data
from training.data import FaceCache, InpaintingFaces
from training.reference_data import WithReference, clean_rows_by_person, kind_of, person_of

DATA = Path(os.environ.get("FACESTUDIO_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
ROF = DATA / "occluded-real" / "rof"


@pytest.fixture(scope="module")
def rof_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four clean photos each of the first training and validation people with a sunglasses photo, built by
    the real pipeline (dlib), split by person."""
    if not ROF.is_dir():
        pytest.skip(f"ROF photos not found at {ROF}")
    chosen: list[tuple[str, Path]] = []
    wanted = {"train": 2, "val": 1}
    for person_dir in sorted((ROF / "neutral").iterdir()):
        split = prepare_data.split_of(person_dir.name)
        if wanted.get(split, 0) and (ROF / "sunglasses" / f"{person_dir.name}_wearing_sunglasses").is_dir():
            chosen += [("rof", path) for path in sorted(person_dir.glob("*.jpg"))[:4]]
            chosen.append(("rof", sorted((ROF / "sunglasses" / f"{person_dir.name}_wearing_sunglasses").glob("*.jpg"))[0]))
            wanted[split] -= 1
        if not any(wanted.values()):
            break
    out = tmp_path_factory.mktemp("rof_cache")
    (out / "occluders").symlink_to((DATA / "occluders").resolve(), target_is_directory=True)
    prepare_data.build_faces(chosen, out, workers=1, quality=90)
    return out


def test_rof_faces_are_named_by_kind_and_person_and_split_by_person(rof_cache: Path) -> None:
    cache = FaceCache(rof_cache)
    kinds = {kind_of(name) for name in cache.names}
    assert kinds == {"neutral", "sunglasses"}
    for name, split in zip(cache.names, cache.splits):
        assert split == prepare_data.split_of(person_of(name))
    assert {str(s) for s in cache.splits} == {"train", "val"}


def test_references_are_other_photos_of_the_same_person_or_the_face_itself(rof_cache: Path) -> None:
    cache = FaceCache(rof_cache)
    faces = InpaintingFaces(cache, "train", jitter=None, deterministic=True)
    pairs = clean_rows_by_person(cache, cache.indices("train"))
    assert pairs and all(len(rows) >= 2 for rows in pairs.values())
    assert all(kind_of(cache.names[row]) == "neutral" for rows in pairs.values() for row in rows)
    with_pairs = WithReference(faces, pairs, none_share=0.0, deterministic=True)
    samples = [with_pairs[i] for i in range(len(with_pairs))]
    for sample in samples:
        reference = sample["reference"]
        assert reference.shape == sample["clean"].shape and reference.dtype == torch.uint8
        assert bool(sample["has_reference"]) and int(reference.float().std()) > 0
        # never the target photo itself: a pair is another photo, so the reference differs from the clean face
        assert not torch.equal(reference, sample["clean"])
    assert torch.equal(with_pairs[0]["reference"], samples[0]["reference"])  # deterministic
    none = WithReference(faces, pairs, none_share=1.0, deterministic=True)[0]
    assert not bool(none["has_reference"]) and int(none["reference"].max()) == 0
    selfish = WithReference(faces, {}, none_share=0.0, deterministic=True)[0]  # no pairs: a self-reference
    assert bool(selfish["has_reference"]) and not torch.equal(selfish["reference"], selfish["clean"])


@pytest.mark.slow
def test_reference_trainer_starts_from_a_plain_generator_and_exports_a_reference_generator(
        rof_cache: Path, tmp_path: Path) -> None:
    from training import train_reference
    from training.prepare_data import build_small_cache

    torch.set_num_threads(2)
    small = build_small_cache(DATA, tmp_path.parent / "small_cache_reference")
    torch.manual_seed(0)
    plain = InpaintGenerator(base_channels=8, bottleneck_channels=16)
    init = save_checkpoint(tmp_path / "plain.pt", plain.eval())
    out, export = tmp_path / "run", tmp_path / "generator.pt"
    metrics = train_reference.main([
        "--data", str(small), "--references", str(rof_cache), "--out", str(out), "--steps", "3",
        "--batch-size", "2", "--workers", "0", "--device", "cpu", "--init", str(init), "--export", str(export),
        "--set", "train.val_every=3", "train.val_samples=4", "train.log_every=1",
        "model.generator.base_channels=8", "model.generator.bottleneck_channels=16",
        "model.discriminator.base_channels=8", "model.discriminator.num_layers=3",
    ])
    assert np.isfinite(metrics["psnr_hole"])
    model, metadata = load_checkpoint(export, expected_kind="generator")
    assert model.uses_reference and metadata["steps"] == 3
    assert metadata["data"]["references"]["train_people"] >= 1
    # training moved the reference input off zero: the reference now changes the fill
    image, mask = torch.rand(1, 3, 128, 128) * 2 - 1, torch.ones(1, 1, 128, 128)
    identity = torch.nn.functional.normalize(torch.randn(1, 128), dim=1)
    with torch.no_grad():
        assert not torch.allclose(model(image, mask, identity, torch.rand(1, 3, 128, 128) * 2 - 1),
                                  model(image, mask, identity))
