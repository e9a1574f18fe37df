"""Loading benchmark: our ``read_raw`` (in process and isolated) against LibRaw's decode and
ISP, the packing alone, and the packed cache (``tools/analysis_tools/benchmark.py`` runs it).
"""
from __future__ import annotations

import os
import os.path as osp
import statistics
from typing import Dict, List, Tuple

import numpy as np
import rawpy

from genisp_mmdet.raw import (RAW_EXTENSIONS, IsolatedDecoder, cache_provenance, cfa_layout,
                              load_packed_cache, pack_bayer, read_raw, resize_to_fit,
                              write_packed_cache)
from genisp_mmdet.utils import interleaved


TRAIN_SCALE = (1333, 800)
TARGET_PACK_OVERHEAD = 0.10     # read_raw may add at most 10 % to LibRaw's decode
TARGET_CACHE_SPEEDUP = 50.0     # the cache loads at least 50x faster than decoding
#: Figures measured earlier on this machine (Blackmagic DNG), shown next to the new ones.
REFERENCE_MS = dict(decode=134.0, postprocess_half=146.0, postprocess_full=431.0,
                    read_raw=155.0, npy_train=1.6)


def find_raw_files(raw_dir: str) -> List[str]:
    """RAW files (by extension) under ``raw_dir``, recursively, skipping any ``bad`` folder."""
    found = []
    for root, dirs, files in os.walk(raw_dir):
        dirs[:] = sorted(d for d in dirs if d != 'bad')
        found += [osp.join(root, f) for f in sorted(files)
                  if osp.splitext(f)[1].lower() in RAW_EXTENSIONS]
    return found


def _decode_alone(path: str) -> int:
    # rawpy.imread only opens the file; LibRaw's unpack() (the decode) runs on the first access
    # to raw_image_visible, which then views the decoded buffer. A strided checksum touches it.
    with rawpy.imread(path) as raw:
        bayer = raw.raw_image_visible
        return int(bayer[::64, ::64].sum())


def _postprocess(path: str, **kwargs) -> Tuple[int, ...]:
    with rawpy.imread(path) as raw:
        return raw.postprocess(**kwargs).shape


def _pack_args(raw: 'rawpy.RawPy'):
    """The arguments read_raw passes to pack_bayer, from an opened RawPy."""
    from genisp_mmdet.raw.reader import _color_matrix, _rgb_order
    desc = raw.color_desc.decode('ascii', 'replace').rstrip('\x00')
    layout = cfa_layout(raw.raw_pattern, desc)
    per_colour = raw.black_level_per_channel
    black = np.array([[float(per_colour[layout.color_index[y][x]]) for x in range(2)]
                      for y in range(2)])
    return layout, black, int(raw.white_level), _color_matrix(raw, _rgb_order(desc))


def time_loading(path: str, repeats: int, cache_dir: str, warmup: int = 1) -> Dict:
    """Interleaved timings (seconds) of the loading variants for one RAW file.

    Returns ``dict(path, shape, packed_shape, cache_shapes, times={variant: [s, ...]},
    cache_max_abs_err)``; raises :class:`RawReadError` when ``read_raw`` cannot read it.
    """
    packed = read_raw(path)
    stem = osp.join(cache_dir, osp.basename(path))
    cache_train, cache_full = stem + '.train.npy', stem + '.full.npy'
    train_img = resize_to_fit(packed.image, TRAIN_SCALE)
    write_packed_cache(cache_train, train_img, packed.meta, source=path,
                       provenance=cache_provenance(path, TRAIN_SCALE))
    write_packed_cache(cache_full, packed.image, packed.meta, source=path,
                       provenance=cache_provenance(path))
    # the cache must give back what read_raw gave (up to float16 rounding)
    reloaded = load_packed_cache(cache_full).image
    scale = max(1.0, float(np.abs(packed.image).max()))
    err = float(np.abs(reloaded - packed.image).max()) / scale

    held = rawpy.imread(path)  # a decoded mosaic kept open, to time the packing on its own
    bayer = held.raw_image_visible
    layout, black, white, matrix = _pack_args(held)
    # RAW-NOD's cameras (and most others) deliver 12-14 bits, where pack_bayer sums the greens
    # as integers; a 15-16-bit file is also packed as the same mosaic at 14 bits to show that
    bayer_14bit = (bayer >> 2) if white > 16383 else None
    isolated = IsolatedDecoder()
    try:
        fns = {
            'read_raw': lambda: read_raw(path),
            'read_raw_isolated': lambda: isolated.read_raw(path),
            'decode': lambda: _decode_alone(path),
            'pack': lambda: pack_bayer(bayer, layout, black, white, matrix),
            'pack_numpy': lambda: pack_bayer(bayer, layout, black, white, matrix,
                                             backend='numpy'),
            'postprocess_half': lambda: _postprocess(path, half_size=True),
            'postprocess_full': lambda: _postprocess(path),
            'cache_train': lambda: load_packed_cache(cache_train),
            'npy_train': lambda: np.load(cache_train),
            'cache_full': lambda: load_packed_cache(cache_full),
        }
        if bayer_14bit is not None:
            fns['pack_14bit'] = lambda: pack_bayer(bayer_14bit, layout, np.floor(black / 4),
                                                   white >> 2, matrix)
        faults: Dict[str, List[int]] = {}
        times = interleaved(fns, repeats, warmup=warmup, faults=faults)
    finally:
        held.close()
        isolated.close()
    return dict(path=path, shape=list(bayer.shape), packed_shape=list(packed.image.shape[:2]),
                cache_shapes=dict(train=list(train_img.shape[:2]),
                                  full=list(packed.image.shape[:2])),
                times=times, faults=faults, cache_max_rel_err=err)


def summarise_loading(result: Dict) -> Dict:
    med = {k: statistics.median(v) for k, v in result['times'].items()}
    overhead = med['read_raw'] / med['decode'] - 1.0
    speedup = med['read_raw'] / med['cache_train']
    return dict(median=med, pack_overhead=overhead, pack_share=med['pack'] / med['decode'],
                cache_speedup=speedup,
                cache_full_speedup=med['read_raw'] / med['cache_full'],
                pack_ok=overhead <= TARGET_PACK_OVERHEAD,
                cache_ok=speedup >= TARGET_CACHE_SPEEDUP)
