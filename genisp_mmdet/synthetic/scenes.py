"""Procedural scenes in linear scene colour: textured backgrounds, labelled shapes, distractors.

Classes (COCO category ids 1..4, :data:`CLASSES`)
-------------------------------------------------
* ``red_disc`` (1) and ``blue_disc`` (2): the *same* shape distribution (discs, 16..80 px
  across by default) and the *same* luminance distribution; they differ only in chromaticity.
  Unlabelled distractor discs (neutral grey, green, yellow) of the same sizes and luminances
  sit among them, so a detector has to see hue: under a 2500 K illuminant a grey disc is
  orange in camera RGB, which is why white balance and colour correction matter.
* ``square`` (3) and ``triangle`` (4): shape-defined, any hue (red and blue included), any
  rotation.

Background: a gradient between two muted colours, multi-scale value noise in luminance and
chroma, per-pixel grain, and small clutter (bars, ellipses, rectangles; unlabelled).

Colour model
------------
Reflectances are linear sRGB albedos in [0, 1] (D65-referred: albedo (1, 1, 1) is a perfect
white). A scene is lit by a blackbody-locus illuminant ``cct`` (2500..7500 K by default)
whose white has XYZ ``xy_to_xyz(cct_to_xy(cct))`` with Y = 1. Without spectra we use the
simplest sound stand-in: a von Kries (diagonal) illuminant in linear-sRGB primaries,

    rgb_lit = albedo * shading * (XYZ_TO_SRGB @ illuminant_xyz)
    scene XYZ = SRGB_TO_XYZ @ rgb_lit

which is exact for neutral surfaces (a white reflector reproduces the illuminant's XYZ) and
reduces to the albedo itself under D65. ``shading`` is a smooth irradiance falloff
(vignetting-like, 0.4..1.2) shared by the RAW captures and the oracle rendering.

Coordinates: pixel ``(i, j)`` covers ``[j, j + 1] x [i, i + 1]``; boxes are continuous
``[x, y, w, h]`` in that frame (COCO), tight around the geometric shape. Shapes are
anti-aliased over one pixel from their signed distance.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..color import SRGB_TO_XYZ, XYZ_TO_SRGB, cct_to_xy, xy_to_xyz

#: Class names; category id = index + 1.
CLASSES = ('red_disc', 'blue_disc', 'square', 'triangle')
#: COCO ``categories`` entries.
CATEGORIES = [{'id': i + 1, 'name': name, 'supercategory': 'shape'}
              for i, name in enumerate(CLASSES)]
#: Classes told apart from each other only by colour.
COLOUR_DEFINED_CLASSES = ('red_disc', 'blue_disc')
_CLASS_KIND = {'red_disc': 'disc', 'blue_disc': 'disc', 'square': 'square',
               'triangle': 'triangle'}

#: Luminance (Y) weights of linear sRGB.
LUMA = SRGB_TO_XYZ[1]

# Chromaticity directions (linear sRGB) of the colour-defined classes and of the unlabelled
# distractor discs. Red and blue are scaled to the same luminance before use.
_CLASS_CHROMA = {'red_disc': np.array([1.0, 0.09, 0.07]),
                 'blue_disc': np.array([0.08, 0.16, 1.0])}
_DISTRACTOR_CHROMA = (np.array([1.0, 1.0, 1.0]), np.array([0.15, 1.0, 0.2]),
                      np.array([1.0, 0.8, 0.08]))
#: Luminance range of disc albedos (labelled and distractor).
DISC_LUMINANCE = (0.08, 0.20)


@dataclass(frozen=True)
class SceneConfig:
    """Scene sampling parameters (all recorded in the dataset manifest).

    ``width`` x ``height`` is the rendered frame (= the DNG's full frame), both even.
    Ranges are inclusive ``(low, high)``; ``object_size_px`` is the side of an object's
    bounding box (disc diameter), capped at 45% of the frame's short side. Shapes may
    overlap, but each labelled object and distractor disc keeps at least ``min_visible`` of
    its pixels unoccluded.
    """
    width: int = 256
    height: int = 192
    objects_per_scene: tuple = (2, 6)
    object_size_px: tuple = (16.0, 80.0)
    distractor_discs: tuple = (0, 2)
    clutter_shapes: tuple = (6, 18)
    clutter_size_px: tuple = (3.0, 12.0)
    cct_range: tuple = (2500.0, 7500.0)
    min_visible: float = 0.6

    def __post_init__(self):
        # 24: the smallest even side LibRaw (>= 22 px) reads back from a DNG
        if self.width % 2 or self.height % 2 or self.width < 24 or self.height < 24:
            raise ValueError(f'frame must be even and at least 24x24, got '
                             f'{self.width}x{self.height}')
        if self.objects_per_scene[0] < 1 or self.objects_per_scene[0] > self.objects_per_scene[1]:
            raise ValueError(f'objects_per_scene {self.objects_per_scene} must be (>=1, >=low)')
        if not 0.0 <= self.min_visible <= 1.0:
            raise ValueError(f'min_visible {self.min_visible} must lie in [0, 1]')
        lo, hi = self.cct_range
        if not 1667 <= lo <= hi <= 25000:
            raise ValueError(f'cct_range {self.cct_range} must lie in 1667..25000 K')

    def size_range(self) -> tuple[float, float]:
        """Object box side range in px after capping to the frame."""
        cap = 0.45 * min(self.width, self.height)
        hi = min(self.object_size_px[1], cap)
        lo = min(self.object_size_px[0], hi * 0.5)
        return float(lo), float(hi)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Shape:
    """A filled shape in the rendered frame.

    ``kind``: 'disc' (``size`` = diameter), 'square' (``size`` = side), 'triangle'
    (equilateral, ``size`` = circumradius), 'ellipse' (``size`` = major axis, ``aspect`` =
    minor/major), 'rect' (``size`` = long side, ``aspect`` = short/long). ``cx, cy`` is the
    centre (circumcentre for triangles), ``angle`` the rotation in radians, ``albedo`` the
    linear sRGB reflectance (3,), ``category_id`` 0 for unlabelled shapes.
    """
    kind: str
    cx: float
    cy: float
    size: float
    angle: float = 0.0
    aspect: float = 1.0
    albedo: tuple = (0.5, 0.5, 0.5)
    category_id: int = 0

    def _vertices(self) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        if self.kind == 'triangle':
            t = self.angle + np.array([-math.pi / 2, math.pi / 6, 5 * math.pi / 6])
            return np.stack([self.cx + self.size * np.cos(t), self.cy + self.size * np.sin(t)], 1)
        hx, hy = self._half_extents()
        local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
        rot = np.array([[c, -s], [s, c]])
        return local @ rot.T + [self.cx, self.cy]

    def _half_extents(self) -> tuple[float, float]:
        if self.kind == 'square':
            return self.size / 2, self.size / 2
        return self.size / 2, self.size * self.aspect / 2

    def bbox(self) -> tuple[float, float, float, float]:
        """Tight geometric box ``(x0, y0, x1, y1)`` in px."""
        if self.kind == 'disc':
            r = self.size / 2
            return self.cx - r, self.cy - r, self.cx + r, self.cy + r
        if self.kind == 'ellipse':
            a, b = self._half_extents()
            c, s = math.cos(self.angle), math.sin(self.angle)
            ex, ey = math.hypot(a * c, b * s), math.hypot(a * s, b * c)
            return self.cx - ex, self.cy - ey, self.cx + ex, self.cy + ey
        v = self._vertices()
        (x0, y0), (x1, y1) = v.min(axis=0), v.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def area(self) -> float:
        """Geometric area in px^2."""
        if self.kind == 'disc':
            return math.pi * (self.size / 2) ** 2
        if self.kind == 'triangle':
            return 3 * math.sqrt(3) / 4 * self.size ** 2
        hx, hy = self._half_extents()
        return (math.pi if self.kind == 'ellipse' else 4.0) * hx * hy

    def signed_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Approximate signed distance in px (negative inside) at points ``x, y`` (broadcast);
        exact for discs and rectangles, exact near the edges for triangles and ellipses,
        which is all one-pixel anti-aliasing needs."""
        dx, dy = x - self.cx, y - self.cy
        if self.kind == 'disc':
            return np.hypot(dx, dy) - self.size / 2
        c, s = math.cos(self.angle), math.sin(self.angle)
        u, v = c * dx + s * dy, -s * dx + c * dy
        if self.kind in ('square', 'rect'):
            hx, hy = self._half_extents()
            qx, qy = np.abs(u) - hx, np.abs(v) - hy
            outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
            return outside + np.minimum(np.maximum(qx, qy), 0)
        if self.kind == 'ellipse':
            a, b = self._half_extents()
            k0 = np.hypot(u / a, v / b)
            k1 = np.maximum(np.hypot(u / a ** 2, v / b ** 2), 1e-9)
            return k0 * (k0 - 1.0) / k1
        if self.kind == 'triangle':
            verts = self._vertices()
            d = np.full(np.broadcast(x, y).shape, -np.inf)
            for k in range(3):
                p, q = verts[k], verts[(k + 1) % 3]
                edge = q - p
                # vertices go clockwise in image coordinates (y down), so this normal points out
                n = np.array([edge[1], -edge[0]]) / np.hypot(*edge)
                if np.dot(n, [self.cx, self.cy] - p) > 0:
                    n = -n
                d = np.maximum(d, (x - p[0]) * n[0] + (y - p[1]) * n[1])
            return d
        raise ValueError(f'unknown shape kind {self.kind!r}')

    def coverage(self, height: int, width: int) -> tuple[tuple[slice, slice], np.ndarray]:
        """Anti-aliased coverage in [0, 1] over the pixels the shape touches.

        Returns ``((rows, cols), cov)`` with ``cov`` of shape ``(len(rows), len(cols))``
        float32, to be used as ``image[rows, cols]``; an empty window off the frame.
        """
        x0, y0, x1, y1 = self.bbox()
        c0, c1 = max(int(math.floor(x0)) - 1, 0), min(int(math.ceil(x1)) + 1, width)
        r0, r1 = max(int(math.floor(y0)) - 1, 0), min(int(math.ceil(y1)) + 1, height)
        c1, r1 = max(c1, c0), max(r1, r0)
        ys = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
        xs = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5
        cov = np.clip(0.5 - self.signed_distance(xs, ys), 0.0, 1.0).astype(np.float32)
        return (slice(r0, r1), slice(c0, c1)), cov

    def paint(self, image: np.ndarray) -> None:
        """Alpha-composite the shape's albedo onto ``image`` ``(H, W, 3)`` in place."""
        window, cov = self.coverage(*image.shape[:2])
        region = image[window]
        region += (np.asarray(self.albedo, dtype=np.float32) - region) * cov[..., None]


@dataclass
class Scene:
    """A sampled scene.

    Attributes:
        albedo: ``(H, W, 3)`` float32 linear sRGB reflectance in [0, 1], shapes painted in.
        shading: ``(H, W)`` float32 relative irradiance (0.4..1.2).
        cct: illuminant correlated colour temperature in K.
        shapes: labelled objects (``category_id`` >= 1) and unlabelled distractor discs
            (``category_id`` 0) in painting order: later ones occlude earlier ones. The
            background clutter is not listed.
    """
    albedo: np.ndarray
    shading: np.ndarray
    cct: float
    shapes: list = field(default_factory=list)

    @property
    def objects(self) -> list:
        """Labelled shapes, in painting order."""
        return [s for s in self.shapes if s.category_id > 0]

    @property
    def distractors(self) -> list:
        """Unlabelled discs, in painting order."""
        return [s for s in self.shapes if s.category_id == 0]

    @property
    def height(self) -> int:
        return self.albedo.shape[0]

    @property
    def width(self) -> int:
        return self.albedo.shape[1]

    def illuminant_xyz(self) -> np.ndarray:
        """CIE XYZ (3,) of the illuminant's white, Y = 1."""
        return illuminant_xyz(self.cct)

    def xyz(self) -> np.ndarray:
        """Scene radiance as CIE XYZ ``(H, W, 3)`` float32 (white reflector Y = 1 at full
        shading) under the scene's illuminant; see the module docstring."""
        return scene_xyz(self.albedo, self.shading, self.cct)

    def srgb(self) -> np.ndarray:
        """The oracle rendering: ``(H, W, 3)`` uint8 gamma-encoded sRGB, D65-balanced
        (albedo * shading), normal exposure, no noise."""
        return render_oracle_srgb(self.albedo, self.shading)

    def annotations(self) -> list[dict]:
        """COCO-style ``{'bbox': [x, y, w, h], 'category_id', 'area'}`` per labelled object,
        in the rendered frame, coordinates rounded to 1/100 px."""
        anns = []
        for obj in self.objects:
            x0, y0, x1, y1 = obj.bbox()
            x0, y0 = max(x0, 0.0), max(y0, 0.0)
            x1, y1 = min(x1, float(self.width)), min(y1, float(self.height))
            anns.append({'bbox': [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                         'category_id': obj.category_id, 'area': round(obj.area(), 2)})
        return anns


def illuminant_xyz(cct: float) -> np.ndarray:
    """CIE XYZ (3,) with Y = 1 of the Planckian-locus illuminant at ``cct`` K."""
    return xy_to_xyz(cct_to_xy(cct))


def scene_xyz(albedo: np.ndarray, shading: np.ndarray, cct: float) -> np.ndarray:
    """Von Kries lighting in linear-sRGB primaries, then to XYZ.

    Args:
        albedo: ``(H, W, 3)`` linear sRGB reflectance.
        shading: ``(H, W)`` relative irradiance.
        cct: illuminant temperature in K.

    Returns:
        ``(H, W, 3)`` float32 CIE XYZ; a white reflector at shading 1 has the illuminant's
        XYZ (Y = 1).
    """
    white_rgb = XYZ_TO_SRGB @ illuminant_xyz(cct)
    # diag(white) then SRGB_TO_XYZ folded into one matrix applied to row vectors
    m = (SRGB_TO_XYZ @ np.diag(white_rgb)).T.astype(np.float32)
    return (albedo * shading[..., None]) @ m


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 transfer curve; linear in [0, 1] (clipped) -> encoded in [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * np.power(np.maximum(linear, 0.0031308), 1 / 2.4) - 0.055)


def render_oracle_srgb(albedo: np.ndarray, shading: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 sRGB of the scene under D65 at normal exposure (white albedo -> 1)."""
    encoded = srgb_encode(albedo * shading[..., None])
    return np.rint(encoded * 255.0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# sampling

def _with_luminance(rgb: np.ndarray, y: float, ceiling: float = 0.95) -> np.ndarray:
    """Scale a linear-sRGB colour to luminance ``y``, then down if a channel passes ceiling."""
    rgb = np.asarray(rgb, dtype=np.float64) * (y / float(LUMA @ rgb))
    peak = rgb.max()
    return rgb * (ceiling / peak) if peak > ceiling else rgb


def _hue_rgb(rng: np.random.Generator, saturation: tuple[float, float]) -> np.ndarray:
    h = rng.uniform(0.0, 1.0)
    s = rng.uniform(*saturation)
    return np.array(colorsys.hsv_to_rgb(h, s, 1.0)) + 1e-3


def sample_class_albedo(rng: np.random.Generator, name: str) -> np.ndarray:
    """Linear sRGB albedo (3,) for a labelled object of class ``name``.

    Colour-defined classes consume the same random draws in the same order whatever the
    class (a per-channel jitter, then the luminance), so with the same generator state a red
    and a blue disc get the same luminance and the same relative jitter: only the hue differs.
    """
    if name in _CLASS_CHROMA:
        jitter = np.exp(rng.normal(0.0, 0.08, size=3))
        y = rng.uniform(*DISC_LUMINANCE)
        return _with_luminance(_CLASS_CHROMA[name] * jitter, y)
    return _with_luminance(_hue_rgb(rng, (0.25, 1.0)), rng.uniform(0.05, 0.4))


def _muted_colour(rng: np.random.Generator, y_range=(0.03, 0.3), max_sat=0.35) -> np.ndarray:
    return _with_luminance(_hue_rgb(rng, (0.0, max_sat)), math.exp(rng.uniform(*np.log(y_range))))


def _interp_matrix(n: int, m: int) -> np.ndarray:
    """(n, m) linear interpolation from m grid nodes spanning the axis to n pixel centres."""
    pos = (np.arange(n) + 0.5) / n * (m - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, m - 2)
    t = pos - i0
    w = np.zeros((n, m))
    w[np.arange(n), i0] = 1 - t
    w[np.arange(n), i0 + 1] = t
    return w


def _value_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int = 1):
    """Smooth random field in about [-1, 1], ``cells`` features along the long side;
    ``(channels, h, w)``."""
    gh = max(2, int(round(cells * h / max(h, w))) + 1)
    gw = max(2, int(round(cells * w / max(h, w))) + 1)
    grid = rng.uniform(-1.0, 1.0, size=(channels, gh, gw))
    return _interp_matrix(h, gh) @ grid @ _interp_matrix(w, gw).T


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    c0, c1 = _muted_colour(rng), _muted_colour(rng)
    theta = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    proj = (xx - w / 2) * math.cos(theta) + (yy - h / 2) * math.sin(theta)
    t = (proj - proj.min()) / max(np.ptp(proj), 1e-9)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    lum = sum(a * rng.uniform(0.5, 1.5) * _value_noise(rng, h, w, cells)[0]
              for cells, a in ((3, 0.35), (8, 0.25), (24, 0.15)))
    chroma = 0.08 * _value_noise(rng, h, w, 6, channels=3).transpose(1, 2, 0)
    grain = rng.normal(0.0, rng.uniform(0.02, 0.06), size=(h, w))
    img *= np.exp(lum + grain)[..., None] * np.exp(chroma)
    return np.clip(img, 0.004, 0.9).astype(np.float32)


def _shading(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (0.25 * (h * h + w * w))
    vignette = 1.0 - rng.uniform(0.0, 0.35) * r2
    g = rng.uniform(-0.12, 0.12, size=2)
    ramp = 1.0 + g[0] * (xx / w - 0.5) * 2 + g[1] * (yy / h - 0.5) * 2
    return np.clip(vignette * ramp, 0.4, 1.2).astype(np.float32)


def _unit_triangle_extent(angle: float) -> tuple[float, float, float, float]:
    t = angle + np.array([-math.pi / 2, math.pi / 6, 5 * math.pi / 6])
    xs, ys = np.cos(t), np.sin(t)
    return xs.min(), ys.min(), xs.max(), ys.max()


def sample_geometry(rng: np.random.Generator, kind: str, box_side: float, width: int,
                    height: int) -> dict:
    """Centre, size and rotation of a shape whose bounding box has ``box_side`` as its
    longer side, placed uniformly so the box lies inside the frame (1 px margin)."""
    angle = rng.uniform(0, 2 * math.pi)
    if kind == 'disc':
        size, ext = box_side, (-box_side / 2, -box_side / 2, box_side / 2, box_side / 2)
    elif kind == 'square':
        angle = angle % (math.pi / 2)
        size = box_side / (abs(math.cos(angle)) + abs(math.sin(angle)))
        ext = (-box_side / 2, -box_side / 2, box_side / 2, box_side / 2)
    elif kind == 'triangle':
        ux0, uy0, ux1, uy1 = _unit_triangle_extent(angle)
        size = box_side / max(ux1 - ux0, uy1 - uy0)
        ext = (ux0 * size, uy0 * size, ux1 * size, uy1 * size)
    else:
        raise ValueError(f'cannot place labelled shape kind {kind!r}')
    cx = rng.uniform(1 - ext[0], width - 1 - ext[2])
    cy = rng.uniform(1 - ext[1], height - 1 - ext[3])
    return {'kind': kind, 'cx': float(cx), 'cy': float(cy), 'size': float(size),
            'angle': float(angle)}


def _clutter(rng: np.random.Generator, cfg: SceneConfig) -> Shape:
    kind = ('rect', 'ellipse', 'rect')[rng.integers(3)]
    aspect = rng.uniform(0.12, 0.6)
    return Shape(kind=kind, cx=float(rng.uniform(0, cfg.width)),
                 cy=float(rng.uniform(0, cfg.height)),
                 size=float(rng.uniform(*cfg.clutter_size_px)),
                 angle=float(rng.uniform(0, math.pi)),
                 aspect=float(aspect),
                 albedo=tuple(_muted_colour(rng, (0.02, 0.4), max_sat=0.6)))


def sample_scene(rng: np.random.Generator, cfg: SceneConfig = SceneConfig()) -> Scene:
    """Sample and paint one scene; deterministic given the generator's state.

    Returns:
        :class:`Scene` with ``cfg.height x cfg.width`` albedo, shading, illuminant and
        shapes. Shapes whose placement cannot satisfy ``min_visible`` after 30 tries are
        dropped, so a scene may hold fewer than drawn (never zero labelled objects: a
        labelled one is placed first).
    """
    h, w = cfg.height, cfg.width
    cct = float(rng.uniform(*cfg.cct_range))
    albedo = _background(rng, h, w)
    shading = _shading(rng, h, w)
    for _ in range(int(rng.integers(cfg.clutter_shapes[0], cfg.clutter_shapes[1] + 1))):
        _clutter(rng, cfg).paint(albedo)

    lo, hi = cfg.size_range()
    n_obj = int(rng.integers(cfg.objects_per_scene[0], cfg.objects_per_scene[1] + 1))
    n_dis = int(rng.integers(cfg.distractor_discs[0], cfg.distractor_discs[1] + 1))
    # labelled objects and distractor discs are placed in one random order so distractors
    # are as likely as objects to occlude or be occluded
    plan = [('obj', CLASSES[int(rng.integers(len(CLASSES)))]) for _ in range(n_obj)]
    plan += [('dis', None)] * n_dis
    order = list(rng.permutation(len(plan)))
    # a labelled object goes first: it always fits, so no scene is left without one
    first_obj = next(k for k, i in enumerate(order) if plan[i][0] == 'obj')
    order.insert(0, order.pop(first_obj))
    # owner[i, j]: index of the placed shape on top at that pixel (-1: background); used to
    # keep every earlier shape at least min_visible unoccluded when a new one lands on it
    owner = np.full((h, w), -1, dtype=np.int32)
    totals, visible, shapes = [], [], []
    for idx in order:
        role, name = plan[idx]
        kind = _CLASS_KIND[name] if role == 'obj' else 'disc'
        for _ in range(30):
            side = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            geom = sample_geometry(rng, kind, side, w, h)
            window, cov = Shape(**geom).coverage(h, w)
            mask = cov > 0.5
            under = owner[window][mask]
            lost = np.bincount(under[under >= 0], minlength=len(totals))
            if np.all(np.asarray(visible) - lost >= cfg.min_visible * np.asarray(totals)):
                break
        else:
            continue
        if role == 'obj':
            shape = Shape(**geom, albedo=tuple(sample_class_albedo(rng, name)),
                          category_id=CLASSES.index(name) + 1)
        else:
            chroma = _DISTRACTOR_CHROMA[int(rng.integers(len(_DISTRACTOR_CHROMA)))]
            jitter = np.exp(rng.normal(0.0, 0.08, size=3))
            shape = Shape(**geom, albedo=tuple(_with_luminance(chroma * jitter,
                                                               rng.uniform(*DISC_LUMINANCE))))
        owner[window][mask] = len(shapes)
        visible = [v - int(l) for v, l in zip(visible, lost)] + [int(mask.sum())]
        totals.append(int(mask.sum()))
        shapes.append(shape)
        shape.paint(albedo)
    np.clip(albedo, 0.0, 1.0, out=albedo)
    return Scene(albedo=albedo, shading=shading, cct=cct, shapes=shapes)
