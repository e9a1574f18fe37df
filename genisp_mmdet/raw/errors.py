"""Typed errors raised when a RAW file cannot be turned into a packed image.

Every error derives from :class:`RawReadError` (a :class:`ValueError`: the input's content is
unacceptable), carries the offending ``path`` and a human ``reason``, and its message names
both. A missing file is additionally a :class:`FileNotFoundError`, so code that already
handles missing files keeps working.
"""
from __future__ import annotations

import errno
import os
from typing import Union

PathLike = Union[str, os.PathLike]


class RawReadError(ValueError):
    """A RAW file could not be read into a packed image.

    Args:
        path: the file (as given by the caller).
        reason: what is wrong with it, in words.

    Attributes:
        path: ``str`` path of the file.
        reason: the problem, without the path.
    """

    def __init__(self, path: PathLike, reason: str):
        self.path = os.fspath(path) if path is not None else '<unknown>'
        self.reason = reason
        message = f'{self.path}: {reason}'
        # ValueError.__init__ sets args; OSError-based subclasses need their own fields below.
        ValueError.__init__(self, message)

    def __str__(self) -> str:
        return f'{self.path}: {self.reason}'

    def __reduce__(self):
        # Keeps the error picklable across multiprocessing workers (the default reduce would
        # call __init__ with the formatted message only).
        return (self.__class__, (self.path, self.reason))


class RawFileNotFoundError(RawReadError, FileNotFoundError):
    """The path does not exist (also a :class:`FileNotFoundError`)."""

    def __init__(self, path: PathLike, reason: str = 'no such file'):
        super().__init__(path, reason)
        self.errno = errno.ENOENT
        self.strerror = reason
        self.filename = self.path


class NotRawFileError(RawReadError):
    """The file is not a RAW file LibRaw can read (a JPEG, text, a directory, ...)."""


class TruncatedRawError(RawReadError):
    """The file looks like a RAW container but its data ends early or is corrupt."""


class UnsupportedSensorError(RawReadError):
    """The file decodes, but its sensor is not a 2x2 R/G/G/B Bayer mosaic (X-Trans, Foveon or
    linear DNG without a CFA, monochrome, 4-colour CMYG/RGBE/YRGB ...)."""


class MissingColorMatrixError(RawReadError):
    """The file has no usable camera -> XYZ colour matrix and ``on_missing_matrix='raise'``."""


class DecoderCrashError(RawReadError):
    """The process decoding the file died (a LibRaw crash: segmentation fault, abort, out of
    memory) while reading it; raised by :class:`~genisp_mmdet.raw.IsolatedDecoder`, whose
    caller lives on."""


class DecoderTimeoutError(RawReadError):
    """Decoding the file took longer than the allowed time (a LibRaw hang); the decoder process
    was stopped (:class:`~genisp_mmdet.raw.IsolatedDecoder`)."""


class CacheMismatchError(ValueError):
    """A packed-cache entry was produced from another file state or with other settings than
    the pipeline reading it expects (stale or foreign cache). Always raised, never skipped:
    training on it would silently change the data.

    Attributes:
        path: the cache entry (``.npy``).
        reason: which setting differs, recorded vs expected.
    """

    def __init__(self, path: PathLike, reason: str):
        self.path, self.reason = os.fspath(path), reason
        ValueError.__init__(self, f'{self.path}: {reason}')

    def __reduce__(self):
        return (self.__class__, (self.path, self.reason))
