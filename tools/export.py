#!/usr/bin/env python
"""Export a trained GenISP model for deployment: the ISP alone and ISP + detector, as ONNX and
TorchScript, from packed RAW in.

    python tools/export.py CONFIG CHECKPOINT --out-dir OUT [--part isp detector]
        [--format onnx torchscript] [--verify RAW_FILE ...] [--opset 17]

Written to OUT: ``isp.onnx`` / ``isp.torchscript.pt`` (packed RAW -> rendering in [0, 1], and
GenISP's white-balance gains and colour matrix), ``isp_detector.onnx`` /
``isp_detector.torchscript.pt`` (packed RAW -> the detector head's raw outputs per pyramid
level, before box decoding and NMS), and ``export.json`` describing inputs, outputs and the
preprocessing baked in. Batch, height and width are dynamic.

``--verify`` runs each exported model on the given RAW files (packed by the config's own
pipeline, so at sizes the export never saw) and compares it with PyTorch: the maximum
absolute difference per model and format is printed and written to ``export.json``; ONNX
needs ``onnxruntime`` (``pip install -e .[onnx]``).
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import genisp_mmdet  # noqa: E402,F401
from genisp_mmdet.apis import GenISPInferencer  # noqa: E402
from genisp_mmdet.apis.export import (INPUT_NAME, ExportableDetector, ExportableISP,  # noqa: E402
                                      export_onnx, export_torchscript)
from genisp_mmdet.engine.launch import ConfigError, fail  # noqa: E402
from genisp_mmdet.raw import RawReadError  # noqa: E402

PARTS = dict(isp='isp', detector='isp_detector')
SUFFIX = dict(onnx='.onnx', torchscript='.torchscript.pt')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint of a GenISP run')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--part', nargs='+', choices=tuple(PARTS), default=list(PARTS),
                        help='isp: the ISP alone; detector: ISP + detector')
    parser.add_argument('--format', nargs='+', choices=tuple(SUFFIX), default=list(SUFFIX))
    parser.add_argument('--example-size', type=int, nargs=2, default=(192, 256),
                        metavar=('H', 'W'), help='size of the tracing example (any works)')
    parser.add_argument('--verify', nargs='+', default=[], metavar='RAW_FILE',
                        help='compare the exported models with PyTorch on these RAW files')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def describe(model, modules, output_names, classes, color_space):
    """export.json: what goes in, what comes out, what preprocessing is inside."""
    pre = model.data_preprocessor
    head = model.detector.bbox_head
    return dict(
        input=dict(name=INPUT_NAME, layout='(batch, 3, height, width) float32',
                   content='packed RAW as genisp_mmdet.raw.read_raw returns it (channels '
                           'first): black level removed, divided by the white level, 2x2 '
                           'Bayer cells packed to (R, mean of greens, B), converted to the '
                           "config's colour space",
                   color_space=color_space),
        isp=dict(outputs=output_names.get('isp'),
                 image='(batch, 3, height, width) RGB, nominally [0, 1] (x255 for 8-bit)'),
        isp_detector=dict(
            outputs=output_names.get('detector'),
            head=type(head).__name__, num_classes=int(head.num_classes), classes=classes,
            strides=[list(s) if isinstance(s, (tuple, list)) else s
                     for s in head.prior_generator.strides],
            inside='ISP, x255, channel order ' + ('BGR' if pre._channel_conversion else 'RGB')
                   + (f', (x - {pre.mean.flatten().tolist()}) / {pre.std.flatten().tolist()}'
                      if pre._enable_normalize else '')
                   + f', padded bottom/right to a multiple of {int(pre.pad_size_divisor)} '
                     f'with {float(pre.pad_value)}',
            decoding='before box decoding and NMS; genisp_mmdet.apis.export.'
                     'decode_head_outputs(model, outputs, (height, width)) gives '
                     "MMDetection's detections"),
        files=modules)


def verify(modules, files, inferencer):
    """Max |exported - PyTorch| per part and format on the packed RAW of ``files``."""
    report = {}
    for path in files:
        packed = inferencer.load(path)['inputs'][None].float().to(inferencer.device)
        for part, (module, paths) in modules.items():
            with torch.no_grad():
                reference = module(packed)
            reference = reference if isinstance(reference, tuple) else (reference,)
            for fmt, file in paths.items():
                if fmt == 'onnx':
                    try:
                        import onnxruntime
                    except ImportError:
                        print('  onnxruntime is not installed: ONNX not verified '
                              '(pip install -e .[onnx])')
                        continue
                    session = onnxruntime.InferenceSession(file,
                                                           providers=['CPUExecutionProvider'])
                    outputs = session.run(None, {INPUT_NAME: packed.cpu().numpy()})
                    outputs = [torch.from_numpy(o) for o in outputs]
                else:
                    with torch.no_grad():
                        outputs = torch.jit.load(file, map_location=packed.device)(packed)
                    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
                diff = max(float((o.to(r.device) - r).abs().max())
                           for o, r in zip(outputs, reference))
                key = f'{PARTS[part]}.{fmt}'
                report[key] = max(report.get(key, 0.0), diff)
                print(f'  {osp.basename(path)} {tuple(packed.shape[-2:])}: {key} max |diff| '
                      f'{diff:.3g}')
    return report


def main(argv=None):
    args = parse_args(argv)
    try:
        inferencer = GenISPInferencer(args.config, args.checkpoint, 'cpu',
                                      cfg_options=args.cfg_options)
        model = inferencer.model
        wrappers = {}
        if 'isp' in args.part:
            wrappers['isp'] = ExportableISP(model.data_preprocessor).eval()
        if 'detector' in args.part:
            wrappers['detector'] = ExportableDetector(model).eval()
        for path in args.verify:
            if not osp.isfile(path):
                raise ConfigError(f'--verify file not found: {path}')
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    os.makedirs(args.out_dir, exist_ok=True)
    example = torch.rand(1, 3, *args.example_size) * 0.02  # a dark packed RAW image

    modules, names = {}, {}
    for part, module in wrappers.items():
        with torch.no_grad():
            outputs = module(example)
        if part == 'isp':
            names[part] = module.output_names
        else:
            names[part] = module.output_names(len(outputs))
        paths = {}
        for fmt in args.format:
            path = osp.join(args.out_dir, PARTS[part] + SUFFIX[fmt])
            if fmt == 'onnx':
                export_onnx(module, example, path, names[part], opset=args.opset)
            else:
                export_torchscript(module, example, path)
            paths[fmt] = path
            print(f'{PARTS[part]} -> {path} ({osp.getsize(path) / 2**20:.1f} MiB)')
        modules[part] = (module, paths)

    info = describe(model, {PARTS[p]: list(m[1].values()) for p, m in modules.items()},
                    names, inferencer.classes,
                    getattr(inferencer.pipeline.transforms[0], 'color_space', None))
    if args.verify:
        print('verifying against PyTorch:')
        try:
            info['verification'] = dict(files=args.verify,
                                        max_abs_diff=verify(modules, args.verify, inferencer))
        except RawReadError as exc:
            fail(str(exc))
    with open(osp.join(args.out_dir, 'export.json'), 'w') as f:
        json.dump(info, f, indent=1)
    print(f'-> {osp.join(args.out_dir, "export.json")}')


if __name__ == '__main__':
    main()
