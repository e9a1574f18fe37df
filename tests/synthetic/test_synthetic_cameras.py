"""Simulated cameras: real matrices, CFA sampling, exposure and noise statistics."""
import json

import numpy as np
import pytest

from genisp_mmdet.synthetic.cameras import (CAMERAS, CFA_ORDERS, D65_XYZ, DEFAULT_CAMERAS,
                                            CameraSpec, capture_bayer, expected_signal_dn,
                                            get_camera, mosaic)
from genisp_mmdet.synthetic.scenes import illuminant_xyz


def test_embedded_table_equals_shared_color_matrices(shared):
    table = json.loads(shared('cameras', 'color_matrices.json').read_text())['cameras']
    by_name = {c.name: c for c in CAMERAS.values() if c.derived_from is None}
    assert set(by_name) == set(table)
    for name, entry in table.items():
        cam = by_name[name]
        np.testing.assert_array_equal(cam.matrix, np.array(entry['xyz_to_camera']))
        assert cam.black_level == entry['black_level']
        assert cam.white_level == entry['white_level']
        assert cam.real_cfa == entry['cfa']
        assert cam.levels_approximate == entry.get('levels_approximate', False)


def test_default_cameras_cover_all_four_cfa_orders():
    assert {CAMERAS[s].cfa for s in DEFAULT_CAMERAS} == set(CFA_ORDERS)
    assert DEFAULT_CAMERAS[0] == 'sony_rx100m7'
    with pytest.raises(KeyError, match='unknown simulated camera'):
        get_camera('leica_m11')
    with pytest.raises(ValueError):
        CameraSpec(**{**CAMERAS['nikon_d750'].__dict__, 'cfa': 'RGBG'})


@pytest.mark.parametrize('cfa', CFA_ORDERS)
def test_mosaic_puts_each_channel_where_the_cfa_says(cfa):
    img = np.zeros((4, 6, 3), np.float32)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    out = mosaic(img, cfa)
    want = {'R': 10, 'G': 20, 'B': 30}
    for k, ch in enumerate(cfa):
        dy, dx = divmod(k, 2)
        assert np.all(out[dy::2, dx::2] == want[ch])
    with pytest.raises(ValueError):
        mosaic(np.zeros((3, 4, 3)), cfa)


def test_cfa_indices_and_neutral():
    cam = CAMERAS['sony_a7m3']
    assert cam.cfa == 'BGGR' and cam.cfa_indices.tolist() == [[2, 1], [1, 0]]
    warm, cool = cam.neutral(illuminant_xyz(2500)), cam.neutral(illuminant_xyz(7500))
    assert warm[1] == cool[1] == 1.0
    # a camera sees a warm illuminant as red-heavy and blue-poor
    assert warm[0] > cool[0] and warm[2] < cool[2]
    response = cam.matrix @ D65_XYZ
    np.testing.assert_allclose(cam.neutral(D65_XYZ), response / response[1])


def flat(xyz, h=64, w=64):
    return np.broadcast_to(np.asarray(xyz, np.float32), (h, w, 3)).copy()


@pytest.mark.parametrize('slug', sorted(CAMERAS))
def test_exposure_is_dark_and_matches_the_model(slug):
    cam = CAMERAS[slug]
    white = flat(D65_XYZ)  # a perfect white reflector in daylight: the brightest scene point
    for deficit in (20.0, 200.0):
        bayer = capture_bayer(white, cam, deficit, 400, np.random.default_rng(0))
        assert bayer.dtype == np.uint16 and bayer.shape == (64, 64)
        green = mosaic(np.stack([np.zeros((64, 64)), np.ones((64, 64)), np.zeros((64, 64))], -1),
                       cam.cfa).astype(bool)
        signal = bayer[green].astype(np.float64).mean() - cam.black_level
        want = 0.75 * (cam.white_level - cam.black_level) / deficit
        assert signal == pytest.approx(want, rel=0.03)
        # dark: even white stays below 4% of the range, far below the white level
        assert bayer.mean() < cam.black_level + 0.04 * (cam.white_level - cam.black_level)
    np.testing.assert_allclose(expected_signal_dn(white, cam, 20.0)[0, 0, 1], 0.75 * (
        cam.white_level - cam.black_level) / 20.0, rtol=1e-5)


