"""tools/analysis_tools/warm_start_isp.py: the ISP learns the target rendering, the frozen
detector is untouched, and the checkpoint loads with load_from."""
import os
import subprocess
import sys

import torch

from tests.helpers import DEMO_CONFIG, REPO_ROOT, demo_dngs


def test_warm_start_moves_the_isp_to_the_target_rendering_only(tmp_path):
    from genisp_mmdet.apis import GenISPInferencer
    from mmdet.registry import MODELS
    from mmengine.config import Config

    dngs = demo_dngs(tmp_path / 'data', num_test=2, width=128, height=96)
    root = dngs[0].parents[2]
    out = tmp_path / 'warm.pth'
    options = ['model.detector_checkpoint=None', 'train_dataloader.num_workers=0',
               'test_dataloader.num_workers=0']
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/warm_start_isp.py', DEMO_CONFIG, '--out',
         str(out), '--steps', '30', '--batch-size', '1', '--lr', '1e-2',
         '--cfg-options', *options],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'GENISP_DEMO_ROOT': f'{root}/'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = torch.load(out, map_location='cpu', weights_only=False)['meta']['warm_start']
    assert meta['last_loss'] < 0.5 * meta['first_loss']

    # on an image it never trained on (a test capture) the output is the target's now
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.detector_checkpoint = None
    torch.manual_seed(0)
    cold = MODELS.build(cfg.model)
    cold.init_weights()
    inferencer = GenISPInferencer(DEMO_CONFIG, str(out), 'cpu')
    warm = inferencer.model
    target = MODELS.build(dict(type='GainGammaISP', color_space='xyz'))
    x = inferencer.load(str(dngs[0]))['inputs'][None]
    with torch.no_grad():
        error = {name: float((m.data_preprocessor.isp(x) - target(x)).abs().mean())
                 for name, m in (('cold', cold), ('warm', warm))}
    assert error['warm'] < 0.5 * error['cold'], error
    # the frozen detector is the one the config builds, untouched
    for key, value in cold.state_dict().items():
        if key.startswith('detector.'):
            assert torch.equal(value, warm.state_dict()[key]), key


def test_a_model_without_a_learnable_isp_is_refused(tmp_path):
    config = REPO_ROOT / 'configs' / 'demo' / 'baseline_gain_gamma.py'
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/warm_start_isp.py', str(config), '--out',
         str(tmp_path / 'x.pth'), '--cfg-options', 'model.detector_checkpoint=None'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and 'no learnable ISP' in proc.stderr
    assert 'Traceback' not in proc.stderr
