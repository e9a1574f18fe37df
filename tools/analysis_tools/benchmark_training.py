"""Training-step benchmark: GenISP + frozen detector against the detector alone, unfrozen and
plainly trained, in process or in a fresh worker with glibc keeping freed memory
(``tools/analysis_tools/benchmark.py`` runs it).
"""
from __future__ import annotations

import copy
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from genisp_mmdet.utils import interleaved
from tools.analysis_tools.benchmark_common import (BENCHMARK_SCRIPT, DEFAULT_CONFIG, REPO_ROOT,
                                                   load_average, log)


TARGET_ISP_OVERHEAD = 1.15      # GenISP + frozen detector <= 1.15x the frozen detector alone

# 2. Training step

VARIANTS = {
    'genisp_frozen': 'GenISP + frozen RetinaNet, packed RAW input',
    'genisp_frozen_compiled': 'same, GenISP with `compile_convnet=True`',
    'detector_frozen_rgb': 'frozen RetinaNet alone, RGB input with requires_grad',
    'genisp_unfrozen': 'GenISP + RetinaNet with `freeze_detector=False`',
    'detector_trained_rgb': 'RetinaNet alone trained normally (RGB, weight grads)',
}


def _init_registry() -> None:
    from mmdet.utils import register_all_modules
    import genisp_mmdet  # noqa: F401  (registers the plugin's modules)
    register_all_modules(init_default_scope=True)


def genisp_model_cfg(config: str = DEFAULT_CONFIG, detector=None, **overrides) -> Dict:
    """``model`` of a GenISP config with random detector weights (``detector_checkpoint=None``:
    nothing is downloaded); ``detector`` replaces the detector (a config dict or path)."""
    from mmengine.config import Config
    cfg = copy.deepcopy(Config.fromfile(config).model)
    cfg['detector_checkpoint'] = None
    if detector is not None:
        cfg['detector'] = detector
    cfg.update(overrides)
    return cfg


def plain_detector_cfg(model_cfg: Dict):
    """The detector inside a GenISP model config, as MMDetection builds it on its own (with its
    own ``DetDataPreprocessor``)."""
    from mmengine.config import ConfigDict
    from genisp_mmdet.models.frozen_detector import resolve_detector
    det, _ = resolve_detector(model_cfg['detector'])
    return ConfigDict(det)


def _optim_wrapper(model: torch.nn.Module):
    """Adam as in the GenISP schedule, holding only trainable parameters (None if none)."""
    from genisp_mmdet.engine.optimizer import TrainableParamsOptimWrapperConstructor
    if not any(p.requires_grad for p in model.parameters()):
        return None
    return TrainableParamsOptimWrapperConstructor(dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))(model)


class Setup:
    """A model, its optimizer and the kind of batch it eats, for one timing variant."""

    def __init__(self, name: str, model, optim_wrapper, rgb_input: bool, input_grad: bool):
        self.name, self.model, self.optim_wrapper = name, model, optim_wrapper
        self.rgb_input, self.input_grad = rgb_input, input_grad

    @property
    def isp(self):
        return getattr(self.model.data_preprocessor, 'isp', None)

    @property
    def detector(self):
        return getattr(self.model, 'detector', self.model)


def build_setup(name: str, model_cfg: Dict) -> Setup:
    """Builds one of :data:`VARIANTS` (random weights, nothing downloaded)."""
    from mmdet.registry import MODELS
    _init_registry()
    if name in ('genisp_frozen', 'genisp_frozen_compiled', 'genisp_unfrozen'):
        cfg = copy.deepcopy(model_cfg)
        cfg['freeze_detector'] = name != 'genisp_unfrozen'
        if name == 'genisp_frozen_compiled':
            cfg['data_preprocessor']['isp']['compile_convnet'] = True
        model = MODELS.build(cfg)
        model.train()
        return Setup(name, model, _optim_wrapper(model), rgb_input=False, input_grad=False)
    if name in ('detector_frozen_rgb', 'detector_trained_rgb'):
        model = MODELS.build(plain_detector_cfg(model_cfg))
        if name == 'detector_frozen_rgb':
            # frozen exactly as FrozenDetector freezes it
            model.requires_grad_(False)
            model.eval()
            return Setup(name, model, None, rgb_input=True, input_grad=True)
        model.train()
        return Setup(name, model, _optim_wrapper(model), rgb_input=True, input_grad=False)
    raise KeyError(f'unknown variant {name!r}; choose from {list(VARIANTS)}')


