"""The one door into the engine: `load_pipeline()` and the `Pipeline` it returns.

    pipeline = facestudio.load_pipeline()            # device: arg > $FACESTUDIO_DEVICE > auto
    faces = pipeline.detect(image)                   # list[Face]
    mask = pipeline.segment(image)                   # HxW uint8, 255 = occluded
    fixed = pipeline.inpaint(image, mask)            # HxWx3 uint8, bit-identical outside the mask
    result = pipeline.auto_fix(image)                # .image .mask .faces .metrics; NoFaceError if none
    result = pipeline.auto_fix(image, faces=[Face(box=(x, y, w, h))])   # faces someone marked
    vector = pipeline.embed(image)                   # float32, L2-normalised identity
    ref = pipeline.reference(other_photo, name="mum_1990.jpg")   # another photo of the person
    result = pipeline.auto_fix(image, reference=ref)  # the fill guided by it (an image works too)

Images are HxWx3 uint8 RGB of any size. Models load on first use from the weights folder and stay
loaded. The face detector is chosen by name (`detector=`): "auto" (the default) is the learned
detector when `<weights>/detector.pt` exists, else OpenCV's Haar cascade, which needs no weights
(nor does method "telea"). One inference runs at a time per Pipeline (a lock), so a GUI worker
thread and the caller can share one.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np

from facestudio.alignment import (
    crop_mask,
    mask_to_photo,
    similarity_scale,
    similarity_to_canonical,
)
# grow_mask is also the editor's Grow (the GUI reaches the engine only through this module): one growth for both.
from facestudio.blend import CropFill, composite_fills, grow_mask, keep_grey
from facestudio.classic import telea_inpaint
from facestudio.devices import resolve_device
from facestudio.occlusion_mask import occlusion_mask
from facestudio.eyewear import complete_lenses
from facestudio.reference_transfer import add_reference_detail
from facestudio.references import NoReferenceFaceError, ReferenceGallery, ReferencePhoto
from facestudio.faces import (
    Face,
    FaceCrop,
    FaceDetector,
    HaarFaceDetector,
    build_face_detector,
    detector_name,
    face_crop,
    find_faces,
    whole_image_face,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

WEIGHTS_ENV = "FACESTUDIO_WEIGHTS"
METHODS = ("gan", "telea")
MODEL_SIZE = 128  # segmenter and encoder input side; the generator also runs at 256
GENERATOR_SIZES = (128, 256)
# Mask growth scales with the face: a fraction of the aligned crop's side in the photo (3 px at 128 px).
GROW_FRACTION = 3.0 / 128.0


class NoFaceError(ValueError):
    """auto_fix found no face and was given none: nothing says where the face to fix is."""


NO_FACE_MESSAGE = "no face found in the photo; draw a face box around the face, or give a mask of what to fill"
# A reference for each face: one for all (prepared or an image), one per face (None: that face has none), or none.
# A ReferenceGallery: each face takes the reference of its own person, or none.
References = Union[ReferencePhoto, np.ndarray, ReferenceGallery, Sequence[Optional[ReferencePhoto]], None]


@dataclass(eq=False)
class AutoFixResult:
    """What `Pipeline.auto_fix` found and made.

    image: the fixed photo (HxWx3 uint8); mask: the segmenter's mask (HxW uint8, 255 = occluded),
    before any growing; faces: the faces it fixed (detected, or those it was given);
    metrics: faces, mask_percent, ms, method, device, identity_similarity.
    """

    image: np.ndarray
    mask: np.ndarray
    faces: list[Face]
    metrics: dict[str, Any] = field(default_factory=dict)


def default_weights_dir() -> Path:
    """$FACESTUDIO_WEIGHTS, else resources/weights at the repository root (or next to the package)."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent
    candidates = [package.parent / "resources" / "weights", package / "resources" / "weights"]
    return next((path for path in candidates if path.is_dir()), candidates[0])


