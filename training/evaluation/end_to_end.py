"""End-to-end evaluation: photo in, photo out, through the public API exactly as the app runs it.

The crop-level evaluation (`training.evaluate`) scores the generator on aligned 128 px crops, which
hides what the compositing does to the photo the user saves. Here every case is a whole photo with
a hole of known truth, filled by `pipeline.inpaint(photo, mask, method=m)` (what `facestudio fix IMG
--masks MASK` calls), each method on the same Pipeline and the same noisy photo:

    faces     test-split photos of faces/{utk,celeba-crops,aaf,scut} at their native size, 68 dlib
              landmarks found on them (faces dlib does not find are skipped)
    settings  "native": the photo as is; "S px": the face scaled so that its canonical crop is S px
              on a side, pasted (soft edges) into a ~2.5 S x 2 S photo-like backdrop
    holes     per face, in the canonical 128 px crop frame (so a hole's share is of the face crop at
              every size), then warped into each setting: one free-form hole per area bucket of
              `training.masks.HOLE_AREA_BUCKETS`, one held-out occluder of an "other" kind and one
              of a lower-face kind (`training.occlusion.EVAL_KINDS`, test-split assets)
    noise     every hole is filled with a random colour plus strong grain, standing in for the
              occluder, so that any of it surviving in the output is measurable (content left)

SCUT's white bars and AAF's black corner wedges (padding, not photo) are found by flood fill from
the frame: holes never reach them, SSIM ignores them, and the pasted photos leave them out.
Scores per case and method are `end_to_end_scores.score_case`, plus dlib identity distance to the
truth (`DlibDescriptor`, described at the truth's 68 landmarks) and the call's time.

`run_real` is the companion without truth: `pipeline.auto_fix` on real masked photos, to look at.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facestudio.alignment import mask_to_photo, similarity_scale, similarity_to_canonical, warp_to_crop
from facestudio.detection import five_point_landmarks
from training.evaluation.alignment import SURROUND, _surround
from training.evaluation.cases import FREE_FORM_GROUPS, FREE_FORM_KIND, bucket_label
from training.evaluation.dlib_identity import SAME_PERSON_DISTANCE, DlibDescriptor, distances
from training.evaluation.end_to_end_scores import score_case
from training.evaluation.scores import PSNR_CAP_DB
from training.masks import mixed_mask
from training.occlusion import EVAL_KINDS, synthesize
from training.occluders.assets import OccluderAssets

log = logging.getLogger(__name__)

CROP = 128  # the canonical crop the holes are drawn in (the models' input size)
FACE_SOURCES = ("utk", "celeba-crops", "aaf", "scut")
TEST_SPLIT = "test"
NATIVE = "native"
LOWER_FACE = "occluders_lower_face"
OTHER_OCCLUDERS = "occluders_other"
ALL = "all"
# Face masks cover the lower face; the other held-out kinds (microphone, cup, eye patch, sticker) are objects
# at one spot. Grouped by name so a new mask kind lands in the right group.
LOWER_FACE_KINDS: tuple[str, ...] = tuple(kind for kind in EVAL_KINDS if kind.startswith("mask_"))
OTHER_KINDS: tuple[str, ...] = tuple(kind for kind in EVAL_KINDS if kind not in LOWER_FACE_KINDS)
BUCKETS: tuple[str, ...] = (*FREE_FORM_GROUPS, OTHER_OCCLUDERS, LOWER_FACE)
BUCKET_LABELS = {
    **{group: f"free-form {bucket_label(bucket)}" for group, bucket in FREE_FORM_GROUPS.items()},
    OTHER_OCCLUDERS: "held-out occluders (" + ", ".join(k.replace("_", " ") for k in OTHER_KINDS) + ")",
    LOWER_FACE: "lower-face occluders (" + ", ".join(k.replace("_", " ") for k in LOWER_FACE_KINDS) + ")",
    ALL: "all",
}
_BUCKET_SALT = {bucket: index for index, bucket in enumerate(BUCKETS)}

NOISE_GRAIN = 40.0  # grey levels (std): strong enough that surviving noise dominates any fill error
PAD_WHITE, PAD_BLACK = 245, 12  # SCUT's bars: every channel >= 245; AAF's wedges: every channel <= 12
PAD_SOURCES = {"scut": "white", "aaf": "black"}
WINDOW = 1.8  # the pasted part of a native photo: a square of this many crop sides around the face
PHOTO_WIDTH, PHOTO_HEIGHT = 2.5, 2.0  # the composed photo, in face sizes
FEATHER = 0.03  # the pasted photo fades into the backdrop over this share of the face size
MIN_IDENTITY_PX = 80.0  # dlib's descriptor is judged only on faces at least this big (crop side, px)
_PLACEMENT_SALT, _NOISE_SALT = 104_729, 7_919


# ------------------------------------------------------------------------------------------------ faces
@dataclass(frozen=True)
class SourceFace:
    """A test photo at its native size: `image` HxWx3 uint8 RGB, `landmarks` dlib's 68 (photo px),
    `valid` HxW bool (False on padding), `key` a number from the name that seeds its randomness."""

    name: str
    source: str
    image: np.ndarray
    landmarks: np.ndarray
    valid: np.ndarray
    key: int
    index: int  # place in the evaluation order: which occluder kinds it gets


def test_photos(data_root: Path, sources: Sequence[str] = FACE_SOURCES) -> dict[str, list[Path]]:
    """Per source, the photos of the test split (`training.prepare_data.split_of` of the file stem,
    as the data cache splits them), sorted by name."""
    from training.prepare_data import split_of

    found = {}
    for source in sources:
        folder = Path(data_root) / "faces" / source
        found[source] = sorted(p for p in folder.glob("*.jpg") if split_of(p.stem) == TEST_SPLIT)
    return found


def interleaved_choice(paths: dict[str, list[Path]], seed: int) -> Iterable[tuple[str, Path]]:
    """(source, path) pairs in a seeded order that takes one photo from each source in turn, so any
    prefix of it is spread evenly over the sources."""
    rng = np.random.default_rng(seed)
    orders = {source: [paths[source][i] for i in rng.permutation(len(paths[source]))] for source in sorted(paths)}
    longest = max((len(order) for order in orders.values()), default=0)
    for position in range(longest):
        for source in sorted(orders):
            if position < len(orders[source]):
                yield source, orders[source][position]


def load_test_faces(data_root: Path, count: int, seed: int) -> list[SourceFace]:
    """`count` test faces spread over the sources, with dlib's 68 landmarks; photos where dlib's
    detector finds no face are skipped (their landmarks would be a guess)."""
    from training.prepare_data import DETECTOR_HOG, FaceAnnotator

    paths = test_photos(data_root)
    empty = [source for source, found in paths.items() if not found]
    if len(empty) == len(paths):
        raise FileNotFoundError(f"{Path(data_root) / 'faces'}: no test-split photos in {', '.join(FACE_SOURCES)}")
    annotator = FaceAnnotator()
    faces: list[SourceFace] = []
    skipped = 0
    for source, path in interleaved_choice(paths, seed):
        if len(faces) >= count:
            break
        image = read_rgb(path)
        box, how = annotator.locate(image, source)
        if how != DETECTOR_HOG:
            skipped += 1
            continue
        shape = annotator.shape_predictor(image, box)
        landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        faces.append(SourceFace(path.stem, source, image, landmarks, ~padding_mask(image, source),
                                name_key(path.stem), len(faces)))
    log.info("faces: %d chosen, %d skipped (dlib found no face)", len(faces), skipped)
    return faces


def read_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB, as the app reads photos."""
    from facestudio.imageio import read_image

    return read_image(path)


