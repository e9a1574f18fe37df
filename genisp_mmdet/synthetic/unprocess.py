"""Unprocessing photographs into dark camera RAW captures (Brooks et al., CVPR 2019).

Brooks, Mildenhall, Xue, Chen, Sharlet, Barron, *Unprocessing Images for Learned Raw
Denoising*, CVPR 2019, invert a camera ISP step by step to turn an sRGB photograph back into
plausible raw sensor data. This module does the same for any photo (a COCO image), with the
simulated cameras of :mod:`.cameras` and a physical low-light capture:

1. ``srgb`` ``(H, W, 3)`` uint8 (or float in [0, 1]), gamma-encoded sRGB, D65 white.
2. :func:`inverse_smoothstep` - Brooks' inverse global tone curve (the forward curve is the
   smoothstep ``3x^2 - 2x^3``), then :func:`srgb_decode` - the inverse IEC 61966-2-1
   transfer curve: linear sRGB (D65) in [0, 1]. Brooks apply them in this order (the forward
   ISP applies gamma, then the tone curve); ``tone_curve=False`` skips the first.
3. :func:`relight_xyz`: linear sRGB is taken as the scene's reflectance under D65 and re-lit
   by a Planckian illuminant of correlated colour temperature ``cct`` (2500..7500 K, drawn
   per photo) with the demo's von Kries relighting (:func:`.scenes.scene_xyz`): CIE XYZ with
   a white reflector at the illuminant's XYZ (Y = 1). This replaces Brooks' inverse
   white-balance gains and inverse colour-correction matrix: the cameras' real
   XYZ -> camera matrices do the rest.
4. :func:`bayer_cells`: each photo pixel becomes one 2x2 Bayer cell, so the mosaic is
   ``(2H, 2W)`` and its 2x2-packed RAW (what GenISP reads) is exactly the photo's pixel grid
   with all its detail; boxes scale by exactly 2 into the DNG's full frame.
5. :func:`capture_dark` -> :func:`.cameras.capture_bayer`: XYZ -> camera RGB -> Bayer
   mosaic in the camera's CFA order -> photo-electrons -> Poisson shot noise -> read noise
   -> black level -> rounded and clipped uint16 DN.

Darkness and ISO
----------------
A capture ``k`` times below a normal exposure (``darkness = k``, e.g. 10, 50, 200) collects
``k`` times *fewer photo-electrons* than a normal base-ISO exposure. Normal exposure is
:func:`.cameras.expected_signal_dn`'s: a white reflector's green under D65 at
``normal_white_fraction`` (0.75) of ``white - black`` at base ISO, i.e.
``0.75 * full_well_e`` electrons. The camera's ISO is drawn per photo log-uniformly in
``[base_iso, min(base_iso * k, max_iso = 3200)]``: auto-ISO partly compensates, but never
amplifies above a normal exposure's level, so highlights clip no more than normally. ISO
sets the gain (DN per electron) and the read noise, not the photon count. In
:func:`.cameras.capture_bayer`'s terms: ``exposure_deficit = k * base_iso / iso`` (the
recorded DN are that many times below normal), electrons = normal electrons / ``k``.

Noise (per camera; :data:`MEASURED_SENSOR_NOISE`, :func:`with_measured_noise`)
------------------------------------------------------------------------------
Photon shot noise from the full-well capacity and the ISO gain
(``gain = (white - black) / full_well_e * iso / base_iso`` DN/e-); Gaussian read noise with
``sigma_dn(iso)^2 = (read_noise_e * gain)^2 + read_noise_dn^2``, i.e. an input-referred read
noise ``sqrt(read_noise_e^2 + (read_noise_dn / gain)^2)`` electrons that falls with ISO;
rounding to integer DN at the camera's bit depth above its black level (quantisation),
clipping to ``[0, white]``. The two read-noise terms are fitted (:func:`fit_read_noise`) to
published input-referred read noise at base ISO and at a high ISO; see
:data:`MEASURED_SENSOR_NOISE` for the values, their sources and what had to be substituted.
The demo keeps the plausible values of :data:`.cameras.CAMERAS` (its published results
depend on them); the unprocessing uses :func:`with_measured_noise`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .cameras import CameraSpec, capture_bayer, expected_signal_dn
from .scenes import scene_xyz

#: Default ISO cap of the auto-ISO (per the brief: ISO never exceeds 3200).
MAX_ISO = 3200.0
#: Default illuminant range (K), as the demo's scenes.
CCT_RANGE = (2500.0, 7500.0)


# ---------------------------------------------------------------------------------------------
# inverse ISP: tone curve, transfer curve, illuminant


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Brooks' global tone curve ``3x^2 - 2x^3`` (the forward ISP's last step).

    Args:
        x: any shape, values in [0, 1] (clipped).

    Returns:
        Same shape, float, in [0, 1]; monotonic, ``smoothstep(0.5) == 0.5``.
    """
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return 3.0 * x * x - 2.0 * x * x * x


