"""NanoDet's head: a GFL head with its own depthwise-separable convs per level, shared by
classification and box regression, and one 1x1 conv per level for both."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

from mmdet.models.dense_heads import GFLHead
from mmdet.registry import MODELS


class DepthwiseSeparableBlock(nn.Module):
    """3x3 depthwise conv -> BN -> LeakyReLU -> 1x1 conv -> BN -> LeakyReLU, with NanoDet's
    parameter names (``depthwise``, ``dwnorm``, ``pointwise``, ``pwnorm``)."""

    def __init__(self, in_channels: int, out_channels: int, leaky_slope: float = 0.1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels,
                                   bias=False)
        self.dwnorm = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pwnorm = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(leaky_slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.dwnorm(self.depthwise(x)))
        return self.act(self.pwnorm(self.pointwise(x)))


@MODELS.register_module()
class NanoDetHead(GFLHead):
    """:class:`~mmdet.models.dense_heads.GFLHead` with NanoDet's layers: per level
    ``stacked_convs`` depthwise-separable blocks (not shared across levels) feed ``gfl_cls``,
    a 1x1 conv whose ``num_classes + 4 * (reg_max + 1)`` outputs are split into class scores
    and box distributions (no separate regression branch, no per-level scale). Everything
    else - ATSS assignment on anchors of ``octave_base_scale * stride`` centred at
    ``(i + 0.5) * stride`` (set ``center_offset=0.5`` in the anchor generator), the losses,
    the integral, decoding and NMS - is mmdet's GFL.

    Args:
        leaky_slope: negative slope of the LeakyReLU (NanoDet: 0.1).
        **kwargs: :class:`GFLHead` arguments (``num_classes``, ``in_channels``,
            ``feat_channels``, ``stacked_convs``, ``reg_max``, ``anchor_generator``, losses).

    Outputs per level: ``cls_score`` ``(B, num_classes, H, W)`` (logits) and ``bbox_pred``
    ``(B, 4 * (reg_max + 1), H, W)`` (distribution logits, stride units).
    """

    def __init__(self, *args, leaky_slope: float = 0.1, **kwargs):
        self.leaky_slope = leaky_slope
        kwargs.setdefault('init_cfg', dict(
            type='Normal', layer='Conv2d', std=0.01,
            override=dict(type='Normal', name='gfl_cls', std=0.01, bias_prob=0.01)))
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        assert self.num_base_priors == 1, 'anchor free version'
        levels = len(self.prior_generator.strides)
        self.cls_convs = nn.ModuleList(
            nn.Sequential(*(DepthwiseSeparableBlock(
                self.in_channels if i == 0 else self.feat_channels, self.feat_channels,
                self.leaky_slope) for i in range(self.stacked_convs)))
            for _ in range(levels))
        self.gfl_cls = nn.ModuleList(
            nn.Conv2d(self.feat_channels, self.cls_out_channels + 4 * (self.reg_max + 1), 1)
            for _ in range(levels))

    def forward(self, x: Sequence[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        cls_scores, bbox_preds = [], []
        for feat, convs, out_conv in zip(x, self.cls_convs, self.gfl_cls):
            cls_score, bbox_pred = out_conv(convs(feat)).split(
                [self.cls_out_channels, 4 * (self.reg_max + 1)], dim=1)
            cls_scores.append(cls_score)
            bbox_preds.append(bbox_pred)
        return cls_scores, bbox_preds
