#!/usr/bin/env python
"""Score one pipeline config on the photo benchmark, as tools/demo/run_photos.py scores its
own: every (camera, darkness) pair of the val photos in one tools/test.py run; with
``--train``, train it first with tools/train.py exactly as run_photos trains GenISP.

    python tools/analysis_tools/score_photos_config.py CONFIG --work-dir DIR [--train]
        [--checkpoint CKPT] [--seed 0] [--train-darkness 2 10 50 200]
        [--cfg-options KEY=VALUE ...]

For trying an ISP variant (a config, or ``--cfg-options`` on one) against the benchmark's
numbers without re-running everything: the renders must exist (run_photos makes them), and
the options apply to training and scoring alike. Prints the unseen cameras' mean AP per
darkness level and writes ``DIR/metrics.json`` (AP / AP50 per camera and darkness).

``--train-darkness`` trains on the train camera's captures of the train photos at other
darkness levels than the benchmark's (e.g. adding 2x, cleaner captures): levels not rendered
yet are rendered into ``--data`` with tools/make_unprocessed_coco.py (same seed as the
benchmark's renders), merged into ``annotations/<camera>_train_<levels>.json`` and used for
training only; scoring is unchanged.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from tools.demo.run_photos import (DETECTOR_CHECKPOINT, TEST_CAMERAS,  # noqa: E402
                                   TRAIN_CAMERA, evaluation_config, merge_train_levels,
                                   read_subset_metrics, subset_names, train_levels_command)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--train', action='store_true', help='train CONFIG first')
    parser.add_argument('--checkpoint', help='score these weights (a learned ISP, untrained '
                        'here); fixed pipelines need none')
    parser.add_argument('--seed', type=int, default=0, help='training seed')
    parser.add_argument('--data', default='data/coco-photos-raw', help='the renders')
    parser.add_argument('--darkness', type=float, nargs='+', default=[10, 50, 200])
    parser.add_argument('--train-darkness', type=float, nargs='+', default=None,
                        help='train on the train camera at these darkness levels (rendered '
                             'when missing) instead of --darkness')
    parser.add_argument('--coco-root', default=osp.join(osp.dirname(REPO_ROOT), 'shared',
                                                        'datasets', 'coco-photos'),
                        help='the photos, for rendering --train-darkness levels')
    parser.add_argument('--train-ann', default='annotations/instances_train2017.json')
    parser.add_argument('--train-img-dir', default='train2017')
    parser.add_argument('--render-seed', type=int, default=0)
    parser.add_argument('--detector-checkpoint', default=DETECTOR_CHECKPOINT)
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='KEY=VALUE overrides for training and scoring')
    return parser.parse_args(argv)


def run_tool(args, log_path, env):
    """A repo tool in a subprocess, its output to ``log_path``; exits naming the log on
    failure."""
    with open(log_path, 'w') as log:
        code = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f'{args[0]} failed (exit {code}); its output: {log_path}')


def train_levels(args, data, work_dir, env) -> str:
    """Renders the train camera's missing ``--train-darkness`` levels of the train photos and
    merges all of them; returns the merged annotation file's name."""
    command = train_levels_command(args.coco_root, args.train_ann, args.train_img_dir, data,
                                   args.train_darkness, args.render_seed)
    if command:
        run_tool(command, osp.join(work_dir, 'render.log'), env)
    return merge_train_levels(data, args.train_darkness)


def main(argv=None):
    args = parse_args(argv)
    if args.train and args.checkpoint:
        raise SystemExit('give --train or --checkpoint, not both')
    work_dir, data = osp.abspath(args.work_dir), osp.abspath(args.data)
    if not osp.isdir(osp.join(data, 'annotations')):
        raise SystemExit(f'no renders in {data}: run tools/demo/run_photos.py first')
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, GENISP_PHOTOS_ROOT=data.rstrip('/') + '/')
    detector = osp.abspath(args.detector_checkpoint)
    options = [f'model.detector_checkpoint={detector}', *args.cfg_options]
    checkpoint = args.checkpoint
    if args.train:
        train_options = []
        if args.train_darkness:
            train_options.append('train_dataloader.dataset.ann_file=annotations/'
                                 + train_levels(args, data, work_dir, env))
        train_dir = osp.join(work_dir, 'train')
        # run_photos' training: no validation (the pairs are scored below)
        run_tool(['tools/train.py', args.config, '--work-dir', train_dir, '--cfg-options',
                  f'randomness.seed={args.seed}', 'val_dataloader=None', 'val_cfg=None',
                  'val_evaluator=None', *options, *train_options],
                 osp.join(work_dir, 'train.log'), env)
        with open(osp.join(train_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
    subsets = subset_names((TRAIN_CAMERA, *TEST_CAMERAS), args.darkness)
    eval_dir = osp.join(work_dir, 'eval')
    eval_config = evaluation_config(args.config, eval_dir, data, subsets)
    run_tool(['tools/test.py', eval_config, *([checkpoint] if checkpoint else []),
              '--work-dir', eval_dir, '--cfg-options', *options],
             osp.join(eval_dir, 'test.log'), env)
    metrics = read_subset_metrics(eval_dir, subsets)
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=checkpoint, cfg_options=args.cfg_options,
                       seed=args.seed if args.train else None, metrics=metrics), f, indent=1)
    tags = list(dict.fromkeys(tag for _, tag in subsets))
    means = [sum(metrics[c][t]['AP'] for c in TEST_CAMERAS) / len(TEST_CAMERAS) for t in tags]
    print(f'{args.config}: unseen-camera AP ' +
          '  '.join(f'{t} {m:.3f}' for t, m in zip(tags, means)))


if __name__ == '__main__':
    main()
