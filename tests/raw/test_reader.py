"""read_raw against LibRaw itself, on the real Blackmagic DNG and on DNGs written with pidng."""
import json
import pickle
import warnings

import numpy as np
import pytest
import rawpy

from genisp_mmdet.color import D65_XY, xy_to_xyz, xyz_to_xy
from genisp_mmdet.raw import (CFA_PATTERNS, RAW_META_FIELDS, MissingColorMatrixError,
                              MissingColorMatrixWarning, NotRawFileError, RawFileNotFoundError,
                              RawReadError, TruncatedRawError, UnsupportedSensorError, read_raw)
from tests.conftest import SHARED_DIR, shared_path
from tests.raw.dng_writer import write_dng

BLACKMAGIC = ('raw-samples', 'blackmagic_pocket4k_rggb.dng')
D750 = [[0.902, -0.289, -0.0715], [-0.4535, 1.2436, 0.2348], [-0.0934, 0.1919, 0.7086]]


def libraw_half_size(path) -> np.ndarray:
    """LibRaw's own 2x2 reduction in camera space, linear, no white balance or brightening."""
    with rawpy.imread(str(path)) as raw:
        return raw.postprocess(half_size=True, output_color=rawpy.ColorSpace.raw, gamma=(1, 1),
                               no_auto_bright=True, user_wb=[1, 1, 1, 1], user_flip=0,
                               output_bps=16).astype(np.float64)


