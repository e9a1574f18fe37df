#!/usr/bin/env python
"""Dark RAW (DNG) captures of a COCO-format photo folder by unprocessing (Brooks et al. 2019).

    python tools/make_unprocessed_coco.py COCO_ROOT ANN_FILE OUT [--img-dir val2017] \\
        [--split val] [--cameras sony_rx100m7 nikon_d750 ...] [--darkness 10 50 200] \\
        [--seed 0] [--workers N] [--max-images N] [--no-tone-curve] [--overwrite] \\
        [--no-progress]

Writes OUT/<camera>/x<k>/<split>/<stem>.dng (2x the photo's size, one Bayer cell per photo
pixel) and OUT/annotations/<camera>_x<k>_<split>.json (boxes x2); see
genisp_mmdet.synthetic.unprocessed_coco. Resumable: a rerun with the same spec skips the DNGs
already written. Exit status 2 for bad arguments or when OUT holds another spec (pass
--overwrite to replace it).
"""
import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # run from a clone without `pip install -e .` too

from genisp_mmdet.synthetic.cameras import DEFAULT_CAMERAS  # noqa: E402
from genisp_mmdet.synthetic.unprocess import MEASURED_SENSOR_NOISE  # noqa: E402
from genisp_mmdet.synthetic.unprocessed_coco import (DEFAULT_DARKNESS,  # noqa: E402
                                                     UnprocessSpec, generate_unprocessed_coco)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Unprocess the photos of a COCO json into dark RAW DNG captures by simulated '
                    'cameras with sourced sensor noise, with COCO json per camera and darkness.')
    parser.add_argument('coco_root', help='COCO dataset root')
    parser.add_argument('ann_file', help='COCO instances json (absolute, or under COCO_ROOT)')
    parser.add_argument('out', help='output root')
    parser.add_argument('--img-dir', default=None,
                        help='photo folder, under COCO_ROOT or absolute (default: '
                             '<split>2017 when it exists, else COCO_ROOT)')
    parser.add_argument('--split', default='val', help='split name (default: %(default)s)')
    parser.add_argument('--cameras', nargs='+', default=list(DEFAULT_CAMERAS),
                        choices=sorted(MEASURED_SENSOR_NOISE), metavar='CAMERA',
                        help=f'cameras (default: {" ".join(DEFAULT_CAMERAS)})')
    parser.add_argument('--darkness', nargs='+', type=float, default=list(DEFAULT_DARKNESS),
                        metavar='K', help='times fewer photo-electrons than a normal exposure '
                                          '(default: 10 50 200)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--workers', type=int, default=None,
                        help='processes (default: CPU count, at most 8)')
    parser.add_argument('--max-images', type=int, default=None,
                        help='only the first N images of ANN_FILE')
    parser.add_argument('--no-tone-curve', action='store_true',
                        help="do not invert Brooks' tone curve (only the sRGB transfer curve)")
    parser.add_argument('--overwrite', action='store_true',
                        help='replace OUT when it holds captures of another spec')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        spec = UnprocessSpec(seed=args.seed, tone_curve=not args.no_tone_curve)
        result = generate_unprocessed_coco(
            args.coco_root, args.ann_file, args.out, split=args.split, img_dir=args.img_dir,
            cameras=args.cameras, darkness=args.darkness, spec=spec,
            max_images=args.max_images, workers=args.workers, overwrite=args.overwrite,
            progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    levels = ' '.join(f'x{k:g}' for k in args.darkness)
    print(f'{args.out}: {result["photos"]} photos x {len(args.cameras)} cameras x '
          f'{len(args.darkness)} darkness levels ({levels}) = {result["captures"]} DNGs: '
          f'{result["written"]} written, {result["skipped"]} already there (skipped); '
          f'{result["annotations"]} boxes; {result["workers"]} worker(s), '
          f'{result["seconds"]:.1f}s')
    for rel in result['ann_files']:
        print(f'  {rel}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
