"""The photo benchmark's per-detector configs: the same ISP in every one (so an ISP trained
through one detector loads in front of another with --isp-from), each detector fed its own
input (size, normalisation, padding)."""
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from tests.helpers import REPO_ROOT

PHOTOS = REPO_ROOT / 'configs' / 'photos'
YOLOX = PHOTOS / 'genisp_yolox-nano_photos_residual_gated.py'
NANODET = PHOTOS / 'genisp_nanodet-m_photos_residual_gated.py'
BOTH = PHOTOS / 'genisp_yolox-nano_nanodet-m_photos_residual_gated.py'
NANODET_MEAN, NANODET_STD = [103.53, 116.28, 123.675], [57.375, 57.12, 58.395]


def build(path, seed=0):
    cfg = Config.fromfile(str(path))
    torch.manual_seed(seed)
    return cfg, MODELS.build(cfg.model)  # no init_weights: no detector checkpoint needed


def resize_scales(cfg):
    return {split: [t['scale'] for t in getattr(cfg, f'{split}_dataloader').dataset.pipeline
                    if t['type'] == 'Resize'] for split in ('train', 'test')}


def test_an_isp_trained_through_both_loads_in_front_of_each_detector(tmp_path):
    _, both = build(BOTH, seed=1)
    path = tmp_path / 'both.pth'
    torch.save(dict(state_dict=both.state_dict()), path)
    trained = both.data_preprocessor.isp.state_dict()
    for config in (YOLOX, NANODET):
        _, model = build(config, seed=2)
        assert any(not torch.equal(v, trained[k])
                   for k, v in model.data_preprocessor.isp.state_dict().items())
        model.load_isp_weights(str(path))
        for k, v in model.data_preprocessor.isp.state_dict().items():
            assert torch.equal(v, trained[k]), (config.name, k)


def test_each_detector_gets_its_own_input():
    yolox_cfg, yolox = build(YOLOX)
    nanodet_cfg, nanodet = build(NANODET)
    _, both = build(BOTH)
    assert resize_scales(yolox_cfg) == dict(train=[(416, 416)], test=[(416, 416)])
    assert resize_scales(nanodet_cfg) == dict(train=[(320, 320)], test=[(320, 320)])
    # YOLOX: BGR 0-255 unnormalised, padded with 114; NanoDet: BGR ImageNet mean/std, 0
    assert not yolox.data_preprocessor._enable_normalize
    assert yolox.data_preprocessor.pad_value == 114
    for preprocessor in (nanodet.data_preprocessor, both.also_through['nanodet-m']['preprocessor']):
        assert preprocessor.detector_channel_order == 'bgr'
        assert preprocessor.mean.flatten().tolist() == pytest.approx(NANODET_MEAN)
        assert preprocessor.std.flatten().tolist() == pytest.approx(NANODET_STD)
        assert preprocessor.pad_value == 0
    # the second detector's preprocessor only prepares what the one ISP rendered
    assert both.also_through['nanodet-m']['preprocessor'].isp is None
    assert type(both.also_through['nanodet-m']['detector']).__name__ == \
        type(nanodet.detector).__name__ == 'GFL'


@pytest.mark.parametrize('name', ['baseline_libraw_isp_nanodet-m.py',
                                  'baseline_gain_gamma_nanodet-m.py'])
def test_the_nanodet_baselines_differ_from_yolox_ones_only_in_the_detector(name):
    cfg = Config.fromfile(str(PHOTOS / name))
    yolox_cfg = Config.fromfile(str(PHOTOS / name.replace('_nanodet-m', '')))
    assert resize_scales(cfg)['test'] == [(320, 320)]
    assert cfg.model.detector.endswith('nanodet-m.py')
    assert cfg.model.data_preprocessor.pad_value == 0
    assert cfg.model.data_preprocessor.isp == yolox_cfg.model.data_preprocessor.isp
    strip = [{k: v for k, v in t.items() if k != 'scale'}
             for t in cfg.test_dataloader.dataset.pipeline]
    assert strip == [{k: v for k, v in t.items() if k != 'scale'}
                     for t in yolox_cfg.test_dataloader.dataset.pipeline]
