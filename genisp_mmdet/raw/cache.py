"""A decode-once cache of packed RAW images at training resolution.

Decoding a 20 MP RAW costs a few hundred milliseconds per epoch and image; the cache stores the
packed, colour-converted image once as ``<raw file name>.npy`` (float16, ``(h, w, 3)``, already
resized to fit the training scale) next to ``<raw file name>.json`` holding the ``raw_meta``
dict. The RAW file's own name is kept (``DSC01881.ARW.npy``) so files that differ only by
extension never collide, and a dataset can switch to the cache by pointing its image prefix at
the cache folder: :func:`cache_path_for` turns ``<prefix>/DSC01881.ARW`` into the ``.npy``.

Writes are atomic: both files are written under temporary names and renamed, the ``.json``
last, so a ``.json`` next to a ``.npy`` means the entry is complete.

Each sidecar records what produced its array (:func:`cache_provenance`): the source file's
size and modification time, :data:`~genisp_mmdet.raw.reader.READ_RAW_VERSION`, the colour
space, the missing-matrix policy, the scale and the interpolation. :func:`check_provenance`
compares that with what a reader expects and names every difference; the loader raises on
it, the converter rebuilds such entries.
"""
from __future__ import annotations

import json
import os
import uuid
import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .errors import (CacheMismatchError, PathLike, RawFileNotFoundError, RawReadError,
                     TruncatedRawError)
from .reader import RAW_META_FIELDS, READ_RAW_VERSION, PackedRaw, read_raw

CACHE_SUFFIX = '.npy'
SIDECAR_SUFFIX = '.json'
CACHE_FORMAT = 'genisp-packed-raw'
CACHE_VERSION = 2  # 2: sidecars record their provenance
#: how the converter resizes (OpenCV INTER_AREA); the direct pipelines' Resize uses the same
INTERPOLATION = 'area'


def cache_path_for(path: PathLike) -> str:
    """``.npy`` cache path of a RAW path (``x/DSC1.ARW`` -> ``x/DSC1.ARW.npy``); a path that
    already ends in ``.npy`` is returned unchanged."""
    path = os.fspath(path)
    return path if path.endswith(CACHE_SUFFIX) else path + CACHE_SUFFIX


def sidecar_path_for(npy_path: PathLike) -> str:
    """``x/DSC1.ARW.npy`` -> ``x/DSC1.ARW.json``."""
    npy_path = os.fspath(npy_path)
    stem = npy_path[:-len(CACHE_SUFFIX)] if npy_path.endswith(CACHE_SUFFIX) else npy_path
    return stem + SIDECAR_SUFFIX


def is_cached(npy_path: PathLike) -> bool:
    """True when both the array and its sidecar exist (the sidecar is written last)."""
    return os.path.isfile(npy_path) and os.path.isfile(sidecar_path_for(npy_path))


def fit_size(height: int, width: int, scale: Tuple[int, int]) -> Tuple[int, int]:
    """Output ``(h, w)`` that fits ``scale`` keeping the aspect ratio, never enlarging.

    ``scale`` is ``(long, short)`` edge limits in any order, like mmcv's ``rescale_size`` /
    ``Resize(scale=(1333, 800), keep_ratio=True)``: the long image edge becomes at most
    ``max(scale)`` and the short edge at most ``min(scale)``, sizes rounded as mmcv rounds
    them. Unlike mmcv the image is never enlarged: the pipeline's own ``Resize`` does any
    upscaling, and storing it would only waste disk.
    """
    long_lim, short_lim = max(scale), min(scale)
    factor = min(long_lim / max(height, width), short_lim / min(height, width), 1.0)
    # mmcv's rounding (mmcv.image.geometric._scale_size), so a cached image has exactly the
    # size the pipeline's Resize gives the RAW image, and its own Resize leaves it alone
    return max(1, int(height * factor + 0.5)), max(1, int(width * factor + 0.5))


def resize_to_fit(image: np.ndarray, scale: Optional[Tuple[int, int]]) -> np.ndarray:
    """Area-downsamples ``(H, W, 3)`` ``image`` to :func:`fit_size`; unchanged when it fits."""
    if scale is None:
        return image
    h, w = fit_size(image.shape[0], image.shape[1], scale)
    if (h, w) == image.shape[:2]:
        return image
    # INTER_AREA averages whole source pixels: the right anti-aliasing for a downscale of
    # noisy low-light data (bilinear would alias the noise).
    import cv2  # only the cache converter resizes: the reader runs on rawpy + NumPy alone
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def _normalise_scale(scale) -> Optional[list]:
    # (1333, 800) and (800, 1333) are the same limits (long, short)
    return None if scale is None else [max(scale), min(scale)]


