#!/usr/bin/env python
"""How much of its ConvNet's correction a noise-gated GenISP applies to given captures.

    python tools/analysis_tools/noise_gate_levels.py CONFIG CHECKPOINT GLOB [GLOB ...]
        [--max-per-glob 12]

For each glob of RAW files: the gate ``sigmoid(4 (a z + b))`` (``GenISP(noise_gate=True)``)
per file, as the ISP computes it on the config's test pipeline's input (loading, resize, white
balance), printed as median and range. 0: the capture gets the fixed rendering; 1: the full
correction.
"""
from __future__ import annotations

import argparse
import glob
import os.path as osp
import statistics
import sys

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from genisp_mmdet.apis import GenISPInferencer  # noqa: E402


def gate_of(isp, image: torch.Tensor) -> float:
    with torch.no_grad():
        return float(isp.forward_with_params(image[None])['noise_gate'])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('globs', nargs='+')
    parser.add_argument('--max-per-glob', type=int, default=12)
    args = parser.parse_args(argv)
    inferencer = GenISPInferencer(args.config, args.checkpoint, device='cpu')
    isp = inferencer.model.data_preprocessor.isp
    if getattr(isp, 'noise_gate', None) is None:
        print(f'error: the ISP of {args.config} has no noise gate', file=sys.stderr)
        return 2
    for pattern in args.globs:
        files = sorted(glob.glob(pattern))[:args.max_per_glob]
        if not files:
            print(f'{pattern}: no files')
            continue
        gates = [gate_of(isp, inferencer.load(path)['inputs'].float()) for path in files]
        print(f'{pattern}: {len(files)} files, gate median {statistics.median(gates):.2f}, '
              f'range {min(gates):.2f}-{max(gates):.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
