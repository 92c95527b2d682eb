"""OcclusionSegmenter: shapes, parameter budget, gradient flow, and that it can learn a mask."""

import pytest
import torch
import torch.nn.functional as F

from facestudio.models import OcclusionSegmenter

SMALL = {"base_channels": 8, "depth": 2, "blocks_per_stage": 1}


def test_default_segmenter_size_is_within_budget() -> None:
    params = sum(p.numel() for p in OcclusionSegmenter().parameters())
    assert 0.3e6 <= params <= 1e6


@pytest.mark.parametrize("height,width", [(128, 128), (40, 24), (33, 47)])
def test_logits_have_input_size(height: int, width: int) -> None:
    model = OcclusionSegmenter().eval()
    with torch.inference_mode():
        logits = model(torch.rand(2, 3, height, width) * 2 - 1)
    assert logits.shape == (2, 1, height, width)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_gradients_reach_first_and_last_layers() -> None:
    torch.manual_seed(0)
    model = OcclusionSegmenter(**SMALL)
    target = (torch.rand(2, 1, 32, 32) > 0.5).float()
    F.binary_cross_entropy_with_logits(model(torch.rand(2, 3, 32, 32) * 2 - 1), target).backward()
    for parameter in [model.stem[0].weight, model.encoder[-1][0][0].pointwise.weight, model.head.weight]:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


def test_segmenter_learns_a_rectangular_occluder() -> None:
    """A few Adam steps on one synthetic occluded image must fit its mask (catches broken wiring)."""
    torch.manual_seed(0)
    model = OcclusionSegmenter(**SMALL)
    image = torch.rand(2, 3, 32, 32) * 0.4 - 0.8  # dark noisy "faces"
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:20, 6:26] = 1
    image = torch.where(mask.bool(), torch.full_like(image, 0.9), image)  # bright occluder
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        optimiser.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(image), mask)
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        predicted = model(image) > 0
    iou = (predicted & mask.bool()).sum() / (predicted | mask.bool()).sum()
    assert iou > 0.9
