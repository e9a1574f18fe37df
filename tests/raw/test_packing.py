"""Bayer packing on synthetic mosaics: CFA orders, levels, clipping, the colour matrix, bands."""
import numpy as np
import pytest

from genisp_mmdet.raw import CFA_PATTERNS, cfa_layout, pack_bayer
from genisp_mmdet.raw import packing

# LibRaw reports colour indices into color_desc b'RGBG': 0 red, 1 green, 2 blue, 3 green #2.
LIBRAW_PATTERNS = {
    'RGGB': [[0, 1], [3, 2]],
    'BGGR': [[2, 3], [1, 0]],
    'GRBG': [[1, 0], [2, 3]],
    'GBRG': [[3, 2], [0, 1]],
}


def mosaic_from_cells(cells: dict, cfa: str) -> np.ndarray:
    """(h, w) planes per colour ('R', 'G1', 'G2', 'B') -> (2h, 2w) mosaic in order ``cfa``."""
    h, w = cells['R'].shape
    out = np.zeros((2 * h, 2 * w), dtype=cells['R'].dtype)
    greens = iter(('G1', 'G2'))
    for i, c in enumerate(cfa):
        y, x = divmod(i, 2)
        out[y::2, x::2] = cells[next(greens) if c == 'G' else c]
    return out


@pytest.mark.parametrize('cfa', CFA_PATTERNS)
def test_cfa_layout_reads_order_from_pattern_and_desc(cfa):
    layout = cfa_layout(np.array(LIBRAW_PATTERNS[cfa]), b'RGBG')
    assert layout.name == cfa
    cell = [[None, None], [None, None]]
    for name, pos in (('R', layout.red), ('G', layout.green1), ('G', layout.green2),
                      ('B', layout.blue)):
        cell[pos[0]][pos[1]] = name
    assert ''.join(cell[0] + cell[1]) == cfa
    assert layout.green1 < layout.green2  # raster order


def test_cfa_layout_uses_color_desc_not_index_conventions():
    # the same indices mean another order when color_desc differs
    assert cfa_layout(np.array([[0, 1], [3, 2]]), b'BGRG').name == 'BGGR'
    assert cfa_layout(np.array([[0, 1], [1, 2]]), 'RGB').name == 'RGGB'


@pytest.mark.parametrize('pattern, desc', [
    ([[0, 1], [3, 2]], b'CMYG'),            # 4-colour complementary
    ([[0, 1], [3, 2]], b'RGBE'),            # Sony 828 emerald
    ([[0, 1], [1, 0]], b'RGBG'),            # two reds
    (np.zeros((6, 6), int), b'RGBG'),       # X-Trans sized
    ([[0]], b'RGBG'),                       # monochrome
    ([[0, 1], [5, 2]], b'RGBG'),            # index past the description
])
def test_cfa_layout_rejects_non_bayer(pattern, desc):
    with pytest.raises(ValueError):
        cfa_layout(np.array(pattern), desc)


@pytest.mark.parametrize('cfa', CFA_PATTERNS)
def test_pack_bayer_known_content(cfa):
    rng = np.random.default_rng(1)
    black, white = 100, 4100
    cells = {c: rng.integers(black, white + 1, (5, 7)).astype(np.uint16)
             for c in ('R', 'G1', 'G2', 'B')}
    out = pack_bayer(mosaic_from_cells(cells, cfa), cfa_layout(LIBRAW_PATTERNS[cfa], b'RGBG'),
                     np.full((2, 2), black), white)
    norm = {c: (v.astype(np.float64) - black) / (white - black) for c, v in cells.items()}
    assert out.shape == (5, 7, 3) and out.dtype == np.float32
    assert out.transpose(2, 0, 1).flags['C_CONTIGUOUS']  # channel-planar, as CHW tensors are
    np.testing.assert_allclose(out[..., 0], norm['R'], atol=1e-6)
    np.testing.assert_allclose(out[..., 1], (norm['G1'] + norm['G2']) / 2, atol=1e-6)
    np.testing.assert_allclose(out[..., 2], norm['B'], atol=1e-6)


def test_pack_bayer_per_position_black_and_clipping():
    layout = cfa_layout(LIBRAW_PATTERNS['RGGB'], b'RGBG')
    black = np.array([[10.0, 20.0], [30.0, 40.0]])  # R, G1 / G2, B
    white = 1010
    # R saturated above white, G1 below black, G2 mid, B exactly white
    bayer = np.tile(np.array([[2000, 5], [30 + 490, 1010]], np.uint16), (3, 4))
    out = pack_bayer(bayer, layout, black, white)
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out[..., 0], 1.0)                       # clipped to 1
    # greens are clipped before averaging: (0 + 490 / 980) / 2
    np.testing.assert_allclose(out[..., 1], 0.25, atol=1e-7)
    np.testing.assert_allclose(out[..., 2], (1010 - 40) / (1010 - 40))
    # the same through the float path (float mosaic, a fractional black level): same clipping
    as_float = pack_bayer(bayer.astype(np.float32), layout, black, white)
    np.testing.assert_array_equal(as_float, out)
    fractional = pack_bayer(bayer, layout, black + 0.5, white)
    np.testing.assert_allclose(fractional[..., 0], 1.0)
    np.testing.assert_allclose(fractional[..., 1], (490 - 0.5) / (1010 - 30.5) / 2, rtol=1e-6)


