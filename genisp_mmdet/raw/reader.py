"""Reading camera RAW files (any LibRaw Bayer format) into packed, normalised images.

:func:`read_raw` decodes a file with LibRaw (through rawpy), packs its visible Bayer mosaic
into half-resolution ``(R, mean(G1, G2), B)`` pixels with per-channel black/white levels, and
by default converts camera RGB to CIE XYZ (D65) with the camera's own colour matrix.
"""
from __future__ import annotations

import io
import math
import os
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import rawpy

from ..color.matrices import camera_to_xyz_matrix
from .errors import (MissingColorMatrixError, NotRawFileError, PathLike, RawFileNotFoundError,
                     RawReadError, TruncatedRawError, UnsupportedSensorError)
from .packing import CfaLayout, cfa_layout, orient_packed, pack_bayer

#: The keys of :attr:`PackedRaw.meta` (``results['raw_meta']``), in a stable order.
RAW_META_FIELDS = ('make', 'model', 'cfa_pattern', 'black_level', 'white_level', 'camera_wb',
                   'daylight_wb', 'cam_to_xyz', 'color_space', 'iso', 'exposure_time',
                   'visible_shape')

#: bumped whenever :func:`read_raw` returns something else for the same file, so caches of an
#: older output are rebuilt (2: the recorded orientation is applied)
READ_RAW_VERSION = 2

#: File extensions of the RAW formats LibRaw decodes (lower case; compare case-insensitively).
#: The folder tools collect these; files of 2x2 Bayer sensors load, others are refused by name.
RAW_EXTENSIONS = ('.3fr', '.ari', '.arw', '.bay', '.cr2', '.cr3', '.crw', '.dcr', '.dng',
                  '.erf', '.fff', '.gpr', '.iiq', '.k25', '.kdc', '.mef', '.mos', '.mrw', '.nef',
                  '.nrw', '.orf', '.pef', '.ptx', '.raf', '.raw', '.rw2', '.rwl', '.sr2', '.srf',
                  '.srw', '.x3f')

COLOR_SPACES = ('xyz', 'camera')
MISSING_MATRIX_POLICIES = ('raise', 'camera')


class MissingColorMatrixWarning(UserWarning):
    """A file without a colour matrix was returned in camera RGB
    (``on_missing_matrix='camera'``)."""


@dataclass
class PackedRaw:
    """A decoded, packed RAW image.

    Attributes:
        image: ``(H/2, W/2, 3)`` float32, linear, a view of channel-planar memory (its
            ``transpose(2, 0, 1)`` is C-contiguous, so it becomes a CHW tensor without a copy;
            ``np.ascontiguousarray`` gives an interleaved copy). Camera RGB in [0, 1] (black
            subtracted, divided by white - black, clipped) when ``meta['color_space'] ==
            'camera'``; CIE XYZ (D65, daylight white at Y = 1 before exposure) of that camera
            RGB when ``'xyz'`` (may leave [0, 1]; not clipped after the matrix).
        meta: the ``raw_meta`` dict, keys :data:`RAW_META_FIELDS`:

            * ``make``, ``model`` (str or None): IFD0 Make/Model of TIFF-based RAWs (ARW, NEF,
              CR2, DNG, PEF, ORF, RW2, ...; rawpy does not expose LibRaw's), falling back to a
              DNG's UniqueCameraModel (make = its first word); None for other containers.
            * ``cfa_pattern`` (str): ``'RGGB' | 'BGGR' | 'GRBG' | 'GBRG'``.
            * ``black_level`` ([R, G, B] floats): raw units, G the mean of both greens.
            * ``white_level`` (int): raw units.
            * ``camera_wb``, ``daylight_wb`` ([R, G, B] floats or None): LibRaw's as-shot and
              daylight multipliers, None when the file has none.
            * ``cam_to_xyz`` (3x3 nested list or None): the camera RGB -> XYZ matrix (also given
              when ``color_space == 'camera'``, so it can be applied later).
            * ``color_space`` (``'xyz' | 'camera'``): the space of :attr:`image`.
            * ``iso`` (float or None), ``exposure_time`` (seconds, float or None).
            * ``visible_shape`` ([H, W]): LibRaw's visible Bayer frame before cropping to even,
              in the recorded orientation (swapped for a portrait shot).
    """

    image: np.ndarray
    meta: Dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Header sniffing: tells a damaged RAW container from a file that never was one, and reads
