"""RawCocoDataset / RawCocoMetric on the real RAW-NOD annotation files (../shared).

Every test that reads a real file skips with a reason when ../shared is absent. Counts are
hard-coded from the published files so that a loader that loses or invents boxes fails.
"""
import collections
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.datasets import CocoDataset

from genisp_mmdet.datasets import COCO_CATEGORIES, COCO_CLASSES, RawCocoDataset
from genisp_mmdet.evaluation import RawCocoMetric
from genisp_mmdet.structures import annotation_to_image_affine, image_to_annotation_boxes

# (camera folder, file, images, boxes, zero-size boxes)
RAW_NOD = {
    'sony_train': ('Sony', 'raw_new_Sony_RX100m7_train.json', 2571, 14982, 0),
    'sony_val': ('Sony', 'raw_new_Sony_RX100m7_val.json', 321, 1896, 0),
    'sony_test': ('Sony', 'raw_str_labeled_new_Sony_RX100m7_test.json', 321, 1827, 0),
    'nikon_train': ('Nikon', 'raw_new_Nikon750_train.json', 3206, 22474, 0),
    'nikon_val': ('Nikon', 'raw_new_Nikon750_val.json', 400, 2720, 0),
    'nikon_test': ('Nikon', 'raw_new_Nikon750_test.json', 400, 2852, 1),
}
REPO = Path(__file__).resolve().parents[2]
SONY_VISIBLE = (3672, 5496)   # RX100 VII visible Bayer frame (H, W)
SONY_PACKED = (1836, 2748)    # packed = half the visible frame
NIKON_PACKED = (1312, 1968)   # assumes visible frame == annotated 3936x2624 (not verified)


def ann_path(shared, key):
    cam, name = RAW_NOD[key][:2]
    return shared('datasets', 'raw-nod', 'annotations', cam, name)


def write_raw_nod_like(path, key, seed):
    """A small annotation file with what makes the published RAW-NOD files hard for plain
    mmdet: string image ids (``DSC...``, a different range per split), annotation ids from 0,
    boxes on the rendered 5472x3648 (Sony) or 3936x2624 (Nikon) frame of all sizes, official
    COCO category ids - person, bicycle, car, or all 80 declared (the Nikon test file) - and one
    zero-size box in the Nikon test file."""
    rng = np.random.default_rng(seed)
    sony = key.startswith('sony')
    width, height, ext = (5472, 3648, '.ARW') if sony else (3936, 2624, '.NEF')
    n_images = 30 if key.endswith('val') or key == 'nikon_test' else 20
    first = {'sony_val': 1000, 'sony_train': 5000, 'nikon_test': 8000}.get(key, 9000)
    declared = list(COCO_CATEGORIES) if key == 'nikon_test' else list(COCO_CATEGORIES[:3])
    images, annotations = [], []
    for i in range(n_images):
        image_id = f'DSC{first + i:05d}'
        images.append(dict(id=image_id, file_name=image_id + ext, width=width, height=height))
        for _ in range(int(rng.integers(2, 8))):
            w = float(np.exp(rng.uniform(np.log(24), np.log(width / 3))))
            h = float(np.exp(rng.uniform(np.log(24), np.log(height / 3))))
            x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
            category = int(rng.choice([1, 2, 3], p=[0.5, 0.1, 0.4]))
            annotations.append(dict(id=len(annotations), image_id=image_id,
                                    category_id=category, bbox=[x, y, w, h], area=w * h,
                                    iscrowd=0))
    if key == 'nikon_test':
        annotations[5]['bbox'][2] = 0.0
    categories = [dict(id=c, name=n, supercategory=s) for c, n, s in declared]
    path.write_text(json.dumps(dict(images=images, annotations=annotations,
                                    categories=categories)))
    return path


