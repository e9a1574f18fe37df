#!/usr/bin/env python
"""Decode RAW files once into the packed float16 cache that ``LoadPackedRawFromFile`` reads.

    python tools/convert_raw_cache.py SRC_DIR_OR_COCO_JSON OUT_DIR [--scale 1333x800]
        [--workers N] [--img-root DIR] [--color-space xyz|camera]
        [--on-missing-matrix raise|camera] [--force] [--timeout S] [--no-benchmark]

* ``SRC`` is a folder (searched recursively for RAW files by extension) or a COCO json
  whose ``images[].file_name`` are resolved against ``--img-root`` (default: the json's
  folder). Each file becomes ``OUT_DIR/<relative path>.npy`` + ``.json`` (e.g.
  ``DSC01881.ARW.npy``), so a dataset switches to the cache by setting its image prefix to
  ``OUT_DIR`` and its loader to ``LoadPackedRawFromFile``.
* ``--scale WxH`` fits each packed image inside the training scale keeping its aspect ratio
  (long edge <= max, short edge <= min, like ``Resize(scale=..., keep_ratio=True)``), never
  enlarging; ``--scale none`` stores the full packed resolution.
* Resumable: complete entries (``.npy`` and ``.json``) made from the same state of their file
  with the same settings and reader version are skipped, others are rebuilt (``--force``
  rebuilds all); every file is written under a temporary name and renamed, the ``.json``
  last, so an interrupted run never leaves an entry that looks complete.
* Failures are listed per file with their error, and the exit status is 1 if any file
  failed (0 otherwise). Each worker decodes in its own child process
  (``genisp_mmdet.raw.IsolatedDecoder``): a file that crashes LibRaw or hangs it longer than
  ``--timeout`` seconds is one failure, named, and the other files are still converted.
* At the end the time to load one cached entry is compared with decoding its RAW file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import List, Optional, Tuple

from tqdm import tqdm

from genisp_mmdet.raw import (RAW_EXTENSIONS, CacheMismatchError, IsolatedDecoder,
                              RawReadError, cache_path_for, check_provenance, is_cached,
                              load_packed_cache, read_provenance, read_raw)
from genisp_mmdet.utils import median_seconds

Task = Tuple[str, str]  # (RAW source path, cache .npy path)


def parse_scale(text: str) -> Optional[Tuple[int, int]]:
    if text.lower() in ('none', 'full', '0'):
        return None
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--scale must look like 1333x800 or none, got '
                                         f'{text!r}') from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f'--scale must be positive, got {text!r}')
    return w, h


def collect_tasks(src: Path, out: Path, img_root: Optional[Path]) -> List[Task]:
    """``(raw path, cache path)`` for every RAW file of a folder or COCO json, sorted."""
    if src.is_dir():
        rels = sorted(p.relative_to(src) for p in src.rglob('*')
                      if p.is_file() and p.suffix.lower() in RAW_EXTENSIONS)
        root = src
    else:
        with open(src, encoding='utf-8') as f:
            coco = json.load(f)
        root = img_root if img_root is not None else src.parent
        rels = sorted({Path(img['file_name']) for img in coco['images']})
    return [(str(root / rel), cache_path_for(out / rel)) for rel in rels]


def _run(jobs, workers: int, timeout: float):
    """Yields ``(src, info, error)`` per job as they finish.

    Each worker thread drives its own decoder process (:class:`IsolatedDecoder`): a file that
    crashes or hangs LibRaw fails alone, named, and the other files are converted.
    """
    local = threading.local()
    decoders: List[IsolatedDecoder] = []

    def convert(job):
        src, dst, scale, color_space, on_missing = job
        if not hasattr(local, 'decoder'):
            local.decoder = IsolatedDecoder(timeout)
            decoders.append(local.decoder)
        try:
            return src, local.decoder.convert_to_cache(src, dst, scale, color_space,
                                                       on_missing), None
        except RawReadError as e:  # the reason without the path, which the report prints
            return src, None, f'{type(e).__name__}: {e.reason}'
        except (OSError, ValueError) as e:  # e.g. the cache folder cannot be written
            return src, None, f'{type(e).__name__}: {e}'

    try:
        with ThreadPoolExecutor(workers) as pool:
            yield from (f.result() for f in as_completed([pool.submit(convert, job)
                                                          for job in jobs]))
    finally:
        for decoder in decoders:
            decoder.close()


def benchmark(task: Task, color_space: str, on_missing: str) -> Tuple[float, float]:
    """Median seconds to decode the RAW file vs. to load its cache entry."""
    src, dst = task
    decode = median_seconds(lambda: read_raw(src, color_space=color_space,
                                              on_missing_matrix=on_missing), 3)
    load = median_seconds(lambda: load_packed_cache(dst), 5)
    return decode, load


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', type=Path, help='folder of RAW files, or a COCO json')
    parser.add_argument('out', type=Path, help='cache folder')
    parser.add_argument('--scale', type=parse_scale, default=(1333, 800),
                        help='fit inside WxH keeping the aspect ratio (default 1333x800); '
                             '"none" keeps the packed resolution')
    parser.add_argument('--workers', type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument('--img-root', type=Path, default=None,
                        help='folder the COCO file_names are relative to (default: the '
                             "json's folder)")
    parser.add_argument('--color-space', choices=('xyz', 'camera'), default='xyz')
    parser.add_argument('--on-missing-matrix', choices=('raise', 'camera'), default='raise')
    parser.add_argument('--force', action='store_true',
                        help='rebuild every entry (entries made with other settings, from an '
                             'older state of their file or by older code are rebuilt anyway)')
    parser.add_argument('--timeout', type=float, default=120.0,
                        help='seconds one file may take before its decoder is stopped and '
                             'the file listed as failed (default 120)')
    parser.add_argument('--no-benchmark', action='store_true',
                        help='skip timing a cached load against a decode at the end')
    args = parser.parse_args(argv)

    if not args.src.exists():
        parser.error(f'{args.src} does not exist')
    tasks = collect_tasks(args.src, args.out, args.img_root)
    expected = dict(color_space=args.color_space, on_missing_matrix=args.on_missing_matrix,
                    scale=args.scale)
    todo, stale = [], []
    for task in tasks:
        if args.force or not is_cached(task[1]):
            todo.append(task)
            continue
        try:
            check_provenance(task[1], read_provenance(task[1]), expected)
        except CacheMismatchError as e:
            todo.append(task)
            stale.append((task[1], e.reason))
    print(f'{len(tasks)} RAW files, {len(tasks) - len(todo)} already cached, '
          f'{len(todo)} to convert into {args.out}'
          + (f' ({len(stale)} cached with other settings or from an older file state, '
             'rebuilt)' if stale else '') + (' (--force)' if args.force else ''))
    for npy, reason in stale[:5]:
        print(f'  rebuilding {npy}: {reason}')
    if len(stale) > 5:
        print(f'  ... and {len(stale) - 5} more')

    failures: List[Tuple[str, str]] = []
    decode_times: List[float] = []
    jobs = [(src, dst, args.scale, args.color_space, args.on_missing_matrix)
            for src, dst in todo]
    workers = max(1, min(args.workers, len(jobs)))
    with tqdm(total=len(jobs), unit='file', dynamic_ncols=True) as bar:
        for src, info, error in _run(jobs, workers, args.timeout):
            if error is None:
                decode_times.append(info['seconds'])
            else:
                failures.append((src, error))
                bar.write(f'FAILED {src}: {error}', file=sys.stderr)
            bar.update(1)

    done = len(jobs) - len(failures)
    print(f'converted {done}, skipped {len(tasks) - len(todo)}, failed {len(failures)}')
    if decode_times:
        print(f'mean decode + pack + colour time per file: '
              f'{1e3 * sum(decode_times) / len(decode_times):.1f} ms')
    if not args.no_benchmark:
        cached = [t for t in tasks if is_cached(t[1])]
        if cached:
            try:
                decode, load = benchmark(cached[0], args.color_space, args.on_missing_matrix)
                print(f'speed-up of the cache on {cached[0][0]}: decode {1e3 * decode:.1f} ms, '
                      f'cached load {1e3 * load:.1f} ms -> {decode / load:.1f}x faster')
            except Exception as e:  # noqa: BLE001 - the timing is informative only
                print(f'cache speed-up not measured ({type(e).__name__}: {e})')
    if failures:
        print(f'{len(failures)} file(s) failed:', file=sys.stderr)
        for src, error in failures:
            print(f'  {src}: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
