"""FaceEncoder: unit-norm identity, attribute heads, gradient flow, no downloads."""

import torch
import torch.nn.functional as F

from facestudio.models import FaceEncoder


def _images(batch: int, size: int = 64) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_identity_is_unit_norm_128d() -> None:
    torch.manual_seed(0)
    model = FaceEncoder().eval()
    with torch.inference_mode():
        identity = model(_images(3, 128))
    assert identity.shape == (3, 128)
    assert torch.allclose(identity.norm(dim=1), torch.ones(3), atol=1e-5)


def test_attributes_have_documented_shapes() -> None:
    torch.manual_seed(0)
    model = FaceEncoder(embedding_dim=64).eval()
    with torch.inference_mode():
        identity, attributes = model.forward_with_attributes(_images(2))
        plain = model(_images(2))
    assert identity.shape == (2, 64)
    assert torch.allclose(identity, plain, atol=1e-6)
    assert {name: tuple(t.shape) for name, t in attributes.items()} == {
        "gender": (2, 2),
        "age": (2, 1),
        "race": (2, 5),
    }


def test_eval_mode_is_per_sample() -> None:
    torch.manual_seed(0)
    model = FaceEncoder().eval()
    images = _images(3)
    with torch.inference_mode():
        batched = model(images)
        single = model(images[1:2])
    assert torch.allclose(batched[1:2], single, atol=1e-5)


def test_gradients_reach_backbone_stem_and_every_head() -> None:
    torch.manual_seed(0)
    model = FaceEncoder()
    identity, attributes = model.forward_with_attributes(_images(4))
    target = F.normalize(torch.randn(4, 128), dim=1)
    loss = (1 - (identity * target).sum(dim=1)).mean()
    loss = loss + F.cross_entropy(attributes["gender"], torch.tensor([0, 1, 0, 1]))
    loss = loss + F.l1_loss(attributes["age"], torch.full((4, 1), 0.3))
    loss = loss + F.cross_entropy(attributes["race"], torch.tensor([0, 1, 2, 3]))
    loss.backward()
    checked = [model.backbone._conv_stem.weight, model.backbone._conv_head.weight, model.identity_head.weight]
    checked += [head.weight for head in model.attribute_heads.values()]
    for parameter in checked:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


def test_untrained_identity_separates_different_inputs() -> None:
    # Train mode: before training, BatchNorm's running statistics are placeholders.
    torch.manual_seed(0)
    model = FaceEncoder(dropout=0.0, drop_connect_rate=0.0).train()
    noise = _images(1)
    ramp = torch.linspace(-1, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    with torch.no_grad():
        identity = model(torch.cat([noise, ramp, noise, -ramp]))
    assert torch.allclose(identity[0], identity[2], atol=1e-5)
    assert (identity[0] * identity[1]).sum() < 0.9
