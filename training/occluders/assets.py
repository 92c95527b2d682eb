"""Real occluder images (face-mask templates, textures, glasses, cap), loaded once, downsized.

`OccluderAssets.load(root, split)` reads `root/occluders/` laid out as ../shared/data/occluders
(or as the compact copy `training.prepare_data` writes to data_cache/, whose masks.cfg anchors are
rescaled with its images):

    occluders/masktheface/templates/*.png   RGBA mask templates (front, _left, _right views)
    occluders/masktheface/masks.cfg         six anchors per template: a-c top edge, d-f bottom edge
    occluders/masktheface/textures/*/       patterns to re-texture masks
    occluders/objects/{glass,sunglass,cap,mask}.png

The split keeps evaluation honest: the `test` split holds mask templates and textures that the
`train` split never shows (`HELDOUT_TEMPLATE_FAMILIES`, every 4th texture of each pattern folder,
and objects/mask.png, a flat surgical mask of another make). Glasses, sunglasses and the cap exist
once each, so both splits use them. Images are shrunk to `max_side` px once (a template covers at
most a few hundred pixels of a face crop) and the result is cached per (folder, split, max_side).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

SPLITS = ("train", "test")
HELDOUT_TEMPLATE_FAMILIES = ("KN95", "surgical_green")
HELDOUT_TEXTURE_EVERY = 4  # the 4th, 8th, ... texture (sorted by name) of each folder is test-only
DEFAULT_MAX_SIDE = 320
TEXTURE_MAX_SIDE = 256
ANCHOR_KEYS = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")
# objects/mask.png has no masks.cfg entry: its anchors as fractions of the image (x, y), read off
# the image the way masks.cfg places them (top corners and middle, then the lower sides and the
# bottom), a little inside the side tabs so the tabs stick out past the cheeks.
FLAT_MASK_ANCHORS = np.array(
    [[0.06, 0.08], [0.497, 0.011], [0.94, 0.08], [0.07, 0.641], [0.497, 0.987], [0.93, 0.641]]
)
FLAT_MASK_FAMILY = "flat_surgical"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class MaskTemplate:
    """A face-mask image with its six fitting anchors (a, b, c top edge; d, e, f bottom edge)."""

    name: str
    family: str
    view: str  # "front", "left" (nose towards image-left) or "right"
    rgba: np.ndarray  # HxWx4 uint8, colour premultiplied by alpha
    anchors: np.ndarray  # 6x2 float64, template px

    def nose_ratio(self) -> float:
        """Where anchor b (nose) sits between a and c, 0..1: 0.5 for a frontal template."""
        a, b, c = self.anchors[:3]
        return float((b[0] - a[0]) / max(c[0] - a[0], 1e-6))


@dataclass(frozen=True)
class GlassesImage:
    """Eyeglasses or sunglasses: premultiplied RGBA, lens centres, and which pixels are lens."""

    rgba: np.ndarray  # HxWx4 uint8 premultiplied
    lens_centres: np.ndarray  # 2x2 float64 (image-left lens first), image px
    lens: np.ndarray  # HxW uint8 0/255, lens pixels (empty for see-through eyeglasses)


@dataclass(frozen=True)
class CapImage:
    """A cap seen from the front; `brim` is the (x, y) middle of the brim's lower edge."""

    rgba: np.ndarray  # HxWx4 uint8 premultiplied
    brim: np.ndarray
    width: float  # px across the cap


