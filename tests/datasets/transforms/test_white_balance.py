"""AsShotWhiteBalance against the physics of the capture and against LibRaw's own as-shot
white balance; LoadLibRawRenderedImage's white-balance options."""
import numpy as np
import pytest
from mmcv.transforms import Compose

from genisp_mmdet.color import XYZ_TO_SRGB, as_shot_white_balance_matrix, cct_to_xy, xyz_to_xy
from genisp_mmdet.color.matrices import D65_XY
from genisp_mmdet.datasets.transforms import (AsShotWhiteBalance, LoadLibRawRenderedImage,
                                              LoadRawImageFromFile)
from genisp_mmdet.raw import RawReadError
from genisp_mmdet.synthetic.cameras import D65_XYZ, expected_signal_dn, get_camera, mosaic
from genisp_mmdet.synthetic.dng import write_dng
from genisp_mmdet.synthetic.scenes import illuminant_xyz

CCT = 3000.0  # a warm tungsten-like light, far from daylight
GREY = 0.4


def grey_card_dng(path, slug, cct=CCT, neutral=True):
    """A flat grey card under a ``cct`` K light, captured without noise by camera ``slug``;
    the file's AsShotNeutral is the camera's response to that light (omitted with
    ``neutral=False``: a neutral far from the light instead)."""
    camera = get_camera(slug)
    scene = np.broadcast_to(GREY * illuminant_xyz(cct), (48, 64, 3))
    signal = mosaic(expected_signal_dn(scene, camera, exposure_deficit=2.0), camera.cfa)
    bayer = np.round(signal + camera.black_level).astype(np.uint16)
    as_shot = camera.neutral(illuminant_xyz(cct if neutral else 6500.0))
    return write_dng(path / f'{slug}_{cct:g}.dng', bayer, camera, as_shot, iso=100)


def mean_xy(image):
    return xyz_to_xy(image.reshape(-1, 3).astype(np.float64).mean(0))


@pytest.mark.parametrize('slug', ['nikon_d750', 'rccb_d750', 'sony_rx100m7'])
def test_xyz_of_the_scene_white_becomes_daylight_white(tmp_path, slug):
    path = grey_card_dng(tmp_path, slug)
    loaded = LoadRawImageFromFile(color_space='xyz')(dict(img_path=path))
    # before: the card has the tungsten light's colour (the matrices are the camera's real
    # ones, so only approximately)
    assert np.abs(mean_xy(loaded['img']) - cct_to_xy(CCT)).max() < 0.01
    balanced = AsShotWhiteBalance()(dict(loaded))
    np.testing.assert_allclose(mean_xy(balanced['img']), D65_XY, atol=0.002)
    assert balanced['raw_meta']['white_balance'] == 'as_shot'
    assert 'white_balance' not in loaded['raw_meta']  # the loader's dict is not modified
    # green (Y) keeps its level: only the light's colour changes, not the exposure
    y_before = loaded['img'][..., 1].mean()
    assert 0.5 < balanced['img'][..., 1].mean() / y_before < 2.0


def test_camera_rgb_of_the_scene_white_becomes_the_daylight_response(tmp_path):
    camera = get_camera('canon_eos5dm4')
    path = grey_card_dng(tmp_path, camera.slug)
    loaded = LoadRawImageFromFile(color_space='camera')(dict(img_path=path))
    balanced = AsShotWhiteBalance()(loaded)
    rgb = balanced['img'].reshape(-1, 3).mean(0)
    daylight = camera.matrix @ D65_XYZ
    np.testing.assert_allclose(rgb / rgb[1], daylight / daylight[1], rtol=0.01)


def test_agrees_with_libraw_as_shot_rendering(tmp_path):
    """The same grey card through AsShotWhiteBalance + XYZ -> sRGB and through LibRaw's ISP
    with its camera white balance: both neutral; LibRaw's daylight balance is not."""
    path = grey_card_dng(tmp_path, 'nikon_d750')
    ours = Compose([dict(type='LoadRawImageFromFile'), dict(type='AsShotWhiteBalance')])(
        dict(img_path=path))['img'].reshape(-1, 3).mean(0)
    ours_srgb = XYZ_TO_SRGB @ ours
    np.testing.assert_allclose(ours_srgb / ours_srgb[1], 1.0, atol=0.01)

    def libraw_linear(white_balance):
        encoded = LoadLibRawRenderedImage(white_balance=white_balance)(
            dict(img_path=path))['img'].reshape(-1, 3).astype(np.float64)
        linear = np.where(encoded <= 0.04045, encoded / 12.92,
                          ((encoded + 0.055) / 1.055) ** 2.4).mean(0)
        return linear / linear[1]
    np.testing.assert_allclose(libraw_linear('as_shot'), 1.0, atol=0.03)
    np.testing.assert_allclose(libraw_linear('auto'), 1.0, atol=0.03)  # grey world: grey card
    daylight = libraw_linear('daylight')
    assert daylight[0] > 1.3 and daylight[2] < 0.6  # the tungsten cast is left in


def test_a_wrong_as_shot_neutral_is_applied_as_recorded(tmp_path):
    """The transform trusts the file: a daylight neutral on a tungsten capture leaves the
    cast in, as it would in LibRaw."""
    path = grey_card_dng(tmp_path, 'nikon_d750', neutral=False)
    balanced = Compose([dict(type='LoadRawImageFromFile'), dict(type='AsShotWhiteBalance')])(
        dict(img_path=path))
    assert np.abs(mean_xy(balanced['img']) - np.asarray(D65_XY)).max() > 0.05


def test_missing_multipliers_and_double_application_are_refused(tmp_path):
    path = grey_card_dng(tmp_path, 'nikon_d750')
    loaded = LoadRawImageFromFile()(dict(img_path=path))
    without = dict(loaded, raw_meta=dict(loaded['raw_meta'], camera_wb=None))
    with pytest.raises(RawReadError, match='no as-shot white balance') as info:
        AsShotWhiteBalance()(without)
    assert info.value.path == path
    once = AsShotWhiteBalance()(dict(loaded))
    with pytest.raises(RawReadError, match='already white-balanced'):
        AsShotWhiteBalance()(once)


def test_matrix_is_identity_for_a_daylight_capture():
    wb = [2.0, 1.0, 1.5]
    np.testing.assert_allclose(as_shot_white_balance_matrix(wb, wb, np.eye(3) * 2), np.eye(3))
    with pytest.raises(ValueError, match='three positive'):
        as_shot_white_balance_matrix([1.0, 0.0, 1.0], wb)


def test_libraw_white_balance_option_is_checked():
    with pytest.raises(ValueError, match='white_balance must be one of'):
        LoadLibRawRenderedImage(white_balance='camera')
