#!/usr/bin/env python
"""Convert RangiLyu's NanoDet-m PyTorch checkpoint into an MMDetection checkpoint of
``configs/detectors/nanodet-m.py``.

    python tools/model_converters/nanodet_to_mmdet.py CHECKPOINT [OUT.pth] [--config CONFIG]
    # OUT.pth defaults to <repo>/checkpoints/nanodet-m_coco_rangilyu.pth

The upstream checkpoint (``{'state_dict': ...}``, BatchNorm intact) is renamed, never
re-computed: ``backbone.*`` stays (torchvision's ShuffleNetV2 names), ``fpn.*`` becomes
``neck.*``, ``head.*`` becomes ``bbox_head.*`` and ``head.distribution_project.project``
``bbox_head.integral.project``. ``head.gfl_reg.*`` is left out: NanoDet-m shares one 1x1 conv
(``gfl_cls``) for classes and box distributions, and never runs its regression convs. The model
of ``--config`` must then load the result strictly: every tensor present, none left over,
shapes equal; anything else is refused, naming the tensors.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Dict, Optional

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'detectors', 'nanodet-m.py')
DEFAULT_OUT = osp.join(REPO_ROOT, 'checkpoints', 'nanodet-m_coco_rangilyu.pth')
#: upstream prefix -> mmdet prefix, first match wins
RENAMES = (('head.distribution_project.project', 'bbox_head.integral.project'),
           ('fpn.', 'neck.'), ('head.', 'bbox_head.'), ('backbone.', 'backbone.'))
UNUSED = ('head.gfl_reg.',)


class ConversionError(RuntimeError):
    """The checkpoint does not fit the model (names what does not)."""


def rename(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The upstream state dict with mmdet names (unused tensors dropped)."""
    out = {}
    for key, value in state.items():
        if key.startswith(UNUSED):
            continue
        for old, new in RENAMES:
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            raise ConversionError(f'unexpected tensor {key!r} {tuple(value.shape)}: not a '
                                  'NanoDet backbone, fpn or head tensor')
    return out


def build_model(config: str):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import genisp_mmdet  # noqa: F401  (registers the NanoDet modules)
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    return MODELS.build(Config.fromfile(config).model)


def convert(checkpoint: str, config: str = DEFAULT_CONFIG) -> Dict[str, torch.Tensor]:
    """The mmdet state dict of ``checkpoint`` for ``config``'s model, checked to fit it."""
    try:
        loaded = torch.load(checkpoint, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError, ValueError) as e:
        raise ConversionError(f'cannot read {checkpoint}: {e}') from e
    state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state:
        raise ConversionError(f'{checkpoint} holds no state dict')
    state = {k[len('model.'):] if k.startswith('model.') else k: v for k, v in state.items()}
    converted = rename(state)
    target = build_model(config).state_dict()
    missing = sorted(set(target) - set(converted))
    extra = sorted(set(converted) - set(target))
    shapes = [f'{k}: {tuple(converted[k].shape)} vs {tuple(target[k].shape)}'
              for k in sorted(set(target) & set(converted))
              if converted[k].shape != target[k].shape]
    if missing or extra or shapes:
        raise ConversionError(f'{checkpoint} does not fit {config}: missing {missing[:8]} '
                              f'({len(missing)}), left over {extra[:8]} ({len(extra)}), '
                              f'shapes differ {shapes[:8]} ({len(shapes)})')
    return {k: converted[k].to(target[k].dtype) for k in target}


def convert_file(checkpoint: str, out: str = DEFAULT_OUT, config: str = DEFAULT_CONFIG) -> str:
    state = convert(checkpoint, config)
    os.makedirs(osp.dirname(osp.abspath(out)) or '.', exist_ok=True)
    torch.save(dict(state_dict=state,
                    meta=dict(source=osp.abspath(checkpoint), config=config,
                              converter='tools/model_converters/nanodet_to_mmdet.py')), out)
    print(f'{len(state)} tensors of {checkpoint} -> {out}')
    return out


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('out', nargs='?', default=DEFAULT_OUT)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    if not osp.isfile(args.checkpoint):
        print(f'error: no such checkpoint: {args.checkpoint}', file=sys.stderr)
        return 2
    try:
        convert_file(args.checkpoint, args.out, args.config)
    except ConversionError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
