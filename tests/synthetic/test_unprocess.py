"""Unprocessing photos into dark RAW: inverse ISP, photon transfer, DNG/COCO output, resuming."""
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genisp_mmdet.raw import read_raw
from genisp_mmdet.synthetic import unprocess as up
from genisp_mmdet.synthetic import unprocessed_coco as uc
from genisp_mmdet.synthetic.cameras import CAMERAS, get_camera
from genisp_mmdet.synthetic.scenes import illuminant_xyz, srgb_encode
from tests.helpers import load_tool

# ---------------------------------------------------------------------------------------------
# inverse ISP


def test_inverse_tone_curve_and_srgb_transfer_round_trip():
    y = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(up.smoothstep(up.inverse_smoothstep(y)), y, atol=1e-12)
    np.testing.assert_allclose(srgb_encode(up.srgb_decode(y)), y, atol=1e-12)
    assert up.inverse_smoothstep(0.25) == pytest.approx(0.5 - math.sin(math.pi / 18))
    assert up.srgb_decode(0.5) == pytest.approx(0.21404, abs=1e-5)
    # Brooks' order: the forward ISP gamma-encodes, then tone-maps; unprocessing undoes both
    linear = np.random.default_rng(0).uniform(0, 1, (5, 7, 3))
    forward = up.smoothstep(srgb_encode(linear))
    np.testing.assert_allclose(up.unprocess_srgb(forward), linear, atol=2e-6)
    np.testing.assert_allclose(up.unprocess_srgb(srgb_encode(linear), tone_curve=False), linear,
                               atol=2e-6)
    # uint8 input is read as code / 255; the tone curve darkens the mid-tones' inverse
    u8 = np.full((2, 2, 3), 128, np.uint8)
    assert up.unprocess_srgb(u8, tone_curve=False)[0, 0, 0] == pytest.approx(
        up.srgb_decode(128 / 255), rel=1e-6)
    assert up.unprocess_srgb(np.full((1, 1, 3), 64, np.uint8))[0, 0, 0] > \
        up.unprocess_srgb(np.full((1, 1, 3), 64, np.uint8), tone_curve=False)[0, 0, 0]


def test_relighting_and_bayer_cells():
    white = np.ones((3, 5, 3), np.float32)
    for cct in (2500.0, 6504.0, 7500.0):
        xyz = up.relight_xyz(white, cct)
        assert xyz.shape == (3, 5, 3) and xyz.dtype == np.float32
        np.testing.assert_allclose(xyz[1, 2], illuminant_xyz(cct), rtol=1e-5)
    img = np.arange(3 * 5 * 3).reshape(3, 5, 3)
    cells = up.bayer_cells(img)
    assert cells.shape == (6, 10, 3)
    for dy in (0, 1):
        for dx in (0, 1):
            np.testing.assert_array_equal(cells[dy::2, dx::2], img)


# ---------------------------------------------------------------------------------------------
# darkness, ISO and noise


def test_darkness_means_k_times_fewer_electrons_whatever_the_iso():
    cam = up.with_measured_noise(get_camera('nikon_d750'))
    assert up.iso_range(cam, 10) == (100.0, 1000.0)
    assert up.iso_range(cam, 200) == (100.0, 3200.0)
    assert up.sample_iso(cam, 50, 0.0) == 100 and up.sample_iso(cam, 50, 0.999999) == 3200
    assert up.sample_iso(cam, 10, 0.5) == round(math.sqrt(100 * 1000))
    with pytest.raises(ValueError):
        up.iso_range(cam, 0.5)
    grey = up.relight_xyz(np.full((40, 40, 3), 0.2, np.float32), 6504)
    normal = up.expected_packed_signal(grey, cam, 1, cam.base_iso)
    full_scale_e = (cam.white_level - cam.black_level) / cam.gain(cam.base_iso)
    for k in (10, 50):
        for iso in (100, 400, 1000):
            dn = up.expected_packed_signal(grey, cam, k, iso) * (cam.white_level - cam.black_level)
            electrons = dn / cam.gain(iso)
            np.testing.assert_allclose(electrons, normal * full_scale_e / k, rtol=1e-5)
    # normal exposure: a white reflector's green under D65 at 0.75 of the range
    white = up.relight_xyz(np.ones((1, 1, 3), np.float32), 6504)
    assert up.expected_packed_signal(white, cam, 1, 100)[0, 0, 1] == pytest.approx(0.75, rel=2e-3)