def name_key(name: str) -> int:
    """A stable 32-bit number from a file name: seeds a face's holes independently of the run's size."""
    return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:4], "big")


def padding_mask(image: np.ndarray, source: str) -> np.ndarray:
    """HxW bool, True on padding: for SCUT the near-white and for AAF the near-black pixels
    connected to the frame (plus a 2 px fringe for JPEG ringing); none for other sources."""
    colour = PAD_SOURCES.get(source)
    if colour is None:
        return np.zeros(image.shape[:2], bool)
    candidate = image.min(axis=2) >= PAD_WHITE if colour == "white" else image.max(axis=2) <= PAD_BLACK
    count, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    touching = np.isin(labels, edge[edge > 0])
    return cv2.dilate(touching.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


# --------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    """A face shown one way: `truth` the photo (HxWx3 uint8), `valid` its real-photo pixels, `landmarks`
    the 68 points in it, `matrix` its photo -> canonical crop warp, `size` S (None for native)."""

    name: str
    size: int | None
    truth: np.ndarray
    valid: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray

    @property
    def face_px(self) -> float:
        """The side of the face's canonical crop in this photo, px: the face size."""
        return face_side(self.matrix)


def canonical_matrix(landmarks68: np.ndarray) -> np.ndarray:
    """The photo -> 128 px canonical crop similarity of a face, as the app frames it from five points."""
    return similarity_to_canonical(five_point_landmarks(landmarks68), CROP)


def face_side(matrix: np.ndarray) -> float:
    """Crop side in photo px of a photo -> crop matrix: the face size the settings are measured in."""
    return CROP / similarity_scale(matrix)


def native_setting(face: SourceFace) -> Setting:
    """The test photo as it is."""
    return Setting(NATIVE, None, face.image, face.valid, face.landmarks, canonical_matrix(face.landmarks))


def photo_setting(face: SourceFace, size: int, seed: int, backdrops: Sequence[np.ndarray]) -> Setting:
    """The face scaled to a face size of `size` px and pasted, padding left out and edges feathered,
    at a random place in a (PHOTO_WIDTH x PHOTO_HEIGHT) * size backdrop; the composite is the truth."""
    rng = np.random.default_rng([seed, face.key, _PLACEMENT_SALT, size])
    matrix = canonical_matrix(face.landmarks)
    scale = size / face_side(matrix)
    x0, y0, x1, y1 = _window(face.image.shape, matrix)
    width, height = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    interpolation = cv2.INTER_CUBIC if scale > 1.0 else cv2.INTER_AREA
    patch = cv2.resize(_unpadded(face.image[y0:y1, x0:x1], face.valid[y0:y1, x0:x1]), (width, height),
                       interpolation=interpolation)
    valid = cv2.resize(face.valid[y0:y1, x0:x1].astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    photo_width, photo_height = max(round(PHOTO_WIDTH * size), width + 2), max(round(PHOTO_HEIGHT * size), height + 2)
    left = int(rng.integers(0, photo_width - width + 1))
    top = int(rng.integers(0, photo_height - height + 1))
    background = photo_backdrop(rng, photo_height, photo_width, backdrops)
    alpha = np.zeros((photo_height, photo_width), np.float32)
    alpha[top : top + height, left : left + width] = _soft_alpha(valid, max(1.0, FEATHER * size))
    placement = np.array([[1.0, 0.0, left], [0.0, 1.0, top]])
    # The photo's blurred edges carried outwards (training.evaluation.alignment does the same for crops):
    # a tight crop's cut-off forehead and chin then continue into the backdrop instead of ending in a square.
    canvas = _surround(patch, background, alpha, placement, SURROUND * size)
    region = canvas[top : top + height, left : left + width]
    weight = alpha[top : top + height, left : left + width, None]
    canvas[top : top + height, left : left + width] = region + weight * (patch.astype(np.float32) - region)
    truth = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    factor = np.array([width / (x1 - x0), height / (y1 - y0)])
    # cv2.resize maps pixel centres: x' = (x + 0.5) * f - 0.5
    landmarks = (face.landmarks - (x0, y0) + 0.5) * factor - 0.5 + (left, top)
    return Setting(f"{size} px", size, truth, np.ones(truth.shape[:2], bool), landmarks, canonical_matrix(landmarks))


def photo_backdrop(rng: np.random.Generator, height: int, width: int, backdrops: Sequence[np.ndarray]) -> np.ndarray:
    """A photo-like HxWx3 uint8 background: an out-of-focus region of a photo (`backdrops`), or a
    smooth two-colour gradient with soft blotches; either with sensor grain."""
    if backdrops and rng.random() < 0.6:
        photo = backdrops[int(rng.integers(len(backdrops)))]
        ph, pw = photo.shape[:2]
        zoom = rng.uniform(0.4, 1.0)
        ch = max(8, int(min(ph, pw * height / width) * zoom))
        cw = max(8, int(ch * width / height))
        y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
        image = cv2.resize(photo[y : y + ch, x : x + cw], (width, height), interpolation=cv2.INTER_LINEAR)
        image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), rng.uniform(0.004, 0.012) * max(height, width))
    else:
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs * np.cos(angle) + ys * np.sin(angle)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        start, end = rng.uniform(20, 235, size=3), rng.uniform(20, 235, size=3)
        image = start + t[..., None] * (end - start)
        blotches = rng.normal(0, 18, size=(6, max(2, 6 * width // height), 3)).astype(np.float32)
        image = image + cv2.resize(blotches, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, rng.uniform(1.5, 4.0), size=(height, width, 1)).astype(np.float32)
    return np.clip(image + grain, 0, 255).astype(np.uint8)


def _window(shape: tuple[int, ...], matrix: np.ndarray) -> tuple[int, int, int, int]:
    """The part of a native photo pasted into the larger one: a square WINDOW crop sides wide around
    the face (clipped to the photo), so every source brings about as much of its surroundings."""
    inverse = cv2.invertAffineTransform(matrix)
    centre = inverse[:, :2] @ np.full(2, (CROP - 1) / 2.0) + inverse[:, 2]
    half = WINDOW * face_side(matrix) / 2.0
    height, width = shape[:2]
    x0, y0 = (int(np.clip(np.floor(c - half), 0, limit - 1)) for c, limit in zip(centre, (width, height)))
    x1, y1 = (int(np.clip(np.ceil(c + half), low + 1, limit))
              for c, low, limit in zip(centre, (x0, y0), (width, height)))
    return x0, y0, x1, y1


def _unpadded(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The photo with its padding painted over from the photo around it (OpenCV Telea), so that the
    blurred edges carried into the backdrop bring no white bars or black wedges with them."""
    if bool(valid.all()) or not valid.any():
        return image
    return cv2.inpaint(image, np.where(valid, 0, 255).astype(np.uint8), 3, cv2.INPAINT_TELEA)


def _soft_alpha(valid: np.ndarray, feather: float) -> np.ndarray:
    """HxW float32 alpha: 1 on valid pixels, fading to 0 over ~`feather` px at the patch's edges and
    towards padding, so neither a square outline nor a padding edge becomes a hard edge in the photo."""
    radius = max(1, int(round(feather)))
    framed = np.pad(valid.astype(np.uint8), radius, constant_values=0)
    eroded = cv2.erode(framed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    soft = cv2.GaussianBlur(eroded.astype(np.float32), (0, 0), radius / 2.0)
    return soft[radius:-radius, radius:-radius]


# ------------------------------------------------------------------------------------------------ holes
@dataclass(frozen=True)
class Hole:
    """A hole in the canonical crop frame: `mask` 128x128 uint8 (255 = hole), its `bucket` and `kind`."""

    bucket: str
    kind: str
    mask: np.ndarray

    @property
    def area(self) -> float:
        """Share of the face crop that is hole."""
        return float(np.count_nonzero(self.mask)) / self.mask.size


def make_holes(face: SourceFace, seed: int, assets: OccluderAssets) -> list[Hole]:
    """The face's holes, one per bucket of BUCKETS (in that order). Free-form holes come from
    `training.masks.mixed_mask`; occluder silhouettes from `training.occlusion.synthesize` on the
    face's aligned crop (kinds go round-robin over the faces, so each gets the same share)."""
    matrix = canonical_matrix(face.landmarks)
    holes = []
    for bucket, area_range in FREE_FORM_GROUPS.items():
        mask = mixed_mask(CROP, CROP, _rng(seed, face, bucket), area_range=area_range)
        holes.append(Hole(bucket, FREE_FORM_KIND, mask))
    crop = warp_to_crop(face.image, matrix, CROP)
    crop_landmarks = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    for bucket, kinds in ((OTHER_OCCLUDERS, OTHER_KINDS), (LOWER_FACE, LOWER_FACE_KINDS)):
        kind = kinds[face.index % len(kinds)]
        occlusion = synthesize(crop, crop_landmarks, _rng(seed, face, bucket), kind=kind, assets=assets)
        holes.append(Hole(bucket, kind, np.where(occlusion.mask > 0, 255, 0).astype(np.uint8)))
    return holes


def hole_in(setting: Setting, hole: Hole) -> np.ndarray:
    """The hole warped into the setting's photo (HxW uint8 0/255), kept off its padding."""
    mask = mask_to_photo(hole.mask, setting.matrix, setting.truth.shape)
    mask[~setting.valid] = 0
    return mask


def add_noise(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` with the hole replaced by a random flat colour plus strong grain: an occluder whose
    every surviving pixel shows (unlike a smooth one, which a fill could match by chance)."""
    colour = rng.integers(0, 256, size=3).astype(np.float32)
    hole = mask > 0
    noisy = image.copy()
    grain = rng.normal(0.0, NOISE_GRAIN, size=(int(np.count_nonzero(hole)), 3)).astype(np.float32)
    noisy[hole] = np.clip(np.round(colour + grain), 0, 255).astype(np.uint8)
    return noisy


def _rng(seed: int, face: SourceFace, bucket: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, face.key, _BUCKET_SALT[bucket], *extra])


# -------------------------------------------------------------------------------------------------- run
Inpaint = Callable[[np.ndarray, np.ndarray, str], np.ndarray]


@dataclass
class CaseResult:
    """One face, setting and hole: `scores` method -> measure -> value (score_case's measures, "ms"
    and, where judged, "identity" = dlib distance to the truth); `input_identity` the noisy photo's."""

    face: str
    source: str
    setting: str
    face_px: float
    bucket: str
    kind: str
    area: float  # share of the face crop that is hole
    photo_area: float  # share of the photo that is hole
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    input_identity: float = math.nan


@dataclass(frozen=True)
class SheetCase:
    """A case to look at: crops around the face of the noisy input, each method's output and the truth."""

    label: str
    tiles: dict[str, np.ndarray]


@dataclass(frozen=True)
class RunConfig:
    """Face sizes of the pasted settings, methods (in column order), seed, cases kept for the sheet."""

    sizes: tuple[int, ...] = (100, 200, 400, 600)
    methods: tuple[str, ...] = ("gan", "telea")
    seed: int = 0
    sheet_cases: int = 16
    sheet_tile: int = 160


@dataclass
class RunResult:
    cases: list[CaseResult]
    sheet: list[SheetCase]
    faces: list[dict[str, Any]]
    wall_s: float
    skipped_cases: int = 0


def run_evaluation(
    faces: Sequence[SourceFace],
    inpaint: Inpaint,
    assets: OccluderAssets,
    config: RunConfig = RunConfig(),
    describer: DlibDescriptor | None = None,
    backdrops: Sequence[np.ndarray] = (),
) -> RunResult:
    """Every face x setting x hole, each method through `inpaint(photo, mask, method)` on the same
    noisy photo, scored against the truth. The sheet gets one case per face, walking through every
    setting, then every hole, so that a few faces show each size and hole kind."""
    started = time.perf_counter()
    cases: list[CaseResult] = []
    sheet: list[SheetCase] = []
    skipped = 0
    for face in faces:
        holes = make_holes(face, config.seed, assets)
        settings = [native_setting(face)] + [photo_setting(face, size, config.seed, backdrops) for size in config.sizes]
        for setting_index, setting in enumerate(settings):
            truth_descriptor = _describe_truth(describer, setting)
            for hole_index, hole in enumerate(holes):
                mask = hole_in(setting, hole)
                if not mask.any():
                    skipped += 1
                    log.warning("%s %s %s: the hole lies off the photo, skipped", face.name, setting.name, hole.bucket)
                    continue
                noisy = add_noise(setting.truth, mask, _rng(config.seed, face, hole.bucket, _NOISE_SALT, setting_index))
                outputs = {}
                case = CaseResult(face.name, face.source, setting.name, setting.face_px, hole.bucket, hole.kind,
                                  hole.area, float(np.count_nonzero(mask)) / mask.size)
                for method in config.methods:
                    tick = time.perf_counter()
                    outputs[method] = inpaint(noisy, mask, method)
                    milliseconds = (time.perf_counter() - tick) * 1000.0
                    case.scores[method] = {**score_case(outputs[method], noisy, setting.truth, mask, setting.valid),
                                           "ms": milliseconds}
                if truth_descriptor is not None:
                    _judge_identity(describer, truth_descriptor, setting, noisy, outputs, case)
                cases.append(case)
                wanted = (face.index % len(settings), (face.index // len(settings)) % len(holes))
                if len(sheet) < config.sheet_cases and (setting_index, hole_index) == wanted:
                    sheet.append(_sheet_case(face, setting, hole, noisy, outputs, case, config.sheet_tile))
        log.info("face %d/%d (%s, %s): %d cases so far, %.0f s", face.index + 1, len(faces), face.source, face.name,
                 len(cases), time.perf_counter() - started)
    described = [{"name": f.name, "source": f.source, "width": f.image.shape[1], "height": f.image.shape[0],
                  "face_px": face_side(canonical_matrix(f.landmarks))} for f in faces]
    return RunResult(cases, sheet, described, time.perf_counter() - started, skipped)


def _describe_truth(describer: DlibDescriptor | None, setting: Setting) -> np.ndarray | None:
    """The truth's dlib descriptor, or None where identity is not judged (no describer, face too small)."""
    if describer is None or setting.face_px < MIN_IDENTITY_PX:
        return None
    return describer.describe([setting.truth], [setting.landmarks])


def _judge_identity(describer: DlibDescriptor, truth: np.ndarray, setting: Setting, noisy: np.ndarray,
                    outputs: dict[str, np.ndarray], case: CaseResult) -> None:
    """dlib distances to the truth of the noisy input and each output, all at the truth's landmarks."""
    variants = [noisy, *outputs.values()]
    described = describer.describe(variants, [setting.landmarks] * len(variants))
    found = distances(described, np.repeat(truth, len(variants), axis=0))
    case.input_identity = float(found[0])
    for method, distance in zip(outputs, found[1:]):
        case.scores[method]["identity"] = float(distance)


def _sheet_case(face: SourceFace, setting: Setting, hole: Hole, noisy: np.ndarray, outputs: dict[str, np.ndarray],
                case: CaseResult, tile: int) -> SheetCase:
    psnrs = " ".join(f"{m} {case.scores[m]['psnr_hole']:.1f}" for m in outputs)
    where = setting.name if setting.size else f"{setting.name} ({setting.face_px:.0f} px)"
    label = f"{face.source} {where} {hole.kind.replace('_', ' ')} | PSNR {psnrs}"
    images = {"input": noisy, **outputs, "truth": setting.truth}
    return SheetCase(label, {name: face_tile(image, setting.matrix, tile) for name, image in images.items()})


def face_tile(image: np.ndarray, matrix: np.ndarray, tile: int, margin: float = 1.3) -> np.ndarray:
    """A `tile` px square of the photo around the face (`margin` crop sides wide, axis-aligned, grey
    beyond the photo's edge), so a sheet shows every face at one size whatever its size in the photo.
    Enlarged with nearest neighbours: a sheet is for seeing the photo's own pixels, edges included."""
    inverse = cv2.invertAffineTransform(matrix)
    centre = inverse[:, :2] @ np.full(2, (CROP - 1) / 2.0) + inverse[:, 2]
    side = max(2, int(round(margin * face_side(matrix))))
    x0, y0 = (int(round(c - side / 2.0)) for c in centre)
    height, width = image.shape[:2]
    square = np.full((side, side, 3), 128, np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        square[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if side > tile else cv2.INTER_NEAREST
    return cv2.resize(square, (tile, tile), interpolation=interpolation)


# ------------------------------------------------------------------------------------------- summaries
def summarize(cases: Sequence[CaseResult], methods: Sequence[str]) -> dict[str, Any]:
    """Per bucket (and all), per setting (and all) and per setting x bucket: each method's means, the
    paired gan - telea differences, identity shares; and the outside-pixel check per method."""
    settings = list(dict.fromkeys(case.setting for case in cases))
    overall = _group(cases, methods)
    by_bucket = {bucket: _group([c for c in cases if c.bucket == bucket], methods) for bucket in BUCKETS}
    by_setting = {setting: _group([c for c in cases if c.setting == setting], methods) for setting in settings}
    cross = {
        setting: {bucket: _group([c for c in cases if c.setting == setting and c.bucket == bucket], methods)
                  for bucket in BUCKETS}
        for setting in settings
    }
    return {
        "by_bucket": {**by_bucket, ALL: overall},
        "by_setting": {**by_setting, ALL: overall},
        "by_setting_bucket": cross,
        "outside_changed": {
            method: {"pixels": int(sum(c.scores[method]["outside_changed"] for c in cases if method in c.scores)),
                     "cases": int(sum(c.scores[method]["outside_changed"] > 0 for c in cases if method in c.scores))}
            for method in methods
        },
    }


SUMMARY_MEASURES = ("psnr_hole", "ssim", "content_left", "sharpness", "ms")


def _group(cases: Sequence[CaseResult], methods: Sequence[str]) -> dict[str, Any]:
    """Means of one group of cases (PSNR capped at PSNR_CAP_DB, NaN cases left out)."""
    summary: dict[str, Any] = {
        "cases": len(cases),
        "mean_area": _mean(c.area for c in cases),
        "mean_face_px": _mean(c.face_px for c in cases),
        "methods": {},
    }
    for method in methods:
        scored = [c.scores[method] for c in cases if method in c.scores]
        entry = {measure: _mean(_capped(s[measure]) for s in scored) for measure in SUMMARY_MEASURES}
        judged = [s["identity"] for s in scored if "identity" in s]
        entry["identity_kept"] = _share(judged)
        entry["identity_distance"] = _mean(judged)
        entry["identity_cases"] = len(judged)
        summary["methods"][method] = entry
    judged_input = [c.input_identity for c in cases if math.isfinite(c.input_identity)]
    summary["input_identity_kept"] = _share(judged_input)
    if "gan" in methods and "telea" in methods:
        pairs = [(c.scores["gan"], c.scores["telea"]) for c in cases if "gan" in c.scores and "telea" in c.scores]
        difference = {measure: _mean(_capped(g[measure]) - _capped(t[measure]) for g, t in pairs)
                      for measure in SUMMARY_MEASURES}
        kept = [(g["identity"] < SAME_PERSON_DISTANCE) - (t["identity"] < SAME_PERSON_DISTANCE)
                for g, t in pairs if "identity" in g and "identity" in t]
        difference["identity_kept"] = _mean(kept)
        summary["gan_minus_telea"] = difference
    return summary


def _capped(value: float) -> float:
    return PSNR_CAP_DB if value == math.inf else value


def _share(distances_: Sequence[float]) -> float:
    return float(np.mean(np.asarray(distances_) < SAME_PERSON_DISTANCE)) if len(distances_) else math.nan


def _mean(values: Iterable[float]) -> float:
    array = np.array([float(v) for v in values], dtype=np.float64)
    array = array[np.isfinite(array)]
    return float(array.mean()) if array.size else math.nan


# ------------------------------------------------------------------------------------------- real photos
@dataclass(frozen=True)
class RealCase:
    """auto_fix on one real masked photo: the photo, the segmenter's mask and the fix (None when no
    face was found), the time, and the error message when there was one."""

    name: str
    image: np.ndarray
    mask: np.ndarray | None
    output: np.ndarray | None
    ms: float
    error: str | None = None


def real_photos(data_root: Path, count: int, seed: int) -> list[Path]:
    """A seeded choice of `count` photos from occluded-real/face-masks (real masks, no truth)."""
    folder = Path(data_root) / "occluded-real" / "face-masks"
    suffixes = (".jpg", ".jpeg", ".png")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes) if folder.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"{folder}: no photos")
    chosen = np.random.default_rng([seed, 1]).choice(len(paths), size=min(count, len(paths)), replace=False)
    return [paths[i] for i in sorted(chosen)]


def run_real(paths: Sequence[Path], auto_fix: Callable[[np.ndarray], Any]) -> list[RealCase]:
    """`auto_fix(photo)` (the app's one-click fix) on each photo; NoFaceError is recorded, not raised."""
    from facestudio.api import NoFaceError

    results = []
    for path in paths:
        image = read_rgb(path)
        tick = time.perf_counter()
        try:
            fixed = auto_fix(image)
        except NoFaceError as error:
            results.append(RealCase(path.name, image, None, None, (time.perf_counter() - tick) * 1000.0, str(error)))
            continue
        results.append(RealCase(path.name, image, fixed.mask, fixed.image, (time.perf_counter() - tick) * 1000.0))
    log.info("real photos: %d, no face found in %d", len(results), sum(r.error is not None for r in results))
    return results


def summarize_real(cases: Sequence[RealCase]) -> dict[str, Any]:
    """How many photos, how many had no face found, the mean mask share and time of the others."""
    fixed = [case for case in cases if case.mask is not None]
    return {
        "photos": len(cases),
        "no_face": len(cases) - len(fixed),
        "mean_mask_share": _mean(float(np.count_nonzero(c.mask)) / c.mask.size for c in fixed),
        "mean_ms": _mean(c.ms for c in fixed),
        "median_side_px": float(np.median([max(c.image.shape[:2]) for c in cases])) if cases else math.nan,
        "no_face_names": [case.name for case in cases if case.mask is None],
    }
