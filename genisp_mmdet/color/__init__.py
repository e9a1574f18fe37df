"""Colour science used by GenISP: camera/XYZ/sRGB matrices (NumPy) and differentiable ops
(PyTorch). The matrices import without torch, so the RAW reader runs on rawpy + NumPy alone."""
from importlib.util import find_spec

from .matrices import (D65_XY, SRGB_TO_XYZ, XYZ_TO_SRGB, as_shot_white_balance_matrix,
                       camera_to_xyz_matrix, cct_to_xy, xy_to_xyz, xyz_to_xy)

if find_spec('torch') is not None:
    from .functional import (apply_channel_gains, apply_color_matrix, gray_world_loss,
                             mean_brightness, srgb_gamma_encode, xyz_to_linear_srgb)

__all__ = [
    'apply_channel_gains', 'apply_color_matrix', 'gray_world_loss', 'mean_brightness',
    'srgb_gamma_encode', 'xyz_to_linear_srgb', 'as_shot_white_balance_matrix', 'D65_XY',
    'SRGB_TO_XYZ', 'XYZ_TO_SRGB', 'camera_to_xyz_matrix', 'cct_to_xy', 'xy_to_xyz', 'xyz_to_xy'
]
