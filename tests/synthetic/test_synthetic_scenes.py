"""Scenes: determinism, boxes vs rendered pixels, colour-only classes, illuminants, oracle."""
import math

import numpy as np
import pytest

from genisp_mmdet.color import SRGB_TO_XYZ, xyz_to_xy
from genisp_mmdet.synthetic.scenes import (CATEGORIES, CLASSES, COLOUR_DEFINED_CLASSES,
                                           DISC_LUMINANCE, LUMA, SceneConfig, Shape,
                                           illuminant_xyz, sample_class_albedo, sample_scene,
                                           sample_geometry, scene_xyz, srgb_encode)

SMALL = SceneConfig(width=128, height=96)


def scenes(n, cfg=SMALL, seed=0):
    return [sample_scene(np.random.default_rng([seed, i]), cfg) for i in range(n)]


def test_same_seed_same_scene_other_seed_other_scene():
    a = sample_scene(np.random.default_rng(7), SMALL)
    b = sample_scene(np.random.default_rng(7), SMALL)
    c = sample_scene(np.random.default_rng(8), SMALL)
    assert np.array_equal(a.albedo, b.albedo) and np.array_equal(a.shading, b.shading)
    assert a.cct == b.cct and a.shapes == b.shapes
    assert not np.array_equal(a.albedo, c.albedo)


def test_scene_arrays_shapes_dtypes_and_ranges():
    s = sample_scene(np.random.default_rng(1), SceneConfig(width=64, height=48))
    assert s.albedo.shape == (48, 64, 3) and s.albedo.dtype == np.float32
    assert s.shading.shape == (48, 64) and s.shading.dtype == np.float32
    assert s.albedo.min() >= 0 and s.albedo.max() <= 1
    assert 0.4 <= s.shading.min() and s.shading.max() <= 1.2
    xyz = s.xyz()
    assert xyz.shape == (48, 64, 3) and xyz.dtype == np.float32 and np.isfinite(xyz).all()
    srgb = s.srgb()
    assert srgb.shape == (48, 64, 3) and srgb.dtype == np.uint8
    assert 1 <= len(s.objects) <= 6


def _mask_box(shape, h, w):
    (rows, cols), cov = shape.coverage(h, w)
    ys, xs = np.nonzero(cov > 0.5)
    return (cols.start + xs.min(), rows.start + ys.min(),
            cols.start + xs.max() + 1, rows.start + ys.max() + 1)


def test_boxes_inside_frame_and_tight_around_rendered_pixels():
    n_checked = 0
    for s in scenes(30):
        anns = s.annotations()
        assert len(anns) == len(s.objects) >= 1
        for obj, ann in zip(s.objects, anns):
            x, y, bw, bh = ann['bbox']
            assert 0 <= x and 0 <= y and x + bw <= s.width and y + bh <= s.height
            assert ann['category_id'] == obj.category_id
            lo, hi = SMALL.size_range()
            assert lo - 0.02 <= max(bw, bh) <= hi + 0.02
            mx0, my0, mx1, my1 = _mask_box(obj, s.height, s.width)
            # the box hugs the pixels whose centres lie inside the shape: within a pixel for a
            # disc; a sharp corner (60 deg triangle tip) can fall up to ~1.4 px short of any
            # pixel centre
            tol = 1.0 if obj.kind == 'disc' else 1.5
            assert abs(mx0 - x) <= tol and abs(my0 - y) <= tol
            assert abs(mx1 - (x + bw)) <= tol and abs(my1 - (y + bh)) <= tol
            # and no painted (even partly covered) pixel lies beyond the box's AA margin
            (rows, cols), cov = obj.coverage(s.height, s.width)
            ys, xs = np.nonzero(cov > 0)
            assert cols.start + xs.min() >= x - 1.5 and cols.start + xs.max() + 1 <= x + bw + 1.5
            assert rows.start + ys.min() >= y - 1.5 and rows.start + ys.max() + 1 <= y + bh + 1.5
            # the shape fills its box like its kind should (a wrong box would not)
            fill = {'disc': math.pi / 4, 'square': None, 'triangle': None}[obj.kind]
            if fill is not None:
                (_, _), cov = obj.coverage(s.height, s.width)
                assert abs(cov.sum() / (bw * bh) - fill) < 0.06
            n_checked += 1
    assert n_checked > 50


def test_labelled_objects_stay_visible_and_show_their_albedo():
    cfg = SMALL
    for s in scenes(30):
        owner = np.full((s.height, s.width), -1)
        masks, touched = [], []
        for k, shape in enumerate(s.shapes):
            (rows, cols), cov = shape.coverage(s.height, s.width)
            m = np.zeros((s.height, s.width), bool)
            m[rows, cols] = cov > 0.5
            owner[m] = k
            masks.append(m)
            t = np.zeros((s.height, s.width), bool)
            t[rows, cols] = cov > 0
            touched.append(t)
        for k, shape in enumerate(s.shapes):
            visible = (owner == k) & masks[k]
            assert visible.sum() >= cfg.min_visible * masks[k].sum() - 1e-9
            # fully covered pixels that no later shape touches carry exactly its albedo
            (rows, cols), cov = shape.coverage(s.height, s.width)
            inside = np.zeros_like(visible)
            inside[rows, cols] = cov >= 1.0
            for later in touched[k + 1:]:
                inside &= ~later
            if inside.any():
                np.testing.assert_allclose(s.albedo[inside], np.broadcast_to(
                    np.float32(shape.albedo), s.albedo[inside].shape), atol=1e-6)


