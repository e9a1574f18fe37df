#!/usr/bin/env python
"""Look at a dataset the way the model gets it: each image after the config's data pipeline
(packed RAW, aligned and resized boxes), rendered plainly and with its boxes drawn on it.

    python tools/browse_dataset.py configs/_base_/datasets/raw_nod_sony.py --split val \\
        --output-dir work_dirs/browse_sony --max 20 --not-show

Rendering (no learning involved, only to check a new dataset by eye): the loaded image is
linear XYZ (``raw_meta['color_space'] == 'xyz'``) -> linear sRGB; camera RGB goes through
``raw_meta['cam_to_xyz']`` when known and is shown as is otherwise (greenish: that is the
sensor); then auto-exposure (the ``--percentile`` of the luminance maps to white) and the sRGB
transfer curve (``genisp_mmdet.visualization.preview_packed_raw``). Boxes are the pipeline's
``gt_instances`` (so after ``AlignRawAnnotations``, ``Resize`` and ``RandomFlip``): a box that
does not fit the picture means the alignment or the annotation file is wrong, and is counted in
the summary.

Writes ``<output-dir>/<index>_<file stem>.png``. Exit status 0, or 2 with a one-line reason (no
such config, split, or annotation file; nothing to do).

Pre-flight check of a whole dataset before a long run (nothing drawn):

    python tools/browse_dataset.py CONFIG --split train --check --workers 8 [--report bad.json]

runs the split's loading and box-alignment steps on every image in parallel worker processes
and lists every file that cannot be read (and why), every box that alignment clips by more
than a pixel (the annotation does not fit the RAW frame), and every annotation drawn on a
frame rotated relative to the file's recorded orientation. Exit status 0 when all is well,
1 when it found problems.
"""
from __future__ import annotations

import argparse
import copy
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)  # run from a clone without `pip install -e .` too


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Draw a dataset\'s boxes on plain renderings '
                                                 'of its (RAW) input images.')
    parser.add_argument('config', help='config file (a dataset base config or a full config)')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'],
                        help='which dataloader\'s dataset to browse (default: train)')
    parser.add_argument('--output-dir', default=None, help='write PNGs here')
    parser.add_argument('--max', type=int, default=None, help='browse at most N images')
    parser.add_argument('--not-show', action='store_true', help='do not open a window')
    parser.add_argument('--show-interval', type=float, default=2.0,
                        help='seconds per image in the window (default 2)')
    parser.add_argument('--percentile', type=float, default=99.0,
                        help='auto-exposure: this luminance percentile becomes white')
    parser.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                        help='override config settings, as in tools/train.py')
    parser.add_argument('--check', action='store_true',
                        help='pre-flight check of every image instead of drawing')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='--check: worker processes')
    parser.add_argument('--report', help='--check: write the problems found as JSON here')
    return parser.parse_args(argv)


class _CheckedImages:
    """Map-style dataset over the check of each image (for a DataLoader's workers)."""

    def __init__(self, dataset, n):
        from genisp_mmdet.datasets.transforms import AlignRawAnnotations, LoadRawImageFromFile
        steps = list(dataset.pipeline.transforms)
        ends = [i for i, t in enumerate(steps) if isinstance(t, AlignRawAnnotations)]
        if not ends:
            raise ValueError('the pipeline has no AlignRawAnnotations step to check boxes with')
        self.steps = steps[:ends[0] + 1]
        for i, step in enumerate(self.steps):  # a check reports every unreadable file
            if getattr(step, 'on_error', None) == 'skip':
                step.on_error = 'raise'
            if isinstance(step, LoadRawImageFromFile) and not step.isolate:
                # a file that crashes or hangs LibRaw is listed, not the end of the check
                self.steps[i] = LoadRawImageFromFile(
                    step.color_space, step.on_missing_matrix, step.backend_args,
                    on_error='raise', isolate=True, decode_timeout=step.decode_timeout)
        self.dataset, self.n = dataset, n

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        from genisp_mmdet.raw import RawReadError
        info = self.dataset.get_data_info(idx)
        path = info.get('img_path')
        results = dict(info)
        try:
            for step in self.steps:
                results = step(results)
        except RawReadError as err:
            return dict(kind='unreadable', file=path, reason=f'{type(err).__name__}: '
                        f'{err.reason}')
        except (ValueError, KeyError) as err:  # alignment: rotated or missing frame sizes
            kind = 'orientation' if 'rotated relative' in str(err) else 'error'
            return dict(kind=kind, file=path, reason=str(err))
        clipped = clipped_boxes(info, results.get('ann_to_img'), results['img_shape'])
        return dict(kind='clipped', file=path, boxes=clipped) if clipped else \
            dict(kind='ok', file=path)


