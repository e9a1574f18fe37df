"""What the benchmark parts share: paths, the machine's load, formatting."""
from __future__ import annotations

import os
import os.path as osp
import sys
import time
from typing import Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'genisp_retinanet.py')
DEFAULT_RAW_DIR = osp.join(osp.dirname(REPO_ROOT), 'shared', 'raw-samples')
#: the orchestrator; the training and memory parts run it again as a fresh worker process
BENCHMARK_SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark.py')


def log(msg: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def load_average() -> Tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float('nan'),) * 3


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f'{ms:.2f}' if ms < 10 else f'{ms:.1f}' if ms < 1000 else f'{ms:.0f}'


def verdict(ok: bool) -> str:
    return 'PASS' if ok else 'MISS'