@pytest.mark.parametrize('white', [16383, 60000])
def test_pack_bayer_integer_green_sum_equals_the_float_path(white):
    """With integer levels and equal green spans, a 14-bit mosaic has its greens summed as
    integers before the float conversion; a 16-bit one (the sum could overflow uint16) and
    a float mosaic take the float path. All give the same numbers, bit for bit."""
    rng = np.random.default_rng(5)
    layout = cfa_layout(LIBRAW_PATTERNS['GRBG'], b'RGBG')
    black = np.array([[512, 500], [520, 512]])  # G1, R / B, G2: the greens share a level
    bayer = rng.integers(0, min(white + 800, 65535), (40, 64)).astype(np.uint16)
    bayer[:2, :2] = white + 1 if white < 65535 else white  # one saturated cell
    m = rng.normal(size=(3, 3))
    for matrix in (None, m):
        as_int = pack_bayer(bayer, layout, black, white, matrix, backend='numpy')
        as_float = pack_bayer(bayer.astype(np.float32), layout, black, white, matrix)
        np.testing.assert_array_equal(as_int, as_float)
    cam = pack_bayer(bayer, layout, black, white)
    assert cam[0, 0].tolist() == [1.0, 1.0, 1.0] and cam.min() == 0.0


def test_pack_bayer_odd_dimensions_crop_to_even():
    layout = cfa_layout(LIBRAW_PATTERNS['GBRG'], b'RGBG')
    bayer = np.arange(7 * 11, dtype=np.uint16).reshape(7, 11) * 10
    out = pack_bayer(bayer, layout, np.zeros((2, 2)), 1000)
    ref = pack_bayer(np.ascontiguousarray(bayer[:6, :10]), layout, np.zeros((2, 2)), 1000)
    assert out.shape == (3, 5, 3)
    np.testing.assert_array_equal(out, ref)


def test_pack_bayer_applies_matrix_after_clipping():
    rng = np.random.default_rng(2)
    layout = cfa_layout(LIBRAW_PATTERNS['BGGR'], b'RGBG')
    bayer = rng.integers(0, 1200, (12, 16)).astype(np.uint16)  # some above white
    m = rng.normal(size=(3, 3))
    # uniform and per-position black levels (the greens then have different spans)
    for black in (np.full((2, 2), 50), np.array([[50, 60], [70, 80]])):
        cam = pack_bayer(bayer, layout, black, 1000)
        xyz = pack_bayer(bayer, layout, black, 1000, matrix=m)
        np.testing.assert_allclose(xyz, cam @ m.T.astype(np.float32), atol=1e-5)
        assert cam.max() == 1.0 and cam.min() == 0.0 and xyz.max() != 1.0


