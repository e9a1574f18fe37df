"""NanoDet's backbone: torchvision's ShuffleNetV2 with LeakyReLU(0.1) for every ReLU."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torchvision.models import shufflenet_v2_x0_5, shufflenet_v2_x1_0, shufflenet_v2_x1_5

from mmdet.registry import MODELS

_BUILDERS = {'0.5x': shufflenet_v2_x0_5, '1.0x': shufflenet_v2_x1_0, '1.5x': shufflenet_v2_x1_5}


def _leaky_relus(module: nn.Module, slope: float) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, nn.LeakyReLU(slope, inplace=True))
        else:
            _leaky_relus(child, slope)


@MODELS.register_module()
class NanoDetShuffleNetV2(BaseModule):
    """ShuffleNetV2 as NanoDet uses it: torchvision's layers and parameter names
    (``conv1``, ``stage2``..``stage4``; the checkpoint loads by name), LeakyReLU activations,
    no ``conv5``/classifier.

    Args:
        model_size: ``'0.5x' | '1.0x' | '1.5x'`` (NanoDet-m: 1.0x, stages of 116, 232, 464
            channels).
        out_stages: which of stages 2, 3, 4 to return (strides 8, 16, 32).
        leaky_slope: negative slope of the LeakyReLU (NanoDet: 0.1).

    Input ``(B, 3, H, W)``; output the chosen stages' ``(B, C_i, H / s_i, W / s_i)``.
    """

    def __init__(self, model_size: str = '1.0x', out_stages: Sequence[int] = (2, 3, 4),
                 leaky_slope: float = 0.1, init_cfg=None):
        super().__init__(init_cfg)
        if model_size not in _BUILDERS:
            raise ValueError(f'model_size must be one of {sorted(_BUILDERS)}, got '
                             f'{model_size!r}')
        if not set(out_stages) <= {2, 3, 4}:
            raise ValueError(f'out_stages must be among 2, 3, 4, got {out_stages}')
        net = _BUILDERS[model_size](weights=None)
        _leaky_relus(net, leaky_slope)
        self.conv1, self.maxpool = net.conv1, net.maxpool
        self.stage2, self.stage3, self.stage4 = net.stage2, net.stage3, net.stage4
        self.out_stages = tuple(out_stages)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.maxpool(self.conv1(x))
        outs = []
        for index in (2, 3, 4):
            x = getattr(self, f'stage{index}')(x)
            if index in self.out_stages:
                outs.append(x)
        return tuple(outs)
