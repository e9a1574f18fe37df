"""LOD: tools/convert_lod.py on the real annotation files (../shared), the converted files in
RawCocoDataset/RawCocoMetric, and LoadNumpyImageFromFile on synthetic .npy arrays laid out like
the LOD release."""
import collections
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genisp_mmdet.datasets import COCO_CLASSES, COCO_NAME_TO_ID, RawCocoDataset
from genisp_mmdet.datasets.transforms import LoadNumpyImageFromFile
from genisp_mmdet.evaluation import RawCocoMetric
from tests.helpers import load_tool

REPO = Path(__file__).resolve().parents[2]
LOD_COUNTS = {'train': (1784, 8342), 'val': (446, 2047)}
LOD_NAMES = ('car', 'motorcycle', 'bicycle', 'chair', 'dining table', 'bottle', 'tv', 'bus')
OFFICIAL = {'car': 3, 'motorcycle': 4, 'bicycle': 2, 'chair': 62, 'dining table': 67,
            'bottle': 44, 'tv': 72, 'bus': 6}
# Canon EOS 5D Mark IV, XYZ -> camera (configs/_base_/datasets/lod_dark.py)
XYZ_TO_CAM_5D4 = [[0.6446, -0.0366, -0.0864], [-0.4436, 1.2204, 0.2513],
                  [-0.0952, 0.2496, 0.6348]]


convert_lod = load_tool('convert_lod')


def lod_src(shared, split):
    return shared('datasets', 'lod', f'all_dark-{split}.json')


def load_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """Both LOD splits converted once (skips when ../shared is absent)."""
    from tests.conftest import shared_path
    out = {}
    tmp = tmp_path_factory.mktemp('lod')
    for split in LOD_COUNTS:
        src = shared_path('datasets', 'lod', f'all_dark-{split}.json')
        dst = tmp / f'lod_dark_{split}.json'
        assert convert_lod.main([str(src), str(dst), '--no-progress']) == 0
        out[split] = dst
    return out


def test_lod_table_is_the_official_coco_ids():
    assert convert_lod.LOD_TO_COCO_ID == OFFICIAL
    assert all(COCO_NAME_TO_ID[name] == cid for name, cid in OFFICIAL.items())


@pytest.mark.parametrize('split', sorted(LOD_COUNTS))
def test_conversion_counts_and_ids(shared, converted, split):
    src = load_json(lod_src(shared, split))
    out = load_json(converted[split])
    n_img, n_box = LOD_COUNTS[split]
    assert (len(src['images']), len(src['annotations'])) == (n_img, n_box)
    assert (len(out['images']), len(out['annotations'])) == (n_img, n_box)
    assert [(c['id'], c['name']) for c in out['categories']] == \
        sorted((OFFICIAL[n], n) for n in LOD_NAMES)
    # the same boxes on the same images, with the same class *names*
    src_name = {c['id']: c['name'] for c in src['categories']}
    out_name = {c['id']: c['name'] for c in out['categories']}
    key = lambda a, names: (a['image_id'], names[a['category_id']], tuple(a['bbox']))  # noqa
    assert collections.Counter(key(a, src_name) for a in src['annotations']) == \
        collections.Counter(key(a, out_name) for a in out['annotations'])
    assert [a['id'] for a in out['annotations']] == list(range(1, n_box + 1))
    assert all(a['area'] == a['bbox'][2] * a['bbox'][3] for a in out['annotations'])
    assert out['images'] == src['images']  # string ids and .npy names kept


def test_keep_area_keeps_the_source_area(shared, tmp_path):
    dst = tmp_path / 'val.json'
    assert convert_lod.main([str(lod_src(shared, 'val')), str(dst), '--keep-area',
                             '--no-progress']) == 0
    src = load_json(lod_src(shared, 'val'))
    assert [a['area'] for a in load_json(dst)['annotations']] == \
        [a['area'] for a in src['annotations']]


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


