"""InpaintGenerator and the layers it is built from (gated conv, FiLM, contextual attention)."""

import pytest
import torch
import torch.nn.functional as F

from facestudio.models import InpaintGenerator
from facestudio.models.layers import ContextualAttention, FiLM, GatedConv2d, GatedDeconv2d

SMALL = {"base_channels": 8, "bottleneck_channels": 16, "dilations": [2, 4]}


def _inputs(size: int, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, size // 4 : size // 2, size // 3 : 2 * size // 3] = 1
    identity = F.normalize(torch.randn(batch, 128, generator=generator), dim=1)
    return image, mask, identity


@pytest.fixture(scope="module")
def default_generator() -> InpaintGenerator:
    torch.manual_seed(0)
    return InpaintGenerator().eval()


@pytest.mark.parametrize("size", [128, 256])
def test_default_generator_output_shape_and_range(default_generator: InpaintGenerator, size: int) -> None:
    image, mask, identity = _inputs(size, batch=1)
    with torch.inference_mode():
        out = default_generator(image, mask, identity)
    assert out.shape == (1, 3, size, size)
    assert torch.isfinite(out).all()
    assert out.min() >= -1 and out.max() <= 1


def test_default_generator_size_is_within_budget(default_generator: InpaintGenerator) -> None:
    params = sum(p.numel() for p in default_generator.parameters())
    assert 1.5e6 <= params <= 4e6


def test_generator_handles_sizes_not_multiple_of_eight() -> None:
    torch.manual_seed(0)
    model = InpaintGenerator(**SMALL).eval()
    image, mask, identity = _inputs(60, batch=1)
    image = image[:, :, :, :44]
    mask = mask[:, :, :, :44]
    with torch.no_grad():
        out = model(image, mask, identity)
    assert out.shape == (1, 3, 60, 44)


def test_generator_ignores_pixels_inside_the_hole() -> None:
    torch.manual_seed(0)
    model = InpaintGenerator(**SMALL).eval()
    image, mask, identity = _inputs(64)
    scribbled = torch.where(mask.bool(), torch.rand_like(image) * 2 - 1, image)
    with torch.no_grad():
        assert torch.equal(model(image, mask, identity), model(scribbled, mask, identity))


def test_generator_output_depends_on_identity_once_film_is_trained() -> None:
    torch.manual_seed(0)
    model = InpaintGenerator(**SMALL).eval()
    image, mask, identity = _inputs(64, batch=1)
    other = F.normalize(torch.randn(1, 128), dim=1)
    with torch.no_grad():
        # FiLM starts as the identity map, so the vector has no effect before training ...
        assert torch.equal(model(image, mask, identity), model(image, mask, other))
        for module in model.modules():
            if isinstance(module, FiLM):
                module.projection.weight.normal_(std=0.5)
        # ... and does once the FiLM projections are non-zero.
        assert not torch.allclose(model(image, mask, identity), model(image, mask, other), atol=1e-4)


def test_gradients_reach_every_part_of_the_generator() -> None:
    torch.manual_seed(0)
    model = InpaintGenerator(**SMALL)
    image, mask, identity = _inputs(64)
    identity.requires_grad_(True)
    target = torch.rand_like(image) * 2 - 1
    F.l1_loss(model(image, mask, identity), target).backward()
    for name in ["enc0", "enc3", "dilated.0", "attention_in", "attention_out", "merge", "dec0", "to_rgb"]:
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name + ".")]
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads), name
    film_grads = [p.grad for n, p in model.named_parameters() if "film" in n]
    assert film_grads and all(g is not None and g.abs().sum() > 0 for g in film_grads)


def test_generator_config_rebuilds_the_same_architecture() -> None:
    model = InpaintGenerator(**SMALL)
    clone = InpaintGenerator(**model.config)
    assert [(n, p.shape) for n, p in model.named_parameters()] == [
        (n, p.shape) for n, p in clone.named_parameters()
    ]


