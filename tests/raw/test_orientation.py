"""A RAW file's recorded orientation (EXIF Orientation -> LibRaw sizes.flip): the packed image
and its visible frame come out as LibRaw renders them, so boxes drawn on a rendering of a
portrait shot land on their objects."""
import numpy as np
import pytest
import rawpy
from mmcv.transforms import Compose

from genisp_mmdet.raw import orient_packed, read_raw
from tests.raw.dng_writer import write_dng

H, W = 48, 80  # sensor frame (landscape)
PATCH = (slice(8, 20), slice(50, 70))  # a bright patch, sensor coordinates


def mosaic():
    rng = np.random.default_rng(3)
    bayer = rng.integers(200, 600, size=(H, W)).astype(np.uint16)
    bayer[PATCH] = 3500
    return bayer


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp('orientation')
    return {o: write_dng(d / f'o{o}.dng', mosaic(), 'RGGB', xyz_to_camera=np.eye(3),
                         orientation=o) for o in (1, 3, 6, 8)}


#: EXIF orientation -> how a viewer turns the sensor image (numpy rot90 count, CCW)
ROT90 = {1: 0, 3: 2, 6: -1, 8: 1}


@pytest.mark.parametrize('orientation', [3, 6, 8])
def test_packed_image_is_turned_as_recorded(files, orientation):
    upright = read_raw(files[1], color_space='camera')
    turned = read_raw(files[orientation], color_space='camera')
    np.testing.assert_array_equal(turned.image, np.rot90(upright.image, ROT90[orientation]))
    expected_visible = [W, H] if orientation in (6, 8) else [H, W]
    assert turned.meta['visible_shape'] == expected_visible
    # channel-planar memory, as for an upright file
    assert turned.image.transpose(2, 0, 1).flags['C_CONTIGUOUS']


@pytest.mark.parametrize('orientation', [1, 3, 6, 8])
def test_agrees_with_libraw_rendering(files, orientation):
    """LibRaw's own half-size rendering (its flip applied) puts the patch where we do."""
    packed = read_raw(files[orientation], color_space='camera').image[..., 1]
    with rawpy.imread(str(files[orientation])) as raw:
        rendered = raw.postprocess(half_size=True, gamma=(1, 1), no_auto_bright=True,
                                   output_bps=16, user_wb=[1, 1, 1, 1],
                                   output_color=rawpy.ColorSpace.raw)[..., 1]
    assert rendered.shape == packed.shape
    assert np.corrcoef(rendered.ravel(), packed.ravel())[0, 1] > 0.99


def test_portrait_annotations_land_on_the_object(files):
    """A box around the patch as drawn on the portrait rendering (full resolution) maps onto
    the patch in the packed image."""
    pipeline = Compose([dict(type='LoadRawImageFromFile', color_space='camera'),
                        dict(type='LoadAnnotations', with_bbox=True),
                        dict(type='AlignRawAnnotations')])
    # the patch in the rendered (rotated 90 degrees clockwise, EXIF 6) frame, W x H = 48 x 80
    rows, cols = PATCH
    x0, x1 = H - rows.stop, H - rows.start
    y0, y1 = cols.start, cols.stop
    results = pipeline(dict(img_path=str(files[6]), width=H, height=W,
                            instances=[dict(bbox=[x0, y0, x1, y1], bbox_label=0,
                                            ignore_flag=0)]))
    image = results['img'][..., 1]
    assert image.shape == (W // 2, H // 2)
    bx0, by0, bx1, by1 = np.round(results['gt_bboxes'].tensor[0].numpy()).astype(int)
    inside = image[by0:by1, bx0:bx1]
    assert inside.min() > 0.8 and inside.size == 6 * 10  # all of the patch, only the patch
    assert image.mean() < 0.3


def test_invalid_flip_code():
    with pytest.raises(ValueError, match='0..7'):
        orient_packed(np.zeros((2, 2, 3), np.float32), 8)