def clipped_boxes(info: dict, ann_to_img: Optional[dict], loaded_shape) -> List[dict]:
    """The annotated boxes of ``info`` that reach more than a pixel outside the image as
    loaded (``loaded_shape`` ``(h, w)``) once mapped onto it: by the map AlignRawAnnotations
    recorded, or as a resize of the annotated frame (``width`` x ``height``) without one. The
    pipeline clips such boxes silently, so they must be counted before it does."""
    h, w = (float(v) for v in loaded_shape[:2])
    if ann_to_img is not None:
        (ax, ay), (bx, by) = ann_to_img['scale'], ann_to_img['offset']
    else:
        ax, ay, bx, by = w / float(info['width']), h / float(info['height']), 0.0, 0.0
    clipped = []
    for inst in info.get('instances', []):
        x0, y0, x1, y1 = inst['bbox']
        m = (ax * x0 + bx, ay * y0 + by, ax * x1 + bx, ay * y1 + by)
        if m[0] < -1 or m[1] < -1 or m[2] > w + 1 or m[3] > h + 1:
            clipped.append(dict(bbox=[round(v, 1) for v in inst['bbox']],
                                in_image=[round(v, 1) for v in m], image=[w, h]))
    return clipped


def check_dataset(dataset, n, workers, report=None) -> int:
    """The ``--check`` scan; prints every problem and a summary, returns the exit status."""
    import json

    from torch.utils.data import DataLoader
    from tqdm import tqdm
    loader = DataLoader(_CheckedImages(dataset, n), batch_size=None, num_workers=workers)
    problems = [r for r in tqdm(loader, total=n, desc='checking', unit='img', file=sys.stderr)
                if r['kind'] != 'ok']
    for p in problems:
        detail = p.get('reason') or f'{len(p["boxes"])} box(es) clipped, e.g. {p["boxes"][0]}'
        print(f'{p["kind"]}: {p["file"]}: {detail}')
    counts = {k: sum(p['kind'] == k for p in problems)
              for k in ('unreadable', 'clipped', 'orientation', 'error')}
    print(f'{n} image(s) checked: {counts["unreadable"]} unreadable, {counts["clipped"]} with '
          f'clipped boxes, {counts["orientation"]} with a rotated annotation frame, '
          f'{counts["error"]} other errors')
    if report:
        with open(report, 'w') as f:
            json.dump(dict(images=n, counts=counts, problems=problems), f, indent=1)
    return 1 if problems else 0


def render(image, raw_meta: Optional[dict], percentile: float = 99.0) -> np.ndarray:
    """``(3, H, W)`` packed image (tensor or array) -> ``(H, W, 3)`` uint8 sRGB."""
    import torch

    from genisp_mmdet.visualization import preview_packed_raw

    x = torch.as_tensor(np.asarray(image)) if not torch.is_tensor(image) else image
    x = x.detach().cpu()
    if x.dtype == torch.uint8:  # an 8-bit pipeline (LoadImageFromFile): BGR
        return x.permute(1, 2, 0).numpy()[..., ::-1].copy()
    meta = raw_meta or {}
    return preview_packed_raw(x, meta.get('color_space', 'xyz' if raw_meta else 'camera'),
                              min(max(percentile, 0.0), 100.0), meta.get('cam_to_xyz'))


