"""LoadRawImageFromFile / LoadPackedRawFromFile in a full mmdet pipeline."""
import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample

from genisp_mmdet.datasets.transforms import (RAW_META_KEYS, LoadPackedRawFromFile,
                                              LoadRawImageFromFile)
from genisp_mmdet.raw import (RAW_META_FIELDS, MissingColorMatrixError, RawFileNotFoundError,
                              convert_to_cache, read_raw, resize_to_fit)
from tests.conftest import shared_path
from tests.raw.dng_writer import write_dng
from tests.raw.test_reader import D750, structured_mosaic

# The written DNG is 96x64 visible; its "rendered" frame drops 1 px per side: 94x62.
ANN_W, ANN_H = 94, 62
BOXES_ANN = [[1.0, 1.0, 11.0, 21.0], [40.0, 10.0, 90.0, 60.0]]


@pytest.fixture(scope='module')
def dng(tmp_path_factory):
    d = tmp_path_factory.mktemp('loading')
    return write_dng(d / 'scene.dng', structured_mosaic('GBRG', 64, 96), 'GBRG',
                     xyz_to_camera=D750)


def data_info(path):
    """What a COCO dataset hands the pipeline for one image."""
    return dict(img_path=str(path), img_id=7, width=ANN_W, height=ANN_H,
                instances=[dict(bbox=b, bbox_label=i, ignore_flag=0)
                           for i, b in enumerate(BOXES_ANN)])


def pipeline(loader):
    return Compose([
        loader,
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='AlignRawAnnotations'),
        dict(type='Resize', scale=(64, 48), keep_ratio=True),
        dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        dict(type='PackDetInputs', meta_keys=RAW_META_KEYS),
    ])


def test_raw_meta_keys():
    assert RAW_META_KEYS[-1] == 'raw_meta'
    assert {'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
            'flip_direction'} <= set(RAW_META_KEYS)


def test_load_raw_image_fills_the_loading_keys(dng):
    results = LoadRawImageFromFile()(dict(img_path=str(dng)))
    assert results['img'].shape == (32, 48, 3) and results['img'].dtype == np.float32
    assert results['img_shape'] == results['ori_shape'] == (32, 48)
    assert results['scale_factor'] == (1.0, 1.0)  # for pipelines without a Resize
    assert results['img_path'] == str(dng)
    assert tuple(results['raw_meta']) == RAW_META_FIELDS
    np.testing.assert_array_equal(results['img'], read_raw(dng).image)
    camera = LoadRawImageFromFile(color_space='camera')(dict(img_path=str(dng)))
    assert camera['raw_meta']['color_space'] == 'camera'


def test_raw_pipeline_end_to_end(dng):
    out = pipeline(dict(type='LoadRawImageFromFile'))(data_info(dng))
    inputs, sample = out['inputs'], out['data_samples']
    assert isinstance(inputs, torch.Tensor) and inputs.dtype == torch.float32
    assert inputs.shape == (3, 43, 64)  # packed 32x48 fitted into 64x48
    assert isinstance(sample, DetDataSample)
    meta = sample.metainfo
    assert meta['raw_meta']['visible_shape'] == [64, 96]
    assert meta['raw_meta']['color_space'] == 'xyz' and meta['flip'] is True
    # the packed image, resized and flipped, is what reaches the tensor
    packed = read_raw(dng).image
    expected = cv2.resize(packed, (64, 43), interpolation=cv2.INTER_LINEAR)[:, ::-1]
    np.testing.assert_allclose(inputs.permute(1, 2, 0).numpy(), expected, atol=1e-5)
    # boxes: annotated -> visible (+1 px crop offset) -> packed (x0.5) -> resized -> flipped
    sx, sy = 64 / 48, 43 / 32
    ann = np.array(BOXES_ANN)
    packed_boxes = (ann + 1.0) * 0.5
    resized = packed_boxes * [sx, sy, sx, sy]
    flipped = resized.copy()
    flipped[:, 0], flipped[:, 2] = 64 - resized[:, 2], 64 - resized[:, 0]
    np.testing.assert_allclose(sample.gt_instances.bboxes.tensor.numpy(), flipped, rtol=1e-5)
    assert sample.gt_instances.labels.tolist() == [0, 1]


