"""Train the face detector (FaceDetectorNet) on synthetic occluded scenes, within a time budget.

    python -m training.train_detector --data data_cache --out runs/detector --max-minutes 8 --workers 12 \
        --export resources/weights/detector.pt [--resume] [--set optim.lr=3e-3 scene.height=320]

Scenes are composed on the fly by `--workers` processes (training.scenes: faces of the train split, train
occluder kinds); the shared loop (training.loop) does device, bf16, time budget, resume, logs and export. The
exponential moving average of the weights is validated and shipped. Validation scores fixed scenes of val-split
faces with held-out occluders at several score thresholds and reports, as `score_threshold`, the lowest one
whose false boxes stay under `val.max_false_per_scene`: the detector uses it by default.

A CPU smoke run: `--max-minutes 2 --steps 3 --batch-size 2 --workers 0 --set val.scenes=4 scene.height=128
scene.width=128`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from facestudio.detection import decode_maps, forward_with_mirror, non_max_suppression
from facestudio.models.detector import HEATMAP, LANDMARKS, OFFSET, SIZE, FaceDetectorNet
from facestudio.tensors import images_to_tensor
from training.evaluate_detector import THRESHOLDS, choose_threshold, sweep
from training.loop import ModelEma, Trainer, common_arguments, resolve_config, to_device
from training.scenes import ClutterBank, FaceBank, Scene, SceneComposer, SceneConfig, load_occluder


# --------------------------------------------------------------------------------------------- targets
def encode_targets(scene: Scene, stride: int, max_faces: int) -> dict[str, np.ndarray]:
    """The maps `FaceDetectorNet` is trained to predict for one scene (the inverse of detection.decode_maps).

    heatmap: 1 x h x w Gaussian bumps (peak 1.0 at each face-centre cell, sigma growing with face size);
    per face (padded to `max_faces`, `mask` marks real ones): flat cell `index`, `size` log(side / stride),
    `offset` sub-cell centre, `landmarks` five points relative to the centre in box sides.
    """
    height, width = scene.image.shape[:2]
    rows, cols = height // stride, width // stride
    heatmap = np.zeros((rows, cols), np.float32)
    index = np.zeros(max_faces, np.int64)
    size = np.zeros(max_faces, np.float32)
    offset = np.zeros((max_faces, 2), np.float32)
    landmarks = np.zeros((max_faces, 10), np.float32)
    mask = np.zeros(max_faces, bool)
    slot = 0
    for box, points in zip(scene.boxes, scene.landmarks):
        side = float(box[2])
        centre = (box[:2] + box[2:] / 2) / stride
        cell = np.floor(centre).astype(int)
        if not (0 <= cell[0] < cols and 0 <= cell[1] < rows) or slot >= max_faces:
            continue
        _draw_gaussian(heatmap, cell, sigma=max(0.6, side / stride / 12.0))
        index[slot] = cell[1] * cols + cell[0]
        size[slot] = np.log(side / stride)
        offset[slot] = centre - cell
        landmarks[slot] = ((points - centre * stride) / side).reshape(-1)
        mask[slot] = True
        slot += 1
    return {"heatmap": heatmap[None], "index": index, "size": size, "offset": offset, "landmarks": landmarks,
            "mask": mask}


def _draw_gaussian(heatmap: np.ndarray, cell: np.ndarray, sigma: float) -> None:
    """Max-blend exp(-d^2 / 2 sigma^2) around `cell` (x, y) into `heatmap`, in place."""
    radius = int(np.ceil(3 * sigma))
    x, y = int(cell[0]), int(cell[1])
    rows, cols = heatmap.shape
    x0, x1 = max(0, x - radius), min(cols, x + radius + 1)
    y0, y1 = max(0, y - radius), min(rows, y + radius + 1)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    bump = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)).astype(np.float32)
    np.maximum(heatmap[y0:y1, x0:x1], bump, out=heatmap[y0:y1, x0:x1])


# --------------------------------------------------------------------------------------------- data
class SceneStream(IterableDataset):
    """An endless stream of (image HxWx3 uint8, targets) from a `SceneComposer`; each worker draws its own."""

    def __init__(self, composer: SceneComposer, stride: int, max_faces: int, seed: int) -> None:
        self.composer, self.stride, self.max_faces, self.seed = composer, stride, max_faces, seed

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker = 0 if info is None else info.id
        rng = np.random.default_rng([self.seed, worker])
        while True:
            scene = self.composer.compose(rng)
            item = encode_targets(scene, self.stride, self.max_faces)
            item["image"] = scene.image
            yield item


def to_input(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Batch of NxHxWx3 uint8 (the scene loader's, pinned) -> Nx3xHxW float in [-1, 1] on `device`."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return images_to_tensor(images, device, memory_format=memory_format, non_blocking=True)


# --------------------------------------------------------------------------------------------- loss
LOSS_WEIGHTS = {"heatmap": 1.0, "size": 1.0, "offset": 1.0, "landmarks": 2.0}


def detection_loss(
    maps: torch.Tensor, batch: dict[str, torch.Tensor], weights: dict[str, float] | None = None
) -> dict[str, torch.Tensor]:
    """CenterNet losses: penalty-reduced focal loss on the heatmap, L1 on size / offset / landmarks at centres."""
    maps = maps.float()
    target = batch["heatmap"]
    logits = maps[:, HEATMAP]
    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1.0).float()
    negative_weight = (1 - target) ** 4
    pos_loss = -(F.logsigmoid(logits) * (1 - prob) ** 2 * positive).sum()
    neg_loss = -(F.logsigmoid(-logits) * prob**2 * negative_weight * (1 - positive)).sum()
    mask = batch["mask"].float()
    count = mask.sum().clamp(min=1.0)
    heatmap_loss = (pos_loss + neg_loss) / count

    n, c, h, w = maps.shape
    flat = maps.reshape(n, c, h * w)
    gathered = torch.gather(flat, 2, batch["index"][:, None, :].expand(n, c, -1)).permute(0, 2, 1)  # N x K x C
    m = mask[..., None]
    size_loss = (F.l1_loss(gathered[..., SIZE][..., 0], batch["size"], reduction="none") * mask).sum() / count
    offset_loss = (F.l1_loss(gathered[..., OFFSET], batch["offset"], reduction="none") * m).sum() / (2 * count)
    landmark_loss = (
        F.smooth_l1_loss(gathered[..., LANDMARKS], batch["landmarks"], reduction="none", beta=0.02) * m
    ).sum() / (10 * count)
    parts = {"heatmap": heatmap_loss, "size": size_loss, "offset": offset_loss, "landmarks": landmark_loss}
    weights = {**LOSS_WEIGHTS, **(weights or {})}
    parts["total"] = sum(weights[name] * value for name, value in parts.items())
    return parts


# --------------------------------------------------------------------------------------------- trainer
class DetectorTrainer(Trainer):
    name = "detector"
    export_model = "detector_ema"

    def build(self) -> None:
        # OpenCV's thread pool does not survive fork (a forked scene worker hangs in its first cv2 call), and the
        # workers are forked from this process after it composed the validation scenes: keep OpenCV serial here.
        cv2.setNumThreads(1)
        config = self.config
        data, optim, train = config.get("data", {}), config.get("optim", {}), config["train"]
        scene_cfg = config.get("scene", {})
        self.scene_config = SceneConfig(**{**scene_cfg, "face_counts": tuple(scene_cfg.get("face_counts", (
            SceneConfig.face_counts))), "tight_crop_sides": tuple(scene_cfg.get("tight_crop_sides", (
            SceneConfig.tight_crop_sides)))})
        folder = Path(self.args.data)
        occluders = folder / "occluders"
        clutter = ClutterBank.load(occluders)
        train_faces = FaceBank.load(folder, ("train",))
        self.composer = SceneComposer(train_faces, clutter, load_occluder(occluders, "train"), self.scene_config)
        # Validation: unseen faces wearing occluders held out of training (the synthesizer's test split).
        val = config.get("val", {})
        val_composer = SceneComposer(FaceBank.load(folder, ("val",)), clutter, load_occluder(occluders, "test"),
                                     self.scene_config)
        rng = np.random.default_rng(int(val.get("seed", 20240)))
        self.val_scenes = [val_composer.compose(rng) for _ in range(int(val.get("scenes", 400)))]
        self.data_facts = {
            "source": str(folder), "train_faces": len(train_faces), "scene": scene_cfg,
            "description": "synthetic scenes (training/scenes.py) of train-split faces of "
                           f"{' + '.join(sorted({name.split('/')[0] for name in train_faces.names}))}, "
                           f"{int(100 * self.scene_config.occlusion_rate)} % with training.occlusion occluders; "
                           "non-commercial research only",
        }

        model = self.prepare(FaceDetectorNet(**config.get("model", {})))
        self.models["detector"] = model
        self.model = self.distribute(model)
        self.emas["detector_ema"] = ModelEma(model, float(train.get("ema_decay", 0.998)))
        decay, no_decay = [], []
        for parameter in model.parameters():
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
        self.optimizers["detector"] = torch.optim.AdamW(
            [{"params": decay, "weight_decay": float(optim.get("weight_decay", 5e-4))},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=float(optim.get("lr", 4e-3)), betas=tuple(optim.get("betas", (0.9, 0.99))))
        self.scalers["detector"] = self.make_scaler()

    def train_loader(self) -> DataLoader:
        data = self.config.get("data", {})
        workers = int(data.get("workers", 4))
        # Seeded by the step too, so a resumed run draws new scenes rather than replaying the first ones.
        stream = SceneStream(self.composer, FaceDetectorNet.stride, int(self.config["train"].get("max_faces", 8)),
                             seed=self.seed * 1_000_003 + self.step)
        return DataLoader(
            stream, batch_size=int(data.get("batch_size", 96)), num_workers=workers,
            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        batch = to_device(batch, self.device)
        with self.autocast():
            maps = self.model(to_input(batch["image"], self.device, self.channels_last))
        parts = detection_loss(maps, batch, self.config.get("loss", {}))
        self.optimizer_step(parts["total"], self.optimizers["detector"], self.scalers["detector"],
                            list(self.models["detector"].parameters()), self.config.get("optim", {}).get("grad_clip"))
        self.emas["detector_ema"].update(self.model)
        return {name: float(value.detach()) for name, value in parts.items()}

    def validate(self) -> dict[str, float]:
        val = self.config.get("val", {})
        results = validate_scenes(self.emas["detector_ema"].model, self.val_scenes, self.device, self.autocast,
                                  self.channels_last, float(val.get("iou", 0.3)))
        threshold = choose_threshold(results, float(val.get("max_false_per_scene", 0.01)))
        metrics = {"score_threshold": threshold}
        metrics.update(results[threshold])
        for reference in (0.5,):
            metrics.update({f"{name}@{reference}": value for name, value in results[reference].items()
                            if name.startswith(("recall", "false"))})
        return metrics


@torch.no_grad()
def validate_scenes(
    model: torch.nn.Module, scenes: list[Scene], device: torch.device, autocast, channels_last: bool,
    iou: float = 0.3, batch_size: int = 32, nms_iou: float = 0.4,
) -> dict[float, dict[str, float]]:
    """Recall, false boxes per scene and landmark error on fixed scenes at every threshold in THRESHOLDS."""
    model.eval()
    detections = []
    for start in range(0, len(scenes), batch_size):
        chunk = scenes[start:start + batch_size]
        images = torch.from_numpy(np.stack([scene.image for scene in chunk]))
        with autocast():  # scored as LearnedFaceDetector ships: face scores averaged with the mirror image's
            maps = forward_with_mirror(model, to_input(images, device, channels_last))
        for found in decode_maps(maps, FaceDetectorNet.stride, score_threshold=min(THRESHOLDS) - 0.05):
            found = found.select(non_max_suppression(found.boxes, found.scores, nms_iou))
            detections.append((found.boxes, found.scores, found.landmarks))
    return sweep(detections, scenes, iou_threshold=iou)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = common_arguments("detector", __doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    return DetectorTrainer(args, resolve_config(args)).run()


if __name__ == "__main__":
    main()