def load_pipeline(
    device: str | None = None,
    weights_dir: str | os.PathLike | None = None,
    detector: str | FaceDetector = "auto",
) -> Pipeline:
    """A Pipeline on `device` ("cpu", "cuda", "auto"; None: $FACESTUDIO_DEVICE, else auto).

    `detector`: "auto" (the learned detector when `<weights_dir>/detector.pt` exists, else Haar),
    "learned", "haar", or any object with `detect(image) -> list[Face]`. Raises devices.DeviceError
    when CUDA is asked for but unavailable. Weights are not read until a model is first needed; a
    missing or bad checkpoint then raises CheckpointError naming the file.
    """
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return Pipeline(device=resolve_device(device), weights_dir=folder, detector=detector)


class Pipeline:
    """Face detection, occlusion segmentation, identity encoding and inpainting on photos.

    `detector` is a name ("auto", "learned", "haar"; see `load_pipeline`) or a FaceDetector object;
    `detector_name` says which one runs ("learned", "haar", or the object's class name). The learned
    detector loads on first use, like the models; Haar is built at once (it needs no weights).
    """

    def __init__(
        self,
        device: str = "cpu",
        weights_dir: str | os.PathLike | None = None,
        detector: str | FaceDetector = "auto",
        generator_size: int = MODEL_SIZE,
    ) -> None:
        if generator_size not in GENERATOR_SIZES:
            raise ValueError(f"generator_size must be one of {GENERATOR_SIZES}, got {generator_size}")
        self.device = device
        self.weights_dir = Path(weights_dir) if weights_dir is not None else default_weights_dir()
        self.generator_size = generator_size
        self._models: dict[str, nn.Module] = {}
        self._lock = threading.RLock()
        self._detector: FaceDetector | None
        if isinstance(detector, str):
            self.detector_name = detector_name(detector, self.weights_dir)
            self._detector = HaarFaceDetector() if self.detector_name == "haar" else None
        elif isinstance(detector, FaceDetector):
            self.detector_name = type(detector).__name__
            self._detector = detector
        else:
            raise TypeError(f"detector must be a name or have detect(image), got {type(detector).__name__}")

    @property
    def detector(self) -> FaceDetector:
        """The face detector, loaded on first use (a bad detector.pt raises CheckpointError naming it)."""
        with self._lock:
            if self._detector is None:
                self._detector = build_face_detector(self.detector_name, self.weights_dir, self.device)
            return self._detector

    # ------------------------------------------------------------------------------------ models
    def model(self, kind: str) -> nn.Module:
        """The loaded "segmenter", "encoder" or "generator" (loaded from `<weights_dir>/<kind>.pt` once)."""
        with self._lock:
            if kind not in self._models:
                from facestudio.models.checkpoint import load_checkpoint

                network, _ = load_checkpoint(self.weights_dir / f"{kind}.pt", expected_kind=kind, device=self.device)
                self._models[kind] = network.eval()
            return self._models[kind]

    def load_models(self, kinds: tuple[str, ...] = ("detector", "segmenter", "encoder", "generator")) -> None:
        """Load models now rather than on first use (to report weight problems early, or time runs).

        "detector" is the face detector, whichever it is; the other kinds are `model()`'s.
        """
        for kind in kinds:
            if kind == "detector":
                self.detector
            else:
                self.model(kind)

    # ---------------------------------------------------------------------------------- public API
    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in the photo, best first (empty when none is found)."""
        _check_image(image)
        return self.detector.detect(image)

    def segment(self, image: np.ndarray, faces: list[Face] | None = None) -> np.ndarray:
        """HxW uint8 occlusion mask (255 = occluded): the union of every face's segmentation.
        `faces`: those already found in `image` (default: detected here, or the photo as one face)."""
        _check_image(image)
        faces = _checked_faces(faces) if faces else None
        with self._lock:
            return self._segment(image, faces or self._faces_or_whole(image))

    def embed(self, image: np.ndarray) -> np.ndarray:
        """Identity vector (float32, unit L2 norm) of the largest face, or of the photo as a face."""
        _check_image(image)
        faces = self._faces_or_whole(image)
        largest = max(faces, key=lambda face: face.area)
        with self._lock:
            return self._embed_crops([face_crop(image, largest, MODEL_SIZE).image])[0]

    def reference(self, image: np.ndarray, name: str = "reference", face: Face | None = None) -> ReferencePhoto:
        """Prepare another photo of the person as a reference for fills (see facestudio.references):
        its largest face (or `face`), that face's identity vector. Raises NoReferenceFaceError when
        the detector finds no face in it: a guessed face would guide the fill with the wrong pixels."""
        _check_image(image)
        with self._lock:
            if face is None:
                faces = find_faces(self.detector, image)
                if not faces:
                    raise NoReferenceFaceError(f"{name}: no face found in the reference photo")
                face = max(faces, key=lambda found: found.area)
            crop = face_crop(image, face, MODEL_SIZE).image
            vector = self._embed_crops([crop])[0]
            occluded = self.segment_crops([crop])[0]
        return ReferencePhoto(image=image, face=face, vector=vector, name=name, occluded=occluded)

    def inpaint(self, image: np.ndarray, mask: np.ndarray, method: str = "gan", size: int | None = None,
                faces: list[Face] | None = None, reference: References = None) -> np.ndarray:
        """The photo with the mask's 255 pixels filled; every other pixel is returned unchanged.

        "gan": each face crop (`size` px, default the pipeline's generator_size) that covers part of
        the hole is filled by the generator, conditioned on the face's identity vector; hole pixels
        no face crop covers fall back to Telea. `faces`: the faces already found in `image` (default:
        detected here), so a caller that detected them once does not pay for it twice.
        `reference`: another photo of the person (a ReferencePhoto from `reference()`, or an image),
        one per face of `faces` (None for a face without one), or a ReferenceGallery to match each
        face to; "gan" only.
        "telea": OpenCV Telea everywhere.
        """
        _check_image(image)
        _check_mask(mask, image)
        _check_method(method)
        if faces is not None:
            faces = _checked_faces(faces) or None
        with self._lock:
            if reference is not None and faces is None:
                faces = self._faces_or_whole(image)
            references = self._resolve_references(reference, faces, image)
            return self._inpaint(image, mask, method, faces, size or self.generator_size, references=references)

    def auto_fix(
        self,
        image: np.ndarray,
        method: str = "gan",
        grow_px: int | None = None,
        size: int | None = None,
        faces: list[Face] | None = None,
        reference: References = None,
    ) -> AutoFixResult:
        """Detect faces (or take `faces`, e.g. boxes a person drew), segment what hides them, grow the
        mask by `grow_px` (default: 3 px per 128 px of face crop) and fill it. The result's mask is
        the segmenter's, before growing.

        `reference`: another photo of the person, or one per face (see `inpaint`); the metrics'
        "references" name the one each face used (None: none).

        Raises NoFaceError when no face is given and none is found: fixing a guessed face would
        paint over the wrong pixels, so the caller must say where the face is.
        """
        _check_image(image)
        _check_method(method)
        if faces is not None:
            faces = _checked_faces(faces)
        started = time.perf_counter()
        with self._lock:
            if faces is None:
                faces = find_faces(self.detector, image)
            if not faces:
                raise NoFaceError(NO_FACE_MESSAGE)
            mask = self._segment(image, faces)
            if grow_px is None:
                grow_px = _default_grow_px(faces)
            fill_mask = grow_mask(mask, grow_px)
            # The faces' identity vectors before the fix serve twice: the generator's conditioning
            # and the before side of the identity figure, so the encoder runs once per side.
            before = self._embed_crops([face_crop(image, face, MODEL_SIZE).image for face in faces])
            known = {id(face): vector for face, vector in zip(faces, before)}
            references = self._resolve_references(reference, faces, image, before)
            result = self._inpaint(image, fill_mask, method, faces, size or self.generator_size, known, references)
            similarity = self._identity_similarity(before, result, faces)
        metrics = {
            "faces": len(faces),
            "mask_percent": 100.0 * float(np.count_nonzero(mask)) / mask.size,
            "ms": (time.perf_counter() - started) * 1000.0,
            "method": method,
            "device": self.device,
            "identity_similarity": similarity,
            "references": [None if ref is None else ref.name for ref in references] if references else
            [None] * len(faces),
        }
        return AutoFixResult(image=result, mask=mask, faces=faces, metrics=metrics)

    # ---------------------------------------------------------------------------------- internals
    def _faces_or_whole(self, image: np.ndarray) -> list[Face]:
        return self.detector.detect(image) or [whole_image_face(image)]

    def _segment(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        crops = [face_crop(image, face, MODEL_SIZE) for face in faces]
        mask = np.zeros(image.shape[:2], dtype=np.uint8)
        for crop, occluded in zip(crops, self.segment_crops([crop.image for crop in crops])):
            mask_to_photo(occluded.astype(np.uint8) * 255, crop.matrix, image.shape, out=mask)
        return mask

    def segment_crops(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """The occlusion mask (MODEL_SIZE square bool) of each MODEL_SIZE aligned face crop (HxWx3 uint8
        RGB), as `segment` makes it: the segmenter's logits by hysteresis, dark lenses completed. For
        evaluations that score the app's mask on crops they already have."""
        import torch

        segmenter = self.model("segmenter")
        with torch.inference_mode():
            logits = segmenter(self._to_tensor(crops))
        return [complete_lenses(occlusion_mask(plane), crop)
                for plane, crop in zip(logits[:, 0].float().to("cpu").numpy(), crops)]

    def _embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Nx`D` float32 unit vectors for MODEL_SIZE crops."""
        import torch

        encoder = self.model("encoder")
        with torch.inference_mode():
            vectors = encoder(self._to_tensor(crops)).float().to("cpu").numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def references_for(self, reference: References, faces: list[Face], image: np.ndarray) -> list[ReferencePhoto | None]:
        """The reference photo (or None) each face of `faces` in `image` would take from `reference` (see
        `inpaint`), e.g. to say which one each face used; passing the result back in does not match again."""
        _check_image(image)
        with self._lock:
            return self._resolve_references(reference, _checked_faces(faces), image) or [None] * len(faces)

    def _resolve_references(self, reference: References, faces: list[Face] | None, image: np.ndarray | None = None,
                         vectors: np.ndarray | None = None) -> list[ReferencePhoto | None] | None:
        """One ReferencePhoto or None per face of `faces` (None: no reference at all). A gallery is
        matched by the faces' identity `vectors` (computed from `image` when not given)."""
        if reference is None:
            return None
        if isinstance(reference, ReferenceGallery):
            if vectors is None:
                vectors = self._embed_crops([face_crop(image, face, MODEL_SIZE).image for face in faces or []])
            return reference.match(vectors)
        if isinstance(reference, (ReferencePhoto, np.ndarray)):
            prepared = reference if isinstance(reference, ReferencePhoto) else self.reference(reference)
            return [prepared] * len(faces or [])
        references = list(reference)
        if len(references) != len(faces or []):
            raise ValueError(f"{len(references)} references for {len(faces or [])} faces: give one per face, or one")
        for item in references:
            if item is not None and not isinstance(item, ReferencePhoto):
                raise TypeError(f"references must be ReferencePhoto objects or None, got {type(item).__name__}")
        return references

    def _inpaint(
        self, image: np.ndarray, mask: np.ndarray, method: str, faces: list[Face] | None, size: int,
        identities: dict[int, np.ndarray] | None = None, references: list[ReferencePhoto | None] | None = None,
    ) -> np.ndarray:
        """`identities`: identity vectors already computed for some of `faces` (by id) on this image;
        `references`: a reference photo or None per face of `faces`."""
        hole = mask > 0
        if not hole.any():
            return image.copy()
        if method == "telea":
            return telea_inpaint(image, mask)
        if size not in GENERATOR_SIZES:
            raise ValueError(f"size must be one of {GENERATOR_SIZES}, got {size}")
        faces = faces if faces is not None else self._faces_or_whole(image)

        # Telea fills the whole hole at the photo's resolution: the base under every crop's fill,
        # and the only fill where no crop covers the hole.
        base = telea_inpaint(image, mask)
        jobs = []
        guides: dict[int, ReferencePhoto] = {}
        for face, reference in zip(faces, references or [None] * len(faces)):
            crop = face_crop(image, face, size)
            hole_crop = crop_mask(mask, crop.matrix, size, threshold=1)
            if hole_crop.any():
                jobs.append((face, crop, hole_crop))
                if reference is not None:
                    guides[id(face)] = reference
        if not jobs:
            return base
        fills = self._generate(image, jobs, identities or {}, guides)
        return composite_fills(image, mask, base, [CropFill(fill, crop.matrix) for (_, crop, _), fill in zip(jobs, fills)])

    def _generate(
        self, image: np.ndarray, jobs: list[tuple[Face, FaceCrop, np.ndarray]], identities: dict[int, np.ndarray],
        references: dict[int, ReferencePhoto] | None = None,
    ) -> list[np.ndarray]:
        """The generator's whole output (size x size x 3 float32 in [0, 255], not composited with the
        known pixels: the compositor matches it to them) for each (face, crop, hole) job. A face with a
        reference (by id in `references`) is conditioned on the reference's identity vector, a reference
        generator also sees the reference's aligned crop, and the reference's fine detail is added to the
        fill (facestudio.reference_transfer)."""
        import torch

        from facestudio.tensors import tensor_to_pixels

        references = references or {}
        identities = {**identities, **{key: reference.vector for key, reference in references.items()}}
        missing = [(face, crop) for face, crop, _ in jobs if id(face) not in identities]
        if missing:
            fresh = self._embed_crops([
                crop.image if crop.size == MODEL_SIZE else face_crop(image, face, MODEL_SIZE).image
                for face, crop in missing
            ])
            identities = {**identities, **{id(face): vector for (face, _), vector in zip(missing, fresh)}}
        generator = self.model("generator")
        with torch.inference_mode():
            identity = torch.from_numpy(np.stack([identities[id(face)] for face, _, _ in jobs])).to(self.device)
            pixels = self._to_tensor([crop.image for _, crop, _ in jobs])
            holes = torch.from_numpy(np.stack([hole for _, _, hole in jobs]) > 0).to(self.device)
            holes = holes[:, None].to(pixels.dtype)
            guide = None
            if getattr(generator, "uses_reference", False) and references:
                # a face without a reference gets an all-zero plane: the generator reads that as "none"
                guide = torch.stack([
                    self._to_tensor([references[id(face)].crop(crop.size)])[0] if id(face) in references
                    else torch.zeros_like(pixels[0]) for face, crop, _ in jobs])
            predicted = generator(pixels * (1.0 - holes), holes, identity, guide)
            out = tensor_to_pixels(predicted)
        fills = list(out.permute(0, 2, 3, 1).to("cpu").numpy())
        for index, (face, crop, hole) in enumerate(jobs):
            fills[index] = keep_grey(fills[index], crop.image, hole)
            reference = references.get(id(face))
            if reference is not None:
                fills[index] = add_reference_detail(fills[index], crop.image, hole, reference.crop(crop.size),
                                                    reference.face, face, reference.occlusion(crop.size))
        return fills

    def _identity_similarity(self, before: np.ndarray, after: np.ndarray, faces: list[Face]) -> float:
        """Mean cosine between each face's encoder vector before the fix (`before`, one row per face) and
        after it (from the fixed photo `after`)."""
        vectors_after = self._embed_crops([face_crop(after, face, MODEL_SIZE).image for face in faces])
        return float(np.clip(np.mean(np.sum(before * vectors_after, axis=1)), -1.0, 1.0))

    def _to_tensor(self, crops: list[np.ndarray]) -> torch.Tensor:
        """NCHW float32 in [-1, 1] on the pipeline's device from HxWx3 uint8 crops."""
        from facestudio.tensors import images_to_tensor

        return images_to_tensor(crops, self.device)


def _default_grow_px(faces: list[Face]) -> int:
    """Mask growth in photo px: GROW_FRACTION of the median face crop's side in the photo."""
    sides = [MODEL_SIZE / similarity_scale(similarity_to_canonical(face.landmarks, MODEL_SIZE)) for face in faces]
    return max(1, int(round(GROW_FRACTION * float(np.median(sides)))))


def _checked_faces(faces: list[Face]) -> list[Face]:
    faces = list(faces)
    for face in faces:
        if not isinstance(face, Face):
            raise TypeError(f"faces must be facestudio.Face objects, got {type(face).__name__}")
    return faces


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        described = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {described}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image is too small ({image.shape[1]}x{image.shape[0]} px)")


def _check_mask(mask: np.ndarray, image: np.ndarray) -> None:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ValueError("expected an HxW mask (uint8, 255 = hole)")
    if mask.shape != image.shape[:2]:
        raise ValueError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} px but the image is {image.shape[1]}x{image.shape[0]} px"
        )


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