def inverse_smoothstep(y: np.ndarray) -> np.ndarray:
    """Inverse of :func:`smoothstep`: ``0.5 - sin(asin(1 - 2y) / 3)`` (Brooks et al.'s inverse
    tone mapping).

    Args:
        y: any shape, tone-mapped values in [0, 1] (clipped).

    Returns:
        Same shape, float, in [0, 1]: the values before the tone curve (still gamma-encoded).
    """
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """Inverse IEC 61966-2-1 sRGB transfer curve (inverse of :func:`.scenes.srgb_encode`).

    Args:
        encoded: any shape, gamma-encoded sRGB in [0, 1] (clipped).

    Returns:
        Same shape, float, linear sRGB in [0, 1].
    """
    v = np.clip(np.asarray(encoded, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4))


def unprocess_srgb(srgb: np.ndarray, tone_curve: bool = True) -> np.ndarray:
    """sRGB photo -> linear sRGB (D65), inverting the tone curve then the transfer curve.

    Args:
        srgb: ``(H, W, 3)`` uint8 (0..255) or float in [0, 1], gamma-encoded sRGB.
        tone_curve: invert Brooks' smoothstep tone curve first (``False``: only the sRGB
            transfer curve).

    Returns:
        ``(H, W, 3)`` float32 linear sRGB in [0, 1] (1 = a white reflector under D65 at normal
        exposure).
    """
    srgb = np.asarray(srgb)
    v = srgb.astype(np.float64) / 255.0 if srgb.dtype == np.uint8 else srgb.astype(np.float64)
    if tone_curve:
        v = inverse_smoothstep(v)
    return srgb_decode(v).astype(np.float32)


def relight_xyz(linear_srgb: np.ndarray, cct: float) -> np.ndarray:
    """Linear sRGB (read as D65 reflectance) re-lit by a Planckian illuminant, as CIE XYZ.

    The demo's von Kries relighting (:func:`.scenes.scene_xyz` with uniform shading): exact for
    neutral surfaces, identity under D65 (6504 K) up to the illuminant's small offset from
    D65's chromaticity.

    Args:
        linear_srgb: ``(H, W, 3)`` float linear sRGB in [0, 1].
        cct: illuminant temperature in K (1667..25000).

    Returns:
        ``(H, W, 3)`` float32 CIE XYZ; a white reflector (1, 1, 1) has the illuminant's XYZ
        with Y = 1.
    """
    linear_srgb = np.asarray(linear_srgb, dtype=np.float32)
    shading = np.ones(linear_srgb.shape[:2], dtype=np.float32)
    return scene_xyz(linear_srgb, shading, cct)


def bayer_cells(image: np.ndarray) -> np.ndarray:
    """Each pixel -> a 2x2 block (nearest-neighbour 2x upsampling).

    Args:
        image: ``(H, W, C)`` (or ``(H, W)``) array, any size (odd sides included).

    Returns:
        ``(2H, 2W, C)`` array of the same dtype: pixel ``(i, j)`` fills
        ``[2i:2i+2, 2j:2j+2]``, so each photo pixel becomes one Bayer cell.
    """
    return np.repeat(np.repeat(np.asarray(image), 2, axis=0), 2, axis=1)


# ---------------------------------------------------------------------------------------------
# darkness, ISO, capture


def iso_range(camera: CameraSpec, darkness: float, max_iso: float = MAX_ISO) -> tuple:
    """``(low, high)`` ISO of an auto-ISO capture ``darkness`` times below normal exposure:
    ``(base_iso, max(base_iso, min(base_iso * darkness, max_iso)))``."""
    if darkness < 1:
        raise ValueError(f'darkness must be >= 1 (times below a normal exposure), got {darkness}')
    base = float(camera.base_iso)
    return base, max(base, min(base * float(darkness), float(max_iso)))


