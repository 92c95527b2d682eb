"""The segmenter's logits become a mask by hysteresis: weak pixels join only regions with a sure pixel."""

from __future__ import annotations

import numpy as np

from facestudio.occlusion_mask import LOW_LOGIT, occlusion_mask


def test_weak_regions_join_only_when_they_touch_a_sure_pixel() -> None:
    logits = np.full((40, 40), -10.0, np.float32)
    logits[5:15, 5:15] = -1.0  # a weak lens...
    logits[9:11, 9:11] = 2.0  # ...with a sure reflection in it
    logits[25:35, 25:35] = -1.0  # weak, and nothing sure: a shadow on a clean face
    logits[2, 30] = 0.5  # a lone sure pixel
    mask = occlusion_mask(logits)
    assert mask.dtype == bool and mask.shape == logits.shape
    assert mask[5:15, 5:15].all() and not mask[25:35, 25:35].any() and mask[2, 30]
    assert mask.sum() == 100 + 1
    assert np.array_equal(occlusion_mask(logits, low=0.0), logits > 0)  # low = 0: the plain threshold


def test_below_the_low_threshold_nothing_grows_and_no_sure_pixel_means_no_mask() -> None:
    logits = np.full((20, 20), LOW_LOGIT - 1.0, np.float32)
    logits[8:12, 8:12] = 1.0
    assert occlusion_mask(logits).sum() == 16
    assert not occlusion_mask(np.full((20, 20), -0.5, np.float32)).any()