def draw_boxes(image: np.ndarray, bboxes: np.ndarray, labels: np.ndarray, classes,
               palette=None, title: str = '') -> np.ndarray:
    """Draw xyxy ``bboxes`` with class names on an ``(H, W, 3)`` uint8 RGB image (copy)."""
    import cv2

    img = np.ascontiguousarray(image.copy())
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 600))
    scale = max(0.4, max(h, w) / 1600)
    for box, label in zip(np.asarray(bboxes).reshape(-1, 4), np.asarray(labels).reshape(-1)):
        label = int(label)
        color = tuple(int(c) for c in palette[label]) if palette is not None and \
            label < len(palette) else (255, 64, 64)
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        cv2.rectangle(img, (x0, y0), (x1, y1), color, thick)
        name = classes[label] if classes is not None and label < len(classes) else str(label)
        (tw, th), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = max(th + base, y0)
        cv2.rectangle(img, (x0, ty - th - base), (x0 + tw + 2, ty), color, -1)
        cv2.putText(img, name, (x0 + 1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    if title:
        (tw, th), base = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(img, (0, 0), (min(w, tw + 6), th + base + 6), (0, 0, 0), -1)
        cv2.putText(img, title, (3, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return img


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)

    def fail(msg: str) -> int:
        print(f'browse_dataset: error: {msg}', file=sys.stderr)
        return 2

    if not osp.isfile(args.config):
        return fail(f'config file not found: {args.config}')
    if args.not_show and not args.output_dir and not args.check:
        return fail('nothing to do: with --not-show, give --output-dir to write PNGs')
    if args.max is not None and args.max < 1:
        return fail(f'--max must be >= 1, got {args.max}')

    import cv2
    from mmengine.config import DictAction
    from mmengine.registry import init_default_scope
    from tqdm import tqdm

    import genisp_mmdet  # noqa: F401  (registers datasets and transforms)
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules

    from genisp_mmdet.engine.launch import ConfigError, load_config
    options = None
    if args.cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        options = parser.parse_args(['--o', *args.cfg_options]).o
    try:
        cfg = load_config(args.config, options, require_model=False)
    except ConfigError as err:
        return fail(str(err))
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmdet'))

    key = f'{args.split}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        have = [k[:-len('_dataloader')] for k in cfg.keys() if k.endswith('_dataloader')]
        return fail(f'{args.config} has no {key}.dataset (splits it has: {have or "none"})')
    try:
        dataset = DATASETS.build(cfg[key]['dataset'])
    except FileNotFoundError as err:
        return fail(f'{err} (set the dataset\'s data_root, see docs/datasets.md)')
    except (KeyError, ValueError, TypeError, OSError) as err:  # an unknown type, bad args
        return fail(f'cannot build the {args.split} dataset: {type(err).__name__}: {err}')
    meta = dataset.metainfo
    classes, palette = meta.get('classes'), meta.get('palette')

    n = len(dataset) if args.max is None else min(args.max, len(dataset))
    if n == 0:
        return fail(f'the {args.split} dataset is empty')
    if args.check:
        try:
            return check_dataset(dataset, n, args.workers, args.report)
        except ValueError as err:
            return fail(f'{args.config}: {err}')
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    show = not args.not_show
    written, n_boxes, clipped = 0, 0, 0
    for idx in tqdm(range(n), desc=f'browsing {args.split}', unit='img', file=sys.stderr):
        info = dataset.get_data_info(idx)
        item = dataset.pipeline(copy.deepcopy(info))
        if item is None:
            print(f'browse_dataset: the pipeline dropped image {idx}', file=sys.stderr)
            continue
        sample = item['data_samples']
        raw_meta = sample.metainfo.get('raw_meta')
        picture = render(item['inputs'], raw_meta, args.percentile)
        gt = sample.gt_instances
        bboxes = gt.bboxes.tensor.numpy() if hasattr(gt.bboxes, 'tensor') else \
            np.asarray(gt.bboxes)
        labels = np.asarray(gt.labels)
        h, w = picture.shape[:2]
        clipped += len(clipped_boxes(info, sample.metainfo.get('ann_to_img'),
                                     sample.metainfo['ori_shape']))
        n_boxes += len(bboxes)
        stem = osp.splitext(osp.basename(sample.metainfo.get('img_path', str(idx))))[0]
        title = f'{stem}  {w}x{h}  {len(bboxes)} boxes'
        drawn = draw_boxes(picture, bboxes, labels, classes, palette, title)
        if args.output_dir:
            cv2.imwrite(osp.join(args.output_dir, f'{idx:05d}_{stem}.png'), drawn[..., ::-1])
            written += 1
        if show:
            try:
                cv2.imshow('browse_dataset', drawn[..., ::-1])
                cv2.waitKey(max(1, int(args.show_interval * 1000)))
            except cv2.error:
                print('browse_dataset: cannot open a window here (headless OpenCV or no '
                      'display); use --not-show --output-dir DIR', file=sys.stderr)
                show = False
                if not args.output_dir:
                    return 2
    print(f'{n} image(s), {n_boxes} box(es), {clipped} reaching outside their image '
          '(clipped)' + (f'; PNGs in {args.output_dir}' if written else ''))
    if clipped:
        print('browse_dataset: warning: boxes reach outside the image and were clipped: check '
              'the alignment (AlignRawAnnotations) and the annotation frame (width/height); '
              '--check lists them', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
