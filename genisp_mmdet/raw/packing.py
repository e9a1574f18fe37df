"""Bayer mosaic -> packed half-resolution RGB.

Two implementations of one computation: a compiled one-pass C kernel (``_pack_kernel.c``,
built by ``setup.py`` when a C compiler is present) and NumPy (the reference, and the
fallback for inputs the kernel does not take or installs without it); see :func:`pack_bayer`.

A 2x2 Bayer cell holds one red, two green and one blue photosite; packing turns each cell into
one pixel ``(R, mean(G1, G2), B)``, halving both dimensions without interpolation. This is the
same reduction LibRaw performs for ``half_size=True`` (``mix_green``), so the result can be
checked against ``rawpy.RawPy.postprocess(half_size=True, output_color=ColorSpace.raw, ...)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

#: The four orders a 2x2 R/G/G/B mosaic can have, named by the colours of its top-left cell read
#: in raster order (top-left, top-right, bottom-left, bottom-right).
CFA_PATTERNS = ('RGGB', 'BGGR', 'GRBG', 'GBRG')

Position = Tuple[int, int]

#: Target size of the per-band float scratch of :func:`pack_bayer`.
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class CfaLayout:
    """Where each colour sits in the 2x2 cell of a Bayer mosaic.

    Attributes:
        name: the pattern in raster order of the top-left cell, one of :data:`CFA_PATTERNS`.
        red, green1, green2, blue: ``(row, col)`` in ``{0, 1}^2`` of each photosite; ``green1``
            is the first green in raster order.
        color_index: ``2x2`` LibRaw colour indices (into ``color_desc`` and the per-channel
            black levels / white-balance multipliers) of the cell, as ``raw_pattern`` gives.
    """

    name: str
    red: Position
    green1: Position
    green2: Position
    blue: Position
    color_index: Tuple[Tuple[int, int], Tuple[int, int]]


def cfa_layout(raw_pattern: np.ndarray, color_desc: bytes | str) -> CfaLayout:
    """Reads the 2x2 Bayer order from LibRaw's ``raw_pattern`` and ``color_desc``.

    ``raw_pattern[y, x]`` is an index into ``color_desc`` (LibRaw often reports ``b'RGBG'``,
    where index 3 is the second green), so colours are looked up, never assumed from the index.
    The pattern is anchored at the visible area's top-left pixel (LibRaw's ``COLOR(row, col)``
    works in visible-area coordinates and keeps margins even for Bayer sensors).

    Args:
        raw_pattern: ``(2, 2)`` integer colour indices (rawpy ``raw_pattern``).
        color_desc: colour letters per index (rawpy ``color_desc``), e.g. ``b'RGBG'``.

    Returns:
        The :class:`CfaLayout`.

    Raises:
        ValueError: the pattern is not 2x2, or its colours are not one R, two G and one B
            (e.g. CMYG, RGBE, X-Trans, monochrome).
    """
    pattern = np.asarray(raw_pattern)
    if pattern.shape != (2, 2):
        raise ValueError(f'colour filter pattern is {pattern.shape[0]}x{pattern.shape[1]}, '
                         'not a 2x2 Bayer cell')
    desc = color_desc.decode('ascii', 'replace') if isinstance(color_desc, bytes) \
        else str(color_desc)
    desc = desc.rstrip('\x00')
    index = [[int(pattern[y, x]) for x in range(2)] for y in range(2)]
    try:
        letters = [[desc[i].upper() for i in row] for row in index]
    except IndexError:
        raise ValueError(f'colour filter pattern {index} indexes past the colour description '
                         f'{desc!r}') from None
    name = ''.join(letters[0] + letters[1])
    if sorted(name) != ['B', 'G', 'G', 'R']:
        raise ValueError(f'colour filter cell {name!r} (colours {desc!r}) is not one red, two '
                         'green and one blue photosite')
    positions = [(y, x) for y in range(2) for x in range(2)]
    greens = [p for p, c in zip(positions, name) if c == 'G']
    return CfaLayout(name=name,
                     red=positions[name.index('R')],
                     green1=greens[0],
                     green2=greens[1],
                     blue=positions[name.index('B')],
                     color_index=(tuple(index[0]), tuple(index[1])))


#: Accepted values of :func:`pack_bayer`'s ``backend``.
PACK_BACKENDS = ('auto', 'c', 'numpy')

#: The ``ABI`` constant of the kernel this Python code was written for.
_KERNEL_ABI = 1

try:
    from . import _pack_kernel
    if getattr(_pack_kernel, 'ABI', None) != _KERNEL_ABI:
        _KERNEL_MISSING = (f'the compiled module {_pack_kernel.__file__} is a stale build '
                           f'(ABI {getattr(_pack_kernel, "ABI", None)}, expected {_KERNEL_ABI})')
        _pack_kernel = None
    else:
        _KERNEL_MISSING = ''
except ImportError as e:  # built without a compiler, or not installed through setup.py
    _pack_kernel = None
    _KERNEL_MISSING = f'import failed ({e})'


def orient_packed(image: np.ndarray, flip: int) -> np.ndarray:
    """Turns a packed image into the orientation the camera recorded (LibRaw ``sizes.flip``).

    ``flip`` is LibRaw's (dcraw's) code: bit 2 swaps rows and columns, bit 1 mirrors the rows,
    bit 0 the columns, applied as LibRaw applies them when it renders (``0`` as shot, ``3``
    upside down, ``6`` rotated 90 degrees clockwise, ``5`` counter-clockwise - EXIF
    orientations 1, 3, 6 and 8).

    Args:
        image: ``(H, W, 3)`` packed image in the sensor's orientation, channel-planar memory
            as :func:`pack_bayer` returns it.
        flip: LibRaw's flip code, 0..7.

    Returns:
        ``(H, W, 3)`` or, when bit 2 is set, ``(W, H, 3)``, channel-planar like the input (the
        input itself when ``flip`` is 0).
    """
    if not 0 <= flip <= 7:
        raise ValueError(f'LibRaw flip code must be 0..7, got {flip}')
    if not flip:
        return image
    planar = image.transpose(2, 0, 1)
    if flip & 2:
        planar = planar[:, ::-1]
    if flip & 1:
        planar = planar[:, :, ::-1]
    if flip & 4:
        planar = planar.transpose(0, 2, 1)
    return np.ascontiguousarray(planar).transpose(1, 2, 0)


def pack_kernel_available() -> bool:
    """True when the compiled one-pass packing kernel is importable (``setup.py`` builds it
    when a C compiler is present; without it :func:`pack_bayer` runs NumPy, slower:
    docs/benchmarks.md)."""
    return _pack_kernel is not None


@dataclass(frozen=True)
class _Levels:
    """Per-site constants of one packing call, shared by both implementations.

    Sites are ordered R, G1, B, G2. ``matrix`` has the per-channel division folded in.
    """

    sites: Tuple[Position, Position, Position, Position]
    blacks: Tuple[np.float32, ...]
    white: float
    spans: np.ndarray              # (4,) float32, white - black per site
    g2_to_g1: Optional[np.float32]  # None when both greens have the same span
    divisors: np.ndarray           # (3,) float32: R span, 2 * G1 span, B span
    matrix: Optional[np.ndarray]   # (3, 3) float32 or None

    @classmethod
    def of(cls, layout: CfaLayout, black: np.ndarray, white: float,
           m: Optional[np.ndarray]) -> '_Levels':
        sites = (layout.red, layout.green1, layout.blue, layout.green2)
        spans = np.array([white - black[p] for p in sites], dtype=np.float32)
        # clip(v - black, 0, white - black) / (white - black) == clip((v - black) / (white -
        # black), 0, 1): clipping before scaling lets the scale ride along with a later
        # multiply. G2 is brought to G1's span so the two greens can be summed before it.
        g2_to_g1 = None if spans[1] == spans[3] else np.float32(spans[1] / spans[3])
        divisors = np.array([spans[0], 2.0 * spans[1], spans[2]], dtype=np.float32)
        if m is not None:
            # the per-channel division folded into the colour matrix: one pass instead of four
            m = (m / divisors.astype(np.float64)[None, :]).astype(np.float32)
        return cls(sites=sites, blacks=tuple(np.float32(black[p]) for p in sites),
                   white=white, spans=spans, g2_to_g1=g2_to_g1, divisors=divisors, matrix=m)

    def integer_clip_fits(self, dtype: np.dtype) -> bool:
        """Whether the clip can run on the raw integers (exact, cheaper than on floats):
        integer data with integer levels (LibRaw's always are) inside the dtype's range."""
        return (np.issubdtype(dtype, np.integer) and
                all(float(b).is_integer() for b in self.blacks) and
                float(self.white).is_integer() and
                0 <= min(self.blacks) and self.white <= np.iinfo(dtype).max)


def _kernel_unsuitable(bayer: np.ndarray, levels: _Levels) -> str:
    """Why the C kernel cannot take this input ('' when it can)."""
    if bayer.dtype != np.dtype(np.uint16):
        return f'the mosaic is {bayer.dtype}, the kernel reads native uint16'
    if bayer.strides[1] != 2 or bayer.strides[0] <= 0:
        return f'the mosaic has strides {bayer.strides}, the kernel needs unit column stride'
    if not bayer.flags.aligned:
        return 'the mosaic is not aligned to its 2-byte items'
    if not levels.integer_clip_fits(bayer.dtype):
        return 'black/white levels are not integers within uint16'
    return ''


def pack_bayer(bayer: np.ndarray,
               layout: CfaLayout,
               black_levels: Sequence[Sequence[float]] | np.ndarray,
               white_level: float,
               matrix: Optional[np.ndarray] = None,
               *,
               backend: str = 'auto') -> np.ndarray:
    """Packs a Bayer mosaic into half-resolution, black-subtracted, normalised RGB.

    Each photosite is mapped to ``clip((v - black) / (white - black), 0, 1)`` with its own
    black level, then each 2x2 cell becomes ``(R, (G1 + G2) / 2, B)`` -- greens are clipped
    before averaging, as LibRaw does. Saturated and below-black photosites therefore end at
    exactly 1 and 0 (never NaN). When ``matrix`` is given it is applied per pixel *after*
    clipping (``out = matrix @ rgb``), so the result may leave [0, 1].

    Odd dimensions are cropped to even (the last row / column has no complete cell; LibRaw's
    half-size output keeps that partial cell).

    Differences from LibRaw's half-size rendering, both deliberate: each site is divided by
    its *own* ``white - black`` (LibRaw divides every channel by ``white - min(black)``, so
    with unequal black levels its channels saturate slightly below full scale), and nothing
    is scaled to 16 bits. With equal black levels the two agree up to one global factor.

    Args:
        bayer: ``(H, W)`` mosaic, any integer or float dtype (normally LibRaw's uint16
            ``raw_image_visible``), anchored so ``layout`` describes its top-left cell.
        layout: the 2x2 order, from :func:`cfa_layout`.
        black_levels: ``(2, 2)`` black level of each cell position, in raw units.
        white_level: saturation level in raw units; must exceed every black level.
        matrix: optional ``(3, 3)`` colour matrix (e.g. camera RGB -> CIE XYZ).
        backend: ``'auto'`` (default) runs the compiled one-pass kernel when it was built
            (see :func:`pack_kernel_available`) and the input suits it -- native uint16 with
            unit column stride and integer levels within uint16, as LibRaw delivers -- and
            NumPy otherwise; ``'c'`` insists on the kernel (raises when it cannot run);
            ``'numpy'`` forces the NumPy implementation. Camera RGB results are identical
            bit for bit; with a matrix they may differ in the last bit (BLAS's rounding).

    Returns:
        ``(H // 2, W // 2, 3)`` float32: camera RGB in [0, 1], or ``matrix @ camera RGB``
        when ``matrix`` is given. The HWC array is a view of channel-planar memory (its
        ``.transpose(2, 0, 1)`` is C-contiguous), the layout the detector's CHW tensor needs.

    Raises:
        ValueError: a mosaic that is not 2-D or has no complete cell, levels with
            ``white <= black``, a matrix that is not 3x3, an unknown ``backend``, or
            ``backend='c'`` on an input the kernel does not take.
        RuntimeError: ``backend='c'`` but the kernel was not compiled.
    """
    if backend not in PACK_BACKENDS:
        raise ValueError(f'backend must be one of {PACK_BACKENDS}, got {backend!r}')
    if bayer.ndim != 2:
        raise ValueError(f'expected a 2D Bayer mosaic, got shape {bayer.shape}')
    h2, w2 = bayer.shape[0] // 2, bayer.shape[1] // 2
    if h2 == 0 or w2 == 0:
        raise ValueError(f'Bayer mosaic {bayer.shape} has no complete 2x2 cell')
    black = np.asarray(black_levels, dtype=np.float64).reshape(2, 2)
    white = float(white_level)
    if not np.all(white > black):
        raise ValueError(f'white level {white} does not exceed the black levels '
                         f'{black.tolist()}')
    m = None
    if matrix is not None:
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (3, 3):
            raise ValueError(f'colour matrix must be 3x3, got {m.shape}')

    levels = _Levels.of(layout, black, white, m)
    planar = np.empty((3, h2, w2), dtype=np.float32)
    if _use_kernel(backend, bayer, levels):
        _pack_with_kernel(bayer, levels, planar)
    else:
        _pack_with_numpy(bayer, levels, planar)
    return planar.transpose(1, 2, 0)


def _use_kernel(backend: str, bayer: np.ndarray, levels: _Levels) -> bool:
    """Which implementation packs this call; ``backend='c'`` raises where the kernel can't."""
    if backend == 'numpy' or (backend == 'auto' and _pack_kernel is None):
        return False
    unsuitable = _kernel_unsuitable(bayer, levels)
    if backend == 'c':
        if _pack_kernel is None:
            raise RuntimeError(
                'the C packing kernel (genisp_mmdet.raw._pack_kernel) is not compiled: '
                f'{_KERNEL_MISSING}. Reinstall with a C compiler (pip install -e .), or '
                "use backend='numpy'")
        if unsuitable:
            raise ValueError(f"backend='c' cannot pack this input: {unsuitable}")
    return not unsuitable


def _pack_with_kernel(bayer: np.ndarray, levels: _Levels, planar: np.ndarray) -> None:
    sites = [float(c) for site in levels.sites for c in site]
    blacks = [float(b) for b in levels.blacks]  # integers here: also the clip floors
    matrix = None if levels.matrix is None else levels.matrix.ravel().tolist()
    g2_scale = 1.0 if levels.g2_to_g1 is None else float(levels.g2_to_g1)
    _pack_kernel.pack_u16(bayer, planar, sites, blacks, int(levels.white), blacks, g2_scale,
                          matrix, levels.divisors.tolist(),
                          levels.matrix is None and levels.g2_to_g1 is not None)


def _pack_with_numpy(bayer: np.ndarray, levels: _Levels, planar: np.ndarray) -> None:
    """The reference implementation: several passes per cache-sized band of rows."""
    _, h2, w2 = planar.shape
    sites, blacks, white, g2_to_g1 = levels.sites, levels.blacks, levels.white, levels.g2_to_g1
    divisors, m = levels.divisors, levels.matrix
    # Channel-planar storage: the colour matrix is then one (3, 3) @ (3, N) product per band,
    # which NumPy hands to BLAS (measured ~6x faster than interleaving with cv2.merge and
    # applying the matrix with cv2.transform), and mmdet's PackDetInputs turns the HWC view
    # returned below into its CHW tensor without copying.
    flat = planar.reshape(3, h2 * w2)  # a band of rows is a column range of this view
    # Work in bands of packed rows whose scratch (~1 MiB) stays in cache: every pass but the
    # first read and the final write then runs from cache, and no full-frame temporary is
    # allocated (page-faulting fresh full-frame buffers costs more than the arithmetic).
    rows = max(8, _CHUNK_BYTES // (16 * w2))
    # NumPy's strided uint16 -> float32 conversion runs ~4x slower than a strided copy that
    # keeps the dtype followed by a contiguous conversion, so the four sites are first
    # gathered in the mosaic's own dtype.
    gathered = np.empty((4, min(rows, h2), w2), dtype=bayer.dtype)
    scratch = np.empty((4, min(rows, h2), w2), dtype=np.float32)
    site_blacks = np.array(blacks, dtype=np.float32).reshape(4, 1, 1)
    clip_integers = levels.integer_clip_fits(bayer.dtype)
    uniform_black = all(b == blacks[0] for b in blacks)
    # The greens summed as integers, before the float conversion, when their spans agree
    # and the sum cannot overflow (white <= 32767 in uint16: 12-15-bit sensors): one plane
    # fewer to convert, measured 4-8 % faster on 14-bit data. Exact, as the values are integers.
    sum_greens_as_integers = (clip_integers and g2_to_g1 is None and
                              2 * white <= np.iinfo(bayer.dtype).max)
    summed_blacks = np.array([blacks[0], blacks[1] + blacks[3], blacks[2]],
                             dtype=np.float32).reshape(3, 1, 1)
    for r0 in range(0, h2, rows):
        r1 = min(h2, r0 + rows)
        sites_raw, band = gathered[:, :r1 - r0], scratch[:, :r1 - r0]
        for k, (y, x) in enumerate(sites):
            np.copyto(sites_raw[k], bayer[2 * r0 + y:2 * r1:2, x:2 * w2:2])
        # each photosite is clipped before the greens are averaged, as LibRaw does
        if clip_integers:
            top = bayer.dtype.type(white)
            if uniform_black:
                np.clip(sites_raw, bayer.dtype.type(blacks[0]), top, out=sites_raw)
            else:
                for k in range(4):
                    np.clip(sites_raw[k], bayer.dtype.type(blacks[k]), top, out=sites_raw[k])
            if sum_greens_as_integers:
                sites_raw[1] += sites_raw[3]
                np.subtract(sites_raw[:3], summed_blacks, out=band[:3], dtype=np.float32,
                            casting='unsafe')
            else:
                np.subtract(sites_raw, site_blacks, out=band, dtype=np.float32,
                            casting='unsafe')
        else:
            np.subtract(sites_raw, site_blacks, out=band, dtype=np.float32, casting='unsafe')
            np.clip(band, 0.0, levels.spans.reshape(4, 1, 1), out=band)
        if not sum_greens_as_integers:
            if g2_to_g1 is not None:
                band[3] *= g2_to_g1
            band[1] += band[3]
        dst = flat[:, r0 * w2:r1 * w2]
        colours = band[:3].reshape(3, -1)
        if m is None:
            # a division (not a multiply by the reciprocal) makes saturation exactly 1.0
            np.divide(colours, divisors[:, None], out=dst)
            if g2_to_g1 is not None:
                np.minimum(dst[1], 1.0, out=dst[1])
        else:
            np.matmul(m, colours, out=dst)