def sample_iso(camera: CameraSpec, darkness: float, quantile: float,
               max_iso: float = MAX_ISO) -> int:
    """ISO at ``quantile`` (in [0, 1)) of the log-uniform range :func:`iso_range`, rounded to
    an integer (the value written to the DNG, and the one simulated).

    One quantile per photo (shared by all cameras and darkness levels) keeps comparisons
    paired: every camera sits at the same relative place of its auto-ISO range.
    """
    low, high = iso_range(camera, darkness, max_iso)
    return int(round(math.exp(math.log(low) + quantile * (math.log(high) - math.log(low)))))


def exposure_deficit(camera: CameraSpec, darkness: float, iso: float) -> float:
    """:func:`.cameras.capture_bayer`'s ``exposure_deficit`` of a capture with ``darkness``
    times fewer photo-electrons than a normal base-ISO exposure, at ``iso``:
    ``darkness * base_iso / iso`` (how many times the recorded DN are below normal)."""
    return float(darkness) * float(camera.base_iso) / float(iso)


def capture_dark(xyz: np.ndarray, camera: CameraSpec, darkness: float, iso: float,
                 rng: np.random.Generator, normal_white_fraction: float = 0.75) -> np.ndarray:
    """Dark RAW capture of a photo-grid XYZ image, through :func:`.cameras.capture_bayer`.

    Args:
        xyz: ``(H, W, 3)`` CIE XYZ on the photo's pixel grid (white reflector Y = 1); each
            pixel becomes one 2x2 Bayer cell.
        camera: the simulated camera (use :func:`with_measured_noise` for sourced noise).
        darkness: ``k`` >= 1: ``k`` times fewer photo-electrons than a normal base-ISO
            exposure (normal: a white reflector's green under D65 at
            ``normal_white_fraction * full_well_e``).
        iso: the capture's ISO (>= base ISO): sets gain and read noise, not the photon count.
        rng: the capture's own generator (noise only).

    Returns:
        ``(2H, 2W)`` uint16 Bayer mosaic in ``camera.cfa`` order, DN in ``[0, white_level]``
        with ``black_level`` added.
    """
    if darkness < 1:
        raise ValueError(f'darkness must be >= 1, got {darkness}')
    return capture_bayer(bayer_cells(xyz), camera, exposure_deficit(camera, darkness, iso), iso,
                         rng, normal_white_fraction=normal_white_fraction)


def expected_packed_signal(xyz: np.ndarray, camera: CameraSpec, darkness: float, iso: float,
                           normal_white_fraction: float = 0.75) -> np.ndarray:
    """Noise-free mean of the packed RAW (R, G, B) of :func:`capture_dark`, normalised as
    :func:`genisp_mmdet.raw.read_raw` returns it (``(v - black) / (white - black)``).

    Args:
        xyz: ``(H, W, 3)`` photo-grid CIE XYZ.

    Returns:
        ``(H, W, 3)`` float32 camera RGB in [0, ...) (values above 1 clip in the capture).
    """
    dn = expected_signal_dn(xyz, camera, exposure_deficit(camera, darkness, iso),
                            normal_white_fraction)
    return dn / np.float32(camera.white_level - camera.black_level)


def unprocess_photo(srgb: np.ndarray, camera: CameraSpec, darkness: float,
                    rng: np.random.Generator, *, cct: float | None = None,
                    iso_quantile: float | None = None, iso: float | None = None,
                    tone_curve: bool = True, cct_range: tuple = CCT_RANGE,
                    max_iso: float = MAX_ISO,
                    normal_white_fraction: float = 0.75) -> tuple[np.ndarray, dict]:
    """Unprocess one sRGB photo into one dark RAW capture by one camera.

    Draws from ``rng``, in this order and only when not given: the illuminant ``cct``
    (uniform in ``cct_range``), the auto-ISO quantile (uniform in [0, 1)), then the noise.
    Pass ``cct`` and ``iso_quantile`` (or ``iso``) to share them between cameras and darkness
    levels of the same photo, as :func:`.unprocessed_coco.generate_unprocessed_coco` does.

    Args:
        srgb: ``(H, W, 3)`` uint8 sRGB photo (any size).
        camera: simulated camera; sourced noise: ``with_measured_noise(get_camera(slug))``.
        darkness: ``k`` >= 1, times fewer photo-electrons than a normal base-ISO exposure.
        rng: this capture's generator.
        cct: illuminant temperature (K); drawn when ``None``.
        iso_quantile: place in the log-uniform auto-ISO range (:func:`sample_iso`).
        iso: explicit ISO (overrides ``iso_quantile``).
        tone_curve: invert Brooks' tone curve (``False``: only the sRGB transfer curve).

    Returns:
        ``(mosaic, meta)``: ``(2H, 2W)`` uint16 Bayer mosaic (``camera.cfa`` order, DN with
        black level) and ``{'camera', 'cfa', 'cct', 'iso', 'darkness', 'exposure_deficit',
        'tone_curve', 'normal_white_fraction'}``.
    """
    if cct is None:
        cct = float(rng.uniform(*cct_range))
    if iso is None:
        if iso_quantile is None:
            iso_quantile = float(rng.uniform())
        iso = sample_iso(camera, darkness, iso_quantile, max_iso)
    xyz = relight_xyz(unprocess_srgb(srgb, tone_curve), cct)
    bayer = capture_dark(xyz, camera, darkness, iso, rng, normal_white_fraction)
    meta = {'camera': camera.slug, 'cfa': camera.cfa, 'cct': float(cct), 'iso': int(round(iso)),
            'darkness': float(darkness),
            'exposure_deficit': exposure_deficit(camera, darkness, iso),
            'tone_curve': bool(tone_curve), 'normal_white_fraction': normal_white_fraction}
    return bayer, meta


