"""Undo commands store only what changed, and undo/redo restore it exactly."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from facestudio.gui import mask_ops
from facestudio.gui.commands import MaskEdit, MaskStrokeRecorder, Patch, apply_engine_result
from facestudio.gui.document import Document, FaceBox


def _document(height: int, width: int) -> Document:
    doc = Document()
    rng = np.random.default_rng(3)
    doc.load(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return doc


def test_patch_between_is_the_smallest_box_around_the_change():
    before = np.zeros((100, 80), np.uint8)
    after = before.copy()
    after[10, 20] = 255
    after[30, 5] = 128
    patch = Patch.between(before, after)
    assert (patch.x, patch.y, patch.before.shape) == (5, 10, (21, 16))
    assert Patch.between(before, before.copy()) is None


def test_a_stroke_on_a_24_megapixel_mask_stores_only_its_box(qapp):
    doc = _document(4000, 6000)
    doc.mask[1000:3000, 1000:1500] = 255  # something under the stroke, so "before" matters
    original = doc.mask.copy()
    recorder = MaskStrokeRecorder(doc.mask)
    points = [(900.0 + 10 * i, 1200.0 + 3 * i) for i in range(40)]
    for p0, p1 in zip(points, points[1:]):
        bounds = mask_ops.segment_bounds(doc.mask.shape, p0, p1, 20.0)
        recorder.before_paint(QRect(*bounds))
        mask_ops.paint_segment(doc.mask, p0, p1, 20.0)
    patch = recorder.finish()
    assert patch is not None
    assert patch.nbytes < 0.01 * original.nbytes  # ~440x160 box, not 24 MB
    doc.undo_stack.push(MaskEdit(doc, "Brush stroke", patch))
    painted = doc.mask.copy()
    doc.undo_stack.undo()
    assert np.array_equal(doc.mask, original)
    doc.undo_stack.redo()
    assert np.array_equal(doc.mask, painted)


def test_engine_result_is_one_step_and_undo_restores_image_mask_and_faces(qapp):
    doc = _document(120, 160)
    doc.set_faces([FaceBox(1, 2, 30, 30)])
    image, mask, faces = doc.image.copy(), doc.mask.copy(), doc.faces
    new_image = image.copy()
    new_image[40:60, 50:90] = 7
    new_mask = mask.copy()
    new_mask[40:60, 50:90] = 255
    command = apply_engine_result(doc, "Auto-fix", new_image, new_mask, [FaceBox(50, 40, 40, 20, 0.9)], None)
    assert doc.undo_stack.count() == 1
    assert command.image_patch.before.shape == (20, 40, 3)
    assert np.array_equal(doc.image, new_image) and np.array_equal(doc.mask, new_mask)
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, image) and np.array_equal(doc.mask, mask) and doc.faces == faces
    doc.undo_stack.redo()
    assert np.array_equal(doc.image, new_image) and doc.faces == [FaceBox(50, 40, 40, 20, 0.9)]
