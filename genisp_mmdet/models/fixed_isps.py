"""Conventional, non-learned ISPs used as baselines in the RAW data preprocessor."""
from __future__ import annotations

import torch
from mmengine.model import BaseModule

from mmdet.registry import MODELS

from ..color import mean_brightness, srgb_gamma_encode, xyz_to_linear_srgb


@MODELS.register_module()
class GainGammaISP(BaseModule):
    """Packed RAW with one global gain and a gamma curve - the simplest usable rendering.

    Each image is scaled so its mean brightness becomes ``target_mean`` (auto exposure,
    one gain for all channels: no white balance, no colour correction), then sRGB-gamma
    encoded. ``color_space='xyz'`` converts XYZ inputs to linear sRGB first; ``'camera'``
    shows camera RGB as it is.

    Shapes: ``(B, 3, H, W)`` linear, any exposure -> ``(B, 3, H, W)`` in [0, 1].
    """

    def __init__(self, target_mean: float = 0.18, color_space: str = 'camera',
                 eps: float = 1e-8, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if color_space not in ('camera', 'xyz'):
            raise ValueError(f"color_space must be 'camera' or 'xyz', got {color_space!r}")
        self.target_mean, self.color_space, self.eps = target_mean, color_space, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.color_space == 'xyz':
            x = xyz_to_linear_srgb(x)
        gain = self.target_mean / mean_brightness(x).clamp_min(self.eps)
        return srgb_gamma_encode(x * gain)
