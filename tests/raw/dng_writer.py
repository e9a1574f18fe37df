"""Writes small, real CFA DNG files with pidng for the RAW tests (LibRaw reads them back
bit-exact), with control over the CFA order, per-position black levels, white level, colour
matrix and EXIF-like tags. The image layout and the writing are the synthetic benchmark's
(``genisp_mmdet.synthetic.dng``); the tags after them are this writer's own (scalar or 2x2
black levels, an optional matrix and neutral, any make/model, ExposureTime in IFD0)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from genisp_mmdet.synthetic.dng import cfa_dng_tags, rationals, save_dng


def write_dng(path, bayer: np.ndarray, cfa: str = 'RGGB', black=64, white: int = 4095,
              xyz_to_camera: Optional[Sequence[Sequence[float]]] = None,
              as_shot_neutral: Optional[Sequence[float]] = None, make: str = 'GenISP',
              model: str = 'Test Camera', exposure_time: Optional[tuple] = None,
              orientation: int = 1) -> Path:
    """Writes ``bayer`` ``(H, W)`` uint16 as an uncompressed 16-bit CFA DNG.

    Args:
        black: one black level, or 4 values for the 2x2 cell positions in raster order
            (written with BlackLevelRepeatDim 2x2).
        xyz_to_camera: 3x3 ColorMatrix1 (XYZ -> camera, D65 illuminant); None writes none.
        exposure_time: ``(numerator, denominator)`` seconds.
        orientation: EXIF/TIFF Orientation (1 as shot, 3 upside down, 6 and 8 portrait).
    """
    from pidng.defs import CalibrationIlluminant, DNGVersion
    from pidng.dng import Tag

    bayer = np.ascontiguousarray(bayer, dtype=np.uint16)
    h, w = bayer.shape
    t = cfa_dng_tags(w, h, cfa)
    t.set(Tag.Orientation, orientation)
    blacks = np.atleast_1d(np.asarray(black, dtype=np.int64))
    if blacks.size == 4:
        t.set(Tag.BlackLevelRepeatDim, [2, 2])
        t.set(Tag.BlackLevel, [int(b) for b in blacks])
    else:
        t.set(Tag.BlackLevel, int(blacks[0]))
    t.set(Tag.WhiteLevel, int(white))
    if xyz_to_camera is not None:
        t.set(Tag.ColorMatrix1, rationals(xyz_to_camera, signed=True))
        t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    if as_shot_neutral is not None:
        t.set(Tag.AsShotNeutral, rationals(as_shot_neutral, signed=False))
    if exposure_time is not None:
        t.set(Tag.ExposureTime, [list(exposure_time)])
    t.set(Tag.Make, make)
    t.set(Tag.Model, model)
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    return Path(save_dng(t, bayer, path))


def write_monochrome_dng(path, image: np.ndarray, white: int = 4095) -> Path:
    """Writes ``image`` ``(H, W)`` uint16 as a DNG of a sensor without a colour filter array
    (LinearRaw, one sample per pixel): a non-Bayer file the reader must refuse."""
    from pidng.defs import DNGVersion, Orientation, PhotometricInterpretation
    from pidng.dng import DNGTags, Tag

    image = np.ascontiguousarray(image, dtype=np.uint16)
    h, w = image.shape
    tags = DNGTags()
    for tag, value in ((Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w),
                       (Tag.TileLength, h), (Tag.Orientation, Orientation.Horizontal),
                       (Tag.PhotometricInterpretation, PhotometricInterpretation.Linear_Raw),
                       (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.BlackLevel, 0),
                       (Tag.WhiteLevel, white), (Tag.Make, 'GenISP'),
                       (Tag.Model, 'Monochrome Test Camera'),
                       (Tag.DNGVersion, DNGVersion.V1_4),
                       (Tag.DNGBackwardVersion, DNGVersion.V1_2)):
        tags.set(tag, value)
    return Path(save_dng(tags, image, path))


def set_orientation(path, orientation: int) -> None:
    """Rewrites the Orientation tag of IFD0 in place (a portrait shot of the same file)."""
    import struct
    data = bytearray(Path(path).read_bytes())
    end = '<' if data[:2] == b'II' else '>'
    offset = struct.unpack_from(end + 'I', data, 4)[0]
    for k in range(struct.unpack_from(end + 'H', data, offset)[0]):
        entry = offset + 2 + 12 * k
        tag, typ = struct.unpack_from(end + 'HH', data, entry)
        if tag == 0x0112:
            assert typ == 3, 'Orientation is a SHORT'
            struct.pack_into(end + 'H', data, entry + 8, orientation)
            Path(path).write_bytes(bytes(data))
            return
    raise ValueError(f'{path} has no Orientation tag in IFD0')
