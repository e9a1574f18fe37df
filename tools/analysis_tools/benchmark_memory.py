"""Peak-memory benchmark: one forward + backward per variant, each in a fresh process
(``tools/analysis_tools/benchmark.py`` runs it).
"""
from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import time
from typing import Dict, Optional, Tuple

import torch

from tools.analysis_tools.benchmark_common import BENCHMARK_SCRIPT, DEFAULT_CONFIG, REPO_ROOT
from tools.analysis_tools.benchmark_training import (VARIANTS, _init_registry, build_setup,
                                                     genisp_model_cfg, make_batch,
                                                     _subprocess_env)


MEMORY_VARIANTS = {
    'isp': 'GenISP alone (weights require grad)',
    'detector_frozen_rgb': VARIANTS['detector_frozen_rgb'],
    'genisp_frozen': VARIANTS['genisp_frozen'],
    'genisp_unfrozen': VARIANTS['genisp_unfrozen'],
}


def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(rf'^{field}:\s+(\d+) kB', f.read(), re.M).group(1))


def memory_worker(kind: str, size: Tuple[int, int], config: str, detector) -> Dict:
    """Runs in a fresh process: build, warm up at a tiny size, reset the RSS high-water mark,
    run one forward + backward at ``size``, read the high-water mark."""
    torch.manual_seed(0)
    small = (64, 64)
    if kind == 'isp':
        from mmdet.registry import MODELS
        _init_registry()
        isp = MODELS.build(dict(type='GenISP')).train()

        def run(sz):
            isp.zero_grad(set_to_none=True)
            isp(make_batch(sz, rgb=False)['inputs'][0][None]).mean().backward()
    else:
        setup = build_setup(kind, genisp_model_cfg(config, detector))

        def run(sz):
            model = setup.model
            model.zero_grad(set_to_none=True)
            batch = make_batch(sz, setup.rgb_input, setup.input_grad)
            data = model.data_preprocessor(batch, True)
            loss, _ = model.parse_losses(model._run_forward(data, mode='loss'))
            loss.backward()
    module = isp if kind == 'isp' else setup.model
    run(small)
    run(small)
    module.zero_grad(set_to_none=True)  # the measured step allocates its own gradients
    gc.collect()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # VmHWM := current RSS
    base = _status_kb('VmRSS')
    start = time.perf_counter()
    with SavedTensorTally(module) as saved:
        run(size)
    seconds = time.perf_counter() - start
    peak = _status_kb('VmHWM')
    return dict(kind=kind, base_mb=base / 1024, peak_mb=peak / 1024,
                delta_mb=(peak - base) / 1024, saved_mb=saved.nbytes / 2**20,
                seconds=seconds)


class SavedTensorTally:
    """Counts the bytes autograd keeps for the backward (unique storages of saved tensors,
    parameters excluded): the activation memory of a forward, independent of the allocator."""

    def __init__(self, module: torch.nn.Module):
        self.params = {p.untyped_storage().data_ptr() for p in module.parameters()}
        self.storages: Dict[int, int] = {}
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # e.g. opaque mkldnn tensors
            return t
        ptr = storage.data_ptr()
        if ptr not in self.params:
            self.storages[ptr] = storage.nbytes()
        return t

    @property
    def nbytes(self) -> int:
        return sum(self.storages.values())

    def __enter__(self) -> 'SavedTensorTally':
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)


def measure_memory(kind: str, size: Tuple[int, int], config: str = DEFAULT_CONFIG,
                   detector: Optional[str] = None, timeout: float = 1800) -> Dict:
    """:func:`memory_worker` in a fresh interpreter; glibc's mmap threshold is fixed at
    128 KiB so every tensor buffer is its own mapping, returned to the OS when freed (the
    high-water mark then follows the live tensors, not the allocator's reuse pattern)."""
    cmd = [sys.executable, BENCHMARK_SCRIPT, '--memory-worker', kind,
           '--size', f'{size[0]}x{size[1]}', '--config', config]
    if detector is not None:
        cmd += ['--detector', detector]
    cmd += ['--threads', str(torch.get_num_threads())]
    env = _subprocess_env(dict(MALLOC_MMAP_THRESHOLD_='131072'))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=REPO_ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith('MEMORY_RESULT '):
            return json.loads(line[len('MEMORY_RESULT '):])
    raise RuntimeError(f'memory worker {kind} failed (exit {proc.returncode}):\n'
                       f'{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}')
