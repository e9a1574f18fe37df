"""Damaged RAW files: a cut file whose container declares more data than it holds raises, and
hundreds of damaged copies of real files each end in a typed error naming the copy or a finite
image (tools/analysis_tools/fuzz_raw_reader.py), never a crash, hang or untyped error."""
import struct

import numpy as np
import pytest

from genisp_mmdet.raw import TruncatedRawError, read_raw
from tests.conftest import shared_path
from tests.helpers import load_tool
from tests.raw.dng_writer import write_dng
from tests.raw.test_reader import D750, structured_mosaic

BLACKMAGIC = ('raw-samples', 'blackmagic_pocket4k_rggb.dng')


@pytest.fixture(scope='module')
def dng(tmp_path_factory):
    return write_dng(tmp_path_factory.mktemp('fuzz') / 'structured.dng',
                     structured_mosaic('GRBG', 256, 384, seed=2), 'GRBG', xyz_to_camera=D750)


def tile_end(path) -> int:
    """Where the DNG writer's one tile ends (offset + byte count), read from IFD0."""
    data = path.read_bytes()
    offset = struct.unpack_from('<I', data, 4)[0]
    entries = {}
    for k in range(struct.unpack_from('<H', data, offset)[0]):
        tag, typ, count, value = struct.unpack_from('<HHII', data, offset + 2 + 12 * k)
        entries[tag] = value
    return entries[0x0144] + entries[0x0145]


def test_a_file_cut_inside_its_declared_image_data_raises(dng, tmp_path):
    data = dng.read_bytes()
    end = tile_end(dng)
    assert end <= len(data)
    for cut in (end - 1, end - len(data) // 3):
        copy = tmp_path / f'cut_{cut}.dng'
        copy.write_bytes(data[:cut])
        with pytest.raises(TruncatedRawError, match=rf'cut_{cut}\.dng: .*declares image data '
                                                    rf'up to byte {end:,} but has {cut:,}'):
            read_raw(copy)
    copy = tmp_path / 'exact.dng'
    copy.write_bytes(data[:end])  # nothing after the data is missing: reads as the original
    np.testing.assert_array_equal(read_raw(copy).image, read_raw(dng).image)


def test_a_byte_count_running_past_the_end_raises(dng, tmp_path):
    data = bytearray(dng.read_bytes())
    offset = struct.unpack_from('<I', data, 4)[0]
    for k in range(struct.unpack_from('<H', data, offset)[0]):
        entry = offset + 2 + 12 * k
        if struct.unpack_from('<H', data, entry)[0] == 0x0145:  # TileByteCounts
            struct.pack_into('<I', data, entry + 8,
                             struct.unpack_from('<I', data, entry + 8)[0] + 4096)
    copy = tmp_path / 'long_count.dng'
    copy.write_bytes(bytes(data))
    with pytest.raises(TruncatedRawError, match='long_count.dng: RAW data is truncated'):
        read_raw(copy)


def test_the_real_dng_cut_where_libraw_stayed_silent_raises(tmp_path):
    """LibRaw decodes this DNG cut at 1,700,000 of its 3,359,616 bytes without an error
    (every row different from the intact file's)."""
    data = shared_path(*BLACKMAGIC).read_bytes()
    copy = tmp_path / 'blackmagic_cut.dng'
    copy.write_bytes(data[:1_700_000])
    with pytest.raises(TruncatedRawError, match='blackmagic_cut.dng: .*up to byte 3,359,558 '
                                                'but has 1,700,000 bytes'):
        read_raw(copy)


def check_fuzz(files, count, seed):
    tool = load_tool('analysis_tools/fuzz_raw_reader')
    result = tool.fuzz(files, count, seed, timeout=60.0)
    print('\n'.join(tool.summary_lines(result)))
    assert result['failures'] == []
    for name, kinds in result['counts'].items():
        assert sum(sum(c.values()) for c in kinds.values()) == count
        # every cut copy is refused (a FAIL otherwise), and the refusals are typed
        cut = sum(kinds['truncate'].values())
        assert cut >= count // 4 and kinds['truncate'].get('typed_error', 0) \
            + kinds['truncate'].get('crash', 0) == cut
    return result


def test_fuzzed_copies_of_a_written_dng(dng):
    result = check_fuzz([dng], 120, seed=0)
    # flipped bytes in uncompressed data carry no checksum: most of those copies decode
    assert result['counts'][dng.name]['data'].get('image', 0) > 0


def test_fuzzed_copies_of_real_raw_files():
    files = [shared_path(*BLACKMAGIC),
             shared_path('raw-samples', 'bad', 'kodak_c330_yrgb.raw')]
    check_fuzz(files, 150, seed=0)