def r2_with_file_scale(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-channel R^2 of ``ref ~ s * ours`` with ONE least-squares scale ``s`` per file (all
    channels share it: a CFA or level mistake in any channel cannot be absorbed)."""
    ours = ours.astype(np.float64)
    ref = ref[:ours.shape[0], :ours.shape[1]]  # LibRaw keeps a partial last cell, we crop
    s = (ours * ref).sum() / (ours * ours).sum()
    res = ((ref - s * ours) ** 2).sum(axis=(0, 1))
    tot = ((ref - ref.mean(axis=(0, 1))) ** 2).sum(axis=(0, 1))
    return 1.0 - res / tot


def structured_mosaic(cfa: str, h: int = 64, w: int = 96, black: int = 64, white: int = 4095,
                      seed: int = 0) -> np.ndarray:
    """A mosaic whose colours have unrelated content (R: horizontal ramp, G: vertical ramp
    plus texture, B: noise), so any mix-up of CFA sites shows up as a poor fit."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h // 2, 0:w // 2]
    span = white - black
    cells = {'R': black + span * (0.05 + 0.9 * xx / (w // 2)),
             'G1': black + span * (0.05 + 0.8 * yy / (h // 2) + 0.1 * rng.random(yy.shape)),
             'B': black + span * rng.random(yy.shape)}
    cells['G2'] = np.clip(cells['G1'] + rng.normal(0, 8, yy.shape), black, white)
    out = np.zeros((h, w), np.uint16)
    greens = iter(('G1', 'G2'))
    for i, c in enumerate(cfa):
        y, x = divmod(i, 2)
        out[y::2, x::2] = np.round(cells[next(greens) if c == 'G' else c])
    return out


@pytest.fixture(scope='module')
def written_dngs(tmp_path_factory):
    """One 64x96 CFA DNG per Bayer order, with the D750 matrix and known content."""
    d = tmp_path_factory.mktemp('dngs')
    return {cfa: (write_dng(d / f'{cfa}.dng', structured_mosaic(cfa, seed=i), cfa,
                            xyz_to_camera=D750, exposure_time=(1, 50)),
                  structured_mosaic(cfa, seed=i))
            for i, cfa in enumerate(CFA_PATTERNS)}


@pytest.fixture(scope='module')
def blackmagic():
    path = shared_path(*BLACKMAGIC)
    return path, read_raw(path, color_space='camera'), read_raw(path), libraw_half_size(path)


# -- agreement with LibRaw --------------------------------------------------------------------
@pytest.mark.parametrize('cfa', CFA_PATTERNS)
def test_written_dng_matches_libraw_half_size(written_dngs, cfa):
    path, _ = written_dngs[cfa]
    packed = read_raw(path, color_space='camera')
    assert packed.meta['cfa_pattern'] == cfa
    assert np.all(r2_with_file_scale(packed.image, libraw_half_size(path)) >= 0.9999)
    # the check has teeth: the same data with red and blue swapped fits badly
    swapped = packed.image[..., ::-1]
    assert np.any(r2_with_file_scale(swapped, libraw_half_size(path)) < 0.9)


@pytest.mark.parametrize('cfa', CFA_PATTERNS)
def test_written_dng_known_content(written_dngs, cfa):
    path, mosaic = written_dngs[cfa]
    packed = read_raw(path, color_space='camera')
    norm = (mosaic.astype(np.float64) - 64) / (4095 - 64)
    sites = {}
    greens = []
    for i, c in enumerate(cfa):
        y, x = divmod(i, 2)
        (greens.append(norm[y::2, x::2]) if c == 'G' else sites.__setitem__(c, norm[y::2, x::2]))
    np.testing.assert_allclose(packed.image[..., 0], sites['R'], atol=1e-6)
    np.testing.assert_allclose(packed.image[..., 1], (greens[0] + greens[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(packed.image[..., 2], sites['B'], atol=1e-6)


def test_blackmagic_matches_libraw_half_size(blackmagic):
    _, camera, _, ref = blackmagic
    assert camera.image.shape == (1088, 2064, 3) == ref.shape
    assert np.all(r2_with_file_scale(camera.image, ref) >= 0.9999)


def test_blackmagic_meta(blackmagic):
    _, camera, xyz, _ = blackmagic
    meta = xyz.meta
    assert tuple(meta) == RAW_META_FIELDS
    assert meta['make'] == 'Blackmagic'
    assert meta['model'] == 'Blackmagic Pocket Cinema Camera 4K'
    assert meta['cfa_pattern'] == 'RGGB'
    assert meta['black_level'] == [512.0, 512.0, 512.0]
    assert meta['white_level'] == 65535
    assert meta['visible_shape'] == [2176, 4128]
    assert meta['color_space'] == 'xyz' and camera.meta['color_space'] == 'camera'
    assert np.array(meta['cam_to_xyz']).shape == (3, 3)
    assert camera.meta['cam_to_xyz'] == meta['cam_to_xyz']  # reported in camera mode too
    assert len(meta['daylight_wb']) == 3 and len(meta['camera_wb']) == 3
    assert meta['iso'] is None and meta['exposure_time'] is None  # the file has neither
    json.dumps(meta)  # plain JSON types (goes to the cache sidecar and data samples)
    assert 0.0 <= camera.image.min() and camera.image.max() <= 1.0


# -- colour -------------------------------------------------------------------------------------
def test_blackmagic_daylight_maps_to_d65(blackmagic):
    _, _, xyz, _ = blackmagic
    meta = xyz.meta
    # LibRaw leaves rgb_xyz_matrix zero for this DNG: the colour_matrix fallback is used
    white = np.array(meta['cam_to_xyz']) @ (1.0 / np.array(meta['daylight_wb']))
    assert np.abs(xyz_to_xy(white) - D65_XY).max() < 0.02
    np.testing.assert_allclose(
        xyz.image[::97, ::89], blackmagic[1].image[::97, ::89] @ np.array(meta['cam_to_xyz']).T,
        rtol=1e-4, atol=1e-5)


_MATRICES = SHARED_DIR / 'cameras' / 'color_matrices.json'
CAMERAS = json.loads(_MATRICES.read_text())['cameras'] if _MATRICES.exists() else {}


@pytest.mark.parametrize('name', sorted(CAMERAS) or [pytest.param(
    None, marks=pytest.mark.skip(reason=f'real test data not available: {_MATRICES} is absent'))])
def test_real_camera_matrix_dng_daylight_is_d65(tmp_path, name):
    spec = CAMERAS[name]
    xyz_to_cam = np.array(spec['xyz_to_camera'])
    cfa, black, white = spec['cfa'], 256, 4095
    # a flat D65-white scene as this camera records it, written through the camera's matrix
    cam = xyz_to_cam @ xy_to_xyz(D65_XY)
    cam = 0.5 * cam / cam.max()
    mosaic = np.zeros((32, 48), np.uint16)
    for i, c in enumerate(cfa):
        y, x = divmod(i, 2)
        mosaic[y::2, x::2] = np.round(black + cam['RGB'.index(c)] * (white - black))
    path = write_dng(tmp_path / 'white.dng', mosaic, cfa, black=black, white=white,
                     xyz_to_camera=xyz_to_cam)
    with rawpy.imread(str(path)) as raw:
        # what rawpy reports for a DNG ColorMatrix1: rgb_xyz_matrix stays zero, LibRaw's
        # camera -> sRGB color_matrix and daylight multipliers carry the matrix
        assert not raw.rgb_xyz_matrix.any() and raw.color_matrix[:, :3].any()
    packed = read_raw(path)
    meta = packed.meta
    # the camera's daylight response (1 / daylight multipliers) is D65 in XYZ ...
    white_xyz = np.array(meta['cam_to_xyz']) @ (1.0 / np.array(meta['daylight_wb']))
    assert np.abs(xyz_to_xy(white_xyz) - D65_XY).max() < 0.02
    # ... and so is the decoded image of the D65-white scene, end to end
    assert np.abs(xyz_to_xy(packed.image.reshape(-1, 3).mean(0)) - D65_XY).max() < 0.02
    # the matrix is the inverse of the file's XYZ -> camera matrix, up to scale
    m = np.array(meta['cam_to_xyz'])
    inv = np.linalg.inv(xyz_to_cam)
    np.testing.assert_allclose(m / m[1].sum(), inv / inv[1].sum(), atol=1e-3)


# -- levels, clipping, geometry -----------------------------------------------------------------
def test_per_position_black_levels_and_odd_size(tmp_path):
    rng = np.random.default_rng(5)
    mosaic = rng.integers(0, 4001, (65, 97)).astype(np.uint16)
    blacks = [60, 64, 70, 80]  # raster order of the GRBG cell: G1, R, B, G2
    path = write_dng(tmp_path / 'bl.dng', mosaic, 'GRBG', black=blacks, white=4000)
    packed = read_raw(path, color_space='camera')
    assert packed.meta['black_level'] == [64.0, 70.0, 70.0]
    assert packed.meta['visible_shape'] == [65, 97]
    assert packed.image.shape == (32, 48, 3)
    m = mosaic[:64, :96].astype(np.float64)

    def site(y, x, b):
        return np.clip((m[y::2, x::2] - b) / (4000 - b), 0, 1)
    np.testing.assert_allclose(packed.image[..., 0], site(0, 1, 64), atol=1e-6)
    np.testing.assert_allclose(packed.image[..., 1], (site(0, 0, 60) + site(1, 1, 80)) / 2,
                               atol=1e-6)
    np.testing.assert_allclose(packed.image[..., 2], site(1, 0, 70), atol=1e-6)
    assert np.all(r2_with_file_scale(packed.image, libraw_half_size(path)) >= 0.9999)


def test_saturated_pixels_clip_to_one_without_nan(tmp_path):
    mosaic = np.full((32, 48), 3000, np.uint16)
    mosaic[:16] = 65535      # far above the white level
    mosaic[16:20] = 0        # below black
    path = write_dng(tmp_path / 'sat.dng', mosaic, 'RGGB', black=64, white=3000,
                     xyz_to_camera=D750)
    camera = read_raw(path, color_space='camera').image
    assert not np.isnan(camera).any()
    assert camera.max() == 1.0 and camera.min() == 0.0
    np.testing.assert_array_equal(camera[:8], 1.0)
    np.testing.assert_array_equal(camera[8:10], 0.0)
    xyz = read_raw(path).image
    assert np.isfinite(xyz).all()
    # saturated white through the matrix: the same XYZ everywhere it saturated
    np.testing.assert_allclose(xyz[:8], np.broadcast_to(xyz[0, 0], xyz[:8].shape), rtol=1e-6)


def test_exposure_and_make_model_from_dng(written_dngs):
    meta = read_raw(written_dngs['RGGB'][0]).meta
    assert meta['exposure_time'] == pytest.approx(0.02)
    assert (meta['make'], meta['model']) == ('GenISP', 'Test Camera')
    assert meta['camera_wb'] is None  # no AsShotNeutral written


def test_file_bytes_give_the_same_result(written_dngs):
    path = written_dngs['GBRG'][0]
    a = read_raw(path)
    b = read_raw(path, file_bytes=path.read_bytes())
    np.testing.assert_array_equal(a.image, b.image)
    assert a.meta == b.meta


# -- missing colour matrix ------------------------------------------------------------------
@pytest.fixture(scope='module')
def no_matrix_dng(tmp_path_factory):
    return write_dng(tmp_path_factory.mktemp('nomatrix') / 'nomatrix.dng',
                     structured_mosaic('BGGR'), 'BGGR')


def test_missing_matrix_raises_by_default(no_matrix_dng):
    with pytest.raises(MissingColorMatrixError, match='nomatrix.dng'):
        read_raw(no_matrix_dng)


def test_missing_matrix_warns_and_falls_back_to_camera(no_matrix_dng):
    with pytest.warns(MissingColorMatrixWarning, match='nomatrix.dng'):
        packed = read_raw(no_matrix_dng, on_missing_matrix='camera')
    assert packed.meta['color_space'] == 'camera' and packed.meta['cam_to_xyz'] is None
    np.testing.assert_array_equal(packed.image,
                                  read_raw(no_matrix_dng, color_space='camera').image)


def test_camera_space_needs_no_matrix(no_matrix_dng):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert read_raw(no_matrix_dng, color_space='camera').meta['color_space'] == 'camera'


# -- bad input ----------------------------------------------------------------------------------
BAD_FILES = {
    'canon_eos6d_linear.dng': UnsupportedSensorError,      # linear DNG, no CFA
    'nikon_coolscan_film_scanner.nef': UnsupportedSensorError,  # RGB planes, no CFA
    'kodak_c330_yrgb.raw': UnsupportedSensorError,         # 4-channel YRGB
    'fake_26_bytes.arw': NotRawFileError,
    'jpeg_renamed.arw': NotRawFileError,
}


@pytest.mark.parametrize('name', sorted(BAD_FILES))
def test_bad_files_raise_typed_errors_naming_the_file(name):
    path = shared_path('raw-samples', 'bad', name)
    with pytest.raises(BAD_FILES[name]) as info:
        read_raw(path)
    assert str(path) in str(info.value) and info.value.path == str(path)
    assert not isinstance(info.value, (rawpy.LibRawError, IndexError))


def test_bad_folder_has_no_unexpected_files():
    folder = shared_path('raw-samples', 'bad')
    assert sorted(p.name for p in folder.iterdir()) == sorted(BAD_FILES)


def test_missing_file(tmp_path):
    path = tmp_path / 'nope.ARW'
    with pytest.raises(RawFileNotFoundError, match='nope.ARW') as info:
        read_raw(path)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, RawReadError)


def test_truncated_real_dng(tmp_path):
    src = shared_path(*BLACKMAGIC).read_bytes()
    path = tmp_path / 'half.dng'
    path.write_bytes(src[:len(src) // 2])
    with pytest.raises(TruncatedRawError, match='half.dng'):
        read_raw(path)


def test_truncated_written_dng(tmp_path, written_dngs):
    src = written_dngs['RGGB'][0].read_bytes()
    for frac in (0.9, 0.5, 0.05):
        path = tmp_path / f'cut{frac}.dng'
        path.write_bytes(src[:int(len(src) * frac)])
        with pytest.raises(TruncatedRawError, match=path.name):
            read_raw(path)


@pytest.mark.parametrize('content, error', [
    (b'', NotRawFileError),
    (b'hello, I am not a raw file at all', NotRawFileError),
    (b'\xff\xd8\xff\xe0' + bytes(200), NotRawFileError),
])
def test_not_raw_content(tmp_path, content, error):
    path = tmp_path / 'x.NEF'
    path.write_bytes(content)
    with pytest.raises(error, match='x.NEF'):
        read_raw(path)


def test_directory_is_not_raw(tmp_path):
    with pytest.raises(NotRawFileError, match='directory'):
        read_raw(tmp_path)


def test_errors_pickle_for_worker_processes(tmp_path):
    with pytest.raises(RawFileNotFoundError) as info:
        read_raw(tmp_path / 'gone.dng')
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is RawFileNotFoundError and str(again) == str(info.value)


@pytest.mark.parametrize('kwargs', [dict(color_space='srgb'), dict(on_missing_matrix='skip')])
def test_invalid_options(written_dngs, kwargs):
    with pytest.raises(ValueError):
        read_raw(written_dngs['RGGB'][0], **kwargs)