def make_batch(size: Tuple[int, int], rgb: bool, requires_grad: bool = False, seed: int = 0,
               batch_size: int = 1) -> Dict:
    """A batch as the dataloader yields it. ``size`` is ``(w, h)``. Packed RAW inputs are dark
    linear XYZ-like floats (~[0, 0.05]); RGB inputs are 0-255 floats (BGR, as mmdet loads).
    Three ground-truth boxes per image (COCO labels person/bicycle/car)."""
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    w, h = size
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(batch_size):
        img = torch.rand(3, h, w, generator=g) * (255.0 if rgb else 0.05)
        img.requires_grad_(requires_grad)
        boxes = torch.tensor([[0.10, 0.20, 0.35, 0.80], [0.40, 0.30, 0.55, 0.60],
                              [0.60, 0.50, 0.95, 0.90]]) * torch.tensor([w, h, w, h])
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1.0, 1.0), img_id=i))
        sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, 1, 2]))
        inputs.append(img)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def count_grads(setup: Setup, batch: Optional[Dict] = None) -> Dict:
    """Parameter tensors (and values) that hold a gradient, in the detector and in the ISP;
    whether the input got one."""
    def tally(module):
        if module is None:
            return dict(tensors=0, with_grad=0, values=0, values_with_grad=0, trainable=0)
        params = list(module.parameters())
        graded = [p for p in params if p.grad is not None]
        return dict(tensors=len(params), with_grad=len(graded),
                    values=sum(p.numel() for p in params),
                    values_with_grad=sum(p.numel() for p in graded),
                    trainable=sum(1 for p in params if p.requires_grad))
    out = dict(detector=tally(setup.detector), isp=tally(setup.isp))
    if batch is not None:
        out['input_grad'] = all(img.grad is not None for img in batch['inputs'])
    return out


def train_step(setup: Setup, size: Tuple[int, int], seed: int = 0) -> Dict:
    """One training iteration, phased as mmengine's ``BaseModel.train_step`` +
    ``OptimWrapper.update_params``: preprocess (ISP forward for GenISP), forward + loss,
    backward, optimizer step + zero_grad. Returns seconds per phase and the gradient tally
    taken between backward and step."""
    model = setup.model
    batch = make_batch(size, setup.rgb_input, setup.input_grad, seed)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    data = model.data_preprocessor(batch, True)
    t1 = time.perf_counter()
    losses = model._run_forward(data, mode='loss')
    loss, _ = model.parse_losses(losses)
    t2 = time.perf_counter()
    if setup.optim_wrapper is not None:
        setup.optim_wrapper.backward(loss)
    else:
        loss.backward()
    t3 = time.perf_counter()
    r3 = resource.getrusage(resource.RUSAGE_SELF)
    grads = count_grads(setup, batch)
    r4 = resource.getrusage(resource.RUSAGE_SELF)
    t4 = time.perf_counter()
    if setup.optim_wrapper is not None:
        setup.optim_wrapper.step()
        setup.optim_wrapper.zero_grad()
    else:
        model.zero_grad(set_to_none=True)
    t5 = time.perf_counter()
    r5 = resource.getrusage(resource.RUSAGE_SELF)
    # kernel time and minor page faults of the timed phases (fresh pages of new tensors)
    sys_s = (r3.ru_stime - r0.ru_stime) + (r5.ru_stime - r4.ru_stime)
    faults = (r3.ru_minflt - r0.ru_minflt) + (r5.ru_minflt - r4.ru_minflt)
    return dict(preprocess=t1 - t0, forward=t2 - t1, backward=t3 - t2, optim=t5 - t4,
                total=(t3 - t0) + (t5 - t4), sys=sys_s, faults=faults,
                loss=float(loss.detach()), grads=grads)


def time_training(model_cfg: Dict, size: Tuple[int, int], repeats: int, warmup: int = 1,
                  variants: Sequence[str] = tuple(VARIANTS)) -> Dict:
    """Interleaved training steps of every variant: ``warmup`` untimed rounds, then
    ``repeats`` timed ones, the starting variant rotated each round."""
    setups = {}
    for name in variants:
        log(f'training: building {name}')
        setups[name] = build_setup(name, model_cfg)
    records: Dict[str, List[Dict]] = {n: [] for n in variants}
    grads: Dict[str, Dict] = {}
    names = list(variants)
    for rnd in range(warmup + repeats):
        k = rnd % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()
            rec = train_step(setups[name], size, seed=rnd)
            grads[name] = rec.pop('grads')
            tag = 'warm-up' if rnd < warmup else f'repeat {rnd - warmup + 1}/{repeats}'
            log(f'training: {name:22s} {tag}: {rec["total"]:.2f} s '
                f'(fwd {rec["preprocess"] + rec["forward"]:.2f}, bwd {rec["backward"]:.2f}, '
                f'step {rec["optim"]:.2f}), load {load_average()[0]:.2f}')
            if rnd >= warmup:
                records[name].append(rec)
    return dict(records=records, grads=grads, size=list(size))