def cache_provenance(source: PathLike, scale: Optional[Tuple[int, int]] = None,
                     color_space: str = 'xyz', on_missing_matrix: str = 'raise') -> Dict:
    """What produces a cache entry of ``source`` with these settings (recorded in its sidecar
    and compared by :func:`check_provenance`): the file's size and modification time (ns),
    :data:`~genisp_mmdet.raw.reader.READ_RAW_VERSION`, the settings and the interpolation."""
    stat = os.stat(source)
    return dict(source=dict(path=os.path.abspath(os.fspath(source)), size=stat.st_size,
                            mtime_ns=stat.st_mtime_ns),
                read_raw_version=READ_RAW_VERSION, color_space=color_space,
                on_missing_matrix=on_missing_matrix, scale=_normalise_scale(scale),
                interpolation=INTERPOLATION)


def check_provenance(npy_path: PathLike, recorded: Optional[Dict],
                     expected: Optional[Dict] = None, check_source: bool = True) -> None:
    """Raises :class:`~genisp_mmdet.raw.CacheMismatchError` naming every difference between
    an entry's recorded provenance and the current code (``read_raw_version``), the
    ``expected`` settings (keys of :func:`cache_provenance`: ``color_space``, ``scale``,
    ``on_missing_matrix``, ``interpolation``; those not given are not checked) and, with
    ``check_source``, the source file's size and modification time when the file is there (a
    cache used without its RAW files cannot be compared with them)."""
    if not isinstance(recorded, dict):
        raise CacheMismatchError(npy_path, 'written by an older converter that did not record '
                                           'how it was produced; rebuild it with '
                                           'tools/convert_raw_cache.py --force')
    differences = []
    if recorded.get('read_raw_version') != READ_RAW_VERSION:
        differences.append(f'read_raw version {recorded.get("read_raw_version")} (this code '
                           f'reads RAW files as version {READ_RAW_VERSION})')
    for key, value in (expected or {}).items():
        if key == 'scale':
            value = _normalise_scale(value)
        if recorded.get(key) != value:
            differences.append(f'{key} {recorded.get(key)!r} (expected {value!r})')
    source = recorded.get('source') or {}
    if check_source and source.get('path') and os.path.exists(source['path']):
        stat = os.stat(source['path'])
        if (stat.st_size, stat.st_mtime_ns) != (source.get('size'), source.get('mtime_ns')):
            differences.append(f'its source {source["path"]} changed since it was cached '
                               f'(size {source.get("size")} -> {stat.st_size}, modified '
                               'after the conversion)')
    if differences:
        raise CacheMismatchError(npy_path, 'cache entry does not match: '
                                           + '; '.join(differences)
                                           + ' (rebuild with tools/convert_raw_cache.py, '
                                             'which redoes such entries)')


def read_provenance(npy_path: PathLike) -> Optional[Dict]:
    """The provenance recorded in an entry's sidecar (None when absent or unreadable)."""
    try:
        with open(sidecar_path_for(npy_path), 'rb') as f:
            return json.loads(f.read().decode('utf-8')).get('provenance')
    except (OSError, ValueError, AttributeError):
        return None


def _atomic_write(path: str, write) -> None:
    directory = os.path.dirname(path) or '.'
    # a hidden, unique name in the target folder (same file system, so the rename is atomic);
    # opened with the process umask, unlike mkstemp's owner-only files
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.{os.getpid()}.'
                                  f'{uuid.uuid4().hex[:12]}.tmp')
    try:
        with open(tmp, 'xb') as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_packed_cache(npy_path: PathLike, image: np.ndarray, meta: Dict[str, Any],
                       source: Optional[PathLike] = None,
                       provenance: Optional[Dict] = None) -> None:
    """Writes one cache entry atomically.

    Args:
        npy_path: target ``.npy`` path (the sidecar goes next to it); parent folders are
            created.
        image: ``(h, w, 3)`` float image (stored as float16).
        meta: the ``raw_meta`` dict (:data:`~genisp_mmdet.raw.reader.RAW_META_FIELDS`);
            ``visible_shape`` must stay the sensor's, not the stored image's.
        source: the RAW file it came from, recorded in the sidecar.
        provenance: :func:`cache_provenance` of the conversion (an entry without one is
            refused by :func:`load_packed_cache` unless it is called with ``check=False``).
    """
    npy_path = os.fspath(npy_path)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (h, w, 3) image, got {image.shape}')
    os.makedirs(os.path.dirname(npy_path) or '.', exist_ok=True)
    array = np.ascontiguousarray(image, dtype=np.float16)
    sidecar = dict(format=CACHE_FORMAT, version=CACHE_VERSION,
                   source=None if source is None else os.fspath(source),
                   shape=list(array.shape), dtype='float16',
                   raw_meta={k: meta.get(k) for k in RAW_META_FIELDS},
                   provenance=provenance)
    # drop leftovers of an interrupted earlier write of this entry
    directory = os.path.dirname(npy_path) or '.'
    for name in os.listdir(directory):
        if name.endswith('.tmp') and any(name.startswith('.' + os.path.basename(p) + '.')
                                         for p in (npy_path, sidecar_path_for(npy_path))):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
    encoded = json.dumps(sidecar, indent=1).encode('utf-8')
    _atomic_write(npy_path, lambda f: np.save(f, array, allow_pickle=False))
    try:
        _atomic_write(sidecar_path_for(npy_path), lambda f: f.write(encoded))
    except BaseException:
        # an array without its sidecar must not survive: it would look half-done forever
        try:
            os.unlink(npy_path)
        except OSError:
            pass
        raise