@pytest.mark.parametrize('case, message', [
    ('missing', 'not found'),
    ('not_json', 'cannot read'),
    ('unknown_category', 'not a COCO category'),
    ('unknown_image', 'not in "images"'),
    ('no_images', "no 'images'"),
])
def test_conversion_errors_are_clear(tmp_path, capsys, case, message):
    good = dict(images=[dict(id='1', file_name='1.npy', width=1200, height=800)],
                annotations=[dict(id=0, image_id='1', category_id=0, bbox=[1, 2, 3, 4],
                                  iscrowd=0, area=12)],
                categories=[dict(id=0, name='car')])
    src = str(tmp_path / 'missing.json')
    if case == 'not_json':
        src = str(tmp_path / 'bad.json')
        Path(src).write_text('{not json')
    elif case == 'unknown_category':
        good['categories'] = [dict(id=0, name='streetlight')]
        src = _write(tmp_path / 'src.json', good)
    elif case == 'unknown_image':
        good['annotations'][0]['image_id'] = '2'
        src = _write(tmp_path / 'src.json', good)
    elif case == 'no_images':
        del good['images']
        src = _write(tmp_path / 'src.json', good)
    dst = tmp_path / 'out.json'
    assert convert_lod.main([src, str(dst), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'convert_lod: error:' in err and message in err
    assert not dst.exists()


def test_refuses_to_overwrite_the_source(tmp_path, capsys):
    src = _write(tmp_path / 'src.json', dict(images=[], annotations=[], categories=[]))
    assert convert_lod.main([src, src]) == 2
    assert 'overwrite' in capsys.readouterr().err


def test_converted_lod_labels_are_detector_labels(converted):
    ds = RawCocoDataset(ann_file=str(converted['val']), pipeline=[], test_mode=True)
    out = load_json(converted['val'])
    name = {c['id']: c['name'] for c in out['categories']}
    got = collections.Counter(inst['bbox_label'] for i in range(len(ds))
                              for inst in ds.get_data_info(i)['instances'])
    want = collections.Counter(COCO_CLASSES.index(name[a['category_id']])
                               for a in out['annotations'])
    assert got == want
    assert set(got) == {COCO_CLASSES.index(n) for n in LOD_NAMES}  # {1, 2, 3, 5, 39, 56, 60, 62}
    assert ds.get_data_info(0)['img_path'].endswith('.npy')


def _gt_samples(ds, indices):
    samples = []
    for i in indices:
        info = ds.get_data_info(i)
        boxes = torch.tensor([inst['bbox'] for inst in info['instances']],
                             dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([inst['bbox_label'] for inst in info['instances']])
        samples.append(dict(img_id=info['img_id'], img_path=info['img_path'],
                            ori_shape=(800, 1200), raw_meta=dict(visible_shape=None),
                            pred_instances=dict(bboxes=boxes, labels=labels,
                                                scores=torch.ones(len(labels)))))
    return samples


def _evaluate(metric, meta, samples):
    metric.dataset_meta = meta
    metric.process({}, samples)
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.evaluate(len(samples))['coco/bbox_mAP']


def test_metric_on_converted_lod_and_what_plain_mmdet_gets_wrong(converted):
    from mmdet.datasets import CocoDataset
    from mmdet.evaluation import CocoMetric
    path = str(converted['val'])
    ds = RawCocoDataset(ann_file=path, pipeline=[], test_mode=True)
    samples = _gt_samples(ds, range(40))
    assert _evaluate(RawCocoMetric(), ds.metainfo, samples) == 1.0

    # mmdet's CocoDataset numbers the 8 declared categories 0..7 in file order: fed to a
    # COCO-pretrained detector those would be person, bicycle, car, ... -> wrong
    plain = CocoDataset(ann_file=path, pipeline=[], test_mode=True, data_prefix=dict(img=''))
    plain_labels = {inst['bbox_label'] for i in range(len(plain))
                    for inst in plain.get_data_info(i)['instances']}
    assert plain_labels == set(range(8))
    ours = {inst['bbox_label'] for i in range(len(ds))
            for inst in ds.get_data_info(i)['instances']}
    assert ours != plain_labels
    # ... and mmdet's CocoMetric writes label l as cat_ids[l], cat_ids being the declared ids
    # in file order: the detector's car (2) would be written as 4 (motorcycle), its chair (56)
    # has no entry at all
    plain_metric = CocoMetric(ann_file=path)
    assert plain_metric._coco_api.get_cat_ids(cat_names=COCO_CLASSES) == \
        [2, 3, 4, 6, 44, 62, 67, 72]
    chair = COCO_CLASSES.index('chair')
    with_chair = [i for i in range(len(ds))
                  if any(inst['bbox_label'] == chair for inst in ds.get_data_info(i)['instances'])]
    with pytest.raises(IndexError):
        _evaluate(plain_metric, dict(classes=COCO_CLASSES), _gt_samples(ds, with_chair[:2]))


def test_unconverted_lod_file_also_gets_detector_labels(shared):
    """Labels go by category name, so even the original file (ids 0-7) feeds the detector
    correctly; the metric then writes the file's own ids."""
    ds = RawCocoDataset(ann_file=str(lod_src(shared, 'val')), pipeline=[], test_mode=True)
    labels = {inst['bbox_label'] for i in range(len(ds))
              for inst in ds.get_data_info(i)['instances']}
    assert labels == {COCO_CLASSES.index(n) for n in LOD_NAMES}
    assert _evaluate(RawCocoMetric(), ds.metainfo, _gt_samples(ds, range(30))) == 1.0


# ------------------------------------------------------------------ LoadNumpyImageFromFile
def _npy(tmp_path, array, name='x.npy'):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def test_load_numpy_rggb_camera_rgb(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.uniform(-0.1, 1.2, size=(8, 12, 4))  # float64, like the LOD release
    out = LoadNumpyImageFromFile()(dict(img_path=_npy(tmp_path, arr)))
    img = out['img']
    assert img.shape == (8, 12, 3) and img.dtype == np.float32
    want = np.stack([arr[..., 0], (arr[..., 1] + arr[..., 2]) / 2, arr[..., 3]], -1)
    np.testing.assert_allclose(img, np.clip(want, 0, 1), atol=1e-6)
    assert out['ori_shape'] == out['img_shape'] == (8, 12)
    meta = out['raw_meta']
    assert meta['color_space'] == 'camera' and meta['cam_to_xyz'] is None
    assert meta['visible_shape'] is None and meta['cfa_pattern'] == 'RGGB'
    keys = ('make', 'model', 'cfa_pattern', 'black_level', 'white_level', 'camera_wb',
            'daylight_wb', 'cam_to_xyz', 'color_space', 'iso', 'exposure_time', 'visible_shape')
    assert tuple(meta) == keys
    try:
        from genisp_mmdet.raw import RAW_META_FIELDS
    except ImportError:
        pass
    else:
        assert tuple(meta) == tuple(RAW_META_FIELDS)


def test_load_numpy_xyz_daylight_white_is_d65_at_y_1(tmp_path):
    from genisp_mmdet.color import SRGB_TO_XYZ, xyz_to_xy
    m = np.array(XYZ_TO_CAM_5D4)
    white = m @ SRGB_TO_XYZ @ np.ones(3)
    cam = white / white[1] * 0.5  # a daylight-white patch, G = 0.5
    arr = np.broadcast_to(np.array([cam[0], cam[1], cam[1], cam[2]]), (4, 6, 4)).copy()
    out = LoadNumpyImageFromFile(xyz_to_camera=XYZ_TO_CAM_5D4)(dict(img_path=_npy(tmp_path, arr)))
    xyz = out['img'][0, 0].astype(np.float64)
    assert out['raw_meta']['color_space'] == 'xyz'
    np.testing.assert_allclose(xyz[1], 0.5, atol=1e-4)
    np.testing.assert_allclose(xyz_to_xy(xyz), (0.3127, 0.3290), atol=2e-3)


def test_load_numpy_layouts_and_errors(tmp_path):
    chw = np.random.default_rng(1).uniform(0, 1, size=(3, 5, 7))
    out = LoadNumpyImageFromFile()(dict(img_path=_npy(tmp_path, chw, 'chw.npy')))
    np.testing.assert_allclose(out['img'], chw.transpose(1, 2, 0), atol=1e-6)
    assert out['raw_meta']['cfa_pattern'] is None
    with pytest.raises(FileNotFoundError, match='nope.npy'):
        LoadNumpyImageFromFile()(dict(img_path=str(tmp_path / 'nope.npy')))
    with pytest.raises(ValueError, match='flat.npy'):
        LoadNumpyImageFromFile()(dict(img_path=_npy(tmp_path, np.zeros((5, 7)), 'flat.npy')))
    with pytest.raises(ValueError, match='channel_layout'):
        LoadNumpyImageFromFile(channel_layout='RGGB')(
            dict(img_path=_npy(tmp_path, np.zeros((5, 7, 3)), 'rgb.npy')))
    bad = tmp_path / 'text.npy'
    bad.write_text('not an array')
    with pytest.raises(ValueError, match='text.npy'):
        LoadNumpyImageFromFile()(dict(img_path=str(bad)))


def test_lod_config_pipeline_on_a_synthetic_image(shared, converted, tmp_path):
    """configs/_base_/datasets/lod_dark.py end to end on one fake .npy per image: boxes kept
    (1200x800 is already inside Resize(1333, 800)), XYZ float input of (3, 800, 1200)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    ann = load_json(converted['val'])
    keep = {img['id'] for img in ann['images'][:2]}
    ann['images'] = [img for img in ann['images'] if img['id'] in keep]
    ann['annotations'] = [a for a in ann['annotations'] if a['image_id'] in keep]
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'dark_raw').mkdir()
    _write(tmp_path / 'annotations' / 'lod_dark_val.json', ann)
    for img in ann['images']:
        np.save(tmp_path / 'dark_raw' / img['file_name'],
                np.full((800, 1200, 4), 0.02, dtype=np.float64))
    cfg = Config.fromfile(str(REPO / 'configs/_base_/datasets/lod_dark.py'))
    cfg.val_dataloader.dataset.data_root = str(tmp_path)
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(ds) == 2
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 800, 1200)
    assert item['inputs'].dtype == torch.float32
    sample = item['data_samples']
    assert sample.metainfo['raw_meta']['color_space'] == 'xyz'
    info = ds.get_data_info(0)
    np.testing.assert_allclose(sample.gt_instances.bboxes.tensor.numpy(),
                               np.array([inst['bbox'] for inst in info['instances']]), atol=1e-3)
