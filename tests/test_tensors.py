"""The one pixel <-> tensor scaling: v / 127.5 - 1 in, (y + 1) * 127.5 out, whatever shape the pixels come in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facestudio.tensors import images_to_tensor, tensor_to_pixels, tensor_to_uint8


def test_every_pixel_value_maps_into_minus_one_one_and_back_exactly() -> None:
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    tensor = images_to_tensor(values)
    assert tensor.shape == (1, 3, 16, 16) and tensor.dtype == torch.float32
    assert float(tensor.min()) == -1.0 and float(tensor.max()) == 1.0
    assert torch.equal(tensor, torch.from_numpy(values).permute(2, 0, 1)[None].float() / 127.5 - 1.0)
    assert np.array_equal(tensor_to_uint8(tensor)[0].permute(1, 2, 0).numpy(), values)


def test_lists_arrays_and_tensors_of_either_layout_give_the_same_batch() -> None:
    crops = [np.random.default_rng(seed).integers(0, 256, (9, 7, 3), dtype=np.uint8) for seed in range(3)]
    expected = images_to_tensor(crops)
    assert expected.shape == (3, 3, 9, 7)
    assert torch.equal(images_to_tensor(np.stack(crops)), expected)
    assert torch.equal(images_to_tensor(torch.from_numpy(np.stack(crops))), expected)
    nchw = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    assert torch.equal(images_to_tensor(nchw, "cpu", layout="NCHW"), expected)
    assert images_to_tensor(nchw, layout="NCHW", memory_format=torch.channels_last).is_contiguous(
        memory_format=torch.channels_last
    )
    with pytest.raises(ValueError, match="layout"):
        images_to_tensor(nchw, layout="CHW")


def test_model_output_is_clamped_to_the_pixel_range() -> None:
    output = torch.tensor([[[[-3.0, -1.0, 0.0, 1.0, 2.5]]]])
    assert tensor_to_pixels(output).flatten().tolist() == [0.0, 0.0, 127.5, 255.0, 255.0]
    assert tensor_to_uint8(output).flatten().tolist() == [0, 0, 128, 255, 255]
