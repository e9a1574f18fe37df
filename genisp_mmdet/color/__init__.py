"""Colour science used by GenISP: camera/XYZ/sRGB matrices (NumPy) and differentiable ops (PyTorch)."""
from .functional import (apply_channel_gains, apply_color_matrix, gray_world_loss,
                         srgb_gamma_encode, xyz_to_linear_srgb)
from .matrices import (D65_XY, SRGB_TO_XYZ, XYZ_TO_SRGB, camera_to_xyz_matrix, cct_to_xy,
                       xy_to_xyz, xyz_to_xy)

__all__ = [
    'apply_channel_gains', 'apply_color_matrix', 'gray_world_loss', 'srgb_gamma_encode',
    'xyz_to_linear_srgb', 'D65_XY', 'SRGB_TO_XYZ', 'XYZ_TO_SRGB', 'camera_to_xyz_matrix',
    'cct_to_xy', 'xy_to_xyz', 'xyz_to_xy'
]
