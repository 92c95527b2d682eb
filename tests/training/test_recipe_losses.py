"""The issue-15 recipe's pieces: the discriminator's features, feature matching and the Gram (style) loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from facestudio.models import PatchDiscriminator
from training.losses import feature_matching_loss, gram_matrix, style_loss


def test_discriminator_features_one_per_stride_two_layer_and_the_same_logits() -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(base_channels=8, num_layers=3).eval()
    image, mask = torch.randn(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    logits, features = discriminator(image, mask, features=True)
    assert [f.shape for f in features] == [(2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8)]
    assert torch.allclose(logits, discriminator(image, mask)) and logits.shape == (2, 1, 8, 8)


def test_feature_matching_is_zero_for_the_truth_and_trains_only_the_fake() -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(base_channels=8, num_layers=3)
    real, mask = torch.rand(2, 3, 64, 64) * 2 - 1, torch.ones(2, 1, 64, 64)
    _, real_features = discriminator(real, mask, features=True)
    assert float(feature_matching_loss(real_features, real_features).detach()) == 0.0
    fake = (real + 0.3 * torch.randn_like(real)).requires_grad_(True)
    _, fake_features = discriminator(fake, mask, features=True)
    loss = feature_matching_loss(fake_features, real_features)
    loss.backward()
    assert float(loss) > 0 and fake.grad is not None and fake.grad.abs().sum() > 0
    # the real features are targets: no gradient reaches the discriminator through them
    real_input = real.clone().requires_grad_(True)
    _, real_features = discriminator(real_input, mask, features=True)
    _, fake_features = discriminator(fake, mask, features=True)
    feature_matching_loss(fake_features, real_features).backward()
    assert real_input.grad is None


def test_gram_matrix_is_the_channel_correlation_per_pixel() -> None:
    features = torch.randn(3, 5, 4, 6)
    gram = gram_matrix(features)
    assert gram.shape == (3, 5, 5) and torch.allclose(gram, gram.transpose(1, 2))
    expected = torch.einsum("nchw,ndhw->ncd", features, features) / 24
    assert torch.allclose(gram, expected, atol=1e-5)
    # layout does not matter, statistics do: the same pixels shuffled give the same Gram matrix
    shuffled = features.flatten(2)[:, :, torch.randperm(24)].reshape(3, 5, 4, 6)
    assert torch.allclose(gram_matrix(shuffled), gram, atol=1e-5)


def test_style_loss_sees_a_blurred_texture_and_has_a_gradient() -> None:
    torch.manual_seed(0)
    texture = torch.randn(2, 8, 32, 32)
    assert float(style_loss([texture], [texture])) == 0.0
    blurred = F.avg_pool2d(texture, 3, stride=1, padding=1).requires_grad_(True)
    loss = style_loss([blurred], [texture])
    loss.backward()
    assert float(loss) > 0.1 and blurred.grad.abs().sum() > 0


@pytest.mark.parametrize("levels", [1, 2])
def test_style_loss_averages_levels(levels: int) -> None:
    a = [torch.randn(1, 4, 8, 8) for _ in range(levels)]
    b = [torch.randn(1, 4, 8, 8) for _ in range(levels)]
    each = [float(style_loss([x], [y])) for x, y in zip(a, b)]
    assert float(style_loss(a, b)) == pytest.approx(sum(each) / levels, rel=1e-5)
