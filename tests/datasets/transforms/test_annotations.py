"""AlignRawAnnotations: rendered-frame boxes onto the packed RAW image, on real RAW-NOD files."""
import json
import warnings
from collections import defaultdict

import numpy as np
import pytest
import torch
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.structures.bbox import HorizontalBoxes

from genisp_mmdet.datasets.transforms import (AlignRawAnnotations, EmptyBoxWarning,
                                              annotated_to_visible)
from tests.conftest import shared_path

# LibRaw's visible Bayer frames (raw_image_visible) of the two RAW-NOD cameras.
SONY_RX100M7_VISIBLE = (3672, 5496)   # H, W; rendered/annotated 5472x3648
NIKON_D750_VISIBLE = (4032, 6032)     # H, W of an FX NEF; annotated 3936x2624


def results_for(boxes, ann_size, visible_shape, img_shape=None, path='x.ARW'):
    vis_h, vis_w = visible_shape
    img_shape = img_shape or (vis_h // 2, vis_w // 2)
    return dict(img_path=path, width=ann_size[0], height=ann_size[1], img_shape=img_shape,
                raw_meta=dict(visible_shape=list(visible_shape)),
                gt_bboxes=HorizontalBoxes(np.asarray(boxes, np.float32).reshape(-1, 4)))


def test_sony_margin_is_a_centred_crop():
    k, ox, oy, frame = annotated_to_visible((5472, 3648), (5496, 3672))
    assert (k, ox, oy, frame) == (1.0, 12.0, 12.0, 'crop')
    out = AlignRawAnnotations()(results_for([[0, 0, 5472, 3648], [100, 50, 200, 150]],
                                            (5472, 3648), SONY_RX100M7_VISIBLE))
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(),
                               [[6, 6, 2742, 1830], [56, 31, 106, 81]])
    assert out['ann_to_img'] == dict(scale=(0.5, 0.5), offset=(6.0, 6.0), frame='crop')


def test_nikon_fx_frame_is_a_uniform_resize():
    # An FX D750 NEF (6032x4032 visible) under 3936x2624 annotations: not a small margin, so
    # the annotated frame is taken as the visible frame resized uniformly, centred.
    k, ox, oy, frame = annotated_to_visible((3936, 2624), (6032, 4032))
    assert frame == 'resize'
    assert k == pytest.approx(6032 / 3936) and ox == pytest.approx(0.0)
    assert oy == pytest.approx((4032 - 2624 * 6032 / 3936) / 2) and 0 < oy < 6
    out = AlignRawAnnotations()(results_for([[0, 0, 3936, 2624]], (3936, 2624),
                                            NIKON_D750_VISIBLE))
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(),
                               [[0, oy / 2, 3016, 2016 - oy / 2]], rtol=1e-6)


def test_frame_can_be_forced_and_overridden():
    boxes = [[10, 20, 30, 40]]
    crop = AlignRawAnnotations(frame='crop')(results_for(boxes, (4000, 3000), (3100, 4100)))
    np.testing.assert_allclose(crop['gt_bboxes'].tensor.numpy(), [[30, 35, 40, 45]])
    explicit = AlignRawAnnotations(offset=(12, 12), scale=1.0)(
        results_for(boxes, (1, 1), SONY_RX100M7_VISIBLE))
    np.testing.assert_allclose(explicit['gt_bboxes'].tensor.numpy(), [[11, 16, 21, 26]])
    assert explicit['ann_to_img']['frame'] == 'explicit'
    scaled = AlignRawAnnotations(scale=2.0)(results_for(boxes, (1, 1), (400, 600)))
    np.testing.assert_allclose(scaled['gt_bboxes'].tensor.numpy(), [[10, 20, 30, 40]])


def test_odd_visible_size_uses_the_packed_coverage():
    # visible 101x151 packs to 50x75 covering visible pixels [0, 100) x [0, 150)
    out = AlignRawAnnotations(frame='crop')(results_for([[0, 0, 151, 101]], (151, 101),
                                                        (101, 151), img_shape=(50, 75)))
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[0, 0, 75, 50]])


def test_without_sensor_geometry_the_image_is_the_visible_frame():
    # e.g. a pre-packed 1200x800 array annotated at 6720x4480: a uniform resize
    res = results_for([[672, 448, 6720, 4480]], (6720, 4480), (1, 1), img_shape=(800, 1200))
    res['raw_meta'] = dict(visible_shape=None)
    out = AlignRawAnnotations()(res)
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[120, 80, 1200, 800]],
                               rtol=1e-6)
    assert out['ann_to_img']['frame'] == 'resize'


