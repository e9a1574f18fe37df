#!/usr/bin/env python
"""Mean detector loss of a pipeline (ISP + frozen detector) over a dataset, without training.

    python tools/analysis_tools/pipeline_loss.py CONFIG [CHECKPOINT] [--split train|test]
        [--max-batches N] [--cfg-options KEY=VALUE ...]

The frozen detector's own loss is what GenISP minimises; evaluated the same way for the fixed
pipelines (LibRaw's ISP, gain + gamma, the well-lit photos through the plain detector) it
shows how far a trained ISP is from what those renderings already give the detector - an
unconverged ISP sits above them on its own objective, a converged ISP that still scores a
lower AP points at a mismatch between the loss and the metric instead. Losses are computed
in eval mode (no flips, the frozen detector as always), in order, batch by batch.

``--noise-gate-closed`` scores a noise-gated GenISP with its gate shut: every capture gets the
fixed rendering (after ConvWB and ConvCC) without the ConvNet's correction - what the learned
correction adds to (or costs) the loss on a dataset.
"""
import argparse
import json
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.runner.checkpoint import load_checkpoint  # noqa: E402

import genisp_mmdet  # noqa: E402,F401
from genisp_mmdet.engine.launch import ConfigError, fail, load_tool_config  # noqa: E402
from mmdet.registry import MODELS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='trained weights (none for fixed ISPs)')
    parser.add_argument('--split', choices=('train', 'test'), default='train',
                        help="whose dataset: the config's train or test dataloader (always "
                             'through the test pipeline: no random flips)')
    parser.add_argument('--max-batches', type=int, default=None)
    parser.add_argument('--out', help='write the means as JSON here')
    parser.add_argument('--noise-gate-closed', action='store_true',
                        help="shut a noise-gated GenISP's gate: no ConvNet correction")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def close_noise_gate(model) -> None:
    """Shut the noise gate of ``model``'s GenISP (``sigmoid(4 * -20)``: below 1e-34)."""
    isp = getattr(model.data_preprocessor, 'isp', None)
    if getattr(isp, 'noise_gate', None) is None:
        raise ConfigError('--noise-gate-closed: the model\'s ISP has no noise gate '
                          '(GenISP(noise_gate=True))')
    with torch.no_grad():
        isp.noise_gate.copy_(torch.tensor([0.0, -20.0]))


def boxes_before_resizing(pipeline):
    """``pipeline`` with its ``LoadAnnotations`` step moved right after the first step (the
    image loading), where training pipelines have it."""
    steps = [dict(step) for step in pipeline]
    boxes = [s for s in steps if s['type'].split('.')[-1] == 'LoadAnnotations']
    rest = [s for s in steps if s['type'].split('.')[-1] != 'LoadAnnotations']
    return rest[:1] + boxes + rest[1:]


def mean_losses(model, dataloader, max_batches=None):
    """Image-weighted mean of every loss term (and their sum, ``loss``) over ``dataloader``."""
    sums, images = {}, 0
    model.eval()
    with torch.no_grad():
        for index, batch in enumerate(dataloader):
            if max_batches is not None and index >= max_batches:
                break
            data = model.data_preprocessor(batch, training=False)
            losses = model(**data, mode='loss')
            count = len(data['data_samples'])
            total = 0.0
            for name, value in losses.items():
                value = float(sum(value) if isinstance(value, (list, tuple)) else value)
                if 'loss' in name:
                    total += value
                sums[name] = sums.get(name, 0.0) + value * count
            sums['loss'] = sums.get('loss', 0.0) + total * count
            images += count
    if not images:
        raise ConfigError('the dataloader yielded no images')
    return {name: value / images for name, value in sums.items()}, images


def main(argv=None):
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    loader_cfg = cfg.get(f'{args.split}_dataloader')
    if not loader_cfg:
        fail(f'{args.config} has no {args.split}_dataloader')
    loader_cfg = loader_cfg.copy()
    loader_cfg.dataset = loader_cfg.dataset.copy()
    # the test pipeline has no random steps; MMDetection's own test pipelines load the boxes
    # after resizing (they are scored in the original frame): load them before, so the loss
    # sees boxes in the frame of the image it scores
    loader_cfg.dataset.pipeline = boxes_before_resizing(cfg.test_dataloader.dataset.pipeline)
    loader_cfg.sampler = dict(type='DefaultSampler', shuffle=False)
    loader_cfg.dataset.pop('filter_cfg', None)
    model = MODELS.build(cfg.model)
    if args.checkpoint:  # a whole model: a training run's checkpoint, or a plain detector's
        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True,
                        logger='silent')
    else:  # fixed ISPs: the detector from the config's detector_checkpoint
        model.init_weights()
    if args.noise_gate_closed:
        try:
            close_noise_gate(model)
        except ConfigError as e:
            fail(str(e))
    try:
        means, images = mean_losses(model, Runner.build_dataloader(loader_cfg),
                                    args.max_batches)
    except ConfigError as e:
        fail(f'{args.config}, {args.split} split: {e}')
    gate = ', noise gate closed' if args.noise_gate_closed else ''
    print(f'{args.config} ({args.checkpoint or "no checkpoint"}{gate}), {images} images of the '
          f'{args.split} split: ' + ', '.join(f'{k} {v:.4f}' for k, v in sorted(means.items())))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, split=args.split,
                           noise_gate_closed=args.noise_gate_closed, images=images,
                           losses=means), f, indent=1)


if __name__ == '__main__':
    main()