def _site_stats(bayer, camera):
    v = bayer.astype(np.float64) - camera.black_level
    return [(v[dy::2, dx::2].mean(), v[dy::2, dx::2].var(ddof=1)) for dy in (0, 1)
            for dx in (0, 1)]


@pytest.mark.parametrize('iso', [100, 1600])
def test_photon_transfer_curve(iso):
    """Flat grey patch at several exposures: variance (DN^2) = gain * mean + read variance."""
    cam = up.with_measured_noise(get_camera('sony_rx100m7'))
    xyz = up.relight_xyz(np.full((96, 96, 3), 0.5, np.float32), 6504)
    rng = np.random.default_rng(iso)
    means, variances = [], []
    # a black frame, then recorded signals 1/256 .. 1x a normal exposure's (k = iso/base .. )
    frames = [up.capture_dark(np.zeros_like(xyz), cam, 1, iso, rng)]
    frames += [up.capture_dark(xyz, cam, iso / cam.base_iso * m, iso, rng)
               for m in (256, 64, 16, 4, 2, 1)]
    for bayer in frames:
        assert bayer.shape == (192, 192) and np.all(bayer < cam.white_level)  # no clipping
        for m, v in _site_stats(bayer, cam):
            means.append(m)
            variances.append(v)
    # weighted fit: the standard error of a variance estimate is proportional to the variance
    variances = np.asarray(variances)
    slope, intercept = np.polyfit(means, variances, 1, w=1 / variances)
    gain = cam.gain(iso)
    read_var = cam.read_noise_sigma_dn(iso) ** 2 + 1 / 12  # + quantisation to integer DN
    assert slope == pytest.approx(gain, rel=0.03)
    assert intercept == pytest.approx(read_var, rel=0.05)
    assert max(means) > 300 * gain  # the curve spans hundreds of electrons


def test_sourced_noise_fit_reproduces_the_published_points():
    for slug, noise in up.MEASURED_SENSOR_NOISE.items():
        base = get_camera(slug)
        cam = up.with_measured_noise(base)
        assert (cam.xyz_to_camera, cam.cfa, cam.black_level, cam.white_level) == \
            (base.xyz_to_camera, base.cfa, base.black_level, base.white_level)
        assert cam.full_well_e == noise.full_well_e
        assert noise.source
        lo = up.input_referred_read_noise(cam, noise.base_iso)
        hi = up.input_referred_read_noise(cam, noise.high_iso)
        if noise.read_noise_e_high < noise.read_noise_e_base:
            assert lo == pytest.approx(noise.read_noise_e_base, rel=1e-3)
            assert hi == pytest.approx(noise.read_noise_e_high, rel=1e-3)
            assert up.input_referred_read_noise(cam, 800) < lo  # falls with ISO
        else:  # ISO-invariant sensor: flat input-referred read noise
            assert cam.read_noise_dn == 0 and lo == pytest.approx(hi)
    # the demo's own (published) values are untouched
    assert CAMERAS['nikon_d750'].full_well_e == 50000 and CAMERAS['nikon_d750'].read_noise_e == 2.0
    assert up.MEASURED_SENSOR_NOISE['rccb_d750'] == up.MEASURED_SENSOR_NOISE['nikon_d750']
    with pytest.raises(KeyError, match='no sourced sensor noise'):
        up.with_measured_noise(get_camera('nikon_d3200'))


