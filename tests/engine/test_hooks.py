"""Runner hooks that need no training run (the visualisation and DDP checks are exercised
end to end in tests/tools/test_train_test_tools.py)."""
from types import SimpleNamespace

import pytest
import torch

from genisp_mmdet.engine import hooks
from genisp_mmdet.engine.hooks import KeepFreedMemoryHook


class Logger:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


@pytest.fixture
def calls(monkeypatch):
    made = []

    def fake_keep_freed_memory():  # the real switch is tested in a fresh process
        made.append(True)
        return True
    monkeypatch.setattr(hooks, 'keep_freed_memory', fake_keep_freed_memory)
    return made


def runner_with(model):
    return SimpleNamespace(model=model, logger=Logger())


def test_cpu_model_switches_memory_reuse_on_and_says_so(calls):
    runner = runner_with(torch.nn.Linear(2, 2))
    KeepFreedMemoryHook().before_run(runner)
    assert calls == [True]
    assert any('GENISP_KEEP_FREED_MEMORY=0' in line for line in runner.logger.lines)


def test_model_off_the_cpu_or_without_parameters_is_left_alone(calls):
    for model in (torch.nn.Linear(2, 2, device='meta'), torch.nn.ReLU()):
        runner = runner_with(model)
        KeepFreedMemoryHook().before_run(runner)
        assert runner.logger.lines == []
    assert calls == []


def test_nothing_is_logged_when_the_switch_is_off(monkeypatch):
    monkeypatch.setenv('GENISP_KEEP_FREED_MEMORY', '0')  # the real function, opted out
    runner = runner_with(torch.nn.Linear(2, 2))
    KeepFreedMemoryHook().before_run(runner)
    assert runner.logger.lines == []


def _watch_runner(isp, iteration=0):
    from mmengine.logging import MessageHub
    logs = []
    runner = SimpleNamespace(
        model=SimpleNamespace(data_preprocessor=SimpleNamespace(isp=isp)), iter=iteration,
        message_hub=MessageHub.get_instance('isp_watch_test'),
        logger=SimpleNamespace(warning=logs.append, info=logs.append))
    return runner, logs


def _batch(n=2):
    from mmdet.structures import DetDataSample
    samples = []
    for i in range(n):
        sample = DetDataSample()
        sample.set_metainfo(dict(img_path=f'night/{i}.dng'))
        samples.append(sample)
    return dict(inputs=[torch.rand(3, 40, 56) * 0.01 for _ in range(n)],
                data_samples=samples)


def test_isp_watch_logs_parameters_and_warns_once_when_they_saturate():
    from genisp_mmdet.engine.hooks import ISPWatchHook
    from genisp_mmdet.models import GenISP
    torch.manual_seed(0)
    isp = GenISP()
    hook = ISPWatchHook(interval=1)
    stats = hook.param_stats(isp, _batch()['inputs'])
    assert stats['gain_min'] == stats['gain_max'] == pytest.approx(1.0)  # identity start
    assert stats['gain_at_bound'] == stats['matrix_at_bound'] == 0.0
    runner, logs = _watch_runner(isp)
    hook.after_train_iter(runner, 0, _batch(), dict(loss=torch.tensor(1.0)))
    assert not logs
    assert runner.message_hub.get_scalar('train/isp_gain_max').current() == pytest.approx(1.0)
    with torch.no_grad():  # what a far too high learning rate does
        for net in (isp.conv_wb.net, isp.conv_cc.net):
            net.mlp[-1].bias.fill_(50.0)
    for _ in range(2):
        hook.after_train_iter(runner, 0, _batch(), dict(loss=torch.tensor(1.0)))
    assert len(logs) == 1 and 'sit at their bounds' in logs[0]
    assert runner.message_hub.get_scalar('train/isp_gain_at_bound').current() == 1.0


def test_isp_watch_stops_on_a_non_finite_loss_naming_the_files():
    from genisp_mmdet.engine.hooks import ISPWatchHook
    from genisp_mmdet.models import GenISP
    runner, _ = _watch_runner(GenISP(), iteration=41)
    with pytest.raises(FloatingPointError, match=r'non-finite loss_cls at iteration 42') as info:
        ISPWatchHook(interval=50).after_train_iter(
            runner, 0, _batch(), dict(loss_cls=torch.tensor(float('nan')),
                                      loss_bbox=torch.tensor(1.0)))
    assert 'night/0.dng' in str(info.value) and 'night/1.dng' in str(info.value)
