"""Optimizer construction that only ever holds the trainable (ISP) parameters."""
from __future__ import annotations

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor (``paramwise_cfg`` and all), after which every parameter
    with ``requires_grad=False`` - for a frozen detector, all of the detector's - is removed
    from the optimizer, so it neither holds nor updates them. A model with nothing to train is
    a configuration error and raises."""

    def __call__(self, model: nn.Module) -> OptimWrapper:
        optim_wrapper = super().__call__(model)
        optimizer = optim_wrapper.optimizer
        groups = []
        for group in optimizer.param_groups:
            group['params'] = [p for p in group['params'] if p.requires_grad]
            if group['params']:
                groups.append(group)
        if not groups:
            raise ValueError(f'{type(self).__name__}: the model has no parameter with '
                             'requires_grad=True - nothing to optimise')
        optimizer.param_groups = groups
        return optim_wrapper
