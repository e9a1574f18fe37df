"""The pinned stack is real: mmcv's compiled ops run on CPU and an mmdet detector trains."""
import torch
from mmengine.optim import build_optim_wrapper

from mmdet.registry import MODELS
from tests.helpers import raw_batch, tiny_retinanet_cfg


def test_mmcv_compiled_nms_on_cpu():
    from mmcv.ops import batched_nms, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.],
                          [0., 0., 10., 10.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]  # box 1 (IoU 0.68) and box 3 (IoU 1) suppressed
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7]))
    # batched: the same boxes in different classes do not suppress each other
    _, keep = batched_nms(boxes, scores, torch.tensor([0, 0, 0, 1]),
                          dict(type='nms', iou_threshold=0.5))
    assert sorted(keep.tolist()) == [0, 2, 3]


def test_mmcv_ops_are_the_compiled_extension():
    import mmcv
    from mmcv.utils import ext_loader
    ext = ext_loader.load_ext('_ext', ['nms'])
    assert mmcv.__version__ == '2.1.0' and hasattr(ext, 'nms')


def test_retinanet_builds_from_config_and_trains_one_step_and_predicts():
    torch.manual_seed(0)
    cfg = tiny_retinanet_cfg()
    detector = MODELS.build(cfg)
    optim_wrapper = build_optim_wrapper(detector, dict(optimizer=dict(type='SGD', lr=0.01)))
    batch = raw_batch(sizes=((64, 96), (64, 96)), exposure=255.0)  # 0-255 "RGB" images
    before = detector.bbox_head.retina_cls.weight.detach().clone()
    detector.train()
    losses = detector.train_step(batch, optim_wrapper)
    assert set(losses) >= {'loss_cls', 'loss_bbox'}
    assert all(torch.isfinite(v) for v in losses.values())
    assert not torch.equal(before, detector.bbox_head.retina_cls.weight)
    detector.eval()
    with torch.no_grad():
        result = detector.test_step(raw_batch(sizes=((64, 96),), exposure=255.0))[0]
    assert result.pred_instances.bboxes.shape[-1] == 4