@pytest.fixture(scope='module')
def synthetic_raw_nod(tmp_path_factory):
    folder = tmp_path_factory.mktemp('raw_nod_like')
    return {key: write_raw_nod_like(folder / f'{key}.json', key, seed)
            for seed, key in enumerate(('sony_val', 'sony_train', 'nikon_test'))}


@pytest.fixture(params=['synthetic', 'published'])
def raw_nod(request, shared, synthetic_raw_nod):
    """``raw_nod(key)``: the annotation file, once a RAW-NOD-like file the test writes (runs
    everywhere), once the published one (skips without ../shared)."""
    if request.param == 'synthetic':
        return synthetic_raw_nod.__getitem__
    return lambda key: ann_path(shared, key)


def build(path, **kwargs):
    kwargs.setdefault('data_prefix', dict(img='raw/'))
    return RawCocoDataset(ann_file=str(path), pipeline=[], test_mode=True, **kwargs)


def load_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def gt_samples(dataset, indices, image_shape, visible_shape, label_map=None):
    """Data samples as the model would return them, with predictions = ground truth mapped to
    the loaded image frame (what AlignRawAnnotations + a perfect detector would give)."""
    samples = []
    for i in indices:
        info = dataset.get_data_info(i)
        boxes = np.array([inst['bbox'] for inst in info['instances']],
                         dtype=np.float64).reshape(-1, 4)
        sx, sy, tx, ty = annotation_to_image_affine((info['width'], info['height']),
                                                    image_shape, visible_shape)
        boxes[:, 0::2] = boxes[:, 0::2] * sx + tx
        boxes[:, 1::2] = boxes[:, 1::2] * sy + ty
        labels = [inst['bbox_label'] for inst in info['instances']]
        if label_map is not None:
            labels = [label_map(label) for label in labels]
        samples.append(dict(
            img_id=info['img_id'], img_path=info['img_path'], ori_shape=tuple(image_shape),
            raw_meta=dict(visible_shape=list(visible_shape)) if visible_shape else None,
            pred_instances=dict(bboxes=torch.as_tensor(boxes, dtype=torch.float32),
                                scores=torch.ones(len(labels)),
                                labels=torch.as_tensor(labels, dtype=torch.long))))
    return samples


def evaluate(metric, dataset, samples):
    metric.dataset_meta = dataset.metainfo
    metric.process({}, samples)
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.evaluate(len(samples))


def test_coco_ids_are_the_official_ones(shared):
    assert COCO_CLASSES == CocoDataset.METAINFO['classes']
    nikon_test = load_json(ann_path(shared, 'nikon_test'))
    declared = [(c['id'], c['name'], c['supercategory']) for c in nikon_test['categories']]
    assert declared == list(COCO_CATEGORIES)


@pytest.mark.parametrize('key', sorted(RAW_NOD))
def test_counts_ids_and_labels_match_the_file(shared, key):
    path = ann_path(shared, key)
    _, _, n_img, n_box, n_degenerate = RAW_NOD[key]
    raw = load_json(path)
    assert (len(raw['images']), len(raw['annotations'])) == (n_img, n_box)
    ds = build(path)
    assert len(ds) == n_img
    assert sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds))) == \
        n_box - n_degenerate

    # label space: the 80 COCO classes, labels by name
    assert ds.metainfo['classes'] == COCO_CLASSES
    assert ds.metainfo['detector_label'] == tuple(range(80))
    cat_name = {c['id']: c['name'] for c in raw['categories']}
    images = {img['id']: img for img in raw['images']}
    expected = collections.Counter(
        (a['image_id'], COCO_CLASSES.index(cat_name[a['category_id']]),
         (a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3]))
        for a in raw['annotations'] if a['bbox'][2] >= 1 and a['bbox'][3] >= 1)
    got = collections.Counter()
    int_ids = set()
    ext = '.ARW' if RAW_NOD[key][0] == 'Sony' else '.NEF'
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert isinstance(info['img_id'], int)
        int_ids.add(info['img_id'])
        published = images[info['orig_img_id']]
        assert info['file_name'] == published['file_name']
        assert info['img_path'] == 'raw/' + published['file_name']
        assert info['img_path'].endswith(ext)
        assert (info['width'], info['height']) == (published['width'], published['height'])
        for inst in info['instances']:
            got[(info['orig_img_id'], inst['bbox_label'], tuple(inst['bbox']))] += 1
    assert len(int_ids) == n_img
    assert got == expected


