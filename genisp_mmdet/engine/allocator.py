"""CPU training: let glibc keep freed memory instead of returning it to the kernel.

By default glibc serves every allocation above its (dynamic, at most 32 MiB) mmap threshold
with its own ``mmap`` and unmaps it on ``free``. A training step at 1333x800 allocates a few
GiB of such tensors, so each step gets fresh pages from the kernel, which faults and zeroes
them: measured 1.2-1.7 M page faults and 1-3 s of kernel time per step on the project's CPU
machine (docs/benchmarks.md). PyTorch's CUDA caching allocator keeps GPU memory for reuse; on
CPU the same effect comes from two glibc settings (``mallopt``): no ``mmap`` for large blocks
(they come from the heap and are reused) and a trim threshold high enough that freed heap
memory stays in the process. The price is that the process keeps its peak memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: Freed heap memory is returned to the kernel only above this much (``mallopt`` takes an
#: int: 2 GiB - 1 is the largest value).
TRIM_THRESHOLD = 2 ** 31 - 1
#: Set to ``0`` to keep glibc's defaults.
ENV_SWITCH = 'GENISP_KEEP_FREED_MEMORY'


def keep_freed_memory() -> bool:
    """Switch glibc to keeping freed memory (see the module docstring) for this process and
    the processes it forks from now on (dataloader workers).

    Returns ``True`` when the settings were applied; ``False`` (nothing changed) when
    ``GENISP_KEEP_FREED_MEMORY=0``, off Linux, or when the C library is not glibc.
    """
    if os.environ.get(ENV_SWITCH, '1') == '0' or not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc only: musl has no mallopt tuning
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
