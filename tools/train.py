#!/usr/bin/env python
"""Train GenISP (or any genisp-mmdet model) with MMEngine's runner - MMDetection's command line.

    python tools/train.py configs/genisp_retinanet.py [--work-dir DIR] [--amp] [--resume [CKPT]]
        [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]

Distributed: ``bash tools/dist_train.sh CONFIG NUM_PROCS [args]`` or
``torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch``; works on CPU (gloo).
"""
import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # run from a clone without `pip install -e .` too

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import genisp_mmdet  # noqa: E402,F401  (registers modules, allow-lists checkpoint types)
from genisp_mmdet.datasets.bad_files import (TooManyBadFilesError,  # noqa: E402
                                             files_being_decoded)
from genisp_mmdet.engine.checkpoint import (find_resumable_checkpoint,  # noqa: E402
                                            is_complete_checkpoint)
from genisp_mmdet.engine.launch import (ConfigError, distributed_session,  # noqa: E402
                                        enable_amp, fail, parse_runner_args, prepare_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a GenISP detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale LR by batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work '
                        'dir when no path is given')
    return parse_runner_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = prepare_config(args)
        if args.amp:
            enable_amp(cfg)
        if args.auto_scale_lr:
            if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
                raise ConfigError(f'{args.config}: --auto-scale-lr needs `auto_scale_lr` '
                                  'with `base_batch_size` in the config')
            cfg.auto_scale_lr.enable = True
        if args.resume == 'auto':
            # not mmengine's last_checkpoint alone: a kill while saving leaves it naming a
            # truncated (or already deleted) file
            latest, skipped = find_resumable_checkpoint(cfg.work_dir)
            for path in skipped:
                print(f'warning: not resuming from {path}: missing or truncated (a run killed '
                      'while saving it?)', file=sys.stderr)
            if latest is None:
                print(f'warning: nothing to resume in {cfg.work_dir}: starting afresh',
                      file=sys.stderr)
            cfg.resume, cfg.load_from = latest is not None, latest
        elif args.resume is not None:
            if not os.path.isfile(args.resume):
                raise ConfigError(f'--resume checkpoint not found: {args.resume}')
            if not is_complete_checkpoint(args.resume):
                raise ConfigError(f'--resume checkpoint {args.resume} is truncated or corrupt '
                                  '(a run killed while saving it?); use --resume without a '
                                  'path to take the newest complete one')
            cfg.resume, cfg.load_from = True, args.resume
    except ConfigError as exc:
        fail(str(exc))
    with distributed_session(cfg):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        try:
            runner.train()
        except TooManyBadFilesError as exc:  # the data, not the code: one line, no traceback
            fail(str(exc))
        except RuntimeError as exc:  # a DataLoader worker killed inside the RAW decoder?
            files = files_being_decoded(exc)
            if not files:
                raise
            fail(f'{exc}\nThe dead worker(s) were decoding {", ".join(files)}: the file '
                 'crashes LibRaw. Remove it, or decode in isolation so that such files are '
                 'skipped and listed: --cfg-options '
                 'train_dataloader.dataset.pipeline.0.isolate=True')


if __name__ == '__main__':
    main()