def test_pack_bayer_bands_match_single_pass(monkeypatch):
    rng = np.random.default_rng(3)
    layout = cfa_layout(LIBRAW_PATTERNS['GRBG'], b'RGBG')
    bayer = rng.integers(0, 4096, (2 * 37, 2 * 9)).astype(np.uint16)
    m = rng.normal(size=(3, 3))
    whole = pack_bayer(bayer, layout, np.full((2, 2), 64), 4095, m, backend='numpy')
    # 8-row bands (the minimum), with a short last band: 37 = 4 * 8 + 5
    monkeypatch.setattr(packing, '_CHUNK_BYTES', 16 * 9 * 8)
    banded = pack_bayer(bayer, layout, np.full((2, 2), 64), 4095, m, backend='numpy')
    # BLAS may take SIMD or scalar paths on different band widths: equal up to float rounding
    np.testing.assert_allclose(banded, whole, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('kwargs, match', [
    (dict(bayer=np.zeros((4, 4, 3), np.uint16)), '2D'),
    (dict(bayer=np.zeros((1, 8), np.uint16)), 'complete 2x2'),
    (dict(white=50), 'does not exceed'),
    (dict(matrix=np.eye(4)), '3x3'),
])
def test_pack_bayer_rejects_bad_input(kwargs, match):
    args = dict(bayer=np.zeros((4, 4), np.uint16), white=1000, matrix=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        pack_bayer(args['bayer'], cfa_layout(LIBRAW_PATTERNS['RGGB'], b'RGBG'),
                   np.full((2, 2), 64), args['white'], args['matrix'])


# ---------------------------------------------------------------------------------------------
# The compiled one-pass kernel against the NumPy reference

needs_kernel = pytest.mark.skipif(not packing.pack_kernel_available(),
                                  reason='the C packing kernel is not compiled here '
                                         f'({packing._KERNEL_MISSING})')


def test_the_kernel_is_built_where_a_compiler_is():
    """An install on a machine with a C compiler must have built the kernel (setup.py builds
    it optionally, so a broken build would otherwise only show up as slower packing)."""
    import shutil
    import sysconfig
    compiler = (sysconfig.get_config_var('CC') or 'cc').split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f'no C compiler ({compiler}) on this machine: the NumPy path is expected')
    assert packing.pack_kernel_available(), packing._KERNEL_MISSING


def _random_mosaic(rng, shape, white, margin=600):
    return rng.integers(0, min(white + margin, 65535) + 1, shape).astype(np.uint16)


@needs_kernel
@pytest.mark.parametrize('cfa', CFA_PATTERNS)
@pytest.mark.parametrize('white, black', [
    (4095, [[64, 64], [64, 64]]),          # 12-bit, one black level
    (16383, [[512, 500], [520, 512]]),     # 14-bit, per-site levels
    (65535, [[512, 512], [512, 512]]),     # 16-bit (the Blackmagic DNG's levels)
    (15000, [[100, 140], [180, 220]]),     # greens with different spans
])
def test_kernel_matches_numpy(cfa, white, black):
    rng = np.random.default_rng(11)
    layout = cfa_layout(LIBRAW_PATTERNS[cfa], b'RGBG')
    # odd size, and a view into a wider buffer as LibRaw's raw_image_visible is (row stride
    # larger than the width)
    wide = _random_mosaic(rng, (23, 41), white)
    bayer = wide[1:, 3:38]
    assert bayer.strides[0] != 2 * bayer.shape[1]
    bayer[:2, :2] = min(white + 1, 65535)   # one saturated cell
    bayer[2:4, :2] = 0                      # one cell below black
    camera = {b: pack_bayer(bayer, layout, black, white, backend=b) for b in ('c', 'numpy')}
    np.testing.assert_array_equal(camera['c'], camera['numpy'])
    assert camera['c'].shape == (11, 17, 3)
    assert camera['c'].min() == 0.0 and camera['c'].max() == 1.0
    m = rng.normal(size=(3, 3))
    xyz = {b: pack_bayer(bayer, layout, black, white, m, backend=b) for b in ('c', 'numpy')}
    # BLAS rounds the 3-term sums its own way: equal to float32 precision
    np.testing.assert_allclose(xyz['c'], xyz['numpy'], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xyz['c'], camera['numpy'] @ m.T.astype(np.float32), atol=1e-5)


@needs_kernel
def test_auto_uses_the_kernel_only_for_inputs_it_takes(monkeypatch):
    layout = cfa_layout(LIBRAW_PATTERNS['RGGB'], b'RGBG')
    bayer = _random_mosaic(np.random.default_rng(4), (8, 12), 1000)
    calls = []
    real = packing._pack_with_kernel
    monkeypatch.setattr(packing, '_pack_with_kernel',
                        lambda *a: (calls.append(1), real(*a))[1])
    black = np.full((2, 2), 50)
    auto = pack_bayer(bayer, layout, black, 1000)
    assert calls == [1]
    np.testing.assert_array_equal(auto, pack_bayer(bayer, layout, black, 1000, backend='numpy'))
    # a float mosaic, a column-strided view, a fractional black level: NumPy, same numbers
    column_strided = np.repeat(bayer, 2, axis=1)[:, ::2]
    for mosaic, levels in ((bayer.astype(np.float32), black), (column_strided, black),
                           (bayer, black + 0.5)):
        np.testing.assert_array_equal(
            pack_bayer(mosaic, layout, levels, 1000),
            pack_bayer(mosaic, layout, levels, 1000, backend='numpy'))
    assert calls == [1]
    with pytest.raises(ValueError, match='float32, the kernel reads native uint16'):
        pack_bayer(bayer.astype(np.float32), layout, black, 1000, backend='c')
    with pytest.raises(ValueError, match='unit column stride'):
        pack_bayer(np.repeat(bayer, 2, axis=1)[:, ::2], layout, black, 1000, backend='c')
    with pytest.raises(ValueError, match='not integers'):
        pack_bayer(bayer, layout, black + 0.5, 1000, backend='c')
    unaligned = np.frombuffer(b'\0' + bayer.tobytes(), np.uint16, offset=1).reshape(bayer.shape)
    with pytest.raises(ValueError, match='not aligned'):
        pack_bayer(unaligned, layout, black, 1000, backend='c')
    np.testing.assert_array_equal(pack_bayer(unaligned, layout, black, 1000), auto)


def test_backend_c_without_the_kernel_says_how_to_get_it(monkeypatch):
    layout = cfa_layout(LIBRAW_PATTERNS['RGGB'], b'RGBG')
    bayer = np.full((4, 4), 300, np.uint16)
    monkeypatch.setattr(packing, '_pack_kernel', None)
    with pytest.raises(RuntimeError, match='not compiled.*pip install -e'):
        pack_bayer(bayer, layout, np.zeros((2, 2)), 1000, backend='c')
    # 'auto' falls back to NumPy
    np.testing.assert_allclose(pack_bayer(bayer, layout, np.zeros((2, 2)), 1000), 0.3)
    with pytest.raises(ValueError, match='backend must be one of'):
        pack_bayer(bayer, layout, np.zeros((2, 2)), 1000, backend='cuda')


@needs_kernel
@pytest.mark.parametrize('mosaic, out, match', [
    (np.zeros((4, 4), np.int16), np.zeros((3, 2, 2), np.float32), '2-D uint16'),
    (np.zeros((4, 4, 1), np.uint16), np.zeros((3, 2, 2), np.float32), '2-D uint16'),
    (np.zeros((4, 8), np.uint16)[:, ::2], np.zeros((3, 2, 2), np.float32), 'unit column'),
    (np.zeros((4, 4), np.uint16)[::-1], np.zeros((3, 2, 2), np.float32), 'positive row'),
    (np.zeros((1, 4), np.uint16), np.zeros((3, 0, 2), np.float32), 'no complete'),
    (np.zeros((4, 4), np.uint16), np.zeros((3, 2, 2), np.float64), 'float32'),
    (np.zeros((4, 4), np.uint16), np.zeros((3, 2, 3), np.float32), r'shape \(3, H/2, W/2\)'),
])
def test_kernel_checks_its_buffers(mosaic, out, match):
    """Called directly with wrong buffers the kernel raises instead of reading or writing
    out of bounds."""
    args = ([0, 0, 0, 1, 1, 1, 1, 0], [0] * 4, 1000, [0.0] * 4, 1.0, None, [1.0] * 3, False)
    with pytest.raises(ValueError, match=match):
        packing._pack_kernel.pack_u16(mosaic, out, *args)
    with pytest.raises(ValueError, match='positions in a 2x2'):
        packing._pack_kernel.pack_u16(np.zeros((4, 4), np.uint16),
                                      np.zeros((3, 2, 2), np.float32),
                                      [0, 0, 0, 2, 1, 1, 1, 0], *args[1:])
    with pytest.raises(ValueError, match='read-only'):
        ro = np.zeros((3, 2, 2), np.float32)
        ro.flags.writeable = False
        packing._pack_kernel.pack_u16(np.zeros((4, 4), np.uint16), ro, *args)


@needs_kernel
def test_kernel_matches_numpy_on_the_real_dng(shared):
    import rawpy
    with rawpy.imread(str(shared('raw-samples', 'blackmagic_pocket4k_rggb.dng'))) as raw:
        bayer = raw.raw_image_visible
        layout = cfa_layout(raw.raw_pattern, raw.color_desc)
        black = [[raw.black_level_per_channel[i] for i in row] for row in layout.color_index]
        white = raw.white_level
        cam = {b: pack_bayer(bayer, layout, black, white, backend=b) for b in ('c', 'numpy')}
        m = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.0, 0.1, 0.9]])
        xyz = {b: pack_bayer(bayer, layout, black, white, m, backend=b) for b in ('c', 'numpy')}
    np.testing.assert_array_equal(cam['c'], cam['numpy'])
    np.testing.assert_allclose(xyz['c'], xyz['numpy'], rtol=1e-6, atol=1e-7)


@needs_kernel
def test_kernel_clamps_rescaled_greens_to_one():
    """Camera RGB with G2 rescaled to G1's span is clamped to 1, as the NumPy path does in
    case rounding lifts a saturated green pair above it (exercised with an exaggerated
    scale: ``(1000 + 1000 * 1.5) / 2000``)."""
    mosaic = np.full((2, 2), 1000, np.uint16)
    sites = [0, 0, 0, 1, 1, 1, 1, 0]
    for clamp, green in ((True, 1.0), (False, 1.25)):
        out = np.zeros((3, 1, 1), np.float32)
        packing._pack_kernel.pack_u16(mosaic, out, sites, [0] * 4, 1000, [0.0] * 4, 1.5, None,
                                      [1000.0, 2000.0, 1000.0], clamp)
        assert out.ravel().tolist() == [1.0, green, 1.0]
