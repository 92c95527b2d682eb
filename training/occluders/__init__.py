"""Painters for the synthetic occluders of `training.occlusion`, one module per family.

Each painter draws one occluder into a `canvas.Canvas` (an RGBA layer over the face image) at a
place given by the face's 68 landmarks (`face.FaceGeometry`); `training.occlusion` composites
the layer and derives the mask.

    fitted     real images fitted to the face: mask templates, glasses, sunglasses, cap
    worn       hat brim, scarf, bandage, eye patch
    handheld   phone, microphone, cup
    hands      hands and fingers
    hair       locks and strands of hair
    overlays   emoji, stickers, text
    censor     blurred and pixelated patches
    shapes     brush strokes, boxes, blobs
and the shared parts: assets (loading and the train/test split), canvas (layer, drawing, colour
fields), face (the face frame), placement (shapes and shadows in face units), colours, fills.
"""
