"""Warm start: regress a learnable ISP onto a fixed ISP's rendering before training it through
the frozen detector.

GenISP's shallow ConvNet starts from random weights, so the first images the frozen detector
sees are not images at all, and on the photo benchmark the detector's gradient alone moved it
slowly (README, photos). A few hundred steps of the mean absolute difference to a fixed
rendering (by default one auto-exposure gain and the sRGB curve, after XYZ -> linear sRGB)
start it from a picture the detector already understands; the detector is not involved, so a
step costs the ISP's forward and backward only.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, Iterable, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS, MODELS


def fixed_isp_targets(target: str) -> Callable[[str], torch.nn.Module]:
    """``color_space -> fixed ISP`` (built once per colour space) for :func:`warm_start_isp`."""
    built: Dict[str, torch.nn.Module] = {}

    def for_space(color_space: str) -> torch.nn.Module:
        if color_space not in built:
            built[color_space] = MODELS.build(dict(type=target, color_space=color_space))
        return built[color_space]
    return for_space


def warm_start_isp(isp: torch.nn.Module, batches: Iterable[dict],
                   target_for: Callable[[str], torch.nn.Module], steps: int, lr: float,
                   log: Optional[Callable[[str], None]] = None,
                   log_every: int = 20) -> List[float]:
    """``steps`` Adam steps of mean ``|isp(x) - target(x)|`` over ``batches`` (cycled).

    Args:
        isp: the learnable ISP, ``(1, 3, H, W)`` packed RAW -> rendering.
        batches: a dataloader of the training pipeline: dicts whose ``inputs`` are ``(3, H, W)``
            packed RAW tensors, each image run at its own size as the RAW preprocessor runs
            them, and whose ``data_samples`` carry ``raw_meta['color_space']``.
        target_for: ``color_space -> fixed ISP`` (:func:`fixed_isp_targets`).
        steps, lr: Adam steps and learning rate.
        log: called with a progress line every ``log_every`` steps.

    Returns:
        The loss of every step. In a distributed run the gradients are averaged over the ranks,
        so every rank ends with the same weights.
    """
    params = [p for p in isp.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    world_size = get_world_size()
    device = params[0].device
    losses: List[float] = []
    start = time.time()
    was_training = isp.training
    isp.train()
    while len(losses) < steps:
        seen = len(losses)
        for batch in batches:
            loss = torch.zeros((), device=device)
            images = batch['inputs']
            for image, sample in zip(images, batch['data_samples']):
                x = image.to(device).float()[None]
                with torch.no_grad():
                    goal = target_for(sample.metainfo['raw_meta']['color_space'])(x)
                loss = loss + (isp(x) - goal).abs().mean() / len(images)
            optimizer.zero_grad()
            loss.backward()
            if world_size > 1:
                for p in params:
                    all_reduce(p.grad, op='mean')
            optimizer.step()
            losses.append(float(loss.detach()))
            if log is not None and (len(losses) % log_every == 0 or len(losses) == steps):
                log(f'warm start {len(losses)}/{steps}: L1 {losses[-1]:.4f} '
                    f'({time.time() - start:.0f} s)')
            if len(losses) >= steps:
                break
        if len(losses) == seen:
            raise ValueError('warm start: the dataloader yielded no batches')
    isp.train(was_training)
    return losses


@HOOKS.register_module()
class WarmStartISPHook(Hook):
    """Runs :func:`warm_start_isp` on the training data before the first training step.

    Only a fresh run is warm-started: a resumed run (``--resume``) or one that loads weights
    (``load_from``) keeps its weights, and says so in the log. The optimizer of the run is not
    touched (the warm start uses its own Adam), so the run's schedule starts as configured.

    Args:
        steps: Adam steps (each one batch of the train dataloader).
        lr: their learning rate.
        target: a registered fixed ISP taking ``color_space`` (default ``'GainGammaISP'``).
    """

    priority = 'HIGH'

    def __init__(self, steps: int = 300, lr: float = 2e-3, target: str = 'GainGammaISP'):
        if steps < 1:
            raise ValueError(f'steps must be >= 1, got {steps}')
        self.steps, self.lr, self.target = steps, lr, target

    def before_train(self, runner) -> None:
        if runner.iter > 0 or runner._load_from is not None:
            runner.logger.info(
                'WarmStartISPHook: skipped, the run ' +
                (f'resumes at iteration {runner.iter}' if runner.iter > 0
                 else f'loads its weights from {runner._load_from}'))
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        isp = getattr(model.data_preprocessor, 'isp', None)
        if isp is None or not any(p.requires_grad for p in isp.parameters()):
            raise ValueError('WarmStartISPHook: the model has no learnable ISP to warm-start '
                             '(remove the hook from custom_hooks)')
        losses = warm_start_isp(isp, runner.train_dataloader, fixed_isp_targets(self.target),
                                self.steps, self.lr, log=runner.logger.info)
        runner.logger.info(f'WarmStartISPHook: L1 to {self.target} {losses[0]:.4f} -> '
                           f'{losses[-1]:.4f} over {self.steps} steps')
