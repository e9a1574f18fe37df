"""Writing simulated Bayer captures as real, uncompressed CFA DNG files with ``pidng``.

Tags written (pidng adds ``DNGVersion`` 1.4): 16-bit CFA image in one tile,
``CFARepeatPatternDim`` 2x2, ``CFAPattern`` (0 R, 1 G, 2 B), ``BlackLevel`` (one value for
all sites), ``WhiteLevel``, ``ColorMatrix1`` = the camera's XYZ (D65) -> camera matrix with
``CalibrationIlluminant1`` = D65, ``AsShotNeutral`` = the camera's response to the scene
illuminant normalised to green, ``Make`` / ``Model`` / ``UniqueCameraModel`` naming a
*simulated* camera (``Make`` is ``'GenISP synthetic'``, so LibRaw does not apply
maker-specific quirks meant for the real model), and an EXIF sub-IFD with
``PhotographicSensitivity`` (ISO) and ``ExposureTime``.

Read back with rawpy (LibRaw): ``raw_image`` is bit-exact, ``raw_pattern``/``color_desc``
give the CFA, ``black_level_per_channel``/``white_level`` the levels,
``other.iso_speed``/``other.shutter_speed`` the ISO and exposure time,
``camera_whitebalance`` is ``1 / AsShotNeutral`` up to scale. LibRaw leaves
``rgb_xyz_matrix`` all zero for DNGs; it sets ``color_matrix`` and ``daylight_whitebalance``
instead, from which ``genisp_mmdet.color.camera_to_xyz_matrix`` recovers
``inv(ColorMatrix1)`` up to scale.
"""
from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from .cameras import CameraSpec

#: Denominator of the signed rationals used for matrices and neutrals (DNG convention).
RATIONAL_DENOMINATOR = 10000
_CFA_CODE = {'R': 0, 'G': 1, 'B': 2}
#: LibRaw treats frames narrower or lower than 22 px as not RAW.
MIN_SIDE = 22


def rationals(values, signed: bool) -> list[list[int]]:
    """``values`` as DNG rationals ``[[round(v * 10000), 10000], ...]`` (flattened); unsigned
    ones must not be negative."""
    out = []
    for v in np.asarray(values, dtype=np.float64).ravel():
        if not signed and v < 0:
            raise ValueError(f'negative value {v} for an unsigned rational tag')
        out.append([int(round(v * RATIONAL_DENOMINATOR)), RATIONAL_DENOMINATOR])
    return out


def _sub_ifd_tag(dng_tag_cls, tag, ifd):
    """A pidng tag pointing to a sub-IFD. pidng 4.0.9's own IFD-typed tags fail (they add
    bytes to a str), so this sets the 4-byte placeholder value as bytes; pidng lays out and
    writes the sub-IFD itself."""

    class SubIFDTag(dng_tag_cls):
        def setValue(self, value):
            self.Value = b'\x00' * 4
            self.subIFD = value[0]

    return SubIFDTag(tag, [ifd])


def cfa_dng_tags(width: int, height: int, cfa: str):
    """pidng ``DNGTags`` laying out an uncompressed 16-bit CFA image of ``width`` x ``height``
    in one tile, horizontal, with the 2x2 CFA ``cfa`` (``'RGGB'``, ``'GBRG'``...); the caller
    adds the levels, colour and names, then writes with :func:`save_dng`."""
    from pidng.defs import Orientation, PhotometricInterpretation
    from pidng.dng import DNGTags, Tag

    tags = DNGTags()
    tags.set(Tag.ImageWidth, width)
    tags.set(Tag.ImageLength, height)
    tags.set(Tag.TileWidth, width)
    tags.set(Tag.TileLength, height)
    tags.set(Tag.Orientation, Orientation.Horizontal)
    tags.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, 16)
    tags.set(Tag.CFARepeatPatternDim, [2, 2])
    tags.set(Tag.CFAPattern, [_CFA_CODE[c] for c in cfa])
    return tags


def save_dng(tags, bayer: np.ndarray, path: str | os.PathLike) -> str:
    """Write the ``(H, W)`` uint16 ``bayer`` with ``tags`` as an uncompressed DNG at ``path``
    (pidng appends ``.dng`` to a name without it); returns the path written."""
    from pidng.core import RAW2DNG

    writer = RAW2DNG()
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    writer.options(tags, path=directory, compress=False)
    return writer.convert(bayer, filename=name)


def write_dng(path: str | os.PathLike, bayer: np.ndarray, camera: CameraSpec,
              as_shot_neutral: np.ndarray, iso: float, exposure_time: float = 1 / 30) -> str:
    """Write one CFA DNG.

    Args:
        path: output file; must end in ``.dng``.
        bayer: ``(H, W)`` uint16 mosaic in ``camera.cfa`` order, values in
            ``[0, camera.white_level]``.
        camera: gives the CFA, levels, colour matrix and names.
        as_shot_neutral: (3,) positive camera-RGB neutral of the scene illuminant (any scale;
            written normalised to green = 1).
        iso: ISO speed written to ``PhotographicSensitivity`` (rounded to an integer).
        exposure_time: seconds, written as a rational.

    Returns:
        The path written, as a string.
    """
    # imported here so the scene/camera simulation works without the optional writer
    from pidng.defs import CalibrationIlluminant
    from pidng.dng import Tag, dngIFD, dngTag

    path = os.fspath(path)
    if not path.endswith('.dng'):
        raise ValueError(f'DNG path must end in .dng: {path}')
    bayer = np.ascontiguousarray(bayer)
    if bayer.dtype != np.uint16 or bayer.ndim != 2:
        raise ValueError(f'bayer must be a 2-D uint16 array, got {bayer.dtype} {bayer.shape}')
    h, w = bayer.shape
    if h > 65535 or w > 65535:
        raise ValueError(f'{w}x{h} exceeds the 16-bit tile size pidng writes')
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f'{w}x{h} is too small: LibRaw refuses raw frames under '
                         f'{MIN_SIDE} px a side')
    neutral = np.asarray(as_shot_neutral, dtype=np.float64)
    if neutral.shape != (3,) or not np.all(neutral > 0):
        raise ValueError(f'as_shot_neutral must be 3 positive values, got {as_shot_neutral}')
    neutral = neutral / neutral[1]
    exposure = Fraction(exposure_time).limit_denominator(100000)

    tags = cfa_dng_tags(w, h, camera.cfa)
    tags.set(Tag.BlackLevelRepeatDim, [1, 1])
    tags.set(Tag.BlackLevel, [int(camera.black_level)])
    tags.set(Tag.WhiteLevel, [int(camera.white_level)])
    tags.set(Tag.ColorMatrix1, rationals(camera.matrix, signed=True))
    tags.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    tags.set(Tag.AsShotNeutral, rationals(neutral, signed=False))
    tags.set(Tag.Make, 'GenISP synthetic')
    tags.set(Tag.Model, f'{camera.name} (simulated, {camera.cfa})')
    tags.set(Tag.UniqueCameraModel, f'GenISP synthetic {camera.slug}')
    # ISO and exposure time go in an EXIF sub-IFD, where LibRaw looks for them (it ignores an
    # ISO tag in IFD0)
    exif = dngIFD()
    exif.tags.append(dngTag(Tag.PhotographicSensitivity, [int(round(iso))]))
    exif.tags.append(dngTag(Tag.ExposureTime, [[exposure.numerator, exposure.denominator]]))
    tags.__tags__[Tag.EXIF_IFD] = _sub_ifd_tag(dngTag, Tag.EXIF_IFD, exif)

    return save_dng(tags, bayer, path)
