"""The learned face detector: finds faces, occluded ones included, with five landmarks each.

`LearnedFaceDetector(checkpoint).detect(image)` letterboxes the photo (longest side 640; thumbnails under 96 px
are enlarged to 96), runs
`FaceDetectorNet` on it and on its mirror image (averaging the two face scores, see `merge_mirrored`), decodes
the centre heatmap into boxes and landmarks and maps them back to photo pixels.
A second pass at longest side 256 finds faces that fill most of the frame (bigger than the training scenes'
faces at full resolution) for ~15 % more time.

Box convention (shared with training.scenes and benchmarks/detect.py): a face box is the square whose
`BOX_RELATIVE_LANDMARKS` best fit the face's five landmarks (least-squares similarity, see
`box_from_landmarks`). It is therefore the box OpenCV's Haar cascade would draw around the upright face, its
size does not change with head roll, and `faces.landmarks_from_box` of it lands near the true landmarks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from facestudio.alignment import BOX_RELATIVE_LANDMARKS, umeyama_similarity
from facestudio.devices import resolve_device
from facestudio.face import Face
from facestudio.models.checkpoint import load_checkpoint
from facestudio.models.detector import HEATMAP, LANDMARKS, OFFSET, SIZE
from facestudio.tensors import images_to_tensor

WORKING_SIDE = 640  # longest side of the main pass (1280x960 -> 640x480: 48 px faces become 24 px)
LARGE_FACE_SIDE = 256  # longest side of the pass for frame-filling faces
LARGE_FACE_MIN = 96  # px at the large-face pass: smaller faces are left to the main pass
# Photos whose longest side is under this are enlarged to it for the main pass: a face filling a 40 px
# thumbnail is too coarse for the stride-4 grid (on the 747 real masked-face crops of ../shared/data, 25-563 px,
# enlarging to 96 found 75 % instead of 61 %; enlarging to 160 or 256 found fewer: benchmarks/detect_real.py).
SMALL_PHOTO_SIDE = 96
PAD_MULTIPLE = 32  # the network's total stride
PAD_VALUE = 127
DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_NMS_IOU = 0.4
# Candidates under the detection threshold that the tight-crop fallback still weighs (facestudio.faces).
WEAK_FACE_THRESHOLD = 0.05
MAX_CANDIDATES = 100


# --------------------------------------------------------------------------------------------- geometry
def five_point_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    """The five canonical points (eye centres, nose tip, mouth corners) from dlib's 68, 5x2 float32."""
    points = np.asarray(landmarks68, dtype=np.float32).reshape(68, 2)
    return np.stack(
        [points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54]]
    ).astype(np.float32)


def box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The face box (x, y, side, side) float64 implied by five landmarks (see the module docstring)."""
    matrix = umeyama_similarity(BOX_RELATIVE_LANDMARKS.astype(np.float64), np.asarray(landmarks, np.float64))
    side = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    centre = matrix[:, :2] @ np.array([0.5, 0.5]) + matrix[:, 2]
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side, side])


def iou_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of every (x, y, w, h) box in `first` (Nx4) with every one in `second` (Mx4): NxM."""
    a = np.asarray(first, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(second, dtype=np.float64).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    bottom = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    overlap = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-12), 0.0)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, max_iou: float) -> np.ndarray:
    """Indices of the (x, y, w, h) boxes kept by greedy NMS, best score first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    ious = iou_matrix(boxes, boxes)
    kept: list[int] = []
    for index in order:
        if all(ious[index, other] <= max_iou for other in kept):
            kept.append(int(index))
    return np.array(kept, dtype=np.int64)


# --------------------------------------------------------------------------------------------- letterbox
@dataclass(frozen=True)
class Letterbox:
    """How a photo was resized into the network input: input px = photo px * scale (padding right/bottom)."""

    scale: float
    height: int  # padded input size
    width: int

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Input-pixel coordinates (...x2 or boxes' x, y, w, h) back to photo pixels."""
        return np.asarray(points, dtype=np.float64) / self.scale