# make/model (rawpy does not expose LibRaw's idata.make/model).

_TIFF_MAGICS = {42, 43, 0x4F52, 0x5352, 0x0055}  # TIFF, BigTIFF, ORF (RO, RS), Panasonic RW2


def _looks_like_raw_container(head: bytes) -> bool:
    if len(head) >= 4 and head[:2] in (b'II', b'MM'):
        magic = struct.unpack('<H' if head[:2] == b'II' else '>H', head[2:4])[0]
        if magic in _TIFF_MAGICS:
            return True
    return (head[6:14] == b'HEAPCCDR'          # Canon CRW
            or head.startswith(b'FUJIFILM')    # Fuji RAF
            or head[4:8] == b'ftyp'            # Canon CR3 (ISO BMFF)
            or head.startswith(b'\x00MRM')     # Minolta MRW
            or head.startswith(b'FOVb'))       # Sigma X3F


def _read_head(path: str, file_bytes: Optional[bytes], n: int = 16) -> bytes:
    if file_bytes is not None:
        return bytes(file_bytes[:n])
    try:
        with open(path, 'rb') as f:
            return f.read(n)
    except OSError:
        return b''


class _TiffDirectories:
    """What the directories of a TIFF-like RAW say: IFD0's tag ids and short ASCII values, and
    where the image data they declare ends."""

    def __init__(self):
        self.tags: set = set()
        self.ascii: Dict[int, str] = {}
        self.complete = False  # False when the file ends inside the header or IFD0
        #: end of the last declared strip or tile (IFD0, its chain and SubIFDs), None when
        #: none is declared or a directory could not be walked (LibRaw then has the last word)
        self.data_end: Optional[int] = None
        self.size = 0  # of the file, bytes


_ASCII_TAGS = (0x010F, 0x0110, 0xC614)  # Make, Model, DNG UniqueCameraModel
#: IFD0 tags that only a camera/image file carries: image data (strips, tiles, sub-IFDs with
#: the raw data, thumbnails), EXIF, camera make, DNG/CFA tags.
_IMAGE_TAGS = {0x0111, 0x0144, 0x014A, 0x0201, 0x8769, 0x010F, 0xC612, 0x828E}
#: (offsets, byte counts) tag pairs of TIFF image data: strips, tiles
_DATA_TAGS = ((0x0111, 0x0117), (0x0144, 0x0145))
_INT_FORMATS = {3: 'H', 4: 'I'}  # SHORT, LONG: the types offsets and byte counts may have


