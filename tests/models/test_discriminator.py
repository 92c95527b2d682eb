"""PatchDiscriminator (SN-PatchGAN): patch grid size, spectral normalisation, gradient flow."""

import pytest
import torch
from torch import nn

from facestudio.models import PatchDiscriminator


@pytest.mark.parametrize("size,grid", [(128, 4), (256, 8)])
def test_patch_logits_grid(size: int, grid: int) -> None:
    model = PatchDiscriminator(base_channels=16)
    with torch.no_grad():
        logits = model(torch.rand(2, 3, size, size) * 2 - 1, torch.zeros(2, 1, size, size))
    assert logits.shape == (2, 1, grid, grid)


def test_default_discriminator_gives_at_least_4x4_patches_at_128() -> None:
    model = PatchDiscriminator()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 128, 128) * 2 - 1, torch.ones(1, 1, 128, 128))
    assert logits.shape[-2] >= 4 and logits.shape[-1] >= 4


def test_every_conv_is_spectrally_normalised() -> None:
    torch.manual_seed(0)
    model = PatchDiscriminator(base_channels=16, num_layers=3)
    for _ in range(10):  # power iterations run in train-mode forward passes
        model(torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4
    for conv in convs:
        assert nn.utils.parametrize.is_parametrized(conv, "weight")
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_gradients_reach_first_and_last_layers_and_the_image() -> None:
    torch.manual_seed(0)
    model = PatchDiscriminator(base_channels=16, num_layers=3)
    image = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss = torch.relu(1 - model(image, torch.zeros(2, 1, 32, 32))).mean()  # hinge loss on "real"
    loss.backward()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in (convs[0], convs[-1]):
        original = conv.parametrizations.weight.original
        assert original.grad is not None and original.grad.abs().sum() > 0
    assert image.grad.abs().sum() > 0