def convert_to_cache(src: PathLike, npy_path: PathLike,
                     scale: Optional[Tuple[int, int]] = None, color_space: str = 'xyz',
                     on_missing_matrix: str = 'raise') -> Dict[str, Any]:
    """Decodes one RAW file with :func:`~genisp_mmdet.raw.read_raw`, fits it to ``scale``
    (:func:`resize_to_fit`) and writes the cache entry atomically.

    Returns:
        ``dict(packed_shape=[h, w], shape=[h', w'], seconds=float)``: the packed and stored
        sizes, and the wall time of the decode + pack + colour step.

    Raises:
        RawReadError: (subclasses) the RAW file cannot be decoded; nothing is written.
    """
    provenance = cache_provenance(src, scale, color_space, on_missing_matrix)
    start = time.perf_counter()
    packed = read_raw(src, color_space=color_space, on_missing_matrix=on_missing_matrix)
    seconds = time.perf_counter() - start
    image = resize_to_fit(packed.image, scale)
    write_packed_cache(npy_path, image, packed.meta, source=src, provenance=provenance)
    return dict(packed_shape=list(packed.image.shape[:2]), shape=list(image.shape[:2]),
                seconds=seconds)


def load_packed_cache(npy_path: PathLike, expected: Optional[Dict] = None,
                      check: bool = True, check_source: bool = True) -> PackedRaw:
    """Loads a cache entry written by :func:`write_packed_cache`.

    Args:
        npy_path: the entry's ``.npy``.
        expected: settings the entry must have been produced with (see
            :func:`check_provenance`), e.g. ``dict(color_space='xyz', scale=(1333, 800))``.
        check: compare the recorded provenance with this code's ``read_raw`` version, with
            ``expected`` and (``check_source``) with the source file when it exists;
            ``False`` loads any complete entry.

    Returns:
        :class:`PackedRaw` with ``image`` ``(h, w, 3)`` float32 (the stored float16 widened)
        and ``meta`` the stored ``raw_meta``.

    Raises:
        RawFileNotFoundError: the ``.npy`` or its sidecar is missing (an interrupted
            conversion leaves no sidecar).
        TruncatedRawError: the array or sidecar cannot be parsed or disagree in shape.
        CacheMismatchError: (with ``check``) the entry is stale or was made with other
            settings.
    """
    npy_path = os.fspath(npy_path)
    json_path = sidecar_path_for(npy_path)
    for p in (npy_path, json_path):
        if not os.path.isfile(p):
            raise RawFileNotFoundError(p, 'no such packed-RAW cache file (run '
                                          'tools/convert_raw_cache.py)')
    try:
        with open(json_path, 'rb') as f:
            sidecar = json.loads(f.read().decode('utf-8'))
        meta = sidecar['raw_meta']
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TruncatedRawError(json_path, f'corrupt packed-RAW sidecar ({e})') from e
    if check:
        check_provenance(npy_path, sidecar.get('provenance'), expected, check_source)
    try:
        # mapped, not read: the widening below reads the file's pages once, straight from the
        # page cache (no float16 copy in between; 0.9 vs 1.5 ms for a 1333x703 entry).
        # Copy-on-write, so the array is writable as torch.from_numpy wants, and never
        # writes back to the file.
        array = np.load(npy_path, mmap_mode='c', allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise TruncatedRawError(npy_path, f'corrupt packed-RAW array ({e})') from e
    expected = sidecar.get('shape', list(array.shape))
    if array.ndim != 3 or array.shape[2] != 3 or list(array.shape) != expected:
        raise TruncatedRawError(npy_path, f'packed-RAW array has shape {array.shape}, sidecar '
                                          f'says {sidecar.get("shape")}')
    if not isinstance(meta, dict) or any(k not in meta for k in RAW_META_FIELDS):
        raise RawReadError(json_path, 'packed-RAW sidecar lacks raw_meta fields')
    return PackedRaw(image=widen_to_float32(array), meta=meta)


def widen_to_float32(array: np.ndarray) -> np.ndarray:
    """float16 -> float32, exact. torch's vectorised half conversion took 1.3 ms for a
    1333x703x3 image where NumPy's ``astype`` took 4.4 ms (the whole cache read is ~3 ms):
    measured on the project's 2-core machine, one thread each. (Imported here: the reader
    and the packing run without torch.)"""
    import torch
    return torch.from_numpy(np.ascontiguousarray(array)).float().numpy()