def test_cached_pipeline_matches_raw_pipeline(dng, tmp_path):
    # the dataset keeps its RAW file names; only the image prefix moves to the cache folder
    cached_path = tmp_path / 'scene.dng'
    convert_to_cache(dng, str(cached_path) + '.npy', scale=(40, 20))
    loaded = LoadPackedRawFromFile()(dict(img_path=str(cached_path)))
    assert loaded['img'].dtype == np.float32 and loaded['img_shape'] == (20, 30)
    assert loaded['ori_shape'] == (20, 30) and loaded['scale_factor'] == (1.0, 1.0)
    assert loaded['raw_meta'] == read_raw(dng).meta
    np.testing.assert_allclose(loaded['img'], resize_to_fit(read_raw(dng).image, (40, 20)),
                               rtol=2e-3, atol=1e-3)  # float16 storage

    raw_out = pipeline(dict(type='LoadRawImageFromFile'))(data_info(dng))
    cache_out = pipeline(dict(type='LoadPackedRawFromFile'))(data_info(cached_path))
    assert cache_out['inputs'].dtype == torch.float32
    assert cache_out['inputs'].shape == (3, 43, 64)
    assert cache_out['data_samples'].metainfo['raw_meta'] == \
        raw_out['data_samples'].metainfo['raw_meta']
    # boxes land on the same scene positions whichever loader ran
    np.testing.assert_allclose(cache_out['data_samples'].gt_instances.bboxes.tensor.numpy(),
                               raw_out['data_samples'].gt_instances.bboxes.tensor.numpy(),
                               rtol=1e-4, atol=1e-3)
    # the scene's colour is the same (the cache lost only detail to its smaller size)
    torch.testing.assert_close(cache_out['inputs'].mean((1, 2)), raw_out['inputs'].mean((1, 2)),
                               rtol=0.02, atol=0.01)


def test_backend_args_read_through_mmengine_fileio(dng, tmp_path):
    loader = LoadRawImageFromFile(backend_args=dict(backend='local'))
    np.testing.assert_array_equal(loader(dict(img_path=str(dng)))['img'], read_raw(dng).image)
    with pytest.raises(RawFileNotFoundError, match='missing.NEF'):
        loader(dict(img_path=str(tmp_path / 'missing.NEF')))


def test_loader_errors_name_the_file(tmp_path):
    with pytest.raises(RawFileNotFoundError, match='absent.ARW'):
        LoadRawImageFromFile()(dict(img_path=str(tmp_path / 'absent.ARW')))
    with pytest.raises(RawFileNotFoundError, match='absent.ARW.npy'):
        LoadPackedRawFromFile()(dict(img_path=str(tmp_path / 'absent.ARW')))
    nomatrix = write_dng(tmp_path / 'nomatrix.dng', structured_mosaic('RGGB'), 'RGGB')
    with pytest.raises(MissingColorMatrixError, match='nomatrix.dng'):
        LoadRawImageFromFile()(dict(img_path=str(nomatrix)))
    with pytest.warns(UserWarning, match='nomatrix.dng'):
        out = LoadRawImageFromFile(on_missing_matrix='camera')(dict(img_path=str(nomatrix)))
    assert out['raw_meta']['color_space'] == 'camera'
    with pytest.raises(ValueError):
        LoadRawImageFromFile(color_space='srgb')


