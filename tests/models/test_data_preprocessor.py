"""RawDetDataPreprocessor: device, per-image ISP, detector scaling, padding, channel order."""
import pytest
import torch

from genisp_mmdet.models import RawDetDataPreprocessor
from genisp_mmdet.models.frozen_detector import raw_preprocessor_for
from tests.helpers import raw_batch

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def build(**kwargs):
    torch.manual_seed(0)
    return RawDetDataPreprocessor(isp=dict(type='GenISP'), mean=MEAN, std=STD,
                                  pad_size_divisor=32, **kwargs)


def test_pads_to_divisor_and_normalises_like_the_detector():
    pre = build()
    batch = raw_batch(sizes=((50, 70), (64, 96)))
    out = pre(batch, training=True)
    assert out['inputs'].shape == (2, 3, 64, 96)
    assert [s.pad_shape for s in out['data_samples']] == [(64, 96), (64, 96)]
    # undoing mean/std and the 0-255 scale gives back exactly what the ISP rendered
    rendered = pre.render(batch['inputs'])
    recovered = pre.recover_isp_output(out['inputs'], out['data_samples'])
    for r, rec in zip(rendered, recovered):
        torch.testing.assert_close(rec, r, atol=1e-5, rtol=1e-5)


def test_isp_sees_each_image_at_its_own_size_not_the_padding():
    """The 50x70 image batched with a 64x96 one is padded to 64x96 for the detector, but only
    after the ISP: its pixels are those it gets alone, and the padding holds the pad value.
    ConvWB's thumbnail and the exposure normalisation read the whole input, so an ISP run on
    the padded image would render the same pixels differently (checked below)."""
    import torch.nn.functional as F
    pre = build()
    batch = raw_batch(sizes=((50, 70), (64, 96)))
    together = pre(batch)['inputs']
    assert together.shape == (2, 3, 64, 96)
    alone_batch = raw_batch(sizes=((50, 70),))
    alone = pre(alone_batch)['inputs'][0]
    torch.testing.assert_close(together[0, :, :50, :70], alone[:, :50, :70])
    # mmdet pads the normalised batch with pad_value (0)
    assert together[0, :, 50:, :].abs().max() == 0 and together[0, :, :, 70:].abs().max() == 0
    # what rendering after padding would give: measurably other pixels
    padded_first = pre.render([F.pad(batch['inputs'][0], (0, 26, 0, 14))])[0][:, :50, :70]
    rendered = pre.render(batch['inputs'][:1])[0]
    assert (padded_first - rendered).abs().max() > 0.01


def test_bgr_detectors_get_bgr():
    rgb, bgr = build(), build(detector_channel_order='bgr')
    bgr.load_state_dict(rgb.state_dict())
    batch = raw_batch()
    out_rgb = rgb(batch)['inputs']
    out_bgr = bgr(raw_batch())['inputs']
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    pixels_rgb = out_rgb * std + mean
    pixels_bgr = out_bgr * std + mean
    torch.testing.assert_close(pixels_bgr, pixels_rgb[:, [2, 1, 0]], atol=1e-3, rtol=1e-4)


def test_rejects_ambiguous_flags_and_bad_inputs():
    with pytest.raises(ValueError, match='detector_channel_order'):
        RawDetDataPreprocessor(isp=dict(type='GenISP'), bgr_to_rgb=True)
    pre = build()
    with pytest.raises(TypeError, match='float'):
        pre(dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)], data_samples=None))
    with pytest.raises(ValueError, match=r'\(3, H, W\)'):
        pre(dict(inputs=[torch.zeros(4, 8, 8)], data_samples=None))


def test_inherits_the_detector_preprocessing():
    retina = raw_preprocessor_for(dict(type='DetDataPreprocessor', mean=MEAN, std=STD,
                                       bgr_to_rgb=True, pad_size_divisor=32),
                                  dict(isp=dict(type='GenISP')))
    assert retina['detector_channel_order'] == 'rgb' and retina['mean'] == MEAN
    caffe = raw_preprocessor_for(dict(type='DetDataPreprocessor', mean=[102.98, 115.95, 122.77],
                                      std=[1.0, 1.0, 1.0], bgr_to_rgb=False), {})
    assert caffe['detector_channel_order'] == 'bgr'
    yolox = raw_preprocessor_for(dict(type='DetDataPreprocessor', pad_size_divisor=32,
                                      batch_augments=[dict(type='BatchSyncRandomResize',
                                                           random_size_range=(480, 800))]),
                                 dict(pad_size_divisor=64))
    assert yolox['batch_augments'][0]['type'] == 'BatchSyncRandomResize'
    assert yolox['pad_size_divisor'] == 64  # explicit settings win