def test_unprocess_photo_draws_and_shapes():
    photo = np.random.default_rng(1).integers(0, 256, (13, 17, 3), dtype=np.uint8)
    cam = up.with_measured_noise(get_camera('sony_a7m3'))
    bayer, meta = up.unprocess_photo(photo, cam, 50, np.random.default_rng(3))
    assert bayer.shape == (26, 34) and bayer.dtype == np.uint16
    assert 2500 <= meta['cct'] <= 7500 and 100 <= meta['iso'] <= 3200
    assert meta['darkness'] == 50 and meta['tone_curve'] is True and meta['camera'] == 'sony_a7m3'
    again, meta2 = up.unprocess_photo(photo, cam, 50, np.random.default_rng(3))
    np.testing.assert_array_equal(bayer, again)
    assert meta == meta2
    _, fixed = up.unprocess_photo(photo, cam, 10, np.random.default_rng(4), cct=3000.0, iso=800,
                                  tone_curve=False)
    assert fixed['cct'] == 3000.0 and fixed['iso'] == 800 and fixed['tone_curve'] is False
    assert fixed['exposure_deficit'] == pytest.approx(10 * 100 / 800)


# ---------------------------------------------------------------------------------------------
# the COCO generator


def make_coco(root: Path, sizes=((32, 24), (32, 24), (17, 13)), colour=(150, 120, 90)):
    """A tiny COCO folder: flat-colour PNG "photos", boxes on the first two."""
    (root / 'imgs').mkdir(parents=True)
    images, anns = [], []
    for i, (w, h) in enumerate(sizes):
        name = f'photo_{i}.png'
        Image.fromarray(np.full((h, w, 3), colour, np.uint8)).save(root / 'imgs' / name)
        images.append({'id': 100 + i, 'file_name': name, 'width': w, 'height': h, 'license': 3})
    anns.append({'id': 7, 'image_id': 100, 'category_id': 1, 'bbox': [1.5, 2.25, 10.0, 8.5],
                 'area': 85.0, 'iscrowd': 0,
                 'segmentation': [[1.5, 2.25, 11.5, 2.25, 11.5, 10.75]]})
    anns.append({'id': 9, 'image_id': 101, 'category_id': 3, 'bbox': [0.0, 0.0, 32.0, 24.0],
                 'area': 768.0, 'iscrowd': 0})
    cats = [{'id': 1, 'name': 'person', 'supercategory': 'person'},
            {'id': 3, 'name': 'car', 'supercategory': 'vehicle'}]
    ann_file = root / 'instances.json'
    ann_file.write_text(json.dumps({'images': images, 'annotations': anns, 'categories': cats,
                                    'licenses': [{'id': 3, 'name': 'cc'}]}))
    return ann_file


def run(src, out, **kw):
    kw.setdefault('cameras', ('nikon_d750',))
    kw.setdefault('darkness', (10,))
    kw.setdefault('workers', 1)
    kw.setdefault('progress', False)
    return uc.generate_unprocessed_coco(src, src / 'instances.json', out, img_dir='imgs',
                                        split='val', **kw)


def digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file() and p.name != 'manifest.json'}


