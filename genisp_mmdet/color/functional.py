"""Differentiable colour operations on image batches (PyTorch).

All images are ``(B, 3, H, W)`` floating tensors in linear light unless stated otherwise.
"""
from __future__ import annotations

import torch

from .matrices import XYZ_TO_SRGB


def apply_color_matrix(image: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Per-pixel ``matrix @ rgb``.

    Args:
        image: ``(B, 3, H, W)``.
        matrix: ``(3, 3)`` shared by the batch or ``(B, 3, 3)``, one per image.

    Returns:
        ``(B, 3, H, W)``, same dtype as ``image``.
    """
    if matrix.dim() == 2:
        return torch.einsum('ij,bjhw->bihw', matrix.to(image.dtype), image)
    return torch.einsum('bij,bjhw->bihw', matrix.to(image.dtype), image)


def apply_channel_gains(image: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """``diag(gains) @ rgb`` per pixel: ``image (B, 3, H, W)``, ``gains (B, 3)`` or ``(3,)``."""
    if gains.dim() == 1:
        gains = gains.unsqueeze(0)
    return image * gains.to(image.dtype)[:, :, None, None]


def xyz_to_linear_srgb(image: torch.Tensor) -> torch.Tensor:
    """CIE XYZ (D65) ``(B, 3, H, W)`` -> linear sRGB, unclipped."""
    return apply_color_matrix(image, torch.as_tensor(XYZ_TO_SRGB, dtype=torch.float32,
                                                     device=image.device))


def srgb_gamma_encode(linear: torch.Tensor) -> torch.Tensor:
    """Linear sRGB in [0, 1] -> sRGB-encoded (IEC 61966-2-1 transfer curve); clips to [0, 1]."""
    linear = linear.clamp(0.0, 1.0)
    return torch.where(linear <= 0.0031308, 12.92 * linear,
                       1.055 * linear.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055)


def mean_brightness(image: torch.Tensor) -> torch.Tensor:
    """Mean over channels and pixels of ``image (B, C, H, W)`` -> ``(B, 1, 1, 1)``, in float32
    or wider, reduced one axis at a time. Same value as ``image.mean(dim=(1, 2, 3))`` in
    PyTorch (which sums pairwise); exported to ONNX it stays as exact, because onnxruntime
    reduces each ReduceMean in one running float32 sum, which drifts visibly over the millions
    of values of a full frame (the exported ISP then renders it a little brighter or darker),
    while a row or a column stays short."""
    image = image.float() if image.dtype in (torch.float16, torch.bfloat16) else image
    return image.mean(dim=3, keepdim=True).mean(dim=2, keepdim=True).mean(dim=1, keepdim=True)


def gray_world_loss(image: torch.Tensor) -> torch.Tensor:
    """Gray-world colour constancy penalty: mean over the batch of
    ``sum_{c<c'} (mean_c - mean_c')^2`` of each image's channel means. ``image (B, 3, H, W)``."""
    means = image.float().mean(dim=(2, 3))
    r, g, b = means.unbind(dim=1)
    return ((r - g) ** 2 + (r - b) ** 2 + (g - b) ** 2).mean()