# ---------------------------------------------------------------------------------------------
# sourced sensor noise


@dataclass(frozen=True)
class SensorNoise:
    """Published (or substituted) sensor noise figures of one camera.

    Attributes:
        full_well_e: photo-electrons at raw saturation at base ISO.
        read_noise_e_base: input-referred read noise (e-) at ``base_iso``.
        high_iso: the high ISO of the second read-noise point.
        read_noise_e_high: input-referred read noise (e-) at ``high_iso``.
        base_iso: base ISO of the figures.
        source: where the numbers come from, and what was substituted.
    """
    full_well_e: float
    read_noise_e_base: float
    high_iso: float
    read_noise_e_high: float
    base_iso: int = 100
    source: str = ''


def _pitch_um(width_mm: float, width_px: int) -> float:
    return width_mm * 1000.0 / width_px


def _area_scaled(full_well_e: float, from_pitch_um: float, to_pitch_um: float) -> float:
    """Full well scaled by photosite area (charge capacity ~ photodiode area, first order)."""
    return full_well_e * (to_pitch_um / from_pitch_um) ** 2


# Measured figures the table is built from (all found with the stored-page search; the
# per-camera charts of photonstophotos.net, sensorgen.info and DxOMark for the four cameras
# themselves are not in the stored corpus, so each camera uses the nearest measured sensor):
#
# Sony A7R II (42 MP back-illuminated Exmor R, dual conversion gain switching at ISO 640),
# Bill Claff, "Sony A7RM2 DR-Pix Read Noise", 2015,
# https://photonstophotos.net/GeneralTopics/Sensors_&_Raw/Sony_A7RM2_DR-Pix_Read_Noise.htm :
# conversion gain 0.315 DN/e- at ISO 100 (14-bit), measured read noise 1.413 DN at ISO 100 and
# 10.310 DN at ISO 3200, where the total gain is 6.350 (conversion-gain switch) x 1.587 =
# 10.08 DN/e-.
_A7R2_GAIN_ISO100 = 0.315                                   # DN / e-
_A7R2_FULL_WELL = (16383 - 512) / _A7R2_GAIN_ISO100         # 50,384 e- (14-bit range)
_A7R2_RN_ISO100 = 1.413 / _A7R2_GAIN_ISO100                 # 4.49 e-
_A7R2_RN_ISO3200 = 10.310 / (6.350 * 1.587)                 # 1.02 e-
_A7R2_PITCH = _pitch_um(35.9, 7952)                         # 4.52 um
# Nikon D800E (36 MP, Nikon/Sony Exmor-generation, ISO-invariant), B. Janes, "Sensorgen Data for
# D800e Seem to be Off the Mark", Luminous Landscape forum, 2013-02-20 (photon transfer:
# 3.46 e-/ADU at ISO 100, saturation 15735 ADU -> 54,503 e-; read noise 4.13 e-, quoting Bill
# Claff's 4.167 e- for the same camera), read via a stored copy of the thread; and Bill Claff,
# "D800 Read Noise", 2012,
# https://photonstophotos.net/GeneralTopics/Sensors_&_Raw/D800_Read_Noise.htm : 9.692 DN at
# ISO 800 with 0.43 e-/DN -> 4.2 e- (the page lists 4.1-4.2 e- from ISO 800 to 25600).
_D800E_FULL_WELL = 54503.0
_D800E_RN_ISO100 = 4.13
_D800_RN_ISO800 = 9.692 * 0.43                              # 4.17 e-
_D800E_PITCH = _pitch_um(35.9, 7360)                        # 4.88 um
# Canon EOS 5D Mark III (22 MP), a1ex, Magic Lantern forum topic 10111 (p. 725),
# https://www.magiclantern.fm/forum/index.php?topic=10111.725 : 67,684 e- at saturation at
# ISO 100 (photo mode).
_5D3_FULL_WELL = 67684.0
_5D3_PITCH = _pitch_um(36.0, 5760)                          # 6.25 um

