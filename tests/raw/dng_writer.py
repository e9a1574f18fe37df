"""Writes small, real CFA DNG files with pidng for the RAW tests (LibRaw reads them back
bit-exact), with control over the CFA order, per-position black levels, white level, colour
matrix and EXIF-like tags."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

#: pidng / TIFF-EP CFAPattern codes (0 = red, 1 = green, 2 = blue) in raster order.
CFA_CODES = {'RGGB': [0, 1, 1, 2], 'BGGR': [2, 1, 1, 0], 'GRBG': [1, 0, 2, 1],
             'GBRG': [1, 2, 0, 1]}


def _rationals(values, signed: bool) -> list:
    den = 10000
    return [[int(round(float(v) * den)), den] for v in np.ravel(values)]


def write_dng(path, bayer: np.ndarray, cfa: str = 'RGGB', black=64, white: int = 4095,
              xyz_to_camera: Optional[Sequence[Sequence[float]]] = None,
              as_shot_neutral: Optional[Sequence[float]] = None, make: str = 'GenISP',
              model: str = 'Test Camera', exposure_time: Optional[tuple] = None) -> Path:
    """Writes ``bayer`` ``(H, W)`` uint16 as an uncompressed 16-bit CFA DNG.

    Args:
        black: one black level, or 4 values for the 2x2 cell positions in raster order
            (written with BlackLevelRepeatDim 2x2).
        xyz_to_camera: 3x3 ColorMatrix1 (XYZ -> camera, D65 illuminant); None writes none.
        exposure_time: ``(numerator, denominator)`` seconds.
    """
    from pidng.core import RAW2DNG
    from pidng.defs import (CalibrationIlluminant, DNGVersion, Orientation,
                            PhotometricInterpretation)
    from pidng.dng import DNGTags, Tag

    bayer = np.ascontiguousarray(bayer, dtype=np.uint16)
    h, w = bayer.shape
    t = DNGTags()
    t.set(Tag.ImageWidth, w)
    t.set(Tag.ImageLength, h)
    t.set(Tag.TileWidth, w)
    t.set(Tag.TileLength, h)
    t.set(Tag.Orientation, Orientation.Horizontal)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, 16)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, CFA_CODES[cfa])
    blacks = np.atleast_1d(np.asarray(black, dtype=np.int64))
    if blacks.size == 4:
        t.set(Tag.BlackLevelRepeatDim, [2, 2])
        t.set(Tag.BlackLevel, [int(b) for b in blacks])
    else:
        t.set(Tag.BlackLevel, int(blacks[0]))
    t.set(Tag.WhiteLevel, int(white))
    if xyz_to_camera is not None:
        t.set(Tag.ColorMatrix1, _rationals(xyz_to_camera, signed=True))
        t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    if as_shot_neutral is not None:
        t.set(Tag.AsShotNeutral, _rationals(as_shot_neutral, signed=False))
    if exposure_time is not None:
        t.set(Tag.ExposureTime, [list(exposure_time)])
    t.set(Tag.Make, make)
    t.set(Tag.Model, model)
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    path = Path(path)
    writer = RAW2DNG()
    writer.options(t, path=str(path.parent), compress=False)
    out = writer.convert(bayer, filename=path.name)
    return Path(out)
