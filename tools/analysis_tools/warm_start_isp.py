#!/usr/bin/env python
"""Warm-start a learnable ISP by regressing its rendering onto a fixed ISP's, before training it
through the frozen detector.

    python tools/analysis_tools/warm_start_isp.py CONFIG --out warm.pth [--steps 300]
        [--target GainGammaISP] [--lr 2e-3] [--batch-size 4] [--seed 0]
    python tools/train.py CONFIG --cfg-options load_from=warm.pth

(``custom_hooks=[dict(type='WarmStartISPHook')]`` in a config does the same inside
tools/train.py; this tool keeps the warm-started weights as a file of their own.)

GenISP's shallow ConvNet starts from random weights, so the first images the detector sees
are not images at all, and on the photo benchmark the detector's gradient alone moved it
slowly: after 3 epochs its loss on unseen-camera captures was still above what a plain
gain + gamma rendering gives the same detector (README, photos). This tool runs
``--steps`` Adam steps of the mean absolute difference between the ISP's output and the
``--target`` rendering (default: one auto-exposure gain and the sRGB curve on XYZ converted
to linear sRGB: a colour-correct rendering, white-balanced when the pipeline has
AsShotWhiteBalance) over the config's training
images (its train pipeline, one image at a time through the ISP, as the preprocessor runs
them), and writes a checkpoint of the whole model (the frozen detector as the config loads
it) for ``load_from``. The detector is not involved: a step costs the ISP's forward and
backward only.
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import genisp_mmdet  # noqa: E402,F401
from genisp_mmdet.engine.launch import fail, load_tool_config  # noqa: E402
from genisp_mmdet.engine.warm_start import fixed_isp_targets, warm_start_isp  # noqa: E402
from mmdet.registry import MODELS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--out', required=True, help='checkpoint to write (for load_from)')
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--target', default='GainGammaISP',
                        help='registered fixed ISP whose rendering is the target')
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    isp = getattr(model.data_preprocessor, 'isp', None)
    if isp is None or not any(p.requires_grad for p in isp.parameters()):
        fail(f'{args.config}: the model has no learnable ISP to warm-start')
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(batch_size=args.batch_size, persistent_workers=False)
    loader_cfg.sampler = dict(type='DefaultSampler', shuffle=True, seed=args.seed)
    loader = Runner.build_dataloader(loader_cfg, seed=args.seed)
    losses = warm_start_isp(isp, loader, fixed_isp_targets(args.target), args.steps, args.lr,
                            log=lambda line: print(line, flush=True))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(warm_start=dict(target=args.target, steps=args.steps, lr=args.lr,
                                              batch_size=args.batch_size, seed=args.seed,
                                              first_loss=losses[0], last_loss=losses[-1]))),
               args.out)
    print(f'L1 to {args.target} {losses[0]:.4f} -> {losses[-1]:.4f} over {args.steps} steps; '
          f'-> {args.out} (train with --cfg-options load_from={args.out})')


if __name__ == '__main__':
    main()