# --- layers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("separable", [False, True])
def test_gated_conv_shapes_and_gate_range(separable: bool) -> None:
    layer = GatedConv2d(6, 10, 3, stride=2, separable=separable, activation=None)
    x = torch.randn(2, 6, 17, 16)
    out = layer(x)
    assert out.shape == (2, 10, 9, 8)
    feature, gate = layer.conv(x).split(10, dim=1)
    assert torch.allclose(out, feature * torch.sigmoid(gate))
    assert GatedDeconv2d(6, 4, separable=separable)(x).shape == (2, 4, 34, 32)


def test_separable_gated_conv_is_cheaper() -> None:
    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert count(GatedConv2d(64, 64, 3, separable=True)) < count(GatedConv2d(64, 64, 3)) / 5


def test_film_starts_as_identity_and_modulates_per_sample() -> None:
    film = FiLM(4, 3)
    x = torch.randn(2, 3, 5, 5)
    condition = torch.randn(2, 4)
    assert torch.equal(film(x, condition), x)
    with torch.no_grad():
        film.projection.bias[:3] = 1.0  # gamma = 1 -> doubles the features
        film.projection.bias[3:] = 0.5  # beta
    assert torch.allclose(film(x, condition), 2 * x + 0.5)


def _constant_outside_hole(
    batch: int, channels: int, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    colour = torch.randn(batch, channels, 1, 1, generator=generator)
    mask = torch.zeros(batch, 1, height, width)
    mask[0, :, height // 4 : height // 2 + 1, width // 4 : width // 2 + 2] = 1
    mask[-1, :, height // 2 :, : width // 3] = 1  # a hole touching the border
    # Hole features are huge and varied, so any hole patch used as a source would show.
    hole_features = 50 * torch.randn(batch, channels, height, width, generator=generator)
    features = torch.where(mask.bool(), hole_features, colour.expand(-1, -1, height, width))
    return features, mask, colour


@pytest.mark.parametrize("height,width,max_positions", [(16, 16, 256), (17, 13, 256), (32, 32, 64), (30, 22, 100)])
def test_contextual_attention_fills_hole_from_known_region_only(
    height: int, width: int, max_positions: int
) -> None:
    features, mask, colour = _constant_outside_hole(3, 6, height, width)
    attention = ContextualAttention(max_matching_positions=max_positions)
    out = attention(features, features, mask)
    assert out.shape == features.shape
    hole = mask.bool().expand_as(out)
    expected = colour.expand_as(out)
    assert torch.allclose(out[hole], expected[hole], atol=1e-4)


def test_contextual_attention_takes_full_resolution_masks() -> None:
    features, mask, colour = _constant_outside_hole(2, 4, 16, 16)
    big_mask = F.interpolate(mask, scale_factor=8, mode="nearest")
    out = ContextualAttention()(features, features, big_mask)
    hole = mask.bool().expand_as(out)
    assert torch.allclose(out[hole], colour.expand_as(out)[hole], atol=1e-4)


def test_contextual_attention_copies_the_most_similar_known_patch() -> None:
    # Left half: feature pattern A, right half: pattern B. A hole inside the left half whose
    # foreground looks like A must be filled with A, not with the B patches.
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.tensor([0.0, 1.0, 0.0])
    features = torch.empty(1, 3, 12, 16)
    features[..., :8] = a[:, None, None]
    features[..., 8:] = b[:, None, None]
    mask = torch.zeros(1, 1, 12, 16)
    mask[..., 4:8, 2:6] = 1
    out = ContextualAttention(softmax_scale=50.0)(features, features, mask)
    filled = out[0, :, 4:8, 2:6]
    assert torch.allclose(filled, a[:, None, None].expand_as(filled), atol=1e-3)


def test_contextual_attention_without_known_patches_returns_input() -> None:
    features = torch.randn(2, 4, 8, 8)
    mask = torch.ones(2, 1, 8, 8)
    mask[1, :, :, :] = 0
    out = ContextualAttention()(features, features, mask)
    assert torch.equal(out[0], features[0])
    assert torch.isfinite(out).all()


def test_contextual_attention_passes_gradients_to_sources() -> None:
    features, mask, _ = _constant_outside_hole(2, 4, 16, 16)
    features = features.clone().requires_grad_(True)
    out = ContextualAttention()(features, features, mask)
    (out * mask).sum().backward()
    known = (~mask.bool()).expand_as(features)
    assert features.grad[known].abs().sum() > 0
