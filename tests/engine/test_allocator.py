"""glibc keeping freed memory for CPU training (tools/train.py switches it on)."""
import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO_ROOT

# In a fresh interpreter: allocate and free a 64 MiB block, then report how many bytes glibc
# holds in mmap-ed blocks while a second 64 MiB block is alive (mallinfo2().hblkhd).
PROBE = textwrap.dedent('''
    import ctypes, sys
    from genisp_mmdet.engine.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ('arena', 'ordblks', 'smblks', 'hblks',
                    'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]

    libc = ctypes.CDLL('libc.so.6')
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    applied = keep_freed_memory() if sys.argv[1] == 'keep' else False
    libc.free(libc.malloc(64 << 20))
    block = libc.malloc(64 << 20)
    print(applied, libc.mallinfo2().hblkhd, libc.mallinfo2().fordblks)
''')


def probe(mode, env=None):
    out = subprocess.run([sys.executable, '-c', PROBE, mode], cwd=REPO_ROOT, text=True,
                         capture_output=True, env=env, check=True).stdout.split()
    return out[0] == 'True', int(out[1]), int(out[2])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc tuning is Linux-only')
def test_large_blocks_come_from_the_heap_and_stay_there():
    applied, mapped, _ = probe('default')
    assert not applied and mapped >= 64 << 20  # glibc's default: its own mmap, unmapped on free
    applied, mapped, free_in_heap = probe('keep')
    assert applied and mapped < 64 << 20  # from the heap (what is mapped predates the switch)
    # the freed first block was reused for the second, not returned and faulted in again
    assert free_in_heap < 64 << 20


def test_switch_off_by_environment():
    env = dict(os.environ, GENISP_KEEP_FREED_MEMORY='0')
    applied, mapped, _ = probe('keep', env)
    assert not applied and mapped >= 64 << 20
