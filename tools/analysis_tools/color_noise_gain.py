#!/usr/bin/env python
"""How much a camera's colour path amplifies noise: white-balanced camera RGB -> CIE XYZ (the
camera's matrix) -> linear sRGB, against using the white-balanced camera RGB as it is.

    python tools/analysis_tools/color_noise_gain.py [CAMERA ...]   # default: the five cameras

For independent noise of equal strength in the three balanced camera channels, output channel
i of a linear map M gets sqrt(sum_j M_ij^2) times that noise; M is normalised so that white
stays white (each row sums to 1), as the ISP's exposure and white balance make it. Camera
RGB used as it is has gain 1 per channel. Cameras: genisp_mmdet.synthetic.cameras (the
photo and demo benchmarks' sensors, with their real XYZ -> camera matrices).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from genisp_mmdet.color import XYZ_TO_SRGB, xy_to_xyz, D65_XY  # noqa: E402
from genisp_mmdet.synthetic.cameras import CAMERAS, DEFAULT_CAMERAS  # noqa: E402


def noise_gain(xyz_to_camera) -> np.ndarray:
    """Per linear-sRGB channel, the noise gain of balanced camera RGB -> XYZ -> sRGB."""
    xyz_to_camera = np.asarray(xyz_to_camera, dtype=np.float64)
    white_camera = xyz_to_camera @ xy_to_xyz(D65_XY)  # daylight white in camera RGB
    balanced_to_srgb = np.asarray(XYZ_TO_SRGB) @ np.linalg.inv(xyz_to_camera) \
        @ np.diag(white_camera)
    balanced_to_srgb /= balanced_to_srgb.sum(axis=1, keepdims=True)
    return np.sqrt((balanced_to_srgb ** 2).sum(axis=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('cameras', nargs='*', default=list(DEFAULT_CAMERAS))
    args = parser.parse_args(argv)
    unknown = [c for c in args.cameras if c not in CAMERAS]
    if unknown:
        parser.error(f'unknown cameras {unknown}; known: {sorted(CAMERAS)}')
    for slug in args.cameras:
        gain = noise_gain(CAMERAS[slug].xyz_to_camera)
        print(f'{slug:14s} noise gain R {gain[0]:.2f}  G {gain[1]:.2f}  B {gain[2]:.2f}  '
              f'mean {gain.mean():.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