_NOT_FOUND = ('No measurement of this camera was found in the stored pages (searched: '
              'photonstophotos input-referred read noise, sensorgen, DxOMark-derived figures, '
              'Clarkvision, Kasson); ')

#: Sourced full well and read noise per camera slug (``rccb_d750`` uses the D750's sensor).
#: Full wells of substituted sensors are scaled by photosite area (to first order a
#: photodiode's charge capacity scales with its area); read noise in electrons is taken
#: unscaled. Uncertainty of the substitutions: easily +-50 % on the full well.
MEASURED_SENSOR_NOISE: dict[str, SensorNoise] = {
    'sony_rx100m7': SensorNoise(
        full_well_e=round(_area_scaled(_A7R2_FULL_WELL, _A7R2_PITCH, _pitch_um(13.2, 5472)), -1),
        read_noise_e_base=round(_A7R2_RN_ISO100, 3), high_iso=3200,
        read_noise_e_high=round(_A7R2_RN_ISO3200, 3),
        source=_NOT_FOUND + 'nor of any 1-inch sensor. Used Sony\'s A7R II (Bill Claff, '
        '"Sony A7RM2 DR-Pix Read Noise", photonstophotos.net): the same back-illuminated Exmor '
        'R technology. Full well 50,384 e- (0.315 DN/e- at ISO 100 over the 14-bit range) '
        'scaled by photosite area (2.41 um vs 4.52 um) -> 14,390 e-; read noise 4.49 e- at '
        'ISO 100 and 1.02 e- at ISO 3200 as measured on the A7R II.'),
    'nikon_d750': SensorNoise(
        full_well_e=round(_area_scaled(_D800E_FULL_WELL, _D800E_PITCH, _pitch_um(35.9, 6016)), -1),
        read_noise_e_base=_D800E_RN_ISO100, high_iso=800,
        read_noise_e_high=round(_D800_RN_ISO800, 3),
        source=_NOT_FOUND + 'used the Nikon D800E/D800 (same Nikon FX generation, '
        'ISO-invariant: the D750\'s input-referred read noise is nearly flat with ISO on '
        'Claff\'s chart, photo.stackexchange.com/questions/128467). Full well 54,503 e- '
        '(B. Janes, Luminous Landscape, "Sensorgen Data for D800e Seem to be Off the Mark", '
        'photon transfer at ISO 100) scaled by photosite area (5.97 um vs 4.88 um) -> '
        '81,580 e-; read noise 4.13 e- at ISO 100 (same post; Claff: 4.167 e-) and 4.17 e- at '
        'ISO 800 (Bill Claff, "D800 Read Noise", photonstophotos.net: 9.692 DN x 0.43 e-/DN; '
        '4.1-4.2 e- up to ISO 25600). The high-ISO point is not below the base one, so the '
        'fit has no post-amplifier term (read noise flat with ISO).'),
    'canon_eos5dm4': SensorNoise(
        full_well_e=round(_area_scaled(_5D3_FULL_WELL, _5D3_PITCH, _pitch_um(36.0, 6720)), -1),
        read_noise_e_base=round(_A7R2_RN_ISO100, 3), high_iso=3200,
        read_noise_e_high=round(_A7R2_RN_ISO3200, 3),
        source=_NOT_FOUND + 'full well from the Canon 5D Mark III: 67,684 e- at ISO 100 '
        '(a1ex, Magic Lantern forum topic 10111, p. 725), scaled by photosite area (5.36 um '
        'vs 6.25 um) -> 49,730 e-. No read-noise measurement of the 5D Mark IV (nor of its '
        'on-chip-ADC sensor generation) was found; the 5D Mark III\'s off-chip-ADC read noise '
        'does not apply. Used the A7R II\'s measured 4.49 e- (ISO 100) and 1.02 e- (ISO 3200) '
        'because dpreview\'s 5D Mark IV review (dpreview.com/reviews/canon-eos-5d-mark-iv/10 '
        'and /11) finds its base-ISO exposure latitude "nearly catching up to" the a7R II and '
        'the camera ISO-invariant above ISO 400.'),
    'sony_a7m3': SensorNoise(
        full_well_e=round(_area_scaled(_A7R2_FULL_WELL, _A7R2_PITCH, _pitch_um(35.6, 6000)), -1),
        read_noise_e_base=round(_A7R2_RN_ISO100, 3), high_iso=3200,
        read_noise_e_high=round(_A7R2_RN_ISO3200, 3),
        source=_NOT_FOUND + 'used the Sony A7R II (Bill Claff, "Sony A7RM2 DR-Pix Read '
        'Noise", photonstophotos.net): same back-illuminated Exmor R generation with a '
        'conversion-gain switch (Kasson measures the a7R III switching at ISO 640, '
        'blog.kasson.com/a7riii/more-sony-a7riii-ptcs). Full well 50,384 e- scaled by '
        'photosite area (5.93 um vs 4.52 um) -> 87,030 e-; read noise 4.49 e- at ISO 100 and '
        '1.02 e- at ISO 3200 as measured on the A7R II. The two-term model cannot switch gain: '
        'it matches both points but gives lower read noise than a real dual-gain sensor '
        'between ISO 125 and 500 (e.g. 2.4 vs 3.7 e- at ISO 200).'),
}
MEASURED_SENSOR_NOISE['rccb_d750'] = MEASURED_SENSOR_NOISE['nikon_d750']


