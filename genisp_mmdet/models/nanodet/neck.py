"""NanoDet's PAN: 1x1 lateral convs, a top-down then a bottom-up path of bilinear resizes and
additions, no output convs."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmdet.registry import MODELS


@MODELS.register_module()
class NanoDetPAN(BaseModule):
    """Path aggregation as NanoDet (v0.x) builds it.

    Args:
        in_channels: channels of the backbone levels (NanoDet-m: 116, 232, 464).
        out_channels: channels of every output level (NanoDet-m: 96).

    Input: one ``(B, C_i, H_i, W_i)`` map per level, each half the size of the previous
    (pad the image to a multiple of the coarsest stride); output: ``(B, out, H_i, W_i)``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, init_cfg=dict(
            type='Xavier', layer='Conv2d', distribution='uniform')):
        super().__init__(init_cfg)
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=None, act_cfg=None, inplace=False)
            for c in in_channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.lateral_convs):
            raise ValueError(f'NanoDetPAN expects {len(self.lateral_convs)} levels, got '
                             f'{len(inputs)}')
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):  # top-down
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[-2:], mode='bilinear')
        for i in range(len(laterals) - 1):  # bottom-up
            laterals[i + 1] = laterals[i + 1] + F.interpolate(
                laterals[i], size=laterals[i + 1].shape[-2:], mode='bilinear')
        return tuple(laterals)