def test_ndarray_boxes_and_clipping_keep_the_count():
    res = results_for([], (5472, 3648), SONY_RX100M7_VISIBLE)
    res['gt_bboxes'] = np.array([[-100, -100, 50, 50], [5400, 3600, 6000, 4000]], np.float32)
    out = AlignRawAnnotations()(res)
    assert isinstance(out['gt_bboxes'], np.ndarray) and out['gt_bboxes'].shape == (2, 4)
    np.testing.assert_allclose(out['gt_bboxes'], [[0, 0, 31, 31], [2706, 1806, 2748, 1836]])


def test_boxes_that_become_empty_are_kept_and_reported():
    # a box entirely left of the visible area's crop, and one already degenerate
    res = results_for([[-40, 10, -20, 30], [5, 5, 5, 9], [10, 10, 20, 20]], (5472, 3648),
                      SONY_RX100M7_VISIBLE, path='dark/DSC0001.ARW')
    with pytest.warns(EmptyBoxWarning, match=r'DSC0001.ARW: 2 of 3 boxes.*1 already'):
        out = AlignRawAnnotations()(res)
    assert len(out['gt_bboxes']) == 3


def test_rotated_annotation_frame_is_refused():
    with pytest.raises(ValueError, match='rotated'):
        AlignRawAnnotations()(results_for([[0, 0, 1, 1]], (3648, 5472), SONY_RX100M7_VISIBLE))


def test_must_run_before_geometric_transforms():
    res = results_for([[0, 0, 1, 1]], (5472, 3648), SONY_RX100M7_VISIBLE)
    res['scale_factor'] = (1.0, 1.0)  # as the loaders set it: fine
    AlignRawAnnotations()(dict(res))
    res['scale_factor'] = (0.5, 0.5)
    with pytest.raises(RuntimeError, match='before Resize'):
        AlignRawAnnotations()(res)
    res['scale_factor'] = (1.0, 1.0)
    res['flip'] = True
    with pytest.raises(RuntimeError, match='before Resize'):
        AlignRawAnnotations()(res)


def test_needs_the_annotated_size():
    res = results_for([[0, 0, 1, 1]], (5472, 3648), SONY_RX100M7_VISIBLE)
    del res['width']
    with pytest.raises(KeyError, match='width'):
        AlignRawAnnotations()(res)


@pytest.mark.parametrize('kwargs', [dict(frame='stretch'), dict(offset=(1, 2, 3)),
                                    dict(scale=0.0)])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        AlignRawAnnotations(**kwargs)


# -- the real RAW-NOD annotation files ----------------------------------------------------------
RAW_NOD = {
    'Sony': (SONY_RX100M7_VISIBLE, ['raw_new_Sony_RX100m7_train.json',
                                    'raw_new_Sony_RX100m7_val.json',
                                    'raw_str_labeled_new_Sony_RX100m7_test.json']),
    'Nikon': (NIKON_D750_VISIBLE, ['raw_new_Nikon750_train.json', 'raw_new_Nikon750_val.json',
                                   'raw_new_Nikon750_test.json']),
}


def _images_with_instances(coco):
    by_image = defaultdict(list)
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        by_image[ann['image_id']].append(dict(bbox=[x, y, x + w, y + h], bbox_label=0,
                                              ignore_flag=0))
    return [(img, by_image[img['id']]) for img in coco['images']]


@pytest.mark.parametrize('camera', sorted(RAW_NOD))
def test_raw_nod_boxes_land_inside_the_packed_image(camera):
    visible, files = RAW_NOD[camera]
    img_shape = (visible[0] // 2, visible[1] // 2)
    load, align = LoadAnnotations(with_bbox=True), AlignRawAnnotations()
    total_in = total_out = empty = 0
    for name in files:
        coco = json.loads(shared_path('datasets', 'raw-nod', 'annotations', camera,
                                      name).read_text())
        for img, instances in _images_with_instances(coco):
            res = load(dict(img_path=img['file_name'], width=img['width'],
                            height=img['height'], img_shape=img_shape,
                            raw_meta=dict(visible_shape=list(visible)), instances=instances))
            ann_boxes = res['gt_bboxes'].tensor.clone()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                out = align(res)
            empty += len([w for w in caught if issubclass(w.category, EmptyBoxWarning)])
            boxes = out['gt_bboxes'].tensor
            total_in += len(ann_boxes)
            total_out += len(boxes)
            # the unclipped map already lands inside the image: clipping changed nothing
            a = out['ann_to_img']
            mapped = ann_boxes * torch.tensor([a['scale'][0], a['scale'][1]] * 2) \
                + torch.tensor([a['offset'][0], a['offset'][1]] * 2)
            torch.testing.assert_close(boxes, mapped.float())
            assert bool((boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= img_shape[1]).all())
            assert bool((boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= img_shape[0]).all())
    assert total_in == total_out > 0
    # Nikon's test file holds one box of zero height, reported (not dropped)
    assert empty == (1 if camera == 'Nikon' else 0)
