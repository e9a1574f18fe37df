"""NanoDet-m as MMDetection modules: the converted COCO weights against an independent
re-implementation on the upstream checkpoint (tests/reference/nanodet_reference.py), on real
photographs, and training behind GenISP."""
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from tests.conftest import shared_path
from tests.helpers import REPO_ROOT, load_tool
from tests.reference.nanodet_reference import NanoDetReference

CONFIG = str(REPO_ROOT / 'configs' / 'detectors' / 'nanodet-m.py')
MEAN, STD = np.array([103.53, 116.28, 123.675]), np.array([57.375, 57.12, 58.395])


@pytest.fixture(scope='module')
def upstream():
    path = shared_path('detectors', 'nanodet_m', 'nanodet_m.pth')
    return path, torch.load(path, map_location='cpu', weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def converted(upstream):
    init_default_scope('mmdet')
    converter = load_tool('model_converters/nanodet_to_mmdet')
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.load_state_dict(converter.convert(str(upstream[0]), CONFIG), strict=True)
    return model.eval()


def photo_inputs(count=4, size=320):
    """The first val photos, resized to fit ``size`` keeping the ratio and padded to 32, as
    the detector's preprocessor normalises them (BGR)."""
    root = shared_path('datasets', 'coco-photos')
    images = json.loads((root / 'annotations' / 'instances_val2017.json').read_text())['images']
    out = []
    for info in sorted(images, key=lambda im: im['id'])[:count]:
        img = cv2.imread(str(root / 'val2017' / info['file_name']))  # BGR
        scale = min(size / img.shape[0], size / img.shape[1])
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)))
        h, w = img.shape[:2]
        padded = np.zeros((-(-h // 32) * 32, -(-w // 32) * 32, 3), np.float32)
        padded[:h, :w] = (img - MEAN) / STD
        out.append(torch.from_numpy(padded).permute(2, 0, 1)[None].float())
    return out


def test_converter_refuses_a_checkpoint_that_does_not_fit(upstream, tmp_path):
    converter = load_tool('model_converters/nanodet_to_mmdet')
    state = dict(upstream[1])
    state.pop('head.gfl_cls.2.bias')
    state['head.extra.weight'] = torch.zeros(1)
    broken = tmp_path / 'broken.pth'
    torch.save(dict(state_dict=state), broken)
    with pytest.raises(converter.ConversionError, match=r"missing \['bbox_head.gfl_cls.2.bias'\] "
                                                        r"\(1\), left over \['bbox_head.extra"):
        converter.convert(str(broken), CONFIG)
    state['ema.step'] = torch.zeros(1)
    torch.save(dict(state_dict=state), broken)
    with pytest.raises(converter.ConversionError, match="unexpected tensor 'ema.step'"):
        converter.convert(str(broken), CONFIG)


def test_head_outputs_match_the_reference_on_real_photos(upstream, converted):
    reference = NanoDetReference(upstream[1])
    worst = 0.0
    for x in photo_inputs():
        with torch.no_grad():
            cls_scores, bbox_preds = converted.bbox_head(converted.neck(converted.backbone(x)))
        for ref, cls, box in zip(reference.head_outputs(x), cls_scores, bbox_preds):
            ours = torch.cat([cls, box], 1)
            assert ours.shape == ref.shape
            worst = max(worst, float((ours - ref).abs().max()))
    print(f'max |head output difference| = {worst:.2e}')
    assert worst < 1e-3


def test_detections_match_the_reference_on_real_photos(upstream, converted):
    """mmdet's GFL decoding + NMS on the converted model gives the reference's detections
    (every detection above 0.3: same class, IoU > 0.99, score within 1e-4)."""
    from mmdet.structures import DetDataSample
    from torchvision.ops import box_iou
    reference = NanoDetReference(upstream[1])
    compared = 0
    for x in photo_inputs():
        h, w = x.shape[-2:]
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1.0, 1.0), pad_shape=(h, w),
                                             batch_input_shape=(h, w)))
        with torch.no_grad():
            result = converted.predict(x, [sample], rescale=False)[0].pred_instances
        ref_boxes, ref_scores, ref_labels = reference.detect(x)
        keep = ref_scores > 0.3
        ours = result.scores > 0.3
        assert int(keep.sum()) == int(ours.sum()) > 0
        iou = box_iou(ref_boxes[keep], result.bboxes[ours])
        match = iou.argmax(1)
        assert bool((iou.max(1).values > 0.99).all())
        assert torch.equal(result.labels[ours][match], ref_labels[keep])
        torch.testing.assert_close(result.scores[ours][match], ref_scores[keep], atol=1e-4,
                                   rtol=0)
        compared += int(keep.sum())
    assert compared >= 8
