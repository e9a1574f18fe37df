"""Where the ISP's forward + backward time goes: torch.profiler by op and shape, per stage,
eager against compiled (``tools/analysis_tools/benchmark.py --parts profile`` runs it).
"""
from __future__ import annotations

import statistics
import time
from typing import Dict, Tuple

import torch

from genisp_mmdet.models.genisp import COMPILE_ERRORS, conv_label
from genisp_mmdet.utils import interleaved
from tools.analysis_tools.benchmark_training import _init_registry, make_batch


def profile_isp(size: Tuple[int, int], top: int = 10) -> Dict:
    """torch.profiler over one GenISP forward + backward (after a warm-up): the ops with the
    most self CPU time, grouped by op and input shapes."""
    from torch.profiler import ProfilerActivity, profile
    from mmdet.registry import MODELS
    _init_registry()
    isp = MODELS.build(dict(type='GenISP')).train()
    x = make_batch(size, rgb=False)['inputs'][0][None]
    isp(x).mean().backward()
    isp.zero_grad(set_to_none=True)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        isp(x).mean().backward()
    wall = time.perf_counter() - start
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return dict(wall=wall, total_us=total, rows=[
        dict(op=e.key, shapes=_short_shapes(e.input_shapes), calls=e.count,
             ms=e.self_cpu_time_total / 1e3, share=e.self_cpu_time_total / max(total, 1))
        for e in rows])


def _short_shapes(shapes) -> str:
    dims = [s for s in (shapes or []) if isinstance(s, (list, tuple)) and len(s) >= 2]
    return ', '.join('x'.join(str(d) for d in s) for s in dims[:2])


def module_times(size: Tuple[int, int], repeats: int = 3) -> Dict[str, float]:
    """Median forward + backward seconds of each stage of GenISP at ``size``, each timed
    alone on its real input: everything before the shallow ConvNet (exposure normalisation,
    thumbnail, ConvWB, ConvCC, gains and matrix on the full image), then every step the
    ConvNet's forward runs (its input requires grad, as in the model: the parameter nets train
    through it), and for comparison the plain ``nn`` layers those steps replace."""
    import copy as _copy
    from mmdet.registry import MODELS
    _init_registry()
    isp = MODELS.build(dict(type='GenISP')).train()
    x = make_batch(size, rgb=False)['inputs'][0][None]
    front = _copy.deepcopy(isp)
    front.convnet = torch.nn.Identity()  # forward_with_params then stops at the ConvNet input
    stages = isp.convnet.stages()
    with torch.no_grad():
        feats = [front(x)]
        for _, stage in stages:
            feats.append(stage(feats[-1]))

    def fb(fn, inp):
        out = fn(inp.detach().requires_grad_(True))
        out.backward(torch.ones_like(out))

    def front_step():
        front.zero_grad(set_to_none=True)
        front(x).sum().backward()

    fns = {'before the ConvNet: exposure, thumbnail, ConvWB, ConvCC, gains + matrix':
           front_step}
    for (label, stage), inp in zip(stages, feats):
        fns[label] = (lambda stage=stage, inp=inp: fb(stage, inp))
    # the plain layers the eager steps replace, on the same inputs (stages 3 and 4)
    _, _, _, _, norm, act, out_conv = isp.convnet.body
    fns[f'(plain layers: InstanceNorm2d({norm.num_features}) + LeakyReLU)'] = (
        lambda inp=feats[3]: fb(torch.nn.Sequential(norm, act), inp))
    fns[f'(plain layer: Conv2d {conv_label(out_conv)})'] = (
        lambda inp=feats[4]: fb(out_conv, inp))
    times = interleaved(fns, repeats, warmup=1)
    return {k: statistics.median(v) for k, v in times.items()}


def compiled_isp_times(size: Tuple[int, int], repeats: int = 3) -> Dict:
    """GenISP forward + backward eager vs with ``torch.compile`` on its shallow ConvNet (the
    full-resolution part), interleaved; also the compile time and the largest output
    difference. ``dict(error=...)`` when compiling is not possible here."""
    import copy as _copy
    from mmdet.registry import MODELS
    _init_registry()
    torch.manual_seed(0)
    isp = MODELS.build(dict(type='GenISP')).train()
    compiled = _copy.deepcopy(isp)
    compiled.convnet = torch.compile(compiled.convnet)
    x = make_batch(size, rgb=False)['inputs'][0][None]

    def run(m):
        m.zero_grad(set_to_none=True)
        m(x).mean().backward()
    start = time.perf_counter()
    try:
        run(compiled)
    except COMPILE_ERRORS as e:  # no C++ compiler, unsupported platform...
        return dict(error=f'{type(e).__name__}: {str(e).splitlines()[0][:200]}')
    compile_s = time.perf_counter() - start
    times = interleaved(dict(eager=lambda: run(isp), compiled=lambda: run(compiled)),
                        repeats, warmup=1)
    with torch.no_grad():
        diff = float((isp(x) - compiled(x)).abs().max())
    return dict(compile_s=compile_s, max_abs_diff=diff,
                eager=statistics.median(times['eager']),
                compiled=statistics.median(times['compiled']))
