#!/usr/bin/env python
"""Detect objects in one RAW file with a trained GenISP model and save a picture.

    python tools/demo_raw.py IMAGE.ARW CONFIG CHECKPOINT --out out.png [--score-thr 0.3]
        [--stages stages.png] [--device cpu|cuda]

``--out`` shows the detections drawn on the ISP's output; ``--stages`` adds a panel of the
ISP's stages (plain preview of the input, after ConvWB, after ConvCC, output).
"""
import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import cv2  # noqa: E402
import torch  # noqa: E402
from mmcv.transforms import Compose  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.runner.checkpoint import load_checkpoint  # noqa: E402

import genisp_mmdet  # noqa: E402,F401
from genisp_mmdet.engine import render_for_display  # noqa: E402
from genisp_mmdet.engine.launch import ConfigError, fail, load_config  # noqa: E402
from genisp_mmdet.raw import RawReadError  # noqa: E402
from genisp_mmdet.visualization import isp_stage_panel  # noqa: E402
from mmdet.registry import MODELS, VISUALIZERS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

#: Transforms that need annotations; a single-image demo has none.
ANNOTATION_TRANSFORMS = ('LoadAnnotations', 'mmdet.LoadAnnotations', 'AlignRawAnnotations')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image', help='RAW file (.ARW, .NEF, .CR2, .DNG, ...)')
    parser.add_argument('config', help='config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint of a GenISP run')
    parser.add_argument('--out', required=True, help='output picture (.png)')
    parser.add_argument('--stages', help='also write a panel of the ISP stages here (.png)')
    parser.add_argument('--score-thr', type=float, default=0.3, help='score threshold')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def test_pipeline(cfg):
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # wrappers such as RepeatDataset
        dataset = dataset.dataset
    return Compose([t for t in dataset.pipeline if t['type'] not in ANNOTATION_TRANSFORMS])


def main(argv=None):
    args = parse_args(argv)
    try:
        for path, what in ((args.image, 'image'), (args.checkpoint, 'checkpoint')):
            if not os.path.isfile(path):
                raise ConfigError(f'{what} not found: {path}')
        cfg = load_config(args.config)
    except ConfigError as exc:
        fail(str(exc))
    register_all_modules(init_default_scope=True)  # pipelines resolve names in mmdet's scope
    model = MODELS.build(cfg.model)
    checkpoint = load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(args.device).eval()
    try:
        data = test_pipeline(cfg)(dict(img_path=args.image, img_id=0))
    except RawReadError as exc:
        fail(str(exc))
    batch = pseudo_collate([data])
    with torch.no_grad():
        result = model.test_step(batch)[0]
    image = render_for_display(model, batch['inputs'], [result])[0]

    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name='genisp_demo_raw'))
    visualizer.dataset_meta = checkpoint.get('meta', {}).get('dataset_meta') or \
        dict(classes=cfg.get('metainfo', {}).get('classes', ()))
    visualizer.add_datasample('demo', image, data_sample=result, draw_gt=False, show=False,
                              pred_score_thr=args.score_thr, out_file=args.out)
    keep = result.pred_instances.scores >= args.score_thr
    print(f'{args.image}: {int(keep.sum())} detections with score >= {args.score_thr} '
          f'-> {args.out}')
    if args.stages:
        isp = model.data_preprocessor.isp
        color_space = result.metainfo.get('raw_meta', {}).get('color_space', 'xyz')
        panel, params = isp_stage_panel(isp, batch['inputs'][0].to(args.device), color_space)
        cv2.imwrite(args.stages, cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
        print(f'ISP stages -> {args.stages}; white-balance gains '
              f"{[round(g, 3) for g in params['wb_gains']]}")


if __name__ == '__main__':
    main()