def fit_read_noise(camera: CameraSpec, noise: SensorNoise) -> tuple[float, float]:
    """The two read-noise terms of :class:`.cameras.CameraSpec` through two published points.

    With base gain ``g0 = (white - black) / full_well_e`` and ``r = high_iso / base_iso``, the
    model's input-referred read noise is ``RN(iso)^2 = read_noise_e^2 +
    (read_noise_dn / (g0 * iso / base_iso))^2``; solving ``RN(base) = a``, ``RN(high) = b``:
    ``read_noise_e^2 = (b^2 - a^2 / r^2) / (1 - 1 / r^2)`` and
    ``read_noise_dn = g0 * sqrt((a^2 - b^2) / (1 - 1 / r^2))``. When the published high-ISO
    point is not below the base one (an ISO-invariant sensor) there is no post-amplifier term:
    ``read_noise_dn = 0`` and ``read_noise_e`` is the RMS of the two points.

    Returns:
        ``(read_noise_e, read_noise_dn)``.
    """
    a, b = noise.read_noise_e_base, noise.read_noise_e_high
    r = noise.high_iso / noise.base_iso
    if r <= 1:
        raise ValueError(f'high_iso {noise.high_iso} must exceed base_iso {noise.base_iso}')
    g0 = (camera.white_level - camera.black_level) / noise.full_well_e
    if b >= a:
        return float(math.sqrt((a * a + b * b) / 2.0)), 0.0
    k = 1.0 - 1.0 / (r * r)
    pre = (b * b - a * a / (r * r)) / k
    if pre < 0:  # the high-ISO point is below what a pure post-amplifier noise would give
        return 0.0, float(g0 * a)
    return float(math.sqrt(pre)), float(g0 * math.sqrt((a * a - b * b) / k))


def with_measured_noise(camera: CameraSpec) -> CameraSpec:
    """``camera`` with the sourced full well and the two fitted read-noise terms of
    :data:`MEASURED_SENSOR_NOISE` (``dataclasses.replace``: matrix, CFA and levels unchanged).

    Raises:
        KeyError: no sourced figures for ``camera.slug`` (e.g. ``nikon_d3200``).
    """
    try:
        noise = MEASURED_SENSOR_NOISE[camera.slug]
    except KeyError:
        raise KeyError(f'no sourced sensor noise for {camera.slug!r}; known: '
                       f'{sorted(MEASURED_SENSOR_NOISE)}') from None
    if noise.base_iso != camera.base_iso:
        raise ValueError(f'{camera.slug}: sourced base ISO {noise.base_iso} != {camera.base_iso}')
    tmp = replace(camera, full_well_e=float(noise.full_well_e))
    read_e, read_dn = fit_read_noise(tmp, noise)
    return replace(tmp, read_noise_e=round(read_e, 4), read_noise_dn=round(read_dn, 4))


def input_referred_read_noise(camera: CameraSpec, iso: float) -> float:
    """The model's read noise in electrons at ``iso``: ``read_noise_sigma_dn(iso) / gain(iso)``."""
    return camera.read_noise_sigma_dn(iso) / camera.gain(iso)
