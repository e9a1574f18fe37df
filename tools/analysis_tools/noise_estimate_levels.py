#!/usr/bin/env python
"""How well GenISP's noise estimates tell noisy captures from clean, textured ones.

    python tools/analysis_tools/noise_estimate_levels.py CONFIG GLOB [GLOB ...]
        [--max-per-glob 20]

For each glob of RAW files: the log noise level that ``GenISP(noise_gate=True)`` gates on,
with each signal :func:`~genisp_mmdet.models.genisp.estimate_noise` offers (``luminance``,
``chroma``), computed as the ISP sees its input - the config's test pipeline (loading,
resize, white balance), then exposure normalisation - and printed as median, standard
deviation over the files and range. Then, per signal, how far apart the first and the last
glob are: the difference of their medians over their pooled standard deviation (large: one
threshold separates the levels for almost every photo), and, when both globs hold the same
file names (one scene set at two darkness levels), the spread of the per-photo difference.
Scene texture widens each level's spread; noise moves the median. No weights are needed:
an untrained ISP's colour nets are the identity.
"""
from __future__ import annotations

import argparse
import glob
import os.path as osp
import sys

import numpy as np
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.registry import init_default_scope  # noqa: E402

from genisp_mmdet.apis import GenISPInferencer  # noqa: E402
from genisp_mmdet.models.genisp import NOISE_SIGNALS, GenISP, estimate_noise  # noqa: E402
from genisp_mmdet.engine.launch import load_config  # noqa: E402


def log_noise_levels(pipeline, files) -> dict:
    """``{signal: [log noise level per file]}`` of the exposure-normalised test inputs."""
    normalise = GenISP().normalize_exposure
    levels = {signal: [] for signal in NOISE_SIGNALS}
    with torch.no_grad():
        for path in files:
            image, _ = normalise(pipeline(dict(img_path=path))['inputs'].float()[None])
            for signal in NOISE_SIGNALS:
                levels[signal].append(float(torch.log(estimate_noise(image, signal))))
    return levels


def separation(first, last) -> float:
    pooled = np.sqrt((np.var(first) + np.var(last)) / 2)
    return float((np.median(last) - np.median(first)) / max(pooled, 1e-12))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='a photo config: its test pipeline loads the files')
    parser.add_argument('globs', nargs='+')
    parser.add_argument('--max-per-glob', type=int, default=20)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    pipeline = GenISPInferencer.test_pipelines(cfg)[0]  # as the inferencer loads a file
    found = []
    for pattern in args.globs:
        files = sorted(glob.glob(pattern))[:args.max_per_glob]
        if not files:
            print(f'error: {pattern}: no files', file=sys.stderr)
            return 2
        found.append((pattern, files, log_noise_levels(pipeline, files)))
    for signal in NOISE_SIGNALS:
        print(f'{signal}: log noise level (median, sd, range)')
        for pattern, files, levels in found:
            z = np.array(levels[signal])
            print(f'  {pattern}: {len(files)} files, {np.median(z):.2f}, sd {z.std():.2f}, '
                  f'{z.min():.2f} to {z.max():.2f}')
        if len(found) > 1:
            (first, first_files, a), (last, last_files, b) = found[0], found[-1]
            line = (f'  {last} vs {first}: median difference / pooled sd '
                    f'{separation(a[signal], b[signal]):.1f}')
            if [osp.basename(f) for f in first_files] == [osp.basename(f) for f in last_files]:
                shift = np.array(b[signal]) - np.array(a[signal])
                line += f'; per-photo difference sd {shift.std():.2f}'
            print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
