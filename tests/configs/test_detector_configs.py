"""Every shipped GenISP config loads, and every detector it names trains one step and predicts
behind the ISP (random weights, small inputs, CPU)."""
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper

from mmdet.registry import MODELS
from tests.helpers import REPO_ROOT, raw_batch

SWAP_CONFIGS = ['genisp_retinanet.py', 'genisp_faster-rcnn_r50_fpn.py',
                'genisp_atss_r50_fpn.py', 'genisp_fcos_r50-caffe_fpn.py', 'genisp_yolox-s.py',
                'genisp_yolox-nano.py', 'genisp_nanodet-m.py', 'photos/genisp_yolox-nano_photos.py',
                'photos/genisp_nanodet-m_photos_residual_gated.py',
                'photos/genisp_yolox-nano_nanodet-m_photos_residual_gated.py']


def test_every_config_in_the_repo_loads():
    paths = sorted(glob.glob(str(REPO_ROOT / 'configs' / '**' / '*.py'), recursive=True))
    assert len(paths) >= len(SWAP_CONFIGS)
    for path in paths:
        cfg = Config.fromfile(path)
        if os.path.basename(os.path.dirname(path)) != '_base_' and '_base_' not in path:
            assert 'model' in cfg, path


@pytest.mark.parametrize('name', SWAP_CONFIGS)
def test_detector_trains_one_step_and_predicts_behind_the_isp(name):
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / name))
    model_cfg = cfg.model
    model_cfg.detector_checkpoint = None  # random weights: no download in tests
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    assert not any(p.requires_grad for p in model.detector.parameters())
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    isp_before = [p.detach().clone() for p in model.data_preprocessor.isp.parameters()]
    # batch augments such as YOLOX's BatchSyncRandomResize read the runner's iteration
    MessageHub.get_current_instance().update_info('iter', 0)
    model.train()
    losses = model.train_step(raw_batch(sizes=((128, 160), (128, 160))), optim_wrapper)
    assert losses and all(torch.isfinite(v) for v in losses.values()), losses
    moved = sum(not torch.equal(a, b) for a, b in
                zip(isp_before, model.data_preprocessor.isp.parameters()))
    assert moved > 0
    model.eval()
    with torch.no_grad():
        result = model.test_step(raw_batch(sizes=((128, 160),)))[0]
    assert result.pred_instances.bboxes.shape[-1] == 4