def _tiff_directories(path: str, file_bytes: Optional[bytes]) -> Optional[_TiffDirectories]:
    """Walks the directories of a TIFF-based RAW (ARW, NEF, CR2, DNG, PEF, ORF, RW2, ...):
    IFD0's tags and ASCII values, and the end of the image data that IFD0, the IFDs chained
    after it and their SubIFDs (where the raw data lives) declare. None when the file is not
    TIFF-like. Reads the 8-byte header and the directories only."""
    try:
        f = io.BytesIO(file_bytes) if file_bytes is not None else open(path, 'rb')
    except OSError:
        return None
    with f:
        head = f.read(8)
        if len(head) < 4 or head[:2] not in (b'II', b'MM'):
            return None
        end = '<' if head[:2] == b'II' else '>'
        magic = struct.unpack(end + 'H', head[2:4])[0]
        if magic not in _TIFF_MAGICS or magic == 43:  # BigTIFF: not parsed, LibRaw decides
            return None
        ifd = _TiffDirectories()
        ifd.size = f.seek(0, io.SEEK_END)

        def read_at(offset, n):
            f.seek(offset)
            return f.read(n)

        def values(typ, count, value):
            fmt = _INT_FORMATS.get(typ)
            if fmt is None or not 0 < count <= 1 << 20:
                return None
            nbytes = struct.calcsize(fmt) * count
            if nbytes > 4:
                value = read_at(struct.unpack(end + 'I', value)[0], nbytes)
            if len(value) < nbytes:
                return None
            return struct.unpack(end + fmt * count, value[:nbytes])

        if len(head) < 8:
            return ifd
        data_end, queue, seen = 0, [struct.unpack(end + 'I', head[4:8])[0]], set()
        try:
            while queue and len(seen) < 64:
                offset = queue.pop(0)
                if offset == 0 or offset in seen or offset >= ifd.size:
                    continue
                first = not seen
                seen.add(offset)
                raw_count = read_at(offset, 2)
                if len(raw_count) < 2:
                    return ifd  # cut inside a directory: no data end, LibRaw decides
                count = struct.unpack(end + 'H', raw_count)[0]
                raw = f.read(12 * count + 4)
                entries = {}
                for k in range(min(count, len(raw) // 12)):
                    tag, typ, n, value = struct.unpack(end + 'HHI4s', raw[12 * k:12 * k + 12])
                    entries[tag] = (typ, n, value)
                if first:
                    ifd.tags = set(entries)
                    for tag in _ASCII_TAGS:
                        typ, n, value = entries.get(tag, (None, 0, b''))
                        if typ != 2 or not 0 < n <= 4096:
                            continue
                        data = value[:n] if n <= 4 else read_at(
                            struct.unpack(end + 'I', value)[0], n)
                        text = data.split(b'\x00', 1)[0].decode('latin-1').strip()
                        if text:
                            ifd.ascii[tag] = text
                    ifd.complete = len(raw) >= 12 * count
                if len(raw) < 12 * count + 4:
                    return ifd
                for offsets_tag, counts_tag in _DATA_TAGS:
                    if offsets_tag in entries and counts_tag in entries:
                        offsets = values(*entries[offsets_tag])
                        counts = values(*entries[counts_tag])
                        if offsets and counts and len(offsets) == len(counts):
                            data_end = max(data_end, max(o + c for o, c in zip(offsets, counts)))
                if 0x014A in entries:  # SubIFDs
                    queue.extend(values(*entries[0x014A]) or ())
                queue.append(struct.unpack(end + 'I', raw[12 * count:])[0])
        except (OSError, struct.error, ValueError, OverflowError):
            return ifd
        ifd.data_end = data_end or None
        return ifd


def _make_model(ifd: Optional[_TiffDirectories]) -> Tuple[Optional[str], Optional[str]]:
    if ifd is None:
        return None, None
    make, model = ifd.ascii.get(0x010F), ifd.ascii.get(0x0110)
    unique = ifd.ascii.get(0xC614)
    if model is None and unique:
        # DNGs from cinema cameras often carry only UniqueCameraModel ("Blackmagic Pocket
        # Cinema Camera 4K"): its first word is the maker.
        model = unique
        make = make or unique.split()[0]
    return make, model


# --------------------------------------------------------------------------------------------

def _translate_libraw_error(path: str, file_bytes: Optional[bytes],
                            err: Exception) -> RawReadError:
    detail = err.args[0] if err.args else ''
    if isinstance(detail, bytes):
        detail = detail.decode('utf-8', 'replace')
    detail = f'{type(err).__name__}: {detail}' if detail else type(err).__name__
    if isinstance(err, rawpy.LibRawFileUnsupportedError):
        return NotRawFileError(path, f'not a RAW file LibRaw can read ({detail})')
    head = _read_head(path, file_bytes)
    if not head:
        return NotRawFileError(path, 'empty file, not a RAW file')
    if isinstance(err, (rawpy.LibRawIOError, rawpy.LibRawDataError)):
        if not _looks_like_raw_container(head):
            return NotRawFileError(path, f'not a RAW file: unrecognised header {head[:8]!r} '
                                         f'({detail})')
        ifd = _tiff_directories(path, file_bytes)
        if ifd is not None and ifd.complete and not ifd.tags & _IMAGE_TAGS:
            # A well-formed TIFF directory that names no image data, camera or CFA at all is a
            # stub (e.g. a few bytes of TIFF header renamed .arw), not a damaged RAW.
            return NotRawFileError(path, f'not a RAW file: a TIFF header without image data or '
                                         f'camera tags ({detail})')
        return TruncatedRawError(path, f'RAW data is truncated or corrupt: LibRaw could not '
                                       f'read it ({detail})')
    return RawReadError(path, f'LibRaw failed to decode the file ({detail})')


def _sensor_description(raw: 'rawpy.RawPy') -> str:
    try:
        pattern = raw.raw_pattern
    except NotImplementedError as e:
        return f'unknown colour filter layout ({e})'
    if pattern is None:
        return 'no colour filter array'
    n = pattern.shape[0]
    kind = {1: 'monochrome sensor (no colour filter)', 6: 'Fuji X-Trans colour filter',
            16: 'Leaf CatchLight colour filter'}.get(n, 'colour filter')
    return f'{n}x{n} {kind} pattern'


def _positive_or_none(value) -> Optional[float]:
    # LibRaw stores these as float32 and 0 when absent; 7 significant digits drop the float32
    # noise (1/50 s reads 0.02, not 0.0199999995).
    value = float(value)
    return float(f'{value:.7g}') if math.isfinite(value) and value > 0 else None


def _rgb_order(color_desc: str) -> List[int]:
    """LibRaw colour indices of R, G, B (per-colour arrays are indexed by ``color_desc``)."""
    return [color_desc.index(c) for c in 'RGB']


def _wb_rgb(values, order: List[int]) -> Optional[List[float]]:
    vals = [float(values[i]) for i in order]
    if not all(math.isfinite(v) and v > 0 for v in vals):
        return None
    return vals


def _color_matrix(raw: 'rawpy.RawPy', order: List[int]) -> Optional[np.ndarray]:
    # Re-order LibRaw's per-colour rows / columns to R, G, B so the result maps packed
    # (R, G, B) pixels, whatever ``color_desc`` says.
    xyz_to_cam = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[order]
    rgb_cam = np.asarray(raw.color_matrix, dtype=np.float64)[:, order]
    daylight = np.asarray(raw.daylight_whitebalance, dtype=np.float64)[order]
    try:
        m = camera_to_xyz_matrix(xyz_to_cam, rgb_cam, daylight)
    except np.linalg.LinAlgError:
        return None
    if m is None or not np.all(np.isfinite(m)):
        return None
    return m


def read_raw(path: PathLike,
             color_space: str = 'xyz',
             on_missing_matrix: str = 'raise',
             *,
             file_bytes: Optional[bytes] = None) -> PackedRaw:
    """Decodes a Bayer RAW file into a packed ``(H/2, W/2, 3)`` float32 image.

    Works for every format LibRaw reads with a 2x2 R/G/G/B colour filter array (.ARW .NEF
    .CR2 .CR3 .DNG .RW2 .ORF .PEF .SRW .RAF of Bayer Fujis ...). Steps: LibRaw's visible area
    (``raw_image_visible``), per-photosite black level (``black_level_per_channel`` mapped
    through ``raw_pattern``/``color_desc``; LibRaw has already folded 1x1..2x2 black-level
    repeat patterns into those four values -- rawpy does not expose larger patterns),
    ``(v - black) / (white_level - black)``, clip to [0, 1], 2x2 packing into
    ``(R, mean(G1, G2), B)`` for whichever CFA order the file has, then optionally camera RGB
    -> CIE XYZ (D65) with :func:`genisp_mmdet.color.camera_to_xyz_matrix` (inverse of the
    file's ``rgb_xyz_matrix``, or for DNGs LibRaw's ``color_matrix`` with the daylight
    multipliers), and finally the orientation the camera recorded (``sizes.flip``: a portrait
    shot comes out portrait, as LibRaw renders it; :func:`~genisp_mmdet.raw.packing.
    orient_packed`).

    Args:
        path: the RAW file. Also used to name the file in errors when ``file_bytes`` is given.
        color_space: ``'xyz'`` (default) converts to CIE XYZ; ``'camera'`` keeps the camera's
            native RGB (for ablations; no matrix needed).
        on_missing_matrix: what to do when ``color_space='xyz'`` but the file has no usable
            colour matrix (both ``rgb_xyz_matrix`` and ``color_matrix`` zero or singular):
            ``'raise'`` (default) raises :class:`MissingColorMatrixError`; ``'camera'`` emits a
            :class:`MissingColorMatrixWarning` naming the file and returns camera RGB with
            ``meta['color_space'] == 'camera'``.
        file_bytes: the file's content, when it was fetched by other means (e.g. an mmengine
            file backend); ``path`` is then only used for messages and make/model fallback.

    Returns:
        :class:`PackedRaw` with ``image`` ``(floor(H/2), floor(W/2), 3)`` float32 and ``meta``.

    Raises:
        RawFileNotFoundError: ``path`` does not exist (also a ``FileNotFoundError``).
        NotRawFileError: not a RAW file (JPEG, text, directory, empty file...).
        TruncatedRawError: a RAW container whose data is cut short or corrupt (for
            TIFF-based files also one whose declared strips or tiles run past its end, which
            LibRaw itself decodes without complaint).
        UnsupportedSensorError: not a 2x2 Bayer sensor (X-Trans, Foveon, linear DNG,
            monochrome, 4-colour).
        MissingColorMatrixError: no colour matrix and ``on_missing_matrix='raise'``.
        RawReadError: any other decoding failure (base class of all of the above).
        ValueError: an invalid ``color_space`` / ``on_missing_matrix`` option.
    """
    if color_space not in COLOR_SPACES:
        raise ValueError(f'color_space must be one of {COLOR_SPACES}, got {color_space!r}')
    if on_missing_matrix not in MISSING_MATRIX_POLICIES:
        raise ValueError(f'on_missing_matrix must be one of {MISSING_MATRIX_POLICIES}, '
                         f'got {on_missing_matrix!r}')
    path = os.fspath(path)
    if file_bytes is None:
        if not os.path.exists(path):
            raise RawFileNotFoundError(path)
        if os.path.isdir(path):
            raise NotRawFileError(path, 'is a directory, not a RAW file')

    try:
        # rawpy treats anything but a str as a file object, so the path must be a str
        raw = rawpy.imread(io.BytesIO(file_bytes) if file_bytes is not None else path)
    except rawpy.LibRawError as e:
        raise _translate_libraw_error(path, file_bytes, e) from e
    except OSError as e:
        raise RawReadError(path, f'cannot open the file ({e})') from e

    with raw:
        tiff = _tiff_directories(path, file_bytes)
        # LibRaw fills image data missing at the end of a file without a word (a DNG cut in
        # half decodes): the container's own directory says how long the data must be
        if tiff is not None and tiff.data_end is not None and tiff.data_end > tiff.size:
            raise TruncatedRawError(
                path, f'RAW data is truncated: the file declares image data up to byte '
                      f'{tiff.data_end:,} but has {tiff.size:,} bytes')
        try:
            return _decode(raw, path, tiff, color_space, on_missing_matrix)
        except RawReadError:
            raise
        except rawpy.LibRawError as e:
            raise _translate_libraw_error(path, file_bytes, e) from e
        except (RuntimeError, NotImplementedError, IndexError, KeyError, TypeError,
                ValueError, AttributeError) as e:
            # rawpy/LibRaw report odd files through assorted exception types; none of them
            # should escape as anything but a RawReadError naming the file.
            raise RawReadError(path, f'unexpected RAW layout or metadata '
                                     f'({type(e).__name__}: {e})') from e


def _decode(raw: 'rawpy.RawPy', path: str, tiff: Optional[_TiffDirectories], color_space: str,
            on_missing_matrix: str) -> PackedRaw:
    if raw.raw_type != rawpy.RawType.Flat:
        shape = raw.raw_image_visible.shape
        raise UnsupportedSensorError(
            path, f'not a 2x2 Bayer sensor: LibRaw decodes it as a {shape[-1]}-channel image '
                  f'{shape[1]}x{shape[0]} without a colour filter array (linear/demosaiced '
                  'DNG, Foveon, film scan or a 4-colour YRGB/CMYG sensor)')
    try:
        pattern = raw.raw_pattern
    except NotImplementedError as e:
        raise UnsupportedSensorError(path, f'unsupported colour filter layout ({e})') from e
    if pattern is None or pattern.shape != (2, 2):
        raise UnsupportedSensorError(path, f'not a 2x2 Bayer sensor: '
                                           f'{_sensor_description(raw)}')
    color_desc = raw.color_desc.decode('ascii', 'replace').rstrip('\x00')
    try:
        layout: CfaLayout = cfa_layout(pattern, color_desc)
    except ValueError as e:
        raise UnsupportedSensorError(path, f'not an R/G/G/B Bayer sensor: {e}') from e

    bayer = raw.raw_image_visible
    if bayer.ndim != 2 or bayer.shape[0] < 2 or bayer.shape[1] < 2:
        raise UnsupportedSensorError(path, f'visible raw area has shape {bayer.shape}')

    per_colour = raw.black_level_per_channel
    black = np.array([[float(per_colour[layout.color_index[y][x]]) for x in range(2)]
                      for y in range(2)])
    white = int(raw.white_level)
    if not np.all(white > black):
        raise RawReadError(path, f'white level {white} does not exceed the black levels '
                                 f'{black.ravel().tolist()}: corrupt level metadata')

    order = _rgb_order(color_desc)
    cam_to_xyz = _color_matrix(raw, order)
    out_space = color_space
    if color_space == 'xyz' and cam_to_xyz is None:
        if on_missing_matrix == 'raise':
            raise MissingColorMatrixError(
                path, 'no camera colour matrix (rgb_xyz_matrix and color_matrix are zero or '
                      'singular), cannot convert to XYZ; pass on_missing_matrix="camera" to '
                      'fall back to camera RGB')
        warnings.warn(f'{path}: no camera colour matrix, returning camera RGB instead of XYZ '
                      '(raw_meta color_space="camera")', MissingColorMatrixWarning,
                      stacklevel=3)
        out_space = 'camera'

    # The mosaic is a view into LibRaw's buffer: packing must finish before the file closes.
    image = pack_bayer(bayer, layout, black, white,
                       cam_to_xyz if out_space == 'xyz' else None)
    # the orientation the camera recorded (portrait shots), as LibRaw renders it and as
    # annotations drawn on a rendering are; the visible frame turns with the image
    flip = int(raw.sizes.flip)
    image = orient_packed(image, flip)
    visible = [int(bayer.shape[0]), int(bayer.shape[1])]
    if flip & 4:
        visible.reverse()

    other = raw.other
    make, model = _make_model(tiff)
    g_black = (black[layout.green1] + black[layout.green2]) / 2.0
    meta = dict(
        make=make,
        model=model,
        cfa_pattern=layout.name,
        black_level=[float(black[layout.red]), float(g_black), float(black[layout.blue])],
        white_level=white,
        camera_wb=_wb_rgb(raw.camera_whitebalance, order),
        daylight_wb=_wb_rgb(raw.daylight_whitebalance, order),
        cam_to_xyz=None if cam_to_xyz is None else cam_to_xyz.tolist(),
        color_space=out_space,
        iso=_positive_or_none(other.iso_speed),
        exposure_time=_positive_or_none(other.shutter_speed),
        visible_shape=visible,
    )
    return PackedRaw(image=image, meta=meta)
