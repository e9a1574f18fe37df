"""HeldOutCalibrationHook on a small model and a real optimizer: after the switch only the
calibrated parameters move, on the held-out loader (end to end through tools/train.py with
the photo recipe: tests/tools/test_run_photos.py)."""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from torch import nn

from genisp_mmdet.engine import HeldOutCalibrationHook


class Logger:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


class TinyISP(nn.Module):
    def __init__(self):
        super().__init__()
        self.noise_gate = nn.Parameter(torch.zeros(2))
        self.conv = nn.Conv2d(3, 3, 1)


class TinyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.data_preprocessor = nn.Module()
        self.data_preprocessor.isp = TinyISP()

    def loss(self):
        isp = self.data_preprocessor.isp
        return ((isp.noise_gate.sum() - 1) ** 2 + (isp.conv.weight.sum() - 1) ** 2
                + (isp.conv.bias.sum() - 1) ** 2)


class Loader(list):
    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        self.sampler = SimpleNamespace(epoch=None)
        self.sampler.set_epoch = lambda epoch: setattr(self.sampler, 'epoch', epoch)


def make_runner(model, epoch=0, max_epochs=2):
    # one optimizer group per parameter, as mmengine builds them with a paramwise_cfg
    optimizer = torch.optim.Adam([{'params': [p], 'lr': 1e-3} for p in model.parameters()])
    built = []

    def build_dataloader(cfg, seed=None):
        built.append(copy.deepcopy(cfg))
        return Loader(dataset=list(range(7)))
    return SimpleNamespace(
        model=model, epoch=epoch, seed=3, logger=Logger(),
        optim_wrapper=SimpleNamespace(optimizer=optimizer),
        cfg=Config(dict(train_dataloader=dict(batch_size=2, dataset=dict(
            type='RawCocoDataset', held_out_fraction=0.25, part='fit')))),
        train_loop=SimpleNamespace(max_epochs=max_epochs, _max_epochs=max_epochs,
                                   dataloader='fit loader'),
        build_dataloader=build_dataloader, built=built)


def step(runner):
    optimizer = runner.optim_wrapper.optimizer
    optimizer.zero_grad()
    runner.model.loss().backward()
    optimizer.step()


def test_only_the_calibrated_parameters_move_on_the_held_out_loader():
    model = TinyModel()
    runner = make_runner(model)
    hook = HeldOutCalibrationHook(epochs=2, trainable=['noise_gate'], lr=0.1)
    hook.before_train(runner)
    assert runner.train_loop._max_epochs == 4  # two fitting epochs, then two calibrating
    hook.before_train(runner)  # idempotent
    assert runner.train_loop._max_epochs == 4

    assert len(runner.built) == 1  # built before the fitting: an empty part fails early
    hook.before_train_epoch(runner)  # a fitting epoch: nothing changes
    assert runner.train_loop.dataloader == 'fit loader'
    before = copy.deepcopy(model.state_dict())
    step(runner)
    moved = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert moved == {'data_preprocessor.isp.noise_gate', 'data_preprocessor.isp.conv.weight',
                     'data_preprocessor.isp.conv.bias'}

    runner.epoch = 2
    hook.before_train_epoch(runner)
    loader = runner.train_loop.dataloader
    assert loader.dataset == list(range(7)) and loader.sampler.epoch == 2
    assert runner.built[0]['dataset'] == dict(type='RawCocoDataset', held_out_fraction=0.25,
                                              part='held_out')
    assert runner.built[0]['batch_size'] == 2
    assert [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups] == [0.1, 0.0, 0.0]
    before = copy.deepcopy(model.state_dict())
    step(runner)
    moved = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert moved == {'data_preprocessor.isp.noise_gate'}
    assert 'held-out' in runner.logger.lines[0]

    # a scheduler that rescales the rates after an iteration is undone before the next
    runner.optim_wrapper.optimizer.param_groups[1]['lr'] = 5.0
    runner.optim_wrapper.optimizer.param_groups[0]['lr'] = 0.01
    hook.before_train_iter(runner, 0)
    assert [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups] == [0.1, 0.0, 0.0]

    runner.epoch = 3  # the next calibration epoch (or a resumed run) reuses the loader
    hook.before_train_epoch(runner)
    assert len(runner.built) == 1 and runner.train_loop.dataloader is loader


def test_refuses_what_would_not_calibrate():
    hook = HeldOutCalibrationHook(epochs=2, trainable=['no_such_parameter'])
    with pytest.raises(ValueError, match='no trainable parameter name contains'):
        hook.before_train(make_runner(TinyModel()))
    with pytest.raises(ValueError, match='epochs must be >= 1'):
        HeldOutCalibrationHook(epochs=0)
    with pytest.raises(ValueError, match='non-empty list'):
        HeldOutCalibrationHook(epochs=1, trainable='noise_gate')

    model = TinyModel()
    runner = make_runner(model, epoch=2)
    runner.optim_wrapper.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    hook = HeldOutCalibrationHook(epochs=1)
    hook.before_train(runner)
    with pytest.raises(ValueError, match='mixes calibrated and fixed'):
        hook.before_train_epoch(runner)
