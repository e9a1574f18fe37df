"""tools/analysis_tools/pipeline_loss.py: the frozen detector's loss of a pipeline over a
dataset, with the boxes in the frame of the image the loss scores."""
import json
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from tests.helpers import DEMO_CONFIG, REPO_ROOT, demo_dngs, load_tool, save_genisp_checkpoint


def test_annotations_are_loaded_before_resizing():
    tool = load_tool('analysis_tools/pipeline_loss')
    mmdet_test = Config.fromfile(str(REPO_ROOT / 'configs' / 'detectors' /
                                     'yolox-nano_coco-photos.py')).test_dataloader.dataset.pipeline
    types = [step['type'] for step in mmdet_test]
    assert types.index('LoadAnnotations') > types.index('Resize')  # as MMDetection ships it
    fixed = [step['type'] for step in tool.boxes_before_resizing(mmdet_test)]
    assert fixed[1] == 'LoadAnnotations' and sorted(fixed) == sorted(types)


def test_mean_loss_is_the_models_loss(tmp_path):
    root = demo_dngs(tmp_path / 'data', num_test=2, width=128, height=96)[0].parents[2]
    checkpoint = save_genisp_checkpoint(tmp_path / 'genisp.pth')
    options = ['test_dataloader.batch_size=2', 'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False']
    out = tmp_path / 'loss.json'
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/pipeline_loss.py', DEMO_CONFIG, checkpoint,
         '--split', 'test', '--out', str(out), '--cfg-options', *options],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'GENISP_DEMO_ROOT': f'{root}/'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result['images'] == 2

    # the same batch through the model directly, from the runner's own dataloader
    from mmengine.runner import Runner

    from genisp_mmdet.apis import GenISPInferencer
    os.environ['GENISP_DEMO_ROOT'] = f'{root}/'
    try:
        cfg = Config.fromfile(DEMO_CONFIG)
    finally:
        del os.environ['GENISP_DEMO_ROOT']
    cfg.merge_from_dict({'test_dataloader.batch_size': 2, 'test_dataloader.num_workers': 0,
                         'test_dataloader.persistent_workers': False})
    batch = next(iter(Runner.build_dataloader(cfg.test_dataloader)))
    model = GenISPInferencer(DEMO_CONFIG, checkpoint, 'cpu').model
    with torch.no_grad():
        losses = model(**model.data_preprocessor(batch, training=False), mode='loss')
    total = sum(float(sum(v) if isinstance(v, (list, tuple)) else v)
                for k, v in losses.items() if 'loss' in k)
    assert total > 0 and abs(result['losses']['loss'] - total) < 1e-4 * total


def test_a_closed_noise_gate_scores_the_fixed_rendering(tmp_path, monkeypatch, capsys):
    """``--noise-gate-closed``: the loss of a gated GenISP without its ConvNet's correction,
    which equals that of the same weights with the correction zeroed."""
    tool = load_tool('analysis_tools/pipeline_loss')
    root = demo_dngs(tmp_path / 'data', num_test=2, width=128, height=96)[0].parents[2]
    monkeypatch.setenv('GENISP_DEMO_ROOT', f'{root}/')
    gated = {'model.data_preprocessor.isp.residual_to': 'xyz',
             'model.data_preprocessor.isp.noise_gate': True}
    checkpoint = save_genisp_checkpoint(tmp_path / 'gated.pth', cfg_options=gated)
    state = torch.load(checkpoint, weights_only=False)
    state['state_dict']['data_preprocessor.isp.convnet.body.6.bias'].fill_(0.2)
    state['state_dict']['data_preprocessor.isp.noise_gate'].copy_(torch.tensor([0.0, 1.0]))
    torch.save(state, checkpoint)
    state['state_dict']['data_preprocessor.isp.convnet.body.6.bias'].zero_()
    state['state_dict']['data_preprocessor.isp.convnet.body.6.weight'].zero_()
    uncorrected = str(tmp_path / 'uncorrected.pth')
    torch.save(state, uncorrected)
    options = ['test_dataloader.batch_size=2', 'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False'] + [f'{k}={v}' for k, v in gated.items()]

    def loss(weights, *flags):
        out = tmp_path / 'loss.json'
        tool.main([DEMO_CONFIG, weights, '--split', 'test', '--out', str(out), *flags,
                   '--cfg-options', *options])
        return json.loads(out.read_text())['losses']['loss']
    closed, plain, open_ = (loss(checkpoint, '--noise-gate-closed'), loss(uncorrected),
                            loss(checkpoint))
    assert abs(closed - plain) < 1e-5 * plain and abs(open_ - plain) > 1e-3 * plain
    assert 'noise gate closed' in capsys.readouterr().out
    # an ISP without a gate: one clear line, no traceback
    ungated = save_genisp_checkpoint(tmp_path / 'ungated.pth')
    with pytest.raises(SystemExit):
        tool.main([DEMO_CONFIG, ungated, '--split', 'test', '--noise-gate-closed',
                   '--cfg-options', *options[:3]])
    assert 'has no noise gate' in capsys.readouterr().err
    # nothing to score: one clear line naming the config and split, no traceback
    with pytest.raises(SystemExit):
        tool.main([DEMO_CONFIG, checkpoint, '--split', 'test', '--max-batches', '0',
                   '--cfg-options', *options])
    err = capsys.readouterr().err
    assert 'test split: the dataloader yielded no images' in err and 'Traceback' not in err
