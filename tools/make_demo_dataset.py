#!/usr/bin/env python
"""Generate the embedded low-light multi-camera RAW demo benchmark (see genisp_mmdet.synthetic).

    python tools/make_demo_dataset.py --out data/genisp_demo --num-train 400 --num-test 150 \\
        --seed 0 [--size 256x192] [--cameras sony_rx100m7,nikon_d750,...] \\
        [--train-cameras sony_rx100m7] [--workers N] [--overwrite] [--no-progress]

Idempotent: if OUT already holds a complete dataset generated with the same parameters it
says so and exits 0 without writing. Exit status 2 for bad arguments or when OUT exists with
other content (pass --overwrite to replace it).
"""
import argparse
import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # run from a clone without `pip install -e .` too

from genisp_mmdet.synthetic import (CAMERAS, DEFAULT_CAMERAS, DemoDatasetSpec,  # noqa: E402
                                    SceneConfig, generate_demo_dataset)


def _size(text: str) -> tuple:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must look like 256x192, got {text!r}') from None
    if w % 2 or h % 2 or w < 24 or h < 24:
        raise argparse.ArgumentTypeError(f'width and height must be even and >= 24, got {text!r}')
    return w, h


def _slugs(text: str) -> tuple:
    slugs = tuple(s.strip() for s in text.split(',') if s.strip())
    unknown = [s for s in slugs if s not in CAMERAS]
    if unknown or not slugs:
        raise argparse.ArgumentTypeError(
            f'unknown camera(s) {unknown or text!r}; choose from {", ".join(sorted(CAMERAS))}')
    return slugs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the GenISP demo benchmark: simulated low-light RAW (DNG) captures '
                    'of procedural scenes by several cameras, sRGB oracle renderings, COCO json.')
    parser.add_argument('--out', default='data/genisp_demo',
                        help='dataset root (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=400,
                        help='train scenes (default: %(default)s)')
    parser.add_argument('--num-test', type=int, default=150,
                        help='test scenes (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
    parser.add_argument('--size', type=_size, default=(256, 192), metavar='WxH',
                        help='rendered frame = DNG frame, even sides (default: 256x192)')
    parser.add_argument('--cameras', type=_slugs, default=DEFAULT_CAMERAS,
                        help='comma-separated cameras captured for the test split '
                             f'(default: {",".join(DEFAULT_CAMERAS)}; known: '
                             f'{",".join(sorted(CAMERAS))})')
    parser.add_argument('--train-cameras', type=_slugs, default=None,
                        help='cameras also captured for the train split '
                             '(default: the first of --cameras)')
    parser.add_argument('--workers', type=int, default=None,
                        help='processes (default: CPU count, at most 8)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace OUT when it holds something else')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        spec = DemoDatasetSpec(num_train=args.num_train, num_test=args.num_test, seed=args.seed,
                               scene=SceneConfig(width=args.size[0], height=args.size[1]),
                               cameras=args.cameras, train_cameras=args.train_cameras)
    except (ValueError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        manifest = generate_demo_dataset(args.out, spec, workers=args.workers,
                                         overwrite=args.overwrite, progress=not args.no_progress)
    except FileExistsError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if manifest['skipped']:
        print(f'{args.out} already holds a complete demo dataset with these parameters '
              '(manifest.json matches); nothing to do.')
        return 0
    counts = manifest['counts']
    print(f'wrote {args.out} in {time.perf_counter() - start:.1f}s '
          f'({manifest["workers"]} worker(s)):')
    for split, c in counts.items():
        print(f'  {split}: {c["images"]} scenes, {c["annotations"]} objects {c["per_class"]}')
    for name, splits in manifest['layout'].items():
        for split, paths in splits.items():
            print(f'  {name:>14} {split:<5} images {paths["images"]}/  ann {paths["ann_file"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
