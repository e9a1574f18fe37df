"""FrozenDetector(also_through=...): one ISP trained through several frozen detectors at once,
each fed the rendered images prepared as that detector was trained (its own channel order,
mean/std and padding)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper

from mmdet.registry import MODELS
from tests.helpers import frozen_tiny_cfg, raw_batch, tiny_retinanet_cfg

OPTIM = dict(optimizer=dict(type='Adam', lr=1e-2),
             constructor='TrainableParamsOptimWrapperConstructor')


def second_detector_cfg():
    """The tiny RetinaNet as if trained on BGR 0-255 images, unnormalised, padded with 114 to
    a multiple of 64: everything the main detector's preprocessing does not do."""
    cfg = copy.deepcopy(tiny_retinanet_cfg())
    cfg.data_preprocessor = dict(type='DetDataPreprocessor', mean=None, std=None,
                                 bgr_to_rgb=False, pad_size_divisor=64, pad_value=114)
    return cfg


def joint_model(loss_weight=1.0, seed=0):
    torch.manual_seed(seed)
    return MODELS.build(frozen_tiny_cfg(also_through=[dict(
        name='bgr', detector=second_detector_cfg(), loss_weight=loss_weight)]))


def test_the_second_detector_is_frozen_and_stays_in_eval_mode():
    model = joint_model()
    second = model.also_through['bgr']['detector']
    assert not any(p.requires_grad for p in second.parameters())
    model.train()
    bns = [m for m in second.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(bn.training for bn in bns)
    optim_wrapper = build_optim_wrapper(model, OPTIM)
    held = {id(p) for g in optim_wrapper.optimizer.param_groups for p in g['params']}
    assert held == {id(p) for p in model.data_preprocessor.isp.parameters()}


def test_the_second_detector_sees_the_rendered_images_prepared_its_own_way(monkeypatch):
    model = joint_model()
    model.train()
    second = model.also_through['bgr']['detector']
    seen = {}
    original = second.loss
    monkeypatch.setattr(second, 'loss', lambda inputs, samples: (
        seen.setdefault('inputs', inputs.detach().clone()), original(inputs, samples))[1])
    batch = raw_batch(sizes=((64, 96), (64, 96)))
    data = model.data_preprocessor(copy.deepcopy(batch), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    with torch.no_grad():
        rendered = model.data_preprocessor.render(batch['inputs'])
    expected = torch.stack([img.flip(0) * 255 for img in rendered])  # RGB -> BGR, 0-255
    expected = F.pad(expected, (0, 128 - 96, 0, 64 - 64), value=114)
    assert seen['inputs'].shape == (2, 3, 64, 128)
    torch.testing.assert_close(seen['inputs'], expected, atol=1e-3, rtol=1e-5)
    assert {k for k in losses if k.startswith('bgr.')} == {'bgr.loss_cls', 'bgr.loss_bbox'}


def test_the_second_detectors_loss_is_weighted_and_reaches_the_isp():
    batch = raw_batch()
    totals = {}
    for weight in (1.0, 2.5):
        model = joint_model(loss_weight=weight)
        model.train()
        data = model.data_preprocessor(copy.deepcopy(batch), training=True)
        losses = model.loss(data['inputs'], data['data_samples'])
        second = sum(sum(v) if isinstance(v, list) else v
                     for k, v in losses.items() if k.startswith('bgr.'))
        totals[weight] = second.item()
        isp = list(model.data_preprocessor.isp.parameters())
        grads = torch.autograd.grad(second, isp, allow_unused=True)
        assert sum(g.abs().sum().item() for g in grads if g is not None) > 0
    assert totals[2.5] == pytest.approx(2.5 * totals[1.0], rel=1e-5)


def test_training_through_both_moves_only_the_isp():
    model = joint_model()
    optim_wrapper = build_optim_wrapper(model, OPTIM)
    frozen_before = copy.deepcopy(model.also_through.state_dict())
    isp_before = copy.deepcopy(model.data_preprocessor.isp.state_dict())
    model.train()
    log = model.train_step(raw_batch(), optim_wrapper)
    assert 'bgr.loss_cls' in log and torch.isfinite(log['loss'])
    for k, v in model.also_through.state_dict().items():
        assert torch.equal(v, frozen_before[k]), f'second detector tensor {k} changed'
    assert any(not torch.equal(v, isp_before[k])
               for k, v in model.data_preprocessor.isp.state_dict().items())


def test_the_second_detectors_checkpoint_loads_into_it_alone(tmp_path):
    torch.manual_seed(1)
    donor = MODELS.build(second_detector_cfg())
    path = tmp_path / 'second.pth'
    torch.save(dict(state_dict=donor.state_dict()), path)
    model = joint_model()
    model.also_through_checkpoints['bgr'] = str(path)
    main_before = copy.deepcopy(model.detector.state_dict())
    model.init_weights()
    for k, v in donor.state_dict().items():
        assert torch.equal(model.also_through['bgr']['detector'].state_dict()[k], v), k
    assert not all(torch.equal(v, main_before[k]) for k, v in donor.state_dict().items()
                   if k in main_before)


@pytest.mark.parametrize('spec, words', [
    (dict(detector=None), 'needs name'),
    (dict(name='a', detector=None, lr=1), "'lr'"),
    (dict(name='a.b', detector=None), "contains '.'"),
])
def test_a_wrong_also_through_entry_is_named(spec, words):
    spec = dict(spec, detector=tiny_retinanet_cfg())
    with pytest.raises(ValueError, match=words):
        MODELS.build(frozen_tiny_cfg(also_through=[spec]))