def test_sony_test_file_with_int_ids_keeps_them(shared):
    raw = load_json(ann_path(shared, 'sony_test'))
    ds = build(ann_path(shared, 'sony_test'))
    by_id = {img['id']: img['file_name'] for img in raw['images']}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['img_id'] == info['orig_img_id']
        assert by_id[info['img_id']] == info['file_name']


def test_string_ids_are_mapped_to_ints_but_kept(raw_nod):
    ds = build(raw_nod('sony_val'))
    info = ds.get_data_info(0)
    assert isinstance(info['orig_img_id'], str) and info['orig_img_id'].startswith('DSC')
    assert info['file_name'] == info['orig_img_id'] + '.ARW'
    assert isinstance(info['img_id'], int)


def test_sony_alignment_rule_is_offset_12_then_half():
    assert annotation_to_image_affine((5472, 3648), SONY_PACKED, SONY_VISIBLE) == \
        (0.5, 0.5, 6.0, 6.0)
    boxes = np.array([[0, 0, 5472, 3648], [100, 200, 300, 400]], dtype=np.float64)
    packed = (boxes + 12) * 0.5
    np.testing.assert_allclose(
        image_to_annotation_boxes(packed, (5472, 3648), SONY_PACKED, SONY_VISIBLE), boxes)
    # no RAW metadata (pre-packed .npy): a plain resize of the annotated frame
    assert annotation_to_image_affine((1200, 800), (800, 1200)) == (1.0, 1.0, 0.0, 0.0)
    assert annotation_to_image_affine((1200, 800), (400, 600)) == (0.5, 0.5, 0.0, 0.0)


@pytest.mark.parametrize('key', ['sony_train', 'sony_val', 'sony_test', 'nikon_val'])
def test_every_mapped_box_lies_inside_its_packed_image(shared, key):
    ds = build(ann_path(shared, key))
    if key.startswith('sony'):
        image_shape, visible = SONY_PACKED, SONY_VISIBLE
    else:
        image_shape, visible = NIKON_PACKED, None
    n = 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        sx, sy, tx, ty = annotation_to_image_affine((info['width'], info['height']),
                                                    image_shape, visible)
        for inst in info['instances']:
            x0, y0, x1, y1 = inst['bbox']
            x0, x1 = x0 * sx + tx, x1 * sx + tx
            y0, y1 = y0 * sy + ty, y1 * sy + ty
            assert 0 <= x0 < x1 <= image_shape[1] and 0 <= y0 < y1 <= image_shape[0], \
                (info['file_name'], inst['bbox'])
            n += 1
    assert n > 0


def test_alignment_transform_agrees_with_the_metric_inverse(raw_nod):
    """AlignRawAnnotations (the loader's) and RawCocoMetric's inverse must be one rule."""
    from genisp_mmdet.datasets import transforms
    from mmdet.datasets.transforms import LoadAnnotations
    ds = build(raw_nod('sony_val'))
    align = transforms.AlignRawAnnotations()
    for i in range(5):
        info = ds.get_data_info(i)
        results = LoadAnnotations(with_bbox=True)(dict(info))
        before = results['gt_bboxes'].tensor.numpy().astype(np.float64).copy()
        results.update(img=np.zeros(SONY_PACKED + (3,), np.float32), img_shape=SONY_PACKED,
                       ori_shape=SONY_PACKED,
                       raw_meta=dict(visible_shape=list(SONY_VISIBLE)))
        results = align(results)
        after = results['gt_bboxes'].tensor.numpy().astype(np.float64)
        np.testing.assert_allclose(after, (before + 12) * 0.5, atol=1e-3)
        np.testing.assert_allclose(
            image_to_annotation_boxes(after, (info['width'], info['height']), SONY_PACKED,
                                      SONY_VISIBLE), before, atol=1e-3)


