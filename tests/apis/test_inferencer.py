"""GenISPInferencer: the same detections as the runner's test step, boxes in the RAW file's own
frame, packed arrays, unreadable files reported without stopping, weights that do not fit."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from genisp_mmdet.apis import (GenISPInferencer, RawInferenceFailure, RawInferenceResult,
                               expand_raw_inputs)
from genisp_mmdet.raw import NotRawFileError, read_raw
from tests.helpers import DEMO_CONFIG, KEEP_ALL, demo_dngs, save_genisp_checkpoint


def canonical(bboxes, scores, labels):
    """Detections as rows (label, score, box) in a fixed order: an untrained detector's
    near-tied scores come out in batch-dependent order."""
    rows = np.column_stack([labels, np.round(scores, 4), np.round(bboxes, 1)])
    return rows[np.lexsort(rows.T[::-1])]


@pytest.fixture(scope='module')
def dngs(tmp_path_factory):
    return demo_dngs(tmp_path_factory.mktemp('demo'), num_test=3)


@pytest.fixture(scope='module')
def inferencer(tmp_path_factory):
    checkpoint = save_genisp_checkpoint(tmp_path_factory.mktemp('ckpt') / 'genisp.pth')
    return GenISPInferencer(DEMO_CONFIG, checkpoint, 'cpu', cfg_options=KEEP_ALL)


def test_detections_are_the_runners_test_step_in_the_raw_frame(inferencer, dngs):
    results = inferencer([str(p) for p in dngs], batch_size=2, return_isp_params=True)
    assert [r.source for r in results] == [str(p) for p in dngs]
    model = inferencer.model
    for path, result in zip(dngs, results):
        batch = pseudo_collate([inferencer.pipeline(dict(img_path=str(path), img_id=0))])
        with torch.no_grad():
            expected = model.test_step(batch)[0].pred_instances
        assert len(result.scores) == len(expected.scores) > 0
        # the DNGs are 128x96 sensors: packed 64x48, so the boxes double into the RAW frame
        assert result.frame_shape == (96, 128)
        np.testing.assert_allclose(
            canonical(result.bboxes, result.scores, result.labels),
            canonical(expected.bboxes.numpy() * 2, expected.scores.numpy(),
                      expected.labels.numpy()), rtol=1e-4, atol=1e-3)
        with torch.no_grad():
            params = model.data_preprocessor.isp.forward_with_params(batch['inputs'][0][None])
        np.testing.assert_allclose(result.isp_params['wb_gains'], params['wb_gains'][0],
                                   rtol=1e-5)
        np.testing.assert_allclose(result.isp_params['cc_matrix'], params['cc_matrix'][0],
                                   rtol=1e-5, atol=1e-6)
        # a moved parameter net: the gains are not the identity's
        assert not np.allclose(result.isp_params['wb_gains'], 1.0, atol=1e-2)
    assert set(results[0].classes) == {'red_disc', 'blue_disc', 'square', 'triangle'}


def test_rendering_is_what_the_detector_saw(inferencer, dngs):
    result = inferencer(str(dngs[0]), return_rendering=True)[0]
    assert result.rendering.dtype == np.uint8 and result.rendering.shape == (48, 64, 3)
    assert result.rendering_scale == (0.5, 0.5)
    data = inferencer.load(str(dngs[0]))
    with torch.no_grad():
        rendered = inferencer.model.data_preprocessor.render([data['inputs']])[0]
    expected = (rendered.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(result.rendering, expected)
    assert result.rendering.std() > 1  # an image, not a flat fill


def test_packed_arrays_give_the_files_result(inferencer, dngs):
    path = str(dngs[1])
    from_file = inferencer(path)[0]
    packed = read_raw(path)
    from_packed = inferencer(packed)[0]  # PackedRaw keeps the visible frame
    np.testing.assert_allclose(from_packed.bboxes, from_file.bboxes, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(from_packed.labels, from_file.labels)
    assert from_packed.frame_shape == from_file.frame_shape
    from_array = inferencer(np.ascontiguousarray(packed.image))[0]  # only the array's frame
    assert from_array.source == '<array 0>' and from_array.frame_shape == (48, 64)
    np.testing.assert_allclose(from_array.bboxes * 2, from_file.bboxes, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match=r'\(H, W, 3\) float'):
        inferencer(np.zeros((48, 64), np.float32))


def test_unreadable_files_are_reported_and_the_rest_goes_on(inferencer, dngs, tmp_path):
    fake = tmp_path / 'fake.arw'
    fake.write_bytes(b'definitely not a RAW file, just text....')
    items = [str(dngs[0]), str(fake), str(dngs[1])]
    results = list(inferencer.iter_results(items, batch_size=2))
    assert isinstance(results[1], RawInferenceFailure)
    assert results[1].source == str(fake) and str(fake) in results[1].error
    assert results[1].error_type == 'NotRawFileError'
    alone = inferencer([str(dngs[0]), str(dngs[1])])
    for got, want in zip((results[0], results[2]), alone):
        assert isinstance(got, RawInferenceResult) and got.source == want.source
        np.testing.assert_allclose(canonical(got.bboxes, got.scores, got.labels),
                                   canonical(want.bboxes, want.scores, want.labels),
                                   rtol=1e-4, atol=1e-3)
    with pytest.raises(NotRawFileError, match='fake.arw'):  # the API call itself raises
        inferencer(items)


def test_loading_in_worker_processes_gives_the_same_results(inferencer, dngs):
    serial = list(inferencer.iter_results([str(p) for p in dngs], batch_size=2))
    parallel = list(inferencer.iter_results([str(p) for p in dngs], batch_size=2,
                                            num_workers=2))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(canonical(a.bboxes, a.scores, a.labels),
                                      canonical(b.bboxes, b.scores, b.labels))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'data_preprocessor.isp.something_else': torch.zeros(1)}), path)
    with pytest.raises(ValueError, match='other.pth does not fit'):
        GenISPInferencer(DEMO_CONFIG, str(path), 'cpu')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        GenISPInferencer(DEMO_CONFIG, str(tmp_path / 'missing.pth'), 'cpu')


def test_expand_raw_inputs(tmp_path):
    nested = tmp_path / 'a' / 'b'
    nested.mkdir(parents=True)
    (nested / 'x.ARW').write_bytes(b'1')
    (nested / 'notes.txt').write_text('not raw')
    (tmp_path / 'y.dng').write_bytes(b'2')
    found = expand_raw_inputs([str(tmp_path), str(tmp_path / '*.dng')])
    assert found == sorted({str(nested / 'x.ARW'), str(tmp_path / 'y.dng')})
    assert expand_raw_inputs([str(tmp_path / '**' / '*.ARW')]) == [str(nested / 'x.ARW')]
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as info:
        expand_raw_inputs([str(empty), str(tmp_path / 'nope.nef'), str(tmp_path)])
    assert 'empty' in str(info.value) and 'nope.nef' in str(info.value)


def test_a_real_camera_file(shared, inferencer):
    path = shared('raw-samples', 'blackmagic_pocket4k_rggb.dng')
    result = inferencer(str(path), return_rendering=True, return_isp_params=True)[0]
    visible = read_raw(path).meta['visible_shape']
    assert result.frame_shape == (visible[0] // 2 * 2, visible[1] // 2 * 2)
    assert np.isfinite(result.isp_params['cc_matrix']).all()
    assert result.rendering.shape[:2] == (visible[0] // 2, visible[1] // 2)
    if len(result.bboxes):
        assert result.bboxes[:, 2].max() <= result.frame_shape[1] + 1


def test_an_isp_trained_through_another_detector(tmp_path):
    """isp_only: the ISP of a RetinaNet run in front of YOLOX-Nano (the paper's pairing)."""
    demo = save_genisp_checkpoint(tmp_path / 'demo.pth')
    yolox = str(DEMO_CONFIG).replace('demo/genisp_demo.py', 'genisp_yolox-nano.py')
    with pytest.raises(ValueError, match='does not fit'):
        GenISPInferencer(yolox, demo, 'cpu', cfg_options={'model.detector_checkpoint': None})
    paired = GenISPInferencer(yolox, demo, 'cpu', isp_only=True,
                              cfg_options={'model.detector_checkpoint': None})
    trained = torch.load(demo, map_location='cpu', weights_only=True)['state_dict']
    isp = paired.model.data_preprocessor.isp.state_dict()
    assert isp and all(torch.equal(v, trained[f'data_preprocessor.isp.{k}'])
                       for k, v in isp.items())
    assert len(paired.classes) == 80  # the detector's classes, not the demo's


def test_a_noise_gated_isp_reports_its_gate(inferencer, dngs, tmp_path):
    options = {'model.data_preprocessor.isp.residual_to': 'xyz',
               'model.data_preprocessor.isp.noise_gate': True,
               'model.data_preprocessor.isp.noise_signal': 'chroma'}
    checkpoint = save_genisp_checkpoint(tmp_path / 'gated.pth', cfg_options=options)
    gated = GenISPInferencer(DEMO_CONFIG, checkpoint, 'cpu', cfg_options=dict(KEEP_ALL, **options))
    with torch.no_grad():
        gated.model.data_preprocessor.isp.noise_gate.copy_(torch.tensor([1.0, 0.3]))
    result = gated(str(dngs[0]), return_isp_params=True)[0]
    batch = pseudo_collate([gated.pipeline(dict(img_path=str(dngs[0]), img_id=0))])
    with torch.no_grad():
        params = gated.model.data_preprocessor.isp.forward_with_params(batch['inputs'][0][None])
    assert result.isp_params['noise_gate'] == pytest.approx(float(params['noise_gate'][0]))
    assert 0.0 < result.isp_params['noise_gate'] < 1.0
    # an ISP without a gate reports none
    assert 'noise_gate' not in inferencer(str(dngs[0]), return_isp_params=True)[0].isp_params