def test_all_classes_and_distractors_occur():
    found = {c: 0 for c in range(1, len(CLASSES) + 1)}
    n_distractors = 0
    for s in scenes(40):
        for o in s.objects:
            found[o.category_id] += 1
        n_distractors += len(s.distractors)
    assert all(v >= 10 for v in found.values()), found
    assert n_distractors >= 10
    assert [c['name'] for c in CATEGORIES] == list(CLASSES)
    assert [c['id'] for c in CATEGORIES] == [1, 2, 3, 4]


def _chroma(rgb):
    return xyz_to_xy(SRGB_TO_XYZ @ np.asarray(rgb))


def test_colour_defined_classes_differ_only_in_colour_same_draws():
    red_name, blue_name = COLOUR_DEFINED_CLASSES
    for seed in range(20):
        red = sample_class_albedo(np.random.default_rng(seed), red_name)
        blue = sample_class_albedo(np.random.default_rng(seed), blue_name)
        # same random draws -> identical luminance, opposite hues
        assert LUMA @ red == pytest.approx(LUMA @ blue, rel=1e-9)
        assert DISC_LUMINANCE[0] - 1e-9 <= LUMA @ red <= DISC_LUMINANCE[1] + 1e-9
        assert np.argmax(red) == 0 and np.argmax(blue) == 2
        assert np.linalg.norm(_chroma(red) - _chroma(blue)) > 0.3
        g_red = sample_geometry(np.random.default_rng(seed), 'disc', 30.0, 128, 96)
        g_blue = sample_geometry(np.random.default_rng(seed), 'disc', 30.0, 128, 96)
        assert g_red == g_blue
        a = Shape(**g_red, albedo=tuple(red), category_id=1).coverage(96, 128)[1]
        b = Shape(**g_blue, albedo=tuple(blue), category_id=2).coverage(96, 128)[1]
        assert np.array_equal(a, b)


def test_colour_defined_classes_same_size_and_luminance_distributions():
    stats = {1: ([], []), 2: ([], [])}
    for s in scenes(150, cfg=SceneConfig(), seed=3):
        for o in s.objects:
            if o.category_id in stats:
                assert o.kind == 'disc' and o.aspect == 1.0
                stats[o.category_id][0].append(o.size)
                stats[o.category_id][1].append(LUMA @ np.asarray(o.albedo))
    (size_r, lum_r), (size_b, lum_b) = stats[1], stats[2]
    assert len(size_r) > 60 and len(size_b) > 60
    assert abs(np.mean(size_r) / np.mean(size_b) - 1) < 0.12
    assert abs(np.mean(lum_r) / np.mean(lum_b) - 1) < 0.05
    # and what does separate them: hue, by a wide margin in every single sample
    assert max(lum_r) <= DISC_LUMINANCE[1] + 1e-9 and max(lum_b) <= DISC_LUMINANCE[1] + 1e-9


def test_shape_classes_use_any_hue():
    hues = []
    for s in scenes(60, seed=5):
        for o in s.objects:
            if o.category_id in (3, 4):
                hues.append(int(np.argmax(o.albedo)))
    assert set(hues) == {0, 1, 2}


def test_illuminant_range_respected_and_covered():
    ccts = [s.cct for s in scenes(120, cfg=SceneConfig(width=32, height=32))]
    assert min(ccts) >= 2500 and max(ccts) <= 7500
    assert min(ccts) < 3000 and max(ccts) > 7000
    narrow = SceneConfig(width=32, height=32, cct_range=(3000.0, 3100.0))
    assert all(3000 <= s.cct <= 3100 for s in scenes(20, cfg=narrow))
    with pytest.raises(ValueError):
        SceneConfig(cct_range=(1000.0, 3000.0))


def test_white_reflector_takes_the_illuminant_colour():
    white = np.ones((2, 2, 3), np.float32)
    shading = np.ones((2, 2), np.float32)
    for cct in (2500.0, 4000.0, 6504.0, 7500.0):
        xyz = scene_xyz(white, shading, cct)
        np.testing.assert_allclose(xyz[0, 0], illuminant_xyz(cct), rtol=1e-5)
        assert xyz[0, 0, 1] == pytest.approx(1.0, rel=1e-5)
    # a warm light makes the white reflector reddish (x larger), a cool one bluish
    assert xyz_to_xy(scene_xyz(white, shading, 2500.0)[0, 0])[0] > 0.45
    assert xyz_to_xy(scene_xyz(white, shading, 7500.0)[0, 0])[0] < 0.31


def test_oracle_is_gamma_encoded_d65_rendering():
    s = sample_scene(np.random.default_rng(4), SMALL)
    expected = np.rint(srgb_encode(s.albedo * s.shading[..., None]) * 255)
    assert np.array_equal(s.srgb(), expected.astype(np.uint8))
    # the oracle does not depend on the scene illuminant
    s.cct = 2500.0
    assert np.array_equal(s.srgb(), expected.astype(np.uint8))
    np.testing.assert_allclose(srgb_encode(np.array([-1.0, 0.0, 0.001, 0.18, 1.0, 2.0])),
                               [0.0, 0.0, 0.01292, 0.4613, 1.0, 1.0], atol=2e-4)


def test_config_validation():
    with pytest.raises(ValueError):
        SceneConfig(width=63, height=48)
    with pytest.raises(ValueError):
        SceneConfig(objects_per_scene=(0, 3))
    lo, hi = SceneConfig(width=64, height=48).size_range()
    assert hi == pytest.approx(0.45 * 48) and lo <= hi