@dataclass(frozen=True)
class OccluderAssets:
    """Every real occluder image of one split, ready for painting."""

    split: str
    templates: tuple[MaskTemplate, ...]
    textures: tuple[np.ndarray, ...]  # RGB uint8, at most TEXTURE_MAX_SIDE px
    texture_names: tuple[str, ...]
    eyeglasses: GlassesImage
    sunglasses: GlassesImage
    cap: CapImage

    @staticmethod
    def load(root: str | Path, split: str = "train", max_side: int = DEFAULT_MAX_SIDE) -> OccluderAssets:
        """Assets of `split` from `root` (a data folder holding occluders/, or occluders/ itself).

        Cached: loading the same folder and split again returns the same object.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        folder = occluders_folder(Path(root))
        return _load_cached(str(folder.resolve()), split, int(max_side))


def occluders_folder(root: Path) -> Path:
    """The occluders/ folder under `root` (or `root` itself when it is that folder)."""
    for candidate in (root / "occluders", root):
        if (candidate / "masktheface").is_dir() and (candidate / "objects").is_dir():
            return candidate
    raise FileNotFoundError(
        f"{root}: no occluders/ folder with masktheface/ and objects/ (set --data or FACESTUDIO_DATA)"
    )


@lru_cache(maxsize=8)
def _load_cached(folder: str, split: str, max_side: int) -> OccluderAssets:
    root = Path(folder)
    templates = _load_templates(root / "masktheface", split, max_side)
    textures = _texture_paths(root / "masktheface" / "textures", split)
    eyeglasses, sunglasses, cap = _load_objects(folder, max_side)
    return OccluderAssets(
        split=split,
        templates=templates,
        textures=tuple(_load_texture(path) for path in textures),
        texture_names=tuple(f"{path.parent.name}/{path.name}" for path in textures),
        eyeglasses=eyeglasses,
        sunglasses=sunglasses,
        cap=cap,
    )


@lru_cache(maxsize=4)
def _load_objects(folder: str, max_side: int) -> tuple[GlassesImage, GlassesImage, CapImage]:
    """The objects both splits share, loaded once per folder."""
    objects = Path(folder) / "objects"
    return (
        _load_eyeglasses(objects / "glass.png", max_side),
        _load_sunglasses(objects / "sunglass.png", max_side),
        _load_cap(objects / "cap.png", max_side),
    )


def template_split(family: str) -> str:
    """Which split a mask-template family belongs to."""
    return "test" if family in HELDOUT_TEMPLATE_FAMILIES or family == FLAT_MASK_FAMILY else "train"


def _load_templates(folder: Path, split: str, max_side: int) -> tuple[MaskTemplate, ...]:
    """The split's templates from masktheface/ (masks.cfg + templates/), anchors rescaled with
    the images; the test split also gets objects/mask.png with its built-in anchors."""
    config_path = folder / "masks.cfg"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: mask template anchors not found")
    parser = configparser.ConfigParser()
    try:
        parser.read_string(config_path.read_text())
    except configparser.Error as error:
        raise ValueError(f"{config_path}: cannot parse ({error.__class__.__name__})") from error
    templates: list[MaskTemplate] = []
    for section in parser.sections():
        entry = parser[section]
        if "template" not in entry:
            continue  # "empty" / "inpaint" entries of MaskTheFace: no image
        family, view = _family_and_view(section)
        if template_split(family) != split:
            continue
        path = folder / "templates" / Path(entry["template"]).name
        try:
            anchors = np.array([[float(v) for v in entry[key].split(",")] for key in ANCHOR_KEYS])
        except (KeyError, ValueError) as error:
            raise ValueError(f"{config_path}: [{section}] needs six anchors mask_a..mask_f as 'x, y'") from error
        rgba, scale = _read_rgba(path, max_side)
        anchors = anchors * scale
        _check_anchors(config_path, section, anchors, rgba.shape)
        templates.append(MaskTemplate(section, family, view, rgba, anchors))
    if split == "test":
        rgba, _ = _read_rgba(folder.parent / "objects" / "mask.png", max_side)
        height, width = rgba.shape[:2]
        anchors = FLAT_MASK_ANCHORS * np.array([width - 1, height - 1])
        templates.append(MaskTemplate(FLAT_MASK_FAMILY, FLAT_MASK_FAMILY, "front", rgba, anchors))
    if not templates:
        raise ValueError(f"{config_path}: no mask templates for the {split} split")
    return tuple(sorted(templates, key=lambda t: t.name))


def _family_and_view(section: str) -> tuple[str, str]:
    for view in ("left", "right"):
        if section.endswith("_" + view):
            return section[: -len(view) - 1], view
    return section, "front"


def _check_anchors(config_path: Path, section: str, anchors: np.ndarray, shape: tuple[int, ...]) -> None:
    # A copy whose images were shrunk without rescaling masks.cfg would put anchors far outside.
    height, width = shape[:2]
    xs, ys = anchors[:, 0], anchors[:, 1]
    if np.any(xs < -0.25 * width) or np.any(xs > 1.25 * width) or np.any(ys > 1.25 * height):
        raise ValueError(
            f"{config_path}: [{section}] anchors lie outside its {width}x{height} template; "
            "were the templates resized without rescaling masks.cfg?"
        )


def _texture_paths(folder: Path, split: str) -> list[Path]:
    """The split's texture files: every 4th of each pattern folder (sorted) is test-only."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: texture folder not found")
    chosen: list[Path] = []
    for group in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in group.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for index, path in enumerate(files):
            held_out = index % HELDOUT_TEXTURE_EVERY == HELDOUT_TEXTURE_EVERY - 1
            if held_out == (split == "test"):
                chosen.append(path)
    if not chosen:
        raise ValueError(f"{folder}: no textures for the {split} split")
    return chosen