def test_boxes_scale_by_two_and_the_dng_reads_back_with_the_expected_colour(tmp_path):
    src = tmp_path / 'coco'
    make_coco(src)
    out = tmp_path / 'out'
    res = run(src, out)
    assert res['photos'] == 3 and res['written'] == 3 and res['skipped'] == 0
    coco = json.loads((out / 'annotations' / 'nikon_d750_x10_val.json').read_text())
    source = json.loads((src / 'instances.json').read_text())
    assert coco['categories'] == source['categories']
    assert [i['id'] for i in coco['images']] == [100, 101, 102]  # the unannotated one is kept
    img0 = coco['images'][0]
    assert img0['file_name'] == 'photo_0.dng' and img0['source_file_name'] == 'photo_0.png'
    assert (img0['width'], img0['height']) == (64, 48) and img0['license'] == 3
    assert (coco['images'][2]['width'], coco['images'][2]['height']) == (34, 26)
    assert img0['camera'] == 'nikon_d750' and img0['darkness'] == 10 and img0['cfa'] == 'GRBG'
    by_id = {a['id']: a for a in coco['annotations']}
    assert by_id[7]['bbox'] == [3.0, 4.5, 20.0, 17.0] and by_id[7]['area'] == 340.0
    assert by_id[7]['segmentation'] == [[3.0, 4.5, 23.0, 4.5, 23.0, 21.5]]
    assert by_id[9]['bbox'] == [0.0, 0.0, 64.0, 48.0] and by_id[9]['category_id'] == 3

    dng = out / 'nikon_d750' / 'x10' / 'val' / 'photo_0.dng'
    packed = read_raw(dng, color_space='camera')
    assert packed.image.shape == (24, 32, 3)  # the photo's pixel grid
    assert packed.meta['cfa_pattern'] == 'GRBG' and packed.meta['iso'] == img0['iso']
    cam = up.with_measured_noise(get_camera('nikon_d750'))
    xyz = up.relight_xyz(up.unprocess_srgb(np.full((1, 1, 3), (150, 120, 90), np.uint8)),
                         img0['cct'])
    want = up.expected_packed_signal(xyz, cam, 10, img0['iso'])[0, 0]
    np.testing.assert_allclose(packed.image.reshape(-1, 3).mean(0), want, rtol=0.03)
    # as-shot white balance = the camera's response to the photo's illuminant
    neutral = cam.neutral(illuminant_xyz(img0['cct']))
    wb = np.asarray(packed.meta['camera_wb'])
    np.testing.assert_allclose(wb / wb[1], 1 / neutral, rtol=2e-3)
    assert read_raw(dng).image.shape == (24, 32, 3)
    # the file holds exactly unprocess_photo's mosaic with the photo's draws and its noise stream
    import rawpy
    cct, quantile = uc.photo_draws(uc.UnprocessSpec(), 'val', 100)
    assert img0['cct'] == round(cct, 1)
    want_bayer, meta = up.unprocess_photo(
        np.asarray(Image.open(src / 'imgs' / 'photo_0.png').convert('RGB')), cam, 10,
        uc.noise_rng(uc.UnprocessSpec(), 'val', 100, 'nikon_d750', 10), cct=cct,
        iso_quantile=quantile)
    assert meta['iso'] == img0['iso']
    with rawpy.imread(str(dng)) as raw:
        np.testing.assert_array_equal(raw.raw_image, want_bayer)


def test_deterministic_whatever_the_workers_and_cli(tmp_path, capsys):
    src = tmp_path / 'coco'
    make_coco(src)
    kw = dict(cameras=('sony_rx100m7', 'rccb_d750'), darkness=(10, 200))
    run(src, tmp_path / 'a', workers=1, **kw)
    run(src, tmp_path / 'b', workers=2, **kw)
    first = digest(tmp_path / 'a')
    assert len([k for k in first if k.endswith('.dng')]) == 12
    assert first == digest(tmp_path / 'b')
    run(src, tmp_path / 'c', workers=1, spec=uc.UnprocessSpec(seed=1), **kw)
    other = digest(tmp_path / 'c')
    assert other.keys() == first.keys() and other != first
    # illuminant shared by all cameras and levels of a photo, noise not
    cocos = [json.loads((tmp_path / 'a' / uc.annotation_file(s, k, 'val')).read_text())
             for s in kw['cameras'] for k in kw['darkness']]
    assert len({c['images'][0]['cct'] for c in cocos}) == 1
    # the CLI: same files as the API call
    tool = load_tool('make_unprocessed_coco')
    rc = tool.main([str(src), 'instances.json', str(tmp_path / 'd'), '--img-dir', 'imgs',
                    '--split', 'val', '--cameras', 'sony_rx100m7', 'rccb_d750',
                    '--darkness', '10', '200', '--workers', '2', '--no-progress'])
    assert rc == 0
    assert digest(tmp_path / 'd') == first
    printed = capsys.readouterr().out
    assert '3 photos x 2 cameras x 2 darkness levels' in printed and '12 written' in printed


