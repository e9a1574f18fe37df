"""Colour-space constants and camera matrix algebra (NumPy, float64).

Conventions
-----------
* Images are linear (no gamma) unless a name says ``srgb`` encoded.
* A "matrix A -> B" maps column vectors: ``rgb_B = M @ rgb_A``.
* LibRaw's ``rgb_xyz_matrix[:3, :3]`` (Adobe DNG ``ColorMatrix``) maps XYZ(D65) -> camera RGB;
  camera RGB -> XYZ is therefore its inverse.
"""
from __future__ import annotations

import numpy as np

#: Linear sRGB (D65) -> CIE XYZ (D65), IEC 61966-2-1.
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
#: CIE XYZ (D65) -> linear sRGB (D65).
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)
#: Chromaticity (x, y) of CIE standard illuminant D65.
D65_XY = (0.3127, 0.3290)


def camera_to_xyz_matrix(rgb_xyz_matrix: np.ndarray | None,
                         color_matrix: np.ndarray | None = None,
                         daylight_whitebalance: np.ndarray | None = None) -> np.ndarray | None:
    """Camera RGB -> CIE XYZ (D65) matrix from LibRaw's metadata.

    Args:
        rgb_xyz_matrix: LibRaw ``rgb_xyz_matrix`` ((4, 3) or (3, 3)), XYZ -> camera. Used
            when its first three rows are not all zero: the result is their inverse.
        color_matrix: rawpy ``color_matrix`` ((3, 4) or (3, 3)), LibRaw's ``rgb_cam``:
            white-balanced camera RGB -> linear sRGB. Used when ``rgb_xyz_matrix`` is zero
            (LibRaw leaves it zero for DNG files).
        daylight_whitebalance: rawpy ``daylight_whitebalance`` (3 or 4 values), the
            multipliers that white-balance a daylight (D65) scene; required with
            ``color_matrix``.

    Returns:
        (3, 3) float64 camera -> XYZ matrix, scaled so a daylight-white camera response maps
        to Y = 1 when ``daylight_whitebalance`` is known; ``None`` when both matrices are
        absent (all zero).
    """
    if rgb_xyz_matrix is not None:
        xyz_to_cam = np.asarray(rgb_xyz_matrix, dtype=np.float64)[:3, :3]
        if np.any(xyz_to_cam != 0):
            cam_to_xyz = np.linalg.inv(xyz_to_cam)
            if daylight_whitebalance is not None:
                wb = np.asarray(daylight_whitebalance, dtype=np.float64)[:3]
                if np.all(wb > 0):
                    # camera response to daylight white is proportional to 1 / wb
                    white_y = (cam_to_xyz @ (1.0 / wb))[1]
                    if white_y > 0:
                        cam_to_xyz = cam_to_xyz / white_y
            return cam_to_xyz
    if color_matrix is None or daylight_whitebalance is None:
        return None
    rgb_cam = np.asarray(color_matrix, dtype=np.float64)[:3, :3]
    wb = np.asarray(daylight_whitebalance, dtype=np.float64)[:3]
    if not np.any(rgb_cam != 0) or not np.all(wb > 0):
        return None
    cam_to_xyz = SRGB_TO_XYZ @ rgb_cam @ np.diag(wb)
    white_y = (cam_to_xyz @ (1.0 / wb))[1]
    return cam_to_xyz / white_y if white_y > 0 else cam_to_xyz


def as_shot_white_balance_matrix(camera_wb, daylight_wb,
                                 cam_to_xyz: np.ndarray | None = None) -> np.ndarray:
    """The linear map that white-balances an image with the camera's as-shot multipliers.

    A white surface under the scene's light gives a camera response proportional to
    ``1 / camera_wb``, under daylight (D65) one proportional to ``1 / daylight_wb``; scaling
    each camera channel by ``camera_wb / daylight_wb`` therefore makes the scene's white read
    as daylight white (von Kries adaptation in camera space), the same information LibRaw's
    ``use_camera_wb`` applies. Images already in XYZ are mapped back to camera RGB, scaled
    and mapped forward again.

    Args:
        camera_wb, daylight_wb: ``[R, G, B]`` positive multipliers (``raw_meta`` keys).
        cam_to_xyz: ``(3, 3)`` camera RGB -> XYZ of the image; ``None`` for an image in camera
            RGB.

    Returns:
        ``(3, 3)`` float64 matrix ``M`` to apply per pixel (``out = M @ rgb``), in the image's
        own colour space.
    """
    gains = np.asarray(camera_wb, dtype=np.float64) / np.asarray(daylight_wb, dtype=np.float64)
    if gains.shape != (3,) or not np.all(np.isfinite(gains) & (gains > 0)):
        raise ValueError(f'white balance multipliers must be three positive numbers, got '
                         f'camera {camera_wb} and daylight {daylight_wb}')
    if cam_to_xyz is None:
        return np.diag(gains)
    cam_to_xyz = np.asarray(cam_to_xyz, dtype=np.float64)
    return cam_to_xyz @ np.diag(gains) @ np.linalg.inv(cam_to_xyz)


def xyz_to_xy(xyz: np.ndarray) -> np.ndarray:
    """CIE XYZ (..., 3) -> chromaticity (..., 2)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    return xyz[..., :2] / np.sum(xyz, axis=-1, keepdims=True)


def xy_to_xyz(xy, luminance: float = 1.0) -> np.ndarray:
    """Chromaticity (x, y) -> CIE XYZ (3,) with Y = ``luminance``."""
    x, y = xy
    return np.array([x * luminance / y, luminance, (1.0 - x - y) * luminance / y])


def cct_to_xy(cct: float) -> tuple[float, float]:
    """Correlated colour temperature (K, 1667..25000) -> chromaticity on the Planckian locus.

    Kim et al. cubic-spline approximation (used by e.g. colour-science); accurate to ~1e-3
    in x, y. 6504 K gives approximately D65's chromaticity.
    """
    t = float(cct)
    if not 1667.0 <= t <= 25000.0:
        raise ValueError(f'CCT {t} K is outside 1667..25000 K')
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y