def _imread(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(f"{path}: missing or not an image")
    return image


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, scale


def _read_rgba(path: Path, max_side: int) -> tuple[np.ndarray, float]:
    """Premultiplied RGBA uint8 (alpha stretched so the solid part is opaque) and the shrink factor."""
    image = _imread(path)
    if image.ndim != 3 or image.shape[2] != 4:
        raise ValueError(f"{path}: occluder image needs an alpha channel (RGBA PNG)")
    alpha = image[..., 3]
    solid = alpha[::4, ::4][alpha[::4, ::4] > 128]
    level = float(np.median(solid)) if solid.size else 255.0  # some images are "opaque" at ~240
    alpha = cv2.convertScaleAbs(alpha, alpha=255.0 / max(level, 1.0))
    # Shrink premultiplied colour, so transparent pixels' colour never bleeds into the edges.
    rgb = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
    colour = cv2.multiply(rgb, cv2.merge([alpha, alpha, alpha]), scale=1.0 / 255.0)
    rgba, scale = _shrink(cv2.merge([*cv2.split(colour), alpha]), max_side)
    rgba.flags.writeable = False
    return rgba, scale


def _load_texture(path: Path) -> np.ndarray:
    """RGB uint8 texture, at most TEXTURE_MAX_SIDE px, transparency flattened onto white."""
    image = _imread(path)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:  # patterns with transparent background: printed on white cloth
        alpha = image[..., 3:].astype(np.float32) / 255.0
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    image, _ = _shrink(image, TEXTURE_MAX_SIDE)
    image = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    image.flags.writeable = False
    return image


def _two_largest_centres(binary: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Centres (2x2, left first) and labels mask of the two largest components of `binary`."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if count < 3:
        raise ValueError(f"{path}: cannot find two {what} in the image")
    order = np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:2] + 1
    centres = centroids[order]
    chosen = np.isin(labels, order)
    return centres[np.argsort(centres[:, 0])], chosen


def _load_eyeglasses(path: Path, max_side: int) -> GlassesImage:
    rgba, _ = _read_rgba(path, max_side)
    see_through = rgba[..., 3] < 128
    # The lenses are the transparent holes that do not touch the image border.
    _, labels = cv2.connectedComponents(see_through.astype(np.uint8), connectivity=4)
    border_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = see_through & ~np.isin(labels, border_labels)
    height, width = see_through.shape
    centres, _ = _two_largest_centres(holes, path, "lens openings")
    return GlassesImage(rgba, centres, np.zeros((height, width), np.uint8))


def _load_sunglasses(path: Path, max_side: int) -> GlassesImage:
    rgba, _ = _read_rgba(path, max_side)
    colour = rgba[..., :3].astype(np.int16)
    # The lenses are painted flat, saturated blue: find them to repaint them as tinted glass.
    lens_pixels = (rgba[..., 3] > 128) & (colour[..., 2] - np.maximum(colour[..., 0], colour[..., 1]) > 100)
    centres, lens = _two_largest_centres(lens_pixels, path, "lenses")
    lens = cv2.dilate(lens.astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    lens[rgba[..., 3] == 0] = 0
    return GlassesImage(rgba, centres, lens)


def _load_cap(path: Path, max_side: int) -> CapImage:
    rgba, _ = _read_rgba(path, max_side)
    ys, xs = np.nonzero(rgba[..., 3] > 128)
    if xs.size == 0:
        raise ValueError(f"{path}: the cap image is fully transparent")
    return CapImage(rgba, np.array([(xs.min() + xs.max()) / 2.0, float(ys.max())]), float(xs.max() - xs.min()))
