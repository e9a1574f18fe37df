"""Decoding RAW files in a child process, so that a file which crashes or hangs LibRaw costs
that file, not the run.

LibRaw is C++ fed with untrusted bytes: a malformed file can end the process with a
segmentation fault or an abort, or loop for ever. In a DataLoader worker that kills the whole
training run with an anonymous "DataLoader worker exited unexpectedly". An
:class:`IsolatedDecoder` keeps one long-lived decoder process (started with ``exec``, not
``fork``: LibRaw's OpenMP threads do not survive a fork, and daemonic DataLoader workers may
not create ``multiprocessing`` children) and turns its death into a
:class:`~genisp_mmdet.raw.DecoderCrashError` and a hang into a
:class:`~genisp_mmdet.raw.DecoderTimeoutError`, both naming the file; the next call starts a
fresh decoder. The decoder process imports only the reader (rawpy + NumPy; not torch or
MMDetection), so it starts in a fraction of a second, and it exits when its parent does.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any, Dict, Optional

import numpy as np

from .errors import DecoderCrashError, DecoderTimeoutError, PathLike, RawReadError
from .reader import PackedRaw

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child registers the package and its colour subpackage as bare namespaces, so that
# importing the reader does not run their __init__ (which would import torch and mmdet).
_BOOTSTRAP = """
import sys, types
for name, path in {packages!r}:
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
from genisp_mmdet.raw.isolation import serve
serve(int(sys.argv[1]), int(sys.argv[2]))
"""


def _operations() -> Dict[str, Any]:
    from .cache import convert_to_cache
    from .reader import read_raw
    return dict(read_raw=read_raw, convert_to_cache=convert_to_cache)


def serve(request_fd: int, reply_fd: int) -> None:
    """The decoder process' loop: runs requests until its parent closes the pipe."""
    requests, replies = Connection(request_fd, writable=False), Connection(reply_fd,
                                                                           readable=False)
    operations = _operations()
    while True:
        try:
            operation, args, kwargs = requests.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        try:
            result = operations[operation](*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller
            _reply_error(replies, args[0] if args else None, error)
            continue
        if isinstance(result, PackedRaw):
            # channel-planar, as read_raw lays it out: the caller gets the same memory layout
            planar = np.ascontiguousarray(result.image.transpose(2, 0, 1))
            replies.send(('image', planar.shape, result.meta))
            replies.send_bytes(planar.data)
        else:
            replies.send(('value', result))


def _reply_error(replies: Connection, path, error: Exception) -> None:
    try:
        replies.send(('error', error))
    except Exception:  # noqa: BLE001 - an exception that does not pickle
        replies.send(('error', RawReadError(path, f'{type(error).__name__}: {error}')))


def _widen_pipe(fd: int) -> None:
    # a 1 MiB pipe buffer moves an image about twice as fast as the default 64 KiB
    try:
        import fcntl
        with open('/proc/sys/fs/pipe-max-size') as f:
            size = min(int(f.read()), 1 << 20)
        fcntl.fcntl(fd, getattr(fcntl, 'F_SETPIPE_SZ', 1031), size)
    except (OSError, ValueError, ImportError):
        pass  # not Linux, or not allowed: the default buffer works, more slowly


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f'signal {-returncode}'
    return f'exit status {returncode}'


class IsolatedDecoder:
    """Runs :func:`~genisp_mmdet.raw.read_raw` and
    :func:`~genisp_mmdet.raw.convert_to_cache` in a long-lived child process.

    Results and ordinary errors are exactly those of the direct calls (the image comes back
    with the same channel-planar layout); a crash of the child raises
    :class:`~genisp_mmdet.raw.DecoderCrashError`, a call longer than ``timeout`` seconds
    stops the child and raises :class:`~genisp_mmdet.raw.DecoderTimeoutError`, both naming
    the file; the next call starts a new child. One instance serves one thread; it is not
    shared across ``fork`` (a forked copy starts its own child on first use).

    Args:
        timeout: seconds one file may take (decode, pack, colour; start-up included).
    """

    def __init__(self, timeout: float = 120.0):
        if not timeout > 0:
            raise ValueError(f'timeout must be positive, got {timeout!r}')
        self.timeout = float(timeout)
        self._process: Optional[subprocess.Popen] = None
        self._requests: Optional[Connection] = None
        self._replies: Optional[Connection] = None
        self._owner_pid: Optional[int] = None
        #: how many decoder processes were started (1 + one per crash or hang)
        self.starts = 0

    # ---- the child process ----------------------------------------------------------------
    def _start(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        _widen_pipe(reply_read)
        packages = [('genisp_mmdet', _PACKAGE_DIR),
                    ('genisp_mmdet.color', os.path.join(_PACKAGE_DIR, 'color'))]
        try:
            self._process = subprocess.Popen(
                [sys.executable, '-c', _BOOTSTRAP.format(packages=packages),
                 str(request_read), str(reply_write)],
                pass_fds=(request_read, reply_write), stdin=subprocess.DEVNULL,
                close_fds=True)
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._requests = Connection(request_write, readable=False)
        self._replies = Connection(reply_read, writable=False)
        self._owner_pid = os.getpid()
        self.starts += 1

    def _ensure_started(self) -> None:
        if self._process is not None and self._owner_pid == os.getpid() \
                and self._process.poll() is not None:
            self._kill()  # died between calls (killed from outside): not this file's doing
        if self._process is None or self._owner_pid != os.getpid():
            # a forked copy must not talk to its parent's child
            self._process = self._requests = self._replies = None
            self._start()

    def close(self) -> None:
        """Stops the decoder process (a later call starts a new one)."""
        if self._process is not None and self._owner_pid == os.getpid():
            for conn in (self._requests, self._replies):
                conn.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = self._requests = self._replies = None

    def _kill(self) -> int:
        self._process.kill()
        returncode = self._process.wait()
        for conn in (self._requests, self._replies):
            conn.close()
        self._process = self._requests = self._replies = None
        return returncode

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __getstate__(self):
        # transforms holding a decoder are pickled into DataLoader workers: the child stays
        return dict(timeout=self.timeout, starts=0)

    def __setstate__(self, state):
        self.__init__(state['timeout'])

    # ---- calls ----------------------------------------------------------------------------
    def _call(self, path: str, operation: str, args: tuple, kwargs: dict):
        self._ensure_started()
        try:
            self._requests.send((operation, args, kwargs))
            if not self._replies.poll(self.timeout):
                self._kill()
                raise DecoderTimeoutError(
                    path, f'decoding took longer than {self.timeout:g} s (LibRaw hangs on '
                          'it?); the decoder process was stopped')
            kind, *payload = self._replies.recv()
            if kind == 'image':
                shape, meta = payload
                planar = np.empty(shape, dtype=np.float32)
                self._replies.recv_bytes_into(memoryview(planar).cast('B'))
                return PackedRaw(image=planar.transpose(1, 2, 0), meta=meta)
        except (EOFError, BrokenPipeError, ConnectionResetError) as error:
            how = _signal_name(self._kill())
            raise DecoderCrashError(
                path, f'the decoder process died ({how}) while decoding it: the file crashes '
                      'LibRaw') from error
        if kind == 'error':
            raise payload[0]
        return payload[0]

    def read_raw(self, path: PathLike, **kwargs) -> PackedRaw:
        """:func:`~genisp_mmdet.raw.read_raw` of ``path`` in the decoder process."""
        path = os.fspath(path)
        return self._call(path, 'read_raw', (path,), kwargs)

    def convert_to_cache(self, src: PathLike, npy_path: PathLike, *args, **kwargs) -> dict:
        """:func:`~genisp_mmdet.raw.convert_to_cache` in the decoder process."""
        src = os.fspath(src)
        return self._call(src, 'convert_to_cache', (src, os.fspath(npy_path)) + args, kwargs)
