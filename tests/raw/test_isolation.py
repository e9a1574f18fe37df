"""IsolatedDecoder: a file that crashes or hangs LibRaw costs that file, named, not the
process; everything else is exactly what read_raw gives."""
import os

import numpy as np
import pytest

from genisp_mmdet.datasets.transforms import LoadRawImageFromFile
from genisp_mmdet.raw import (DecoderCrashError, DecoderTimeoutError, IsolatedDecoder,
                              NotRawFileError, RawFileNotFoundError, TruncatedRawError,
                              read_raw)
from tests.helpers import demo_dngs, libraw_sabotage_env


@pytest.fixture(scope='module')
def dngs(tmp_path_factory):
    return demo_dngs(tmp_path_factory.mktemp('iso'), num_test=2, width=64, height=48)


@pytest.fixture
def sabotaged(dngs, tmp_path, monkeypatch):
    """Copies of a readable DNG that crash / hang LibRaw in new processes."""
    for key, value in libraw_sabotage_env(tmp_path / 'site').items():
        monkeypatch.setenv(key, value)
    data = dngs[0].read_bytes()
    files = {}
    for name in ('crash_libraw.dng', 'hang_libraw.dng'):
        (tmp_path / name).write_bytes(data)
        files[name.split('_')[0]] = str(tmp_path / name)
    return files


def test_results_and_errors_are_those_of_read_raw(dngs, tmp_path):
    decoder = IsolatedDecoder()
    try:
        for path in dngs:
            direct, isolated = read_raw(path), decoder.read_raw(path)
            np.testing.assert_array_equal(isolated.image, direct.image)
            assert isolated.meta == direct.meta
            # the same channel-planar layout, so it becomes a CHW tensor without a copy
            assert isolated.image.transpose(2, 0, 1).flags.c_contiguous
        camera = decoder.read_raw(dngs[0], color_space='camera')
        np.testing.assert_array_equal(camera.image, read_raw(dngs[0], color_space='camera').image)
        cut = tmp_path / 'cut.dng'
        cut.write_bytes(dngs[0].read_bytes()[:3000])
        text = tmp_path / 'text.dng'
        text.write_text('no raw here')
        for path, error in ((cut, TruncatedRawError), (text, NotRawFileError),
                            (tmp_path / 'missing.dng', RawFileNotFoundError)):
            with pytest.raises(error, match=os.path.basename(path)):
                decoder.read_raw(path)
        with pytest.raises(ValueError, match='color_space must be one of'):
            decoder.read_raw(dngs[0], color_space='srgb')
        assert decoder.starts == 1  # ordinary errors do not cost the decoder process
    finally:
        decoder.close()


def test_a_crash_names_the_file_and_the_next_file_decodes(dngs, sabotaged):
    decoder = IsolatedDecoder()
    try:
        with pytest.raises(DecoderCrashError, match=r'crash_libraw\.dng.*SIGSEGV'):
            decoder.read_raw(sabotaged['crash'])
        np.testing.assert_array_equal(decoder.read_raw(dngs[1]).image, read_raw(dngs[1]).image)
        assert decoder.starts == 2
    finally:
        decoder.close()


def test_a_hang_is_stopped_after_the_timeout(dngs, sabotaged):
    decoder = IsolatedDecoder(timeout=5.0)
    try:
        decoder.read_raw(dngs[0])  # started: the timeout now covers the decode alone
        with pytest.raises(DecoderTimeoutError, match=r'hang_libraw\.dng.*longer than 5 s'):
            decoder.read_raw(sabotaged['hang'])
        assert decoder.read_raw(dngs[1]).image.shape == read_raw(dngs[1]).image.shape
        assert decoder.starts == 2
    finally:
        decoder.close()


def test_loader_skips_a_crashing_file_in_a_dataloader_worker(dngs, sabotaged, tmp_path,
                                                             monkeypatch):
    """DataLoader workers are daemonic (no multiprocessing children): the decoder is a plain
    subprocess, so isolation works there too, and the crash is a skipped, named file."""
    import json

    import torch.utils.data as tud

    from genisp_mmdet.datasets.bad_files import BAD_FILES_ENV
    record = tmp_path / 'bad.jsonl'
    monkeypatch.setenv(BAD_FILES_ENV, str(record))
    load = LoadRawImageFromFile(on_error='skip', isolate=True)
    paths = [str(dngs[0]), sabotaged['crash'], str(dngs[1])]

    class Files(tud.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            out = load(dict(img_path=paths[i]))
            return None if out is None else tuple(out['img'].shape)

    got = list(tud.DataLoader(Files(), batch_size=None, num_workers=1,
                              collate_fn=lambda sample: sample))
    assert got[0] == got[2] == read_raw(dngs[0]).image.shape and got[1] is None
    entry = json.loads(record.read_text())
    assert entry['file'] == sabotaged['crash'] and entry['error'] == 'DecoderCrashError'