def test_real_blackmagic_through_the_pipeline():
    path = shared_path('raw-samples', 'blackmagic_pocket4k_rggb.dng')
    info = dict(img_path=str(path), img_id=0, width=4128, height=2176,
                instances=[dict(bbox=[100.0, 200.0, 300.0, 400.0], bbox_label=2,
                                ignore_flag=0)])
    out = pipeline(dict(type='LoadRawImageFromFile'))(info)
    assert out['inputs'].dtype == torch.float32 and out['inputs'].shape[0] == 3
    assert out['data_samples'].metainfo['raw_meta']['make'] == 'Blackmagic'
    assert len(out['data_samples'].gt_instances.bboxes) == 1


def fitted_pipeline(loader, interpolation='area'):
    """A pipeline that shrinks the 48x32 packed image to fit 30x20, as the RAW-NOD configs
    fit theirs to 1333x800."""
    return Compose([
        loader,
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='AlignRawAnnotations'),
        dict(type='Resize', scale=(30, 20), keep_ratio=True, interpolation=interpolation),
        dict(type='PackDetInputs', meta_keys=RAW_META_KEYS),
    ])


def test_cached_and_direct_pipelines_feed_the_model_the_same_image(dng, tmp_path):
    cached_path = tmp_path / 'scene.dng'
    convert_to_cache(dng, str(cached_path) + '.npy', scale=(30, 20))
    direct = fitted_pipeline(dict(type='LoadRawImageFromFile'))(data_info(dng))
    cached = fitted_pipeline(dict(type='LoadPackedRawFromFile', scale=(30, 20)))(
        data_info(cached_path))
    assert direct['inputs'].shape == cached['inputs'].shape == (3, 20, 30)
    # the same pixels, up to the cache's float16 rounding (relative 2^-11)
    torch.testing.assert_close(cached['inputs'], direct['inputs'], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(cached['data_samples'].gt_instances.bboxes.tensor.numpy(),
                               direct['data_samples'].gt_instances.bboxes.tensor.numpy(),
                               rtol=1e-5, atol=1e-4)
    # what this guards: a bilinear direct pipeline would show the model another picture
    bilinear = fitted_pipeline(dict(type='LoadRawImageFromFile'), 'bilinear')(data_info(dng))
    assert float((bilinear['inputs'] - cached['inputs']).abs().max()) > \
        50 * float((direct['inputs'] - cached['inputs']).abs().max())


def test_cache_entries_are_checked_against_their_settings_and_source(dng, tmp_path):
    import os
    import shutil

    from genisp_mmdet.raw import CacheMismatchError, write_packed_cache
    source = tmp_path / 'scene.dng'
    shutil.copy(dng, source)
    npy = str(source) + '.npy'
    convert_to_cache(source, npy, scale=(30, 20))
    info = dict(img_path=str(source))
    assert LoadPackedRawFromFile(scale=(20, 30))(dict(info))['img'].shape == (20, 30, 3)
    for loader, difference in (
            (LoadPackedRawFromFile(scale=(1333, 800)), r'scale \[30, 20\] \(expected '
                                                       r'\[1333, 800\]\)'),
            (LoadPackedRawFromFile(color_space='camera'), "color_space 'xyz' \\(expected "
                                                          "'camera'\\)")):
        with pytest.raises(CacheMismatchError, match=rf'scene\.dng\.npy: .*{difference}'):
            loader(dict(info))
    # the RAW file changed after the conversion: refused, even where bad files are skipped
    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(CacheMismatchError, match=f'its source {source} changed'):
        LoadPackedRawFromFile(on_error='skip')(dict(info))
    # ... unless the check is off (the cache used where the RAW files are not)
    assert LoadPackedRawFromFile(check_source=False)(dict(info))['img'].shape == (20, 30, 3)
    # an entry that records nothing (an older converter) is refused
    write_packed_cache(npy, np.zeros((2, 2, 3)), read_raw(dng).meta)
    with pytest.raises(CacheMismatchError, match='older converter'):
        LoadPackedRawFromFile()(dict(info))
