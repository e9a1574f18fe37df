"""Calibrating a few parameters on training photos the rest of the model never saw."""
from __future__ import annotations

import copy
from typing import Dict, List, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


@HOOKS.register_module()
class HeldOutCalibrationHook(Hook):
    """After the configured training (``train_cfg.max_epochs``, the *fitting* epochs), runs
    ``epochs`` more in which only the parameters whose names contain one of ``trainable`` are
    trained - for GenISP's noise gate, ``('noise_gate',)`` - on the held-out part of the
    training set instead of the part fitted so far.

    Why: a learned correction can lower the loss of the photos it was fitted on while raising
    that of unseen photos; a parameter that decides *how much* of it to apply (the noise gate)
    learns from the same photos to keep it on. Fitted afterwards on photos the correction never
    saw, with everything else fixed, the gate learns how much of it helps unseen photos.

    The held-out loader is ``train_dataloader`` with ``dataset_overrides`` merged into its
    dataset (default ``part='held_out'``, see :class:`genisp_mmdet.datasets.RawCocoDataset`;
    the fitting epochs read ``part='fit'`` of the same split). During the calibration every
    other parameter group's learning rate is 0 (not ``requires_grad=False``, which distributed
    training's gradient buckets would not allow mid-run) and the calibrated groups' is ``lr``,
    set again before every iteration, so no parameter scheduler rescales them and a resumed run
    calibrates alike. The final checkpoint holds the calibrated model (``CheckpointHook`` saves
    the last epoch).

    Args:
        epochs: calibration epochs added after ``train_cfg.max_epochs``.
        trainable: substrings of the parameter names to calibrate (e.g.
            ``data_preprocessor.isp.noise_gate``); at least one parameter must match, and each
            needs its own optimizer group (``paramwise_cfg.custom_keys`` gives it one).
        lr: their learning rate during the calibration.
        dataset_overrides: merged into ``train_dataloader.dataset`` for the held-out loader.
    """

    priority = 'NORMAL'

    def __init__(self, epochs: int, trainable: Sequence[str] = ('noise_gate',),
                 lr: float = 1e-2, dataset_overrides: Dict | None = None):
        if epochs < 1:
            raise ValueError(f'epochs must be >= 1, got {epochs}')
        if isinstance(trainable, str) or not trainable:
            raise ValueError(f'trainable must be a non-empty list of name substrings, got '
                             f'{trainable!r}')
        self.epochs, self.trainable, self.lr = epochs, tuple(trainable), lr
        self.dataset_overrides = dict(part='held_out') if dataset_overrides is None else dict(
            dataset_overrides)
        self.begin_epoch = None
        self.held_out_loader = None
        self.calibrated_names: List[str] = []
        self.calibrated_ids: set = set()

    def before_train(self, runner) -> None:
        # resolved once, before any training: fails at once when nothing matches
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.calibrated_names = [
            name for name, param in model.named_parameters()
            if param.requires_grad and any(key in name for key in self.trainable)]
        if not self.calibrated_names:
            raise ValueError(f'HeldOutCalibrationHook: no trainable parameter name contains any '
                             f'of {self.trainable}')
        self.calibrated_ids = {id(model.get_parameter(name)) for name in self.calibrated_names}
        loop = runner.train_loop
        if self.begin_epoch is None:
            self.begin_epoch = loop.max_epochs
            # mmengine's loop keeps its length private; the ETA reads max_iters
            loop._max_epochs = self.begin_epoch + self.epochs
            loop._max_iters = loop._max_epochs * len(loop.dataloader)
        if self.held_out_loader is None:  # built now: an empty part fails before the fitting
            loader_cfg = copy.deepcopy(runner.cfg['train_dataloader'])
            loader_cfg['dataset'] = dict(loader_cfg['dataset'], **self.dataset_overrides)
            self.held_out_loader = runner.build_dataloader(loader_cfg, seed=runner.seed)

    def calibrating(self, runner) -> bool:
        return self.begin_epoch is not None and runner.epoch >= self.begin_epoch

    def before_train_epoch(self, runner) -> None:
        if not self.calibrating(runner):
            return
        if runner.train_loop.dataloader is not self.held_out_loader:
            runner.logger.info(
                f'HeldOutCalibrationHook: epochs {self.begin_epoch + 1}-'
                f'{self.begin_epoch + self.epochs} train only '
                f'{sorted(self.calibrated_names)} at lr {self.lr} on '
                f'{len(self.held_out_loader.dataset)} held-out images ({self.dataset_overrides})')
        runner.train_loop.dataloader = self.held_out_loader
        sampler = getattr(self.held_out_loader, 'sampler', None)
        if hasattr(sampler, 'set_epoch'):  # DistSamplerSeedHook did so on the fit loader
            sampler.set_epoch(runner.epoch)
        self.set_learning_rates(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.calibrating(runner):
            self.set_learning_rates(runner)

    def set_learning_rates(self, runner) -> None:
        for group in runner.optim_wrapper.optimizer.param_groups:
            mine = [id(p) in self.calibrated_ids for p in group['params']]
            if any(mine) and not all(mine):
                raise ValueError('HeldOutCalibrationHook: a parameter group mixes calibrated '
                                 'and fixed parameters; give the calibrated ones their own '
                                 "group (paramwise_cfg.custom_keys, e.g. 'noise_gate')")
            group['lr'] = self.lr if any(mine) else 0.0
