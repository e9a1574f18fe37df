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