def test_resume_skips_written_files_and_refuses_another_spec(tmp_path, capsys):
    src = tmp_path / 'coco'
    make_coco(src)
    out = tmp_path / 'out'
    run(src, out, max_images=2)
    dng = out / 'nikon_d750' / 'x10' / 'val' / 'photo_0.dng'
    before = dng.stat().st_mtime_ns
    # a killed run: one DNG missing, a partial temp file left behind
    (out / 'nikon_d750' / 'x10' / 'val' / 'photo_1.dng').unlink()
    (out / 'nikon_d750' / 'x10' / 'val' / f'.photo_1{uc._TMP_TAG}999.dng').write_bytes(b'x')
    res = run(src, out)  # all 3 photos now
    assert (res['written'], res['skipped']) == (2, 1)
    assert dng.stat().st_mtime_ns == before
    assert not list(out.rglob(f'*{uc._TMP_TAG}*'))
    full = digest(out)
    fresh = tmp_path / 'fresh'
    run(src, fresh)
    assert digest(fresh) == full  # resumed == generated in one go
    res = run(src, out)
    assert (res['written'], res['skipped']) == (0, 3)
    # more darkness levels: only the new files
    res = run(src, out, darkness=(10, 50))
    assert (res['written'], res['skipped']) == (3, 3)
    manifest = uc.load_manifest(out)
    assert manifest['splits']['val']['darkness'] == [10.0, 50.0]
    assert manifest['cameras']['nikon_d750']['full_well_e'] == \
        up.MEASURED_SENSOR_NOISE['nikon_d750'].full_well_e
    # another spec is refused, unless overwrite
    with pytest.raises(FileExistsError, match='another spec'):
        run(src, out, spec=uc.UnprocessSpec(tone_curve=False))
    res = run(src, out, spec=uc.UnprocessSpec(tone_curve=False), overwrite=True)
    assert res['written'] == 3
    assert not (out / 'nikon_d750' / 'x50').exists()  # the old spec's files are gone
    assert uc.load_manifest(out)['spec']['tone_curve'] is False
    tool = load_tool('make_unprocessed_coco')
    assert tool.main([str(src), 'instances.json', str(out), '--img-dir', 'imgs',
                      '--cameras', 'nikon_d750', '--darkness', '10', '--no-progress']) == 2
    assert 'another spec' in capsys.readouterr().err


def test_refuses_dngs_without_a_manifest_and_a_photo_of_the_wrong_size(tmp_path):
    src = tmp_path / 'coco'
    make_coco(src)
    out = tmp_path / 'out'
    run(src, out)
    os.remove(out / 'manifest.json')
    with pytest.raises(FileExistsError, match='no manifest'):
        run(src, out)
    assert run(src, out, overwrite=True)['written'] == 3
    bad = json.loads((src / 'instances.json').read_text())
    bad['images'][0]['width'] = 40
    (src / 'instances.json').write_text(json.dumps(bad))
    with pytest.raises(ValueError, match='40x24'):
        run(src, tmp_path / 'other')


def test_a_real_coco_photo(tmp_path, shared):
    root = shared('datasets', 'coco-photos')
    ann = root / 'annotations' / 'instances_val2017.json'
    src = json.loads(ann.read_text())
    first = src['images'][0]
    res = uc.generate_unprocessed_coco(root, ann, tmp_path / 'out', split='val', img_dir='val2017',
                                       cameras=('sony_rx100m7',), darkness=(50,), max_images=1,
                                       workers=1, progress=False)
    assert res['written'] == 1
    coco = json.loads((tmp_path / 'out' / uc.annotation_file('sony_rx100m7', 50, 'val'))
                      .read_text())
    img = coco['images'][0]
    assert img['id'] == first['id'] and img['source_file_name'] == first['file_name']
    assert (img['width'], img['height']) == (2 * first['width'], 2 * first['height'])
    boxes = [a['bbox'] for a in src['annotations'] if a['image_id'] == first['id']]
    assert [a['bbox'] for a in coco['annotations']] == [[2 * v for v in b] for b in boxes]
    packed = read_raw(tmp_path / 'out' / 'sony_rx100m7' / 'x50' / 'val' /
                      img['file_name'], color_space='camera')
    assert packed.image.shape == (first['height'], first['width'], 3)
    # dark: the mean signal is a small fraction of the range, and it is not all noise
    assert 0.0005 < packed.image.mean() < 0.2
