"""FrozenDetector: frozen from construction, eval-mode norms, ISP-only optimizer, checkpoints,
and the detector bitwise unchanged after training while the ISP moves."""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from mmdet.registry import MODELS
from tests.helpers import frozen_tiny_cfg, raw_batch, tiny_retinanet_cfg

OPTIM = dict(optimizer=dict(type='Adam', lr=1e-2),
             constructor='TrainableParamsOptimWrapperConstructor')


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MODELS.build(frozen_tiny_cfg(gray_world_weight=0.1))


def test_detector_is_frozen_from_construction(model):
    det_params = list(model.detector.parameters())
    assert det_params and not any(p.requires_grad for p in det_params)
    isp_params = list(model.data_preprocessor.isp.parameters())
    assert isp_params and all(p.requires_grad for p in isp_params)


def test_norm_layers_stay_in_eval_mode_while_training(model):
    model.train()
    assert model.training and model.data_preprocessor.training
    bns = [m for m in model.detector.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(bn.training for bn in bns)


def test_optimizer_holds_only_isp_parameters(model):
    optim_wrapper = build_optim_wrapper(model, OPTIM)
    held = {id(p) for g in optim_wrapper.optimizer.param_groups for p in g['params']}
    assert held == {id(p) for p in model.data_preprocessor.isp.parameters()}


def test_training_moves_the_isp_and_leaves_the_detector_bitwise_unchanged(model):
    optim_wrapper = build_optim_wrapper(model, OPTIM)
    det_before = copy.deepcopy(model.detector.state_dict())  # parameters and BN buffers
    isp_before = copy.deepcopy(model.data_preprocessor.isp.state_dict())
    model.train()
    for step in range(3):
        losses = model.train_step(raw_batch(seed=step), optim_wrapper)
        assert all(torch.isfinite(v) for v in losses.values())
    assert 'loss_gray_world' in losses
    for k, v in model.detector.state_dict().items():
        assert torch.equal(v, det_before[k]), f'detector tensor {k} changed'
    moved = [k for k, v in model.data_preprocessor.isp.state_dict().items()
             if not torch.equal(v, isp_before[k])]
    assert len(moved) >= len(isp_before) // 2, moved


def test_gray_world_term_reaches_the_isp(model):
    model.train()
    data = model.data_preprocessor(raw_batch(), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    losses['loss_gray_world'].backward()
    grads = [p.grad for p in model.data_preprocessor.isp.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_predict_returns_boxes_in_the_original_frame(model):
    model.eval()
    with torch.no_grad():
        results = model.test_step(raw_batch(sizes=((64, 96),)))
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4 and len(pred.scores) == len(pred.labels)
    if len(pred.bboxes):
        assert pred.bboxes[:, 2].max() <= 96 + 1e-3 and pred.bboxes[:, 3].max() <= 64 + 1e-3


def test_detector_checkpoint_loads_into_the_detector_only(tmp_path):
    torch.manual_seed(1)
    source = MODELS.build(tiny_retinanet_cfg())
    path = tmp_path / 'detector.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    torch.manual_seed(2)
    model = MODELS.build(frozen_tiny_cfg(detector_checkpoint=str(path)))
    isp_before = copy.deepcopy(model.data_preprocessor.isp.state_dict())
    model.init_weights()
    for k, v in source.state_dict().items():
        assert torch.equal(model.detector.state_dict()[k], v), k
    for k, v in model.data_preprocessor.isp.state_dict().items():
        assert torch.equal(v, isp_before[k]), k
    assert not any(p.requires_grad for p in model.detector.parameters())


def test_isp_checkpoint_loads_the_isp_only(tmp_path, model):
    """The generalisation test's path: ISP from one run, detector from its own checkpoint."""
    for p in model.data_preprocessor.isp.parameters():
        torch.nn.init.normal_(p, std=0.1)
    isp_path = tmp_path / 'genisp.pth'
    torch.save({'state_dict': model.state_dict()}, isp_path)
    torch.manual_seed(3)
    detector = MODELS.build(tiny_retinanet_cfg())
    det_path = tmp_path / 'detector.pth'
    torch.save({'state_dict': detector.state_dict()}, det_path)
    other = MODELS.build(frozen_tiny_cfg(isp_checkpoint=str(isp_path),
                                         detector_checkpoint=str(det_path)))
    other.init_weights()
    for k, v in model.data_preprocessor.isp.state_dict().items():
        assert torch.equal(other.data_preprocessor.isp.state_dict()[k], v), k
    for k, v in detector.state_dict().items():
        assert torch.equal(other.detector.state_dict()[k], v), k
    torch.save({'state_dict': {'detector.x': torch.zeros(1)}}, tmp_path / 'bad.pth')
    with pytest.raises(KeyError, match='no ISP weights'):
        other.load_isp_weights(str(tmp_path / 'bad.pth'))


def test_resolve_detector_finds_zoo_weights_and_names_what_is_wrong(tmp_path):
    from genisp_mmdet.models.frozen_detector import resolve_detector
    model, url = resolve_detector('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
    assert model['type'] == 'RetinaNet' and url.endswith('.pth')
    model, url = resolve_detector('mmdet::_base_/models/retinanet_r50_fpn.py')  # no weights
    assert model['type'] == 'RetinaNet' and url is None
    with pytest.raises(FileNotFoundError, match='detector config not found: mmdet::nope/x.py'):
        resolve_detector('mmdet::nope/x.py')
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type="RetinaNet"\n')  # a syntax error, not a missing file
    with pytest.raises(SyntaxError):
        resolve_detector(str(broken))
