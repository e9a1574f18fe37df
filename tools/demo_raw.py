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

import genisp_mmdet  # noqa: E402,F401
from genisp_mmdet.apis import GenISPInferencer  # noqa: E402
from genisp_mmdet.engine.launch import ConfigError, fail  # noqa: E402
from genisp_mmdet.raw import RawReadError  # noqa: E402
from genisp_mmdet.visualization import draw_detections, isp_stage_panel  # noqa: E402


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


def main(argv=None):
    args = parse_args(argv)
    try:
        for path, what in ((args.image, 'image'), (args.checkpoint, 'checkpoint')):
            if not os.path.isfile(path):
                raise ConfigError(f'{what} not found: {path}')
        inferencer = GenISPInferencer(args.config, args.checkpoint, args.device)
        data = inferencer.load(args.image)
    except (ConfigError, RawReadError, ValueError) as exc:
        fail(str(exc))
    result = inferencer.infer_batch([data], return_rendering=True, return_isp_params=True)[0]
    sx, sy = result.rendering_scale
    picture = draw_detections(result.rendering, result.bboxes * [sx, sy, sx, sy], result.scores,
                              result.labels, result.classes, score_thr=args.score_thr)
    cv2.imwrite(args.out, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    keep = result.scores >= args.score_thr
    print(f'{args.image}: {int(keep.sum())} detections with score >= {args.score_thr} '
          f'-> {args.out}')
    if args.stages:
        isp = inferencer.model.data_preprocessor.isp
        color_space = (data['data_samples'].metainfo.get('raw_meta') or {}).get('color_space',
                                                                                 'xyz')
        panel, params = isp_stage_panel(isp, data['inputs'].to(inferencer.device), color_space)
        cv2.imwrite(args.stages, cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
        print(f'ISP stages -> {args.stages}; white-balance gains '
              f"{[round(g, 3) for g in params['wb_gains']]}")


if __name__ == '__main__':
    main()
