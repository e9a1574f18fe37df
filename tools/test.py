#!/usr/bin/env python
"""Evaluate a trained GenISP detector (COCO mAP) - MMDetection's command line.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--cfg-options ...] [--launcher pytorch]

``--show-dir`` draws predictions on the ISP's output image (RAW files cannot be displayed as
they are). ``--isp-from CKPT`` evaluates the ISP weights of another run in front of this
config's detector (loaded from its ``detector_checkpoint``): the paper's generalisation test,
e.g. an ISP trained with RetinaNet evaluated in front of Faster R-CNN, with CHECKPOINT omitted.
Without CHECKPOINT and --isp-from, the model's own ``init_weights`` provides the weights: for
fixed (non-learned) ISP baselines in front of the config's ``detector_checkpoint``.
"""
import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import genisp_mmdet  # noqa: E402,F401
from genisp_mmdet.engine.checkpoint import (CheckpointMismatchError, check_state_fits,  # noqa: E402
                                            load_model_state)
from genisp_mmdet.engine.launch import (ConfigError, distributed_session,  # noqa: E402
                                        fail, parse_runner_args, prepare_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a GenISP detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file of a GenISP run')
    parser.add_argument('--isp-from', metavar='CKPT',
                        help="load only the ISP from CKPT; the detector comes from the config's "
                        'detector_checkpoint (generalisation to another detector)')
    parser.add_argument('--work-dir', help='the dir to save evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='dir (under work_dir/timestamp) for drawn results')
    parser.add_argument('--wait-time', type=float, default=2, help='show interval (s)')
    return parse_runner_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.checkpoint is not None and args.isp_from is not None:
            raise ConfigError('give CHECKPOINT or --isp-from CKPT, not both')
        for path in (args.checkpoint, args.isp_from):
            if path is not None and not os.path.isfile(path) and '://' not in path:
                raise ConfigError(f'checkpoint not found: {path}')
        cfg = prepare_config(args)
        cfg.load_from = args.checkpoint
        if args.isp_from:
            cfg.model.isp_checkpoint = args.isp_from
        if args.show or args.show_dir:
            hook = cfg.default_hooks.get('visualization')
            if hook is None or hook.get('type') != 'RawDetVisualizationHook':
                raise ConfigError(f'{args.config}: --show/--show-dir need '
                                  "default_hooks.visualization=dict(type='RawDetVisualizationHook')")
            hook['draw'] = True
            if args.show:
                hook.update(show=True, wait_time=args.wait_time)
            if args.show_dir:
                hook['test_out_dir'] = args.show_dir
        if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
            raise ConfigError(f'--out must be a .pkl file, got {args.out}')
    except ConfigError as exc:
        fail(str(exc))
    with distributed_session(cfg):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        if args.checkpoint is not None and '://' not in args.checkpoint:
            # the runner loads with strict=False: weights that do not fit would leave the
            # detector random and score zero AP with only a warning in the log
            try:
                state, _ = load_model_state(args.checkpoint)
                if not check_state_fits(model, state, args.checkpoint):
                    # ISP-only weights: the detector comes from its detector_checkpoint
                    model.init_weights()
            except CheckpointMismatchError as exc:
                fail(str(exc))
        if args.checkpoint is None:
            # The runner initialises weights only when training; here init_weights loads the
            # detector's pretrained checkpoint (and the ISP from --isp-from).
            isp = getattr(model.data_preprocessor, 'isp', None)
            learned = isp is not None and any(p.requires_grad for p in isp.parameters())
            if learned and not args.isp_from:
                fail(f'{args.config}: its ISP is learned; give the CHECKPOINT of a training run '
                     '(or --isp-from CKPT)')
            model.init_weights()
        if args.out is not None:
            from mmdet.evaluation import DumpDetResults
            runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
        runner.test()


if __name__ == '__main__':
    main()
