"""DNG files written by the generator read back through rawpy (LibRaw) as intended."""
import numpy as np
import pytest
import rawpy

from genisp_mmdet.color import camera_to_xyz_matrix
from genisp_mmdet.synthetic.cameras import CAMERAS, capture_bayer
from genisp_mmdet.synthetic.dng import write_dng
from genisp_mmdet.synthetic.scenes import SceneConfig, illuminant_xyz, sample_scene


@pytest.fixture(scope='module')
def scene():
    return sample_scene(np.random.default_rng(11), SceneConfig(width=96, height=64))


@pytest.mark.parametrize('slug', sorted(CAMERAS))
def test_dng_round_trip_through_rawpy(tmp_path, scene, slug):
    cam = CAMERAS[slug]
    bayer = capture_bayer(scene.xyz(), cam, 40.0, 800, np.random.default_rng(0))
    neutral = cam.neutral(illuminant_xyz(scene.cct))
    path = write_dng(tmp_path / f'{slug}.dng', bayer, cam, neutral, iso=800, exposure_time=1 / 25)
    with rawpy.imread(path) as raw:
        # pixels bit-exact, full frame, no margins
        assert raw.raw_image.dtype == np.uint16
        assert np.array_equal(raw.raw_image, bayer)
        assert (raw.sizes.raw_height, raw.sizes.raw_width) == bayer.shape
        assert (raw.sizes.height, raw.sizes.width) == bayer.shape
        # CFA order: color_desc 'RGBG' with index 3 for the second green
        desc = raw.color_desc.decode()
        assert desc == 'RGBG'
        assert ''.join(desc[i] for i in raw.raw_pattern.ravel()) == cam.cfa
        assert list(raw.black_level_per_channel) == [cam.black_level] * 4
        assert raw.white_level == cam.white_level
        assert raw.other.iso_speed == 800
        assert raw.other.shutter_speed == pytest.approx(1 / 25)
        # LibRaw leaves rgb_xyz_matrix zero for DNGs; color_matrix + daylight WB carry it
        assert not np.any(raw.rgb_xyz_matrix)
        cam_to_xyz = camera_to_xyz_matrix(raw.rgb_xyz_matrix, raw.color_matrix,
                                          raw.daylight_whitebalance)
        want = np.linalg.inv(cam.matrix)
        scale = np.sum(cam_to_xyz * want) / np.sum(want * want)
        np.testing.assert_allclose(cam_to_xyz, scale * want,
                                   atol=2e-3 * np.abs(want).max() * abs(scale))
        # AsShotNeutral -> LibRaw's camera multipliers are its reciprocal (green = 1)
        wb = np.asarray(raw.camera_whitebalance[:3], np.float64)
        np.testing.assert_allclose(wb / wb[1], 1.0 / neutral, rtol=1e-3)


def test_dng_pattern_distinguishes_all_orders(tmp_path):
    seen = set()
    for slug in ('sony_rx100m7', 'nikon_d750', 'canon_eos5dm4', 'sony_a7m3'):
        cam = CAMERAS[slug]
        bayer = np.full((24, 32), cam.black_level, np.uint16)
        with rawpy.imread(write_dng(tmp_path / f'{slug}.dng', bayer, cam, np.ones(3), 100)) as raw:
            seen.add(tuple(raw.raw_pattern.ravel()))
    assert len(seen) == 4


def test_write_dng_rejects_bad_input(tmp_path):
    cam = CAMERAS['nikon_d750']
    with pytest.raises(ValueError, match='uint16'):
        write_dng(tmp_path / 'a.dng', np.zeros((8, 8), np.float32), cam, np.ones(3), 100)
    with pytest.raises(ValueError, match='.dng'):
        write_dng(tmp_path / 'a.tif', np.zeros((8, 8), np.uint16), cam, np.ones(3), 100)
    with pytest.raises(ValueError, match='positive'):
        write_dng(tmp_path / 'a.dng', np.zeros((24, 24), np.uint16), cam, np.array([1, 0, 1]), 100)
    with pytest.raises(ValueError, match='too small'):
        write_dng(tmp_path / 'a.dng', np.zeros((20, 24), np.uint16), cam, np.ones(3), 100)
