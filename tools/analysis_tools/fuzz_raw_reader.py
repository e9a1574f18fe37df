#!/usr/bin/env python
"""Fuzz the RAW reader with damaged copies of real RAW files.

    python tools/analysis_tools/fuzz_raw_reader.py FILE [FILE ...] [--mutants 150]
        [--seed 0] [--timeout 30] [--report fuzz.json]

Each file gets ``--mutants`` damaged copies, in equal shares: cut at a random byte
(``truncate``), random bytes flipped in the first 8 KiB where TIFF-based containers keep
their directories (``header``) or anywhere after it (``data``), and a block of 1-64 KiB zeroed
(``zero_block``). Every copy is read in isolation (:class:`genisp_mmdet.raw.IsolatedDecoder`,
so a LibRaw crash or hang is one outcome, not the end of the run) and classified:

* ``typed_error``: a :class:`~genisp_mmdet.raw.RawReadError` whose message names the copy;
* ``crash`` / ``hang``: the decoder died or ran past ``--timeout`` (also typed, named);
* ``image``: a finite image came back;
* ``FAIL``: anything else - an untyped exception, an error that does not name the file, a
  non-finite image, or a cut copy returned as an image (a TIFF-based file declares how long
  its data is, so a cut must be detected).

The counts per file and kind are printed (and written as JSON with ``--report``); the exit
status is 1 when any copy failed. Damage that cannot be detected is reported as ``image``:
flipped or zeroed bytes inside uncompressed image data carry no checksum.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run from a clone without `pip install -e .` too

from genisp_mmdet.raw import (DecoderCrashError, DecoderTimeoutError,  # noqa: E402
                              IsolatedDecoder, RawReadError)

KINDS = ('truncate', 'header', 'data', 'zero_block')
HEADER_BYTES = 8 * 1024  # where TIFF-based containers keep their directories


def mutate(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """One damaged copy of ``data``."""
    size = len(data)
    if kind == 'truncate':
        return data[:int(rng.integers(1, size))]
    out = bytearray(data)
    if kind in ('header', 'data'):
        low, high = (0, min(HEADER_BYTES, size)) if kind == 'header' else \
            (min(HEADER_BYTES, size - 1), size)
        for pos in rng.integers(low, high, size=int(rng.integers(1, 9))):
            out[pos] ^= int(rng.integers(1, 256))
        return bytes(out)
    if kind == 'zero_block':
        length = int(rng.integers(1024, 64 * 1024 + 1))
        start = int(rng.integers(0, max(1, size - length)))
        out[start:start + length] = bytes(min(length, size - start))
        return bytes(out)
    raise ValueError(f'unknown mutation {kind!r}')


def mutants(path: Path, count: int, seed: int) -> Iterator[Tuple[str, bytes]]:
    """``count`` ``(kind, bytes)`` copies of ``path``, the kinds in turn, deterministic."""
    data = path.read_bytes()
    rng = np.random.default_rng([seed, len(data)])
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        yield kind, mutate(data, kind, rng)


def classify(decoder: IsolatedDecoder, path: str, kind: str) -> Tuple[str, str]:
    """``(outcome, detail)`` of reading one damaged copy (see the module doc)."""
    try:
        packed = decoder.read_raw(path)
    except DecoderCrashError as e:
        return ('crash' if path in str(e) else 'FAIL'), str(e)
    except DecoderTimeoutError as e:
        return ('hang' if path in str(e) else 'FAIL'), str(e)
    except RawReadError as e:
        return ('typed_error' if path in str(e) else 'FAIL'), f'{type(e).__name__}: {e.reason}'
    except Exception as e:  # noqa: BLE001 - an untyped error is exactly what this looks for
        return 'FAIL', f'untyped {type(e).__name__}: {e}'
    if not np.isfinite(packed.image).all():
        return 'FAIL', 'non-finite values in the image'
    if kind == 'truncate':
        return 'FAIL', 'a cut copy was returned as an image'
    return 'image', ''


def fuzz(files: List[Path], count: int, seed: int, timeout: float,
         workdir: Optional[str] = None) -> Dict:
    """Reads ``count`` damaged copies of each file; returns the counts and the failures."""
    counts: Dict[str, Dict[str, Counter]] = {}
    failures: List[Dict] = []
    decoder = IsolatedDecoder(timeout)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        try:
            for source in files:
                per_kind = counts.setdefault(source.name, {k: Counter() for k in KINDS})
                for i, (kind, data) in enumerate(mutants(source, count, seed)):
                    copy = os.path.join(tmp, f'{i:04d}_{kind}{source.suffix}')
                    Path(copy).write_bytes(data)
                    outcome, detail = classify(decoder, copy, kind)
                    per_kind[kind][outcome] += 1
                    if outcome == 'FAIL':
                        failures.append(dict(file=source.name, mutant=i, kind=kind,
                                             size=len(data), detail=detail))
                    os.unlink(copy)
        finally:
            decoder.close()
    return dict(seed=seed, mutants_per_file=count,
                counts={f: {k: dict(c) for k, c in kinds.items()}
                        for f, kinds in counts.items()},
                failures=failures, decoder_starts=decoder.starts)


def summary_lines(result: Dict) -> List[str]:
    outcomes = ('typed_error', 'image', 'crash', 'hang', 'FAIL')
    lines = [f'{"file / damage":40s} ' + ' '.join(f'{o:>11s}' for o in outcomes)]
    total = Counter()
    for name, kinds in result['counts'].items():
        for kind, c in kinds.items():
            total.update(c)
            lines.append(f'{name + " / " + kind:40s} '
                         + ' '.join(f'{c.get(o, 0):11d}' for o in outcomes))
    lines.append(f'{"all":40s} ' + ' '.join(f'{total.get(o, 0):11d}' for o in outcomes))
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('files', nargs='+', type=Path)
    parser.add_argument('--mutants', type=int, default=150, help='damaged copies per file')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='seconds one copy may take to decode before it counts as a hang')
    parser.add_argument('--report', type=Path, default=None, help='write the result as JSON')
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        parser.error(f'no such file: {", ".join(missing)}')
    result = fuzz(args.files, args.mutants, args.seed, args.timeout)
    print('\n'.join(summary_lines(result)))
    for failure in result['failures']:
        print(f'FAIL {failure["file"]} mutant {failure["mutant"]} ({failure["kind"]}, '
              f'{failure["size"]} bytes): {failure["detail"]}', file=sys.stderr)
    if args.report:
        args.report.write_text(json.dumps(result, indent=1))
    return 1 if result['failures'] else 0


if __name__ == '__main__':
    sys.exit(main())
