"""Simulated cameras: real colour matrices, deliberate CFA orders, a photon-transfer noise model.

Colour
------
Each :class:`CameraSpec` carries a real camera's ``xyz_to_camera`` matrix, the Adobe DNG
``ColorMatrix`` convention (CIE XYZ (D65) -> camera native RGB, column vectors), copied from
LibRaw's ``src/tables/colordata.cpp`` via ``shared/cameras/color_matrices.json``. The table
is embedded here because a user's fresh clone has no ``shared/`` folder; a test checks that
the copy still equals the shared file when it is present.

CFA orders
----------
All five real cameras are RGGB. The loader must handle all four 2x2 Bayer orders, so the
*simulated* variants are assigned different orders on purpose (``CameraSpec.cfa``; the real
order is kept in ``real_cfa``): Sony RX100 VII RGGB, Nikon D750 GRBG, Canon EOS 5D Mark IV
GBRG, Sony A7 III BGGR, Nikon D3200 GRBG. The colour matrix is a property of the sensor's
three filter colours, not of their layout, so this does not change any colour.

A sensor unlike the others: RCCB
--------------------------------
The five real matrices are close to each other: relative to the RX100 VII's, every other
camera's colours differ by a nearly diagonal 3x3 transform (off-diagonal terms 0.07-0.33),
i.e. mostly by a white balance, which GenISP's per-image ConvWB absorbs with or without the
XYZ transform (measured: the camera-space ablation scores the same on these cameras as on
the one it trained on). Automotive and surveillance cameras often use red-clear-clear-blue
(RCCB) sensors instead: the two "green" sites have no colour filter, so they count the light
of all three filters. ``rccb_d750`` simulates one from the Nikon D750's filters - its
``xyz_to_camera`` is the D750's with the green row replaced by the sum of the three rows -
written as an ordinary RGGB DNG whose ColorMatrix1 carries that clear response, which is how
a 3-colour raw pipeline (LibRaw, GenISP's XYZ step) sees such a sensor. It is derived, not a
real camera's calibration (``derived_from`` says so), and it is the case the XYZ transform
exists for: its camera RGB is far from any RGB camera's.

Noise (photon-transfer model, all in the mosaic's own channel)
--------------------------------------------------------------
``gain(iso) = (white - black) / full_well_e * iso / base_iso`` DN per photo-electron.
Signal electrons are Poisson distributed (shot noise); the read noise is Gaussian with
``sigma_dn(iso) = sqrt((read_noise_e * gain)^2 + read_noise_dn^2)`` (a pre-amplifier part
that is amplified with ISO and a fixed post-amplifier part). For a fixed recorded signal in
DN both the shot-noise variance (``gain * signal``) and the read noise grow with ISO.
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

from ..color import D65_XY, xy_to_xyz

#: CIE XYZ of D65 with Y = 1.
D65_XYZ = xy_to_xyz(D65_XY)

#: The four 2x2 Bayer orders, read row by row: 'GRBG' is G R on the top row, B G below.
CFA_ORDERS = ('RGGB', 'GRBG', 'GBRG', 'BGGR')
_CHANNEL_INDEX = {'R': 0, 'G': 1, 'B': 2}


@dataclass(frozen=True)
class CameraSpec:
    """One simulated camera.

    Attributes:
        name: the real camera's name (``'Sony DSC-RX100M7'``).
        slug: folder / file-name friendly id (``'sony_rx100m7'``).
        xyz_to_camera: 3x3 nested tuple, XYZ (D65) -> camera RGB (DNG ``ColorMatrix``).
        cfa: simulated 2x2 Bayer order, one of :data:`CFA_ORDERS`.
        real_cfa: the order the real camera has (documentation only).
        black_level, white_level: raw levels in DN (uint16 codes).
        full_well_e: photo-electrons that fill ``white - black`` at ``base_iso``.
        base_iso: ISO at which the gain is ``(white - black) / full_well_e``.
        read_noise_e: pre-amplifier read noise in electrons (scaled by the ISO gain).
        read_noise_dn: post-amplifier read noise in DN (independent of ISO).
        levels_approximate: the levels are typical values, not verified for that camera.
        derived_from: ``None`` for a real camera's matrix and levels (those of
            ``shared/cameras/color_matrices.json``); otherwise how this simulated sensor
            was derived from one (it is not in that table).
    """
    name: str
    slug: str
    xyz_to_camera: tuple
    cfa: str
    real_cfa: str
    black_level: int
    white_level: int
    full_well_e: float
    base_iso: int
    read_noise_e: float
    read_noise_dn: float
    levels_approximate: bool = False
    derived_from: str | None = None

    def __post_init__(self):
        if self.cfa not in CFA_ORDERS:
            raise ValueError(f'{self.slug}: CFA order {self.cfa!r} is not one of {CFA_ORDERS}')
        if not 0 <= self.black_level < self.white_level <= 65535:
            raise ValueError(f'{self.slug}: need 0 <= black < white <= 65535, got '
                             f'{self.black_level}, {self.white_level}')

    @property
    def matrix(self) -> np.ndarray:
        """``xyz_to_camera`` as a (3, 3) float64 array."""
        return np.array(self.xyz_to_camera, dtype=np.float64)

    @property
    def cfa_indices(self) -> np.ndarray:
        """(2, 2) int array: camera channel (0 R, 1 G, 2 B) at each position of the 2x2 tile."""
        return np.array([_CHANNEL_INDEX[c] for c in self.cfa]).reshape(2, 2)

    def gain(self, iso: float) -> float:
        """DN per photo-electron at ``iso``."""
        return (self.white_level - self.black_level) / self.full_well_e * iso / self.base_iso

    def read_noise_sigma_dn(self, iso: float) -> float:
        """Standard deviation of the Gaussian read noise in DN at ``iso``."""
        return float(np.hypot(self.read_noise_e * self.gain(iso), self.read_noise_dn))

    def neutral(self, illuminant_xyz: np.ndarray) -> np.ndarray:
        """Camera response to an illuminant's white, normalised to green = 1 (DNG
        ``AsShotNeutral``). ``illuminant_xyz`` (3,) CIE XYZ; returns (3,) float64."""
        response = self.matrix @ np.asarray(illuminant_xyz, dtype=np.float64)
        return response / response[1]

    def to_dict(self) -> dict:
        d = asdict(self)
        d['xyz_to_camera'] = [list(row) for row in self.xyz_to_camera]
        return d


def _spec(name, slug, m, cfa, black, white, full_well, read_e, read_dn, approx=False,
          real_cfa='RGGB', derived_from=None):
    return CameraSpec(name=name, slug=slug, xyz_to_camera=tuple(tuple(r) for r in m), cfa=cfa,
                      real_cfa=real_cfa, black_level=black, white_level=white,
                      full_well_e=full_well, base_iso=100, read_noise_e=read_e,
                      read_noise_dn=read_dn, levels_approximate=approx,
                      derived_from=derived_from)


def rccb_from(camera: CameraSpec, slug: str) -> CameraSpec:
    """An RCCB sensor with ``camera``'s red and blue filters and unfiltered ("clear") pixels on
    the green sites: the green row of ``xyz_to_camera`` becomes the sum of the three rows.
    Written as RGGB (the clear sites in the green positions); levels and noise as ``camera``.
    """
    m = camera.matrix
    matrix = np.stack([m[0], m.sum(axis=0), m[2]])
    return _spec(f'RCCB sensor with {camera.name} filters', slug, np.round(matrix, 4).tolist(),
                 'RGGB', camera.black_level, camera.white_level, camera.full_well_e,
                 camera.read_noise_e, camera.read_noise_dn, camera.levels_approximate,
                 real_cfa='RCCB',
                 derived_from=f'{camera.name} matrix, green row replaced by the sum of its rows')


# Matrices and levels: shared/cameras/color_matrices.json (LibRaw colordata.cpp). Full-well and
# read-noise values are plausible for each sensor size (1-inch < APS-C < full frame), not
# measurements: they only need to give the cameras different, realistic noise.
CAMERAS: dict[str, CameraSpec] = {c.slug: c for c in [
    _spec('Sony DSC-RX100M7', 'sony_rx100m7',
          [[1.0315, -0.439, -0.0937], [-0.4859, 1.2734, 0.2365], [-0.0734, 0.1537, 0.5997]],
          'RGGB', 800, 16380, full_well=25000, read_e=2.5, read_dn=2.0),
    _spec('Nikon D750', 'nikon_d750',
          [[0.902, -0.289, -0.0715], [-0.4535, 1.2436, 0.2348], [-0.0934, 0.1919, 0.7086]],
          'GRBG', 600, 16383, full_well=50000, read_e=2.0, read_dn=1.5),
    _spec('Canon EOS 5D Mark IV', 'canon_eos5dm4',
          [[0.6446, -0.0366, -0.0864], [-0.4436, 1.2204, 0.2513], [-0.0952, 0.2496, 0.6348]],
          'GBRG', 512, 16383, full_well=45000, read_e=3.0, read_dn=2.0, approx=True),
    _spec('Sony ILCE-7M3', 'sony_a7m3',
          [[0.7374, -0.2389, -0.0551], [-0.5435, 1.3162, 0.2519], [-0.1006, 0.1795, 0.6552]],
          'BGGR', 512, 16383, full_well=55000, read_e=2.0, read_dn=1.5, approx=True),
    _spec('Nikon D3200', 'nikon_d3200',
          [[0.7013, -0.1408, -0.0635], [-0.5268, 1.2902, 0.264], [-0.147, 0.2801, 0.7379]],
          'GRBG', 0, 4025, full_well=30000, read_e=2.5, read_dn=0.5),
]}
CAMERAS['rccb_d750'] = rccb_from(CAMERAS['nikon_d750'], 'rccb_d750')

#: Default cameras of the demo benchmark: the first trains GenISP, all are tested. Together
#: they cover all four CFA orders, and the last is the RCCB sensor.
DEFAULT_CAMERAS = ('sony_rx100m7', 'nikon_d750', 'canon_eos5dm4', 'sony_a7m3', 'rccb_d750')


def get_camera(slug: str) -> CameraSpec:
    """The :class:`CameraSpec` called ``slug``; ``KeyError`` listing the known ones."""
    try:
        return CAMERAS[slug]
    except KeyError:
        raise KeyError(f'unknown simulated camera {slug!r}; known: {sorted(CAMERAS)}') from None


def camera_seed_key(slug: str) -> int:
    """Stable integer for ``slug`` (CRC32) so noise streams do not depend on Python's hash
    randomisation or on the order cameras are listed in."""
    return zlib.crc32(slug.encode('utf-8'))


def mosaic(image: np.ndarray, cfa: str) -> np.ndarray:
    """Bayer-sample a 3-channel image.

    Args:
        image: ``(H, W, 3)`` camera RGB, H and W even.
        cfa: 2x2 order, one of :data:`CFA_ORDERS`.

    Returns:
        ``(H, W)`` array (same dtype): at each site the channel the CFA puts there.
    """
    h, w, _ = image.shape
    if h % 2 or w % 2:
        raise ValueError(f'Bayer mosaic needs an even frame, got {w}x{h}')
    out = np.empty((h, w), dtype=image.dtype)
    for k, ch in enumerate(cfa):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = image[dy::2, dx::2, _CHANNEL_INDEX[ch]]
    return out


def expected_signal_dn(scene_xyz: np.ndarray, camera: CameraSpec, exposure_deficit: float,
                       normal_white_fraction: float = 0.75) -> np.ndarray:
    """Noise-free mean raw signal above black, per camera channel.

    Normal exposure is defined per camera: a perfect white reflector (scene Y = 1) under D65
    gives a green signal of ``normal_white_fraction * (white - black)`` DN. The low-light
    capture is ``exposure_deficit`` times darker than that.

    Args:
        scene_xyz: ``(H, W, 3)`` CIE XYZ, white reflector Y = 1.
        exposure_deficit: > 0, e.g. 20..200.

    Returns:
        ``(H, W, 3)`` float32 DN, >= 0 (camera responses slightly below zero, which the
        approximate 3x3 matrices give for a few saturated colours, are clipped: a sensor
        cannot count negative photons).
    """
    m = camera.matrix
    scale = (normal_white_fraction * (camera.white_level - camera.black_level)
             / (m @ D65_XYZ)[1] / exposure_deficit)
    cam = np.asarray(scene_xyz, dtype=np.float32) @ (m.T * scale).astype(np.float32)
    return np.maximum(cam, 0.0)


def capture_bayer(scene_xyz: np.ndarray, camera: CameraSpec, exposure_deficit: float,
                  iso: float, rng: np.random.Generator,
                  normal_white_fraction: float = 0.75) -> np.ndarray:
    """Simulate one low-light RAW capture of a scene.

    Camera RGB = ``xyz_to_camera @ XYZ`` (DNG ColorMatrix convention), scaled to the
    exposure (:func:`expected_signal_dn`), Bayer-sampled in ``camera.cfa``, converted to
    photo-electrons at ``iso``, Poisson shot noise, Gaussian read noise, black level added,
    rounded and clipped to ``[0, white_level]``.

    Args:
        scene_xyz: ``(H, W, 3)`` CIE XYZ (white reflector Y = 1), H and W even.
        exposure_deficit: how many times below normal exposure (e.g. 20..200).
        iso: sensitivity (>= base ISO); sets electrons per DN.
        rng: the capture's own generator (noise only).

    Returns:
        ``(H, W)`` uint16 Bayer mosaic in DN.
    """
    signal = mosaic(expected_signal_dn(scene_xyz, camera, exposure_deficit,
                                       normal_white_fraction), camera.cfa)
    gain = camera.gain(iso)
    electrons = rng.poisson(signal.astype(np.float64) / gain)
    read = rng.standard_normal(size=signal.shape, dtype=np.float32)
    dn = electrons * gain + read * camera.read_noise_sigma_dn(iso)
    dn = np.rint(dn + camera.black_level)
    return np.clip(dn, 0, camera.white_level).astype(np.uint16)