# ----------------------------------------------------------------------------------- metric
def test_metric_gt_as_predictions_gives_map_1(raw_nod):
    ds = build(raw_nod('sony_val'))
    samples = gt_samples(ds, range(25), SONY_PACKED, SONY_VISIBLE)
    res = evaluate(RawCocoMetric(), ds, samples)
    assert res['coco/bbox_mAP'] == 1.0
    assert res['coco/bbox_mAP_50'] == 1.0


def test_metric_fails_with_a_wrong_label_mapping(raw_nod):
    ds = build(raw_nod('sony_val'))
    swap = {0: 2, 2: 0}  # person <-> car
    samples = gt_samples(ds, range(25), SONY_PACKED, SONY_VISIBLE,
                         label_map=lambda label: swap.get(label, label))
    assert evaluate(RawCocoMetric(), ds, samples)['coco/bbox_mAP'] < 0.5


def test_metric_fails_without_mapping_back_to_the_annotated_frame(raw_nod):
    ds = build(raw_nod('sony_val'))
    samples = gt_samples(ds, range(25), SONY_PACKED, SONY_VISIBLE)
    res = evaluate(RawCocoMetric(to_annotation_frame=False), ds, samples)
    assert res['coco/bbox_mAP'] < 0.5


def test_published_files_lose_annotation_id_0_in_pycocotools(raw_nod):
    """Why annotation ids are renumbered: with the published ids (from 0) pycocotools cannot
    match annotation 0, so even perfect predictions score < 1; normalised, they score 1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    path = raw_nod('sony_val')
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        assert min(gt.anns) == 0
        dets = [dict(image_id=a['image_id'], bbox=a['bbox'], score=1.0,
                     category_id=a['category_id']) for a in gt.dataset['annotations']]
        ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert 0.95 < ev.stats[0] < 1.0

    ds = build(path)
    samples = gt_samples(ds, range(len(ds)), SONY_PACKED, SONY_VISIBLE)
    assert evaluate(RawCocoMetric(), ds, samples)['coco/bbox_mAP'] == 1.0


def test_plain_cocometric_accepts_string_ids_but_scores_perfect_boxes_below_1(raw_nod):
    """What mmdet's own CocoMetric does with the published file: string image ids work (when
    the dataset keeps them), but annotation id 0 is lost, as above."""
    from mmdet.evaluation import CocoMetric
    path = raw_nod('sony_val')
    raw = load_json(path)
    by_img = collections.defaultdict(list)
    for a in raw['annotations']:
        by_img[a['image_id']].append(a)
    samples = []
    for img in raw['images']:
        anns = by_img[img['id']]
        boxes = [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                  a['bbox'][1] + a['bbox'][3]] for a in anns]
        samples.append(dict(img_id=img['id'], ori_shape=(img['height'], img['width']),
                            pred_instances=dict(
                                bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                scores=torch.ones(len(anns)),
                                labels=torch.tensor([a['category_id'] - 1 for a in anns]))))
    metric = CocoMetric(ann_file=str(path))
    metric.dataset_meta = dict(classes=COCO_CLASSES)
    metric.process({}, samples)
    with contextlib.redirect_stdout(io.StringIO()):
        res = metric.evaluate(len(samples))
    assert 0.95 < res['coco/bbox_mAP'] < 1.0


def test_categories_without_ground_truth_do_not_change_map(raw_nod):
    """The Nikon test file declares all 80 categories; 77 have no boxes. pycocotools leaves
    their precision at -1 and averages over the rest, so confident detections of e.g. 'truck'
    or 'dog' change nothing, while a false 'car' does. Also covers the zero-area box."""
    ds = build(raw_nod('nikon_test'))
    samples = gt_samples(ds, range(len(ds)), NIKON_PACKED, None)
    for s in samples[:50]:
        pred = s['pred_instances']
        extra = torch.tensor([[10., 10., 200., 200.], [300., 300., 600., 500.]])
        pred['bboxes'] = torch.cat([pred['bboxes'], extra])
        pred['scores'] = torch.cat([pred['scores'], torch.ones(2)])
        pred['labels'] = torch.cat([pred['labels'], torch.tensor([COCO_CLASSES.index('truck'),
                                                                  COCO_CLASSES.index('dog')])])
    res = evaluate(RawCocoMetric(classwise=True), ds, samples)
    assert res['coco/bbox_mAP'] == 1.0
    assert res['coco/person_precision'] == 1.0

    samples = gt_samples(ds, range(len(ds)), NIKON_PACKED, None)
    for s in samples:
        pred = s['pred_instances']
        pred['bboxes'] = torch.cat([pred['bboxes'], torch.tensor([[1., 1., 150., 150.]])])
        pred['scores'] = torch.cat([pred['scores'], torch.full((1,), 2.0)])
        pred['labels'] = torch.cat([pred['labels'], torch.tensor([COCO_CLASSES.index('car')])])
    assert evaluate(RawCocoMetric(), ds, samples)['coco/bbox_mAP'] < 1.0


def test_class_subset_keeps_detector_label_space(raw_nod):
    path = raw_nod('sony_val')
    ds = build(path, metainfo=dict(classes=('person', 'car')))
    meta = ds.metainfo
    assert meta['classes'] == COCO_CLASSES
    assert meta['eval_classes'] == ('person', 'car')
    assert meta['detector_label'] == (0, 2)
    labels = {inst['bbox_label'] for i in range(len(ds))
              for inst in ds.get_data_info(i)['instances']}
    assert labels == {0, 2}  # bicycle (1) not loaded; car is still the detector's class 2
    raw = load_json(path)
    n_person_car = sum(a['category_id'] in (1, 3) for a in raw['annotations'])
    assert sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds))) == n_person_car
    # plain mmdet renumbers a subset: car would become label 1 = the detector's bicycle
    plain = CocoDataset(ann_file=str(path), pipeline=[], test_mode=True,
                        data_prefix=dict(img=''), metainfo=dict(classes=('person', 'car')))
    assert {inst['bbox_label'] for i in range(len(plain))
            for inst in plain.get_data_info(i)['instances']} == {0, 1}

    # scoring: GT person/car + bicycle detections (not evaluated) -> 1.0
    samples = gt_samples(ds, range(30), SONY_PACKED, SONY_VISIBLE)
    for s in samples:
        pred = s['pred_instances']
        pred['bboxes'] = torch.cat([pred['bboxes'], torch.tensor([[5., 5., 90., 90.]])])
        pred['scores'] = torch.cat([pred['scores'], torch.ones(1)])
        pred['labels'] = torch.cat([pred['labels'], torch.tensor([1])])
    assert evaluate(RawCocoMetric(), ds, samples)['coco/bbox_mAP'] == 1.0


def test_unknown_subset_class_is_a_clear_error(raw_nod):
    with pytest.raises(ValueError, match='not among the detector classes'):
        build(raw_nod('sony_val'), metainfo=dict(classes=('person', 'pedestrian')))


def test_metric_refuses_a_different_annotation_file(raw_nod):
    ds = build(raw_nod('sony_val'))
    samples = gt_samples(ds, range(3), SONY_PACKED, SONY_VISIBLE)
    metric = RawCocoMetric(ann_file=str(raw_nod('sony_train')))
    metric.dataset_meta = ds.metainfo
    with pytest.raises((KeyError, ValueError), match='annotation file'):
        metric.process({}, samples)


def test_result_files_use_official_category_ids_and_published_ids(raw_nod, tmp_path):
    ds = build(raw_nod('sony_val'))
    samples = gt_samples(ds, range(10), SONY_PACKED, SONY_VISIBLE)
    prefix = str(tmp_path / 'sony_val')
    evaluate(RawCocoMetric(outfile_prefix=prefix), ds, samples)
    dets = load_json(prefix + '.bbox.json')
    published = load_json(prefix + '.bbox.published_ids.json')
    assert {d['category_id'] for d in dets} <= {1, 2, 3}
    assert len({d['category_id'] for d in dets}) >= 2
    assert all(isinstance(d['image_id'], int) for d in dets)
    assert all(isinstance(d['image_id'], str) and d['image_id'].startswith('DSC')
               for d in published)
    first = ds.get_data_info(0)
    b = first['instances'][0]['bbox']
    want = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
    assert any(d['image_id'] == first['orig_img_id'] and
               np.allclose(d['bbox'], want, atol=1e-3) for d in published)


# ------------------------------------------------------------------------- configs, end to end
@pytest.mark.parametrize('name, counts', [
    ('raw_nod_sony', (2571, 321, 321)), ('raw_nod_nikon', (3206, 400, 400)),
    ('raw_nod_sony_cached', (2571, 321, 321)), ('raw_nod_nikon_cached', (3206, 400, 400))])
def test_configs_build_every_split_from_the_published_files(shared, tmp_path, name, counts):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import DATASETS, METRICS
    init_default_scope('mmdet')
    (tmp_path / 'annotations').symlink_to(shared('datasets', 'raw-nod', 'annotations'))
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' / f'{name}.py'))
    cam = 'Sony' if 'sony' in name else 'Nikon'
    ext = '.ARW' if cam == 'Sony' else '.NEF'
    prefix = f'cache/{cam}/' if 'cached' in name else f'{cam}/'
    for split, n in zip(('train', 'val', 'test'), counts):
        dataset_cfg = cfg[f'{split}_dataloader'].dataset
        dataset_cfg.data_root = str(tmp_path)
        ds = DATASETS.build(dataset_cfg)
        assert len(ds) == n
        path = ds.get_data_info(0)['img_path']
        assert path.startswith(str(tmp_path / prefix)) and path.endswith(ext)
        assert ds.metainfo['ann_file'].startswith(str(tmp_path / 'annotations' / cam))
    assert METRICS.build(cfg.test_evaluator).__class__ is RawCocoMetric


def test_cached_sony_pipeline_end_to_end_scores_gt_predictions_1(shared, tmp_path):
    """raw_nod_sony_cached.py test pipeline on fake cache entries (the loader's cache format,
    stored at the training-scale size like convert_raw_cache.py does): AlignRawAnnotations ->
    Resize -> PackDetInputs, a 'perfect detector' that returns the packed boxes rescaled to
    ori_shape, and RawCocoMetric fed the packed data samples -> mAP 1.0."""
    from genisp_mmdet import raw
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import DATASETS, METRICS
    init_default_scope('mmdet')
    (tmp_path / 'annotations').symlink_to(shared('datasets', 'raw-nod', 'annotations'))
    cfg = Config.fromfile(str(REPO / 'configs/_base_/datasets/raw_nod_sony_cached.py'))
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root = str(tmp_path)
    ds = DATASETS.build(dataset_cfg)
    h, w = raw.fit_size(*SONY_PACKED, (1333, 800))
    meta = {k: None for k in raw.RAW_META_FIELDS}
    meta.update(color_space='xyz', visible_shape=list(SONY_VISIBLE))
    indices = range(6)
    source = tmp_path / 'stand-in.ARW'  # the RAW files are not here; the entries say this
    source.write_bytes(b'raw')
    provenance = raw.cache_provenance(source, (1333, 800))
    for i in indices:
        raw.write_packed_cache(raw.cache_path_for(ds.get_data_info(i)['img_path']),
                               np.full((h, w, 3), 0.01, np.float32), meta,
                               provenance=provenance)
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in indices:
        item = ds[i]
        sample = item['data_samples']
        assert sample.ori_shape == (h, w)
        boxes = sample.gt_instances.bboxes.tensor
        assert float(boxes[:, 2].max()) <= sample.img_shape[1] + 1e-3
        sx, sy = sample.scale_factor
        pred = boxes / boxes.new_tensor([sx, sy, sx, sy])
        d = sample.to_dict()
        d['pred_instances'] = dict(bboxes=pred, labels=sample.gt_instances.labels,
                                   scores=torch.ones(len(pred)))
        samples.append(d)
    metric.process({}, samples)
    with contextlib.redirect_stdout(io.StringIO()):
        res = metric.evaluate(len(samples))
    assert res['coco/bbox_mAP'] == 1.0


def write_multi_level_file(path, stems, levels=('x2', 'x10')):
    """Captures of ``stems`` at several darkness levels in one file, as the photo benchmark's
    merged training files hold them (``x10/train/<stem>.dng``), in a shuffled order."""
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for level in levels:
        for stem in rng.permutation(stems):
            images.append(dict(id=len(images) + 1, file_name=f'{level}/train/{stem}.dng',
                               width=640, height=480))
            annotations.append(dict(id=len(annotations) + 1, image_id=len(images),
                                    category_id=1, bbox=[10, 20, 30, 40], area=1200, iscrowd=0))
    path.write_text(json.dumps(dict(images=images, annotations=annotations,
                                    categories=[dict(id=1, name='person')])))
    return path


def test_held_out_split_keeps_every_capture_of_a_photo_on_one_side(tmp_path):
    stems = [f'{i:012d}' for i in range(42)]
    path = write_multi_level_file(tmp_path / 'train.json', stems)
    parts = {part: build(path, held_out_fraction=0.25, part=part)
             for part in ('all', 'fit', 'held_out')}
    photos = {part: collections.Counter(Path(ds.get_data_info(i)['file_name']).stem
                                        for i in range(len(ds)))
              for part, ds in parts.items()}
    # every photo in exactly one part, with both of its darkness levels
    assert not set(photos['fit']) & set(photos['held_out'])
    assert set(photos['fit']) | set(photos['held_out']) == set(stems)
    assert set(photos['fit'].values()) == set(photos['held_out'].values()) == {2}
    # a quarter, evenly spaced in stem order (every fourth), whatever the file's order
    assert sorted(photos['held_out']) == stems[3::4]
    assert len(parts['all']) == 84 and len(parts['fit']) == 64


def test_held_out_split_of_the_benchmark_train_photos(shared):
    """The split the calibrated photo recipe uses: 32 of the 128 train photos held out."""
    coco = load_json(shared('datasets', 'coco-photos', 'annotations',
                            'instances_train2017.json'))
    from genisp_mmdet.datasets import held_out_photos
    held_out = held_out_photos([Path(im['file_name']).stem for im in coco['images']], 0.25)
    assert len(coco['images']) == 128 and len(held_out) == 32


@pytest.mark.parametrize('kwargs, message', [
    (dict(part='held_out'), 'needs 0 < held_out_fraction < 1'),
    (dict(part='fit', held_out_fraction=1.0), 'needs 0 < held_out_fraction < 1'),
    (dict(part='validation', held_out_fraction=0.25), 'part must be one of'),
    (dict(part='held_out', held_out_fraction=0.01), "no image in part 'held_out'"),
])
def test_held_out_split_refuses_what_it_cannot_split(tmp_path, kwargs, message):
    path = write_multi_level_file(tmp_path / 'train.json', ['a', 'b', 'c'])
    with pytest.raises(ValueError, match=message):
        build(path, **kwargs)
