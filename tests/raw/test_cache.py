"""The packed float16 cache and tools/convert_raw_cache.py."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from genisp_mmdet.raw import (RAW_META_FIELDS, CacheMismatchError, RawFileNotFoundError,
                              TruncatedRawError, cache_path_for, cache_provenance, fit_size,
                              is_cached, load_packed_cache, read_raw, resize_to_fit,
                              sidecar_path_for, write_packed_cache)
from tests.conftest import REPO_ROOT
from tests.raw.dng_writer import write_dng
from tests.raw.test_reader import D750, structured_mosaic
from tests.helpers import load_tool

TOOL = REPO_ROOT / 'tools' / 'convert_raw_cache.py'


@pytest.fixture
def raw_folder(tmp_path):
    src = tmp_path / 'raw'
    (src / 'night').mkdir(parents=True)
    for i, cfa in enumerate(('RGGB', 'BGGR', 'GRBG')):
        folder = src / 'night' if i == 2 else src
        write_dng(folder / f'img{i}.dng', structured_mosaic(cfa, 64, 96, seed=i), cfa,
                  xyz_to_camera=D750)
    (src / 'notes.txt').write_text('not a raw file, not a RAW extension either')
    return src


def test_paths():
    assert cache_path_for('a/DSC1.ARW') == 'a/DSC1.ARW.npy'
    assert cache_path_for('a/DSC1.ARW.npy') == 'a/DSC1.ARW.npy'
    assert sidecar_path_for('a/DSC1.ARW.npy') == 'a/DSC1.ARW.json'


@pytest.mark.parametrize('shape, scale, expected', [
    ((1836, 2748), (1333, 800), (800, 1197)),   # Sony packed: short edge limits
    ((2016, 3016), (800, 1333), (800, 1197)),   # scale given in either order
    ((1088, 2064), (1333, 800), (703, 1333)),   # Blackmagic packed: long edge limits
    ((300, 400), (1333, 800), (300, 400)),      # never enlarged
])
def test_fit_size(shape, scale, expected):
    assert fit_size(*shape, scale) == expected


def test_roundtrip_keeps_meta_and_float16_precision(tmp_path, raw_folder):
    packed = read_raw(raw_folder / 'img0.dng')
    small = resize_to_fit(packed.image, (40, 20))
    assert small.shape == (20, 30, 3)
    npy = tmp_path / 'c' / 'img0.dng.npy'
    write_packed_cache(npy, small, packed.meta, source=raw_folder / 'img0.dng',
                       provenance=cache_provenance(raw_folder / 'img0.dng', (40, 20)))
    assert np.load(npy).dtype == np.float16 and is_cached(npy)
    loaded = load_packed_cache(npy)
    assert loaded.image.dtype == np.float32 and loaded.image.shape == (20, 30, 3)
    np.testing.assert_allclose(loaded.image, small, rtol=1e-3, atol=1e-4)
    assert loaded.meta == packed.meta and tuple(loaded.meta) == RAW_META_FIELDS
    assert loaded.meta['visible_shape'] == [64, 96]  # the sensor's, not the stored size
    assert not [p for p in os.listdir(npy.parent) if p.endswith('.tmp')]
    # area resize of a linear image preserves the mean
    np.testing.assert_allclose(small.mean((0, 1)), packed.image.mean((0, 1)), rtol=1e-4)


def test_missing_or_corrupt_entries(tmp_path):
    npy = tmp_path / 'x.ARW.npy'
    with pytest.raises(RawFileNotFoundError, match='x.ARW.npy'):
        load_packed_cache(npy)
    np.save(npy, np.zeros((2, 2, 3), np.float16))
    with pytest.raises(RawFileNotFoundError, match='x.ARW.json'):  # interrupted: no sidecar
        load_packed_cache(npy)
    meta = dict.fromkeys(RAW_META_FIELDS)
    write_packed_cache(npy, np.zeros((2, 2, 3)), meta)
    npy.write_bytes(npy.read_bytes()[:40])
    with pytest.raises(CacheMismatchError, match='x.ARW.npy: written by an older converter'):
        load_packed_cache(npy)  # no provenance recorded: refused before anything else
    with pytest.raises(TruncatedRawError, match='x.ARW.npy'):
        load_packed_cache(npy, check=False)


def test_failed_sidecar_write_leaves_no_array(tmp_path, monkeypatch):
    from genisp_mmdet.raw import cache
    npy = tmp_path / 'y.NEF.npy'
    real = cache._atomic_write

    def fail_on_json(path, write):
        if path.endswith('.json'):
            raise OSError('disk full')
        real(path, write)
    monkeypatch.setattr(cache, '_atomic_write', fail_on_json)
    with pytest.raises(OSError, match='disk full'):
        write_packed_cache(npy, np.zeros((2, 2, 3)), dict.fromkeys(RAW_META_FIELDS))
    assert os.listdir(tmp_path) == []


def test_converter_folder_resume_and_failures(tmp_path, raw_folder, capsys):
    tool = load_tool('convert_raw_cache')
    out = tmp_path / 'cache'
    assert tool.main([str(raw_folder), str(out), '--scale', '40x20', '--workers', '1']) == 0
    entries = sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file())
    assert entries == ['img0.dng.json', 'img0.dng.npy', 'img1.dng.json', 'img1.dng.npy',
                       'night/img2.dng.json', 'night/img2.dng.npy']
    assert load_packed_cache(out / 'night' / 'img2.dng.npy').image.shape == (20, 30, 3)
    text = capsys.readouterr().out
    assert '3 to convert' in text and 'faster' in text

    # second run, same settings: everything is skipped
    mtime = (out / 'img0.dng.npy').stat().st_mtime_ns
    assert tool.main([str(raw_folder), str(out), '--scale', '40x20', '--workers', '1',
                      '--no-benchmark']) == 0
    assert '3 already cached, 0 to convert' in capsys.readouterr().out
    assert (out / 'img0.dng.npy').stat().st_mtime_ns == mtime

    # a RAW file rewritten since (another shot under the same name): that entry is redone
    os.utime(raw_folder / 'img1.dng', ns=(mtime + 10**9, mtime + 10**9))
    assert tool.main([str(raw_folder), str(out), '--scale', '40x20', '--workers', '1',
                      '--no-benchmark']) == 0
    text = capsys.readouterr().out
    assert '2 already cached, 1 to convert' in text
    assert 'img1.dng.npy: cache entry does not match: its source' in text
    assert (out / 'img0.dng.npy').stat().st_mtime_ns == mtime

    # other settings: every entry is redone, and says why
    assert tool.main([str(raw_folder), str(out), '--scale', '60x30', '--workers', '1',
                      '--no-benchmark']) == 0
    text = capsys.readouterr().out
    assert '0 already cached, 3 to convert' in text and "scale [40, 20] (expected [60, 30])" \
        in text
    assert load_packed_cache(out / 'img0.dng.npy', dict(scale=(60, 30))).image.shape[1] == 45
    assert tool.main([str(raw_folder), str(out), '--scale', '60x30', '--workers', '1',
                      '--no-benchmark', '--force']) == 0
    assert '0 already cached, 3 to convert' in capsys.readouterr().out

    # a corrupt RAW file is reported with its error, the run fails, nothing partial is left
    good = (raw_folder / 'img1.dng').read_bytes()
    (raw_folder / 'broken.dng').write_bytes(good[:len(good) // 2])
    assert tool.main([str(raw_folder), str(out), '--workers', '1', '--no-benchmark']) == 1
    err = capsys.readouterr().err
    assert 'broken.dng: TruncatedRawError' in err
    assert not list(out.glob('broken*')) and not list(out.rglob('*.tmp'))


def test_converter_coco_json_with_workers_cli(tmp_path, raw_folder):
    """The real command line with 2 spawned workers, a COCO json source and a bad file."""
    (raw_folder / 'fake.ARW').write_bytes(b'II*\x00\x08\x00\x00\x00\x00\x00')
    coco = dict(images=[dict(id='a', file_name='img0.dng', width=96, height=64),
                        dict(id='b', file_name='night/img2.dng', width=96, height=64),
                        dict(id='c', file_name='fake.ARW', width=96, height=64)],
                annotations=[], categories=[])
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(coco))
    out = tmp_path / 'cache'
    proc = subprocess.run([sys.executable, str(TOOL), str(ann), str(out), '--img-root',
                           str(raw_folder), '--workers', '2', '--scale', 'none'],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'fake.ARW: NotRawFileError' in proc.stderr
    assert 'converted 2, skipped 0, failed 1' in proc.stdout
    assert 'faster' in proc.stdout  # the measured speed-up of the cache is printed
    assert is_cached(out / 'img0.dng.npy') and is_cached(out / 'night' / 'img2.dng.npy')
    assert not list(out.glob('fake*'))
    assert load_packed_cache(out / 'img0.dng.npy').image.shape == (32, 48, 3)


def test_converter_rejects_bad_arguments(tmp_path):
    tool = load_tool('convert_raw_cache')
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'missing'), str(tmp_path / 'out')])
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path), str(tmp_path / 'out'), '--scale', '1333by800'])


def test_converter_lists_files_that_crash_or_hang_libraw_and_converts_the_rest(tmp_path,
                                                                              raw_folder):
    from tests.helpers import libraw_sabotage_env
    good = (raw_folder / 'img0.dng').read_bytes()
    (raw_folder / 'crash_libraw.dng').write_bytes(good)
    (raw_folder / 'hang_libraw.dng').write_bytes(good)
    out = tmp_path / 'cache'
    env = dict(os.environ, **libraw_sabotage_env(tmp_path / 'site'))
    proc = subprocess.run([sys.executable, str(TOOL), str(raw_folder), str(out), '--workers',
                           '2', '--timeout', '5', '--no-benchmark'], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'converted 3, skipped 0, failed 2' in proc.stdout
    assert 'crash_libraw.dng: DecoderCrashError' in proc.stderr and 'SIGSEGV' in proc.stderr
    assert 'hang_libraw.dng: DecoderTimeoutError' in proc.stderr
    assert all(is_cached(out / rel) for rel in ('img0.dng.npy', 'img1.dng.npy',
                                                'night/img2.dng.npy'))
    assert not list(out.glob('*libraw*'))