def letterbox(
    image: np.ndarray, long_side: int, multiple: int = PAD_MULTIPLE, min_long_side: int = 0
) -> tuple[np.ndarray, Letterbox]:
    """Shrink an HxWx3 uint8 image so its longest side is at most `long_side`, pad to a multiple of `multiple`.

    Images smaller than `long_side` keep their size (the detector is trained on faces of 12 px and up), unless
    their longest side is under `min_long_side`: those are enlarged to it.
    """
    height, width = image.shape[:2]
    longest = max(height, width)
    scale = min(1.0, long_side / longest) if longest >= min_long_side else min_long_side / longest
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = image if scale == 1.0 else cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    pad_h = -(-new_h // multiple) * multiple
    pad_w = -(-new_w // multiple) * multiple
    canvas = np.full((pad_h, pad_w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:new_h, :new_w] = resized
    # The effective scale is per axis after rounding; the mean is exact to well under a pixel.
    effective = 0.5 * (new_w / width + new_h / height)
    return canvas, Letterbox(scale=effective, height=pad_h, width=pad_w)


# --------------------------------------------------------------------------------------------- decoding
@dataclass
class Detections:
    """Decoded faces of one image in some pixel frame: boxes Nx4 (x, y, w, h), scores N, landmarks Nx5x2."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))

    def select(self, keep: np.ndarray) -> Detections:
        return Detections(self.boxes[keep], self.scores[keep], self.landmarks[keep])

    @staticmethod
    def concatenate(parts: list[Detections]) -> Detections:
        return Detections(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.landmarks for p in parts]),
        )


def merge_mirrored(maps: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """`maps` (Nx14xhxw) with its face-score logits averaged with those of the mirrored input's output.

    Why: a real face scores alike in a photo and its mirror image while much background clutter does not, and
    a score that hovers near the threshold in one view is steadied by the other: on the composed photos of
    benchmarks/detect.py it finds more faces at fewer false boxes, for twice the network time (README, Figures).
    The input width is a multiple of the stride, so flipping the mirrored heatmap back aligns it cell for cell;
    boxes and landmarks come from `maps` alone.
    """
    merged = maps.clone()
    merged[:, HEATMAP] = 0.5 * (maps[:, HEATMAP] + torch.flip(mirrored[:, HEATMAP], dims=[-1]))
    return merged


def forward_with_mirror(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The model's maps for `batch` (Nx3xHxW), face scores merged with its mirror image's: one forward of 2N."""
    both = model(torch.cat([batch, torch.flip(batch, dims=[-1])]))
    return merge_mirrored(both[: len(batch)], both[len(batch):])


def decode_maps(
    maps: torch.Tensor, stride: int, score_threshold: float, max_candidates: int = MAX_CANDIDATES
) -> list[Detections]:
    """Face candidates from raw network output (Nx14xhxw) in input pixels, one `Detections` per image.

    A candidate is a heatmap cell that is the maximum of its 3x3 neighbourhood and scores above the threshold;
    its centre is (cell + offset) * stride, its side exp(size) * stride, its landmarks centre + side * relative.
    No suppression across candidates is done here.
    """
    maps = maps.float()
    heat = torch.sigmoid(maps[:, HEATMAP])
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    batch, _, rows, cols = heat.shape
    count = min(max_candidates, rows * cols)
    scores, flat = peaks.reshape(batch, -1).topk(count, dim=1)
    results = []
    for index in range(batch):
        keep = scores[index] > score_threshold
        cells = flat[index][keep]
        if cells.numel() == 0:
            results.append(Detections.empty())
            continue
        ys, xs = cells // cols, cells % cols
        values = maps[index, :, ys, xs].T  # K x 14
        centre = torch.stack([xs + values[:, OFFSET.start], ys + values[:, OFFSET.start + 1]], dim=1) * stride
        side = torch.exp(values[:, SIZE.start].clamp(max=8.0)) * stride
        relative = values[:, LANDMARKS].reshape(-1, 5, 2)
        landmarks = centre[:, None, :] + relative * side[:, None, None]
        boxes = torch.cat([centre - side[:, None] / 2, side[:, None], side[:, None]], dim=1)
        results.append(
            Detections(boxes.cpu().double().numpy(), scores[index][keep].cpu().double().numpy(),
                       landmarks.cpu().double().numpy())
        )
    return results


# --------------------------------------------------------------------------------------------- detector
class LearnedFaceDetector:
    """Finds faces (also masked, with sunglasses or hands in front) with a trained `FaceDetectorNet`.

    Implements the `facestudio.faces.FaceDetector` protocol. On CUDA, `detect_batch` runs many photos in one
    forward pass. Thread-safe: one inference at a time.
    """

    source = "learned"

    def __init__(
        self,
        checkpoint_path: str | PathLike[str],
        device: str | None = None,
        *,
        score_threshold: float | None = None,
        nms_iou: float = DEFAULT_NMS_IOU,
        working_side: int = WORKING_SIDE,
        large_face_pass: bool = True,
        mirror_pass: bool = True,
    ) -> None:
        self.device = torch.device(resolve_device(device))
        model, metadata = load_checkpoint(Path(checkpoint_path), expected_kind="detector", device=self.device)
        self.metadata = metadata
        self.stride = int(getattr(model, "stride", 4))
        if self.device.type == "cpu":
            # Folding batch norm and NHWC layout cut CPU time by about half; on CUDA fp16 does the work.
            model = model.fuse_batchnorm().to(memory_format=torch.channels_last)
        elif self.device.type == "cuda":
            model = model.half()
        self.model = model.eval()
        self.score_threshold = _shipped_threshold(metadata) if score_threshold is None else float(score_threshold)
        self.nms_iou = nms_iou
        self.working_side = working_side
        self.large_face_pass = large_face_pass
        self.mirror_pass = mirror_pass
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 uint8 RGB image, best first."""
        return self.detect_batch([image])[0]

    def weak_faces(self, image: np.ndarray, score_threshold: float = WEAK_FACE_THRESHOLD) -> list[Face]:
        """Face candidates scoring above `score_threshold`, lower than the detection threshold, best first: the
        evidence the tight-crop fallback weighs when `detect` found nothing (facestudio.faces.tight_crop_face)."""
        return self.detect_batch([image], score_threshold=min(score_threshold, self.score_threshold))[0]

    def detect_batch(self, images: list[np.ndarray], score_threshold: float | None = None) -> list[list[Face]]:
        """Faces in each of several HxWx3 uint8 RGB images (any sizes), best first per image; `score_threshold`
        overrides the detector's own."""
        if not images:
            return []
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} array of shape {image.shape}")
        threshold = self.score_threshold if score_threshold is None else float(score_threshold)
        passes = [self._run_pass(images, self.working_side, min_side=0.0, min_long_side=SMALL_PHOTO_SIDE,
                                 score_threshold=threshold)]
        if self.large_face_pass:
            passes.append(self._run_pass(images, LARGE_FACE_SIDE, min_side=LARGE_FACE_MIN, score_threshold=threshold))
        faces = []
        for index in range(len(images)):
            merged = Detections.concatenate([found[index] for found in passes])
            merged = merged.select(non_max_suppression(merged.boxes, merged.scores, self.nms_iou))
            faces.append([self._to_face(merged, i, images[index].shape) for i in range(len(merged.scores))])
        return faces

    def _run_pass(
        self, images: list[np.ndarray], long_side: int, min_side: float, min_long_side: int = 0,
        score_threshold: float | None = None,
    ) -> list[Detections]:
        """Detections in photo pixels at one resolution; `min_side` (input px) drops smaller faces;
        photos smaller than `min_long_side` are enlarged to it."""
        if min_side > 0 and all(max(image.shape[:2]) <= long_side for image in images):
            return [Detections.empty() for _ in images]  # small photos: the main pass already saw them whole
        boxed = [letterbox(image, long_side, min_long_side=min_long_side) for image in images]
        height = max(frame.height for _, frame in boxed)
        width = max(frame.width for _, frame in boxed)
        inputs = []
        for canvas, _ in boxed:
            padded = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
            padded[: canvas.shape[0], : canvas.shape[1]] = canvas
            inputs.append(padded)
        batch = images_to_tensor(inputs).to(self.device)
        if self.device.type == "cpu":
            batch = batch.contiguous(memory_format=torch.channels_last)
        else:
            batch = batch.half()
        with self._lock, torch.inference_mode():
            maps = forward_with_mirror(self.model, batch) if self.mirror_pass else self.model(batch)
        threshold = self.score_threshold if score_threshold is None else score_threshold
        decoded = decode_maps(maps, self.stride, threshold)
        results = []
        for found, (_, frame) in zip(decoded, boxed):
            if min_side > 0:
                found = found.select(np.flatnonzero(found.boxes[:, 2] >= min_side))
            results.append(Detections(frame.to_photo(found.boxes), found.scores, frame.to_photo(found.landmarks)))
        return results

    def _to_face(self, found: Detections, index: int, shape: tuple[int, ...]) -> Face:
        x, y, w, h = found.boxes[index]
        height, width = shape[:2]
        # Keep the box's size (it encodes the face's scale) but not entirely outside the photo.
        x = float(np.clip(x, -w + 1, width - 1))
        y = float(np.clip(y, -h + 1, height - 1))
        return Face(
            box=(round(x), round(y), max(1, round(w)), max(1, round(h))),
            landmarks=found.landmarks[index].astype(np.float32),
            score=float(found.scores[index]),
            source=self.source,
        )


def _shipped_threshold(metadata: dict) -> float:
    """The score threshold chosen on validation scenes at training time (training.train_detector), if recorded."""
    for source in (metadata, metadata.get("val_metrics") or {}):
        value = source.get("score_threshold")
        if isinstance(value, (int, float)) and 0.0 < value < 1.0:
            return float(value)
    return DEFAULT_SCORE_THRESHOLD