def summarise_training(result: Dict) -> Dict:
    med = {name: {k: statistics.median(r[k] for r in recs)
                  for k in ('preprocess', 'forward', 'backward', 'optim', 'total', 'sys',
                            'faults')}
           for name, recs in result['records'].items() if recs}
    out = dict(median=med, min_total={name: min(r['total'] for r in recs)
                                      for name, recs in result['records'].items() if recs})
    # ISP overhead of each GenISP variant against the frozen detector alone
    for variant, key in (('genisp_frozen', 'isp_overhead'),
                         ('genisp_frozen_compiled', 'isp_overhead_compiled')):
        if variant not in med or 'detector_frozen_rgb' not in med:
            continue
        a, b = med[variant], med['detector_frozen_rgb']
        out[key] = a['total'] / b['total']
        out[f'{key}_min'] = out['min_total'][variant] / out['min_total']['detector_frozen_rgb']
        out[f'{key}_fwd'] = (a['preprocess'] + a['forward']) / (b['preprocess'] + b['forward'])
        out[f'{key}_bwd'] = a['backward'] / b['backward']
        out[f'{key}_ok'] = out[key] <= TARGET_ISP_OVERHEAD
    if 'genisp_frozen' in med and 'genisp_unfrozen' in med:
        a, c = med['genisp_frozen'], med['genisp_unfrozen']
        out['unfrozen_ratio'] = c['total'] / a['total']
        out['unfrozen_bwd_ratio'] = c['backward'] / a['backward']
        g = result['grads']
        out['frozen_no_detector_grads'] = g['genisp_frozen']['detector']['with_grad'] == 0
        out['frozen_isp_all_grads'] = (g['genisp_frozen']['isp']['with_grad'] ==
                                       g['genisp_frozen']['isp']['tensors'])
        out['unfrozen_detector_grads'] = g['genisp_unfrozen']['detector']['with_grad']
    return out


def time_isp_alone(size: Tuple[int, int], repeats: int, warmup: int = 1) -> List[float]:
    """Seconds of GenISP's forward + backward alone (weights require grad, loss = mean)."""
    from mmdet.registry import MODELS
    _init_registry()
    isp = MODELS.build(dict(type='GenISP')).train()
    x = make_batch(size, rgb=False)['inputs'][0][None]

    def step():
        isp.zero_grad(set_to_none=True)
        isp(x).mean().backward()
    return interleaved(dict(isp=step), repeats, warmup)['isp']


#: The allocator part runs its worker with glibc keeping freed memory, exactly as the GenISP
#: configs' KeepFreedMemoryHook sets it up for CPU training (genisp_mmdet.engine): tensors reuse
#: pages already faulted in instead of getting fresh zeroed pages from the kernel every step.
KEEP_MEMORY_SETTING = ('mallopt(M_MMAP_MAX, 0), mallopt(M_TRIM_THRESHOLD, 2 GiB) at start '
                       '(`genisp_mmdet.engine.allocator.keep_freed_memory`, as the GenISP '
                       "configs' `KeepFreedMemoryHook` does for every CPU training run)")
MALLOC_ENV_VARS = ('MALLOC_MMAP_MAX_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_',
                   'MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX', 'LD_PRELOAD')
KEY_VARIANTS = ('genisp_frozen', 'genisp_frozen_compiled', 'detector_frozen_rgb')


def _subprocess_env(extra: Dict[str, str]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV_VARS}
    env.update(extra)  # warnings stay on: they reach the terminal (stderr is not captured)
    return env


def time_training_subprocess(size: Tuple[int, int], repeats: int, env: Dict[str, str],
                             config: str = DEFAULT_CONFIG, detector: Optional[str] = None,
                             variants: Sequence[str] = KEY_VARIANTS,
                             timeout: float = 3600, keep_freed_memory: bool = False) -> Dict:
    """:func:`time_training` in a fresh interpreter with extra environment variables and,
    with ``keep_freed_memory``, glibc keeping freed memory from its start."""
    cmd = [sys.executable, BENCHMARK_SCRIPT, '--train-worker', ','.join(variants),
           '--size', f'{size[0]}x{size[1]}', '--config', config,
           '--threads', str(torch.get_num_threads()), '--train-repeats', str(repeats)]
    if keep_freed_memory:
        cmd.append('--keep-freed-memory')
    if detector is not None:
        cmd += ['--detector', detector]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout,
                          env=_subprocess_env(env), cwd=REPO_ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith('TRAIN_RESULT '):
            return json.loads(line[len('TRAIN_RESULT '):])
    raise RuntimeError(f'training worker failed (exit {proc.returncode}):\n'
                       f'{proc.stdout[-3000:]}')