@pytest.mark.parametrize('slug', ['sony_rx100m7', 'nikon_d750', 'canon_eos5dm4'])
def test_noise_grows_with_iso_and_follows_photon_transfer(slug):
    cam = CAMERAS[slug]
    grey = flat(0.18 * D65_XYZ, 128, 128)
    deficit = 20.0
    mean_dn = expected_signal_dn(grey, cam, deficit)[0, 0]
    stds = []
    for iso in (100, 400, 1600, 6400):
        bayer = capture_bayer(grey, cam, deficit, iso, np.random.default_rng(iso))
        bayer = bayer.astype(np.float64)
        k = cam.cfa.index('G')
        dy, dx = divmod(k, 2)
        g = bayer[dy::2, dx::2]
        std = g.std()
        # photon transfer: var = gain * signal (shot) + read^2; rounding adds 1/12
        want = np.sqrt(cam.gain(iso) * mean_dn[1] + cam.read_noise_sigma_dn(iso) ** 2 + 1 / 12)
        assert std == pytest.approx(want, rel=0.1)
        stds.append(std)
    assert all(a < b for a, b in zip(stds, stds[1:])), stds
    assert cam.read_noise_sigma_dn(100) < cam.read_noise_sigma_dn(6400)


def test_black_frame_and_clipping():
    cam = CAMERAS['nikon_d750']
    dark = capture_bayer(np.zeros((64, 64, 3), np.float32), cam, 50.0, 1600,
                         np.random.default_rng(0)).astype(np.float64)
    assert dark.mean() == pytest.approx(cam.black_level, abs=1.0)
    assert dark.std() == pytest.approx(cam.read_noise_sigma_dn(1600), rel=0.1)
    bright = capture_bayer(flat(D65_XYZ), cam, 0.1, 100, np.random.default_rng(0))
    assert bright.max() == cam.white_level and np.mean(bright == cam.white_level) > 0.9
    # black level 0: negative read noise is clipped at 0, never wraps around in uint16
    d3200 = capture_bayer(np.zeros((32, 32, 3), np.float32), CAMERAS['nikon_d3200'], 50.0,
                          800, np.random.default_rng(0))
    assert d3200.min() == 0 and d3200.max() < 100


def test_noise_streams_are_reproducible():
    cam = CAMERAS['sony_rx100m7']
    grey = flat(0.18 * D65_XYZ, 16, 16)
    a = capture_bayer(grey, cam, 30.0, 800, np.random.default_rng(3))
    b = capture_bayer(grey, cam, 30.0, 800, np.random.default_rng(3))
    c = capture_bayer(grey, cam, 30.0, 800, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_rccb_sensor_counts_all_three_filters_on_its_clear_sites():
    d750, rccb = CAMERAS['nikon_d750'], CAMERAS['rccb_d750']
    assert rccb.derived_from and rccb.real_cfa == 'RCCB' and rccb.cfa == 'RGGB'
    np.testing.assert_allclose(rccb.matrix[[0, 2]], d750.matrix[[0, 2]])
    np.testing.assert_allclose(rccb.matrix[1], d750.matrix.sum(axis=0), atol=1e-4)
    # far from every real camera: relative to the train camera, its RGB mixes channels
    # strongly (the real cameras' relative matrices stay within 0.33 of diagonal)
    sony = CAMERAS['sony_rx100m7'].matrix
    for slug, cam in CAMERAS.items():
        rel = cam.matrix @ np.linalg.inv(sony)
        off = np.abs(rel / np.diag(rel)[:, None] - np.eye(3)).max()
        assert (off > 0.5) == (slug == 'rccb_d750'), (slug, off)
