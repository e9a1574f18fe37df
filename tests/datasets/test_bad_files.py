"""on_error='skip': an unreadable training file is replaced, logged once, recorded for the
run; evaluation never drops an image."""
import json

import pytest

from genisp_mmdet.datasets import RawCocoDataset
from genisp_mmdet.datasets.bad_files import BAD_FILES_ENV, read_bad_files
from genisp_mmdet.datasets.transforms import (LoadLibRawRenderedImage, LoadPackedRawFromFile,
                                              LoadRawImageFromFile)
from genisp_mmdet.raw import (NotRawFileError, RawFileNotFoundError, RawReadError,
                              TruncatedRawError)
from tests.helpers import demo_dngs


@pytest.fixture
def record(tmp_path, monkeypatch):
    path = tmp_path / 'bad_files.jsonl'
    monkeypatch.setenv(BAD_FILES_ENV, str(path))
    return path


@pytest.fixture(scope='module')
def dngs(tmp_path_factory):
    return demo_dngs(tmp_path_factory.mktemp('bad'), num_test=3, width=64, height=48)


def truncated_copy(dng, path):
    data = dng.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    return path


@pytest.mark.parametrize('loader', [LoadRawImageFromFile, LoadLibRawRenderedImage,
                                    LoadPackedRawFromFile])
def test_skip_records_the_file_and_returns_none(loader, dngs, tmp_path, record, caplog):
    bad = truncated_copy(dngs[0], tmp_path / 'cut.dng')
    if loader is LoadPackedRawFromFile:
        bad = tmp_path / 'missing.dng'  # its cache entry does not exist
    transform = loader(on_error='skip')
    assert transform(dict(img_path=str(bad))) is None
    assert transform(dict(img_path=str(bad))) is None
    entries = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(entries) == 2 and {e['file'] for e in entries} == {str(bad)}
    expected = RawFileNotFoundError if loader is LoadPackedRawFromFile else TruncatedRawError
    assert entries[0]['error'] == expected.__name__
    assert read_bad_files(str(record)) == {str(bad): entries[0]['reason']}
    # a readable file still loads
    if loader is not LoadPackedRawFromFile:
        assert transform(dict(img_path=str(dngs[1])))['img'].shape[2] == 3


def test_raise_is_the_default_and_names_the_file(dngs, tmp_path, record):
    bad = tmp_path / 'text.dng'
    bad.write_text('not a raw file')
    with pytest.raises(NotRawFileError, match='text.dng'):
        LoadRawImageFromFile()(dict(img_path=str(bad)))
    assert not record.exists()
    with pytest.raises(ValueError, match='on_error must be one of'):
        LoadRawImageFromFile(on_error='ignore')


def coco_folder(dngs, root, bad_index):
    """A COCO file over the demo DNGs with one of them replaced by a truncated copy."""
    images, annotations = [], []
    for i, dng in enumerate(dngs):
        name = dng.name
        target = root / name
        if i == bad_index:
            truncated_copy(dng, target)
        else:
            target.write_bytes(dng.read_bytes())
        images.append(dict(id=i + 1, file_name=name, width=64, height=48))
        annotations.append(dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[8, 8, 20, 16],
                                area=320, iscrowd=0))
    ann = root / 'ann.json'
    ann.write_text(json.dumps(dict(images=images, annotations=annotations,
                                   categories=[dict(id=1, name='person')])))
    return ann, root / dngs[bad_index].name


def pipeline(on_error):
    return [dict(type='LoadRawImageFromFile', on_error=on_error),
            dict(type='LoadAnnotations', with_bbox=True), dict(type='AlignRawAnnotations'),
            dict(type='PackDetInputs')]


def test_training_dataset_draws_another_sample(dngs, tmp_path, record):
    ann, bad = coco_folder(dngs, tmp_path, bad_index=1)
    dataset = RawCocoDataset(ann_file=str(ann), data_prefix=dict(img=str(tmp_path) + '/'),
                             pipeline=pipeline('skip'))
    sample = dataset[1]
    assert sample['data_samples'].img_path != str(bad)
    assert set(read_bad_files(str(record))) == {str(bad)}


def test_evaluation_never_drops_an_image(dngs, tmp_path, record):
    ann, bad = coco_folder(dngs, tmp_path, bad_index=2)
    dataset = RawCocoDataset(ann_file=str(ann), data_prefix=dict(img=str(tmp_path) + '/'),
                             pipeline=pipeline('skip'), test_mode=True)
    dataset[0]
    with pytest.raises(RawReadError, match='evaluation never drops an image') as info:
        dataset[2]
    assert str(bad) in str(info.value)


def test_opted_in_unreadable_test_image_counts_as_one_without_detections(dngs, tmp_path,
                                                                         record):
    """unreadable_test_images='no_detections': the run scores the image with no boxes (its
    objects missed), names it and counts it; AP drops accordingly."""
    import torch
    from mmengine.registry import init_default_scope

    from genisp_mmdet.evaluation import RawCocoMetric
    init_default_scope('mmdet')
    ann, bad = coco_folder(dngs, tmp_path, bad_index=2)
    with pytest.raises(ValueError, match='unreadable_test_images must be one of'):
        RawCocoDataset(ann_file=str(ann), unreadable_test_images='ignore')
    scores = {}
    for policy in ('raise', 'no_detections'):
        dataset = RawCocoDataset(ann_file=str(ann), data_prefix=dict(img=str(tmp_path) + '/'),
                                 pipeline=pipeline('raise'), test_mode=True,
                                 unreadable_test_images=policy)
        if policy == 'raise':
            with pytest.raises(TruncatedRawError, match=bad.name):
                dataset[2]
            continue
        metric = RawCocoMetric()
        metric.dataset_meta = dataset.metainfo
        for i in range(len(dataset)):
            item = dataset[i]
            sample = item['data_samples']
            assert sample.img_path == str(tmp_path / dngs[i].name)
            # a perfect detector: its ground truth as predictions, wherever it ran
            gt = sample.gt_instances
            boxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
            boxes = boxes / boxes.new_tensor(list(sample.scale_factor) * 2)
            pred = dict(bboxes=boxes, scores=torch.ones(len(boxes)), labels=gt.labels)
            if i == 2:
                assert sample.unreadable.startswith('TruncatedRawError') and len(boxes) == 0
                # a detection exactly on its object (the 64x48 annotated frame seen as the
                # 32x32 stand-in): ignored, the image was not read
                pred = dict(bboxes=torch.tensor([[4.0, 16 / 3, 14, 16]]), scores=torch.ones(1),
                            labels=torch.zeros(1, dtype=torch.long))
            metric.process({}, [dict(sample.to_dict(), pred_instances=pred)])
        scores = metric.evaluate(len(dataset))
    # two of three objects found: recall, and with it AP, fall to two thirds
    assert scores['coco/bbox_mAP_50'] == pytest.approx(2 / 3, abs=0.02)
    assert scores['coco/unreadable_images'] == 1
