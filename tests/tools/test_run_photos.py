"""The COCO-photo benchmark end to end at toy size, without ../shared: a folder of a few
generated "photos" in COCO format -> dark DNGs of five cameras at two darkness levels ->
GenISP and its ablation trained with tools/train.py (two seeds) -> every pipeline scored with
tools/test.py on every (camera, darkness) pair -> report, JSON, plot."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from tests.helpers import REPO_ROOT

CAMERAS = ('sony_rx100m7', 'nikon_d750', 'canon_eos5dm4', 'sony_a7m3', 'rccb_d750')


def _photo_folder(root, split, count, rng):
    """``count`` 96x64 sRGB pictures with coloured rectangles labelled as COCO 'car' (id 3)."""
    from genisp_mmdet.datasets.coco_ids import coco_categories
    (root / split).mkdir(parents=True)
    images, annotations = [], []
    for i in range(count):
        image = np.full((64, 96, 3), rng.integers(40, 200), np.uint8)
        x, y = int(rng.integers(4, 40)), int(rng.integers(4, 24))
        image[y:y + 30, x:x + 40] = rng.integers(0, 255, 3)
        name = f'{i + 1:012d}.png'
        cv2.imwrite(str(root / split / name), image)
        images.append(dict(id=i + 1, file_name=name, width=96, height=64))
        annotations.append(dict(id=i + 1, image_id=i + 1, category_id=3, bbox=[x, y, 40, 30],
                                area=1200, iscrowd=0))
    (root / 'annotations').mkdir(exist_ok=True)
    (root / 'annotations' / f'{split}.json').write_text(json.dumps(
        dict(images=images, annotations=annotations, categories=coco_categories())))


def _detector_that_fires(path):
    """An untrained MMDetection YOLOX-Nano whose objectness prior is high, so every pipeline
    yields detections to score (the real weights need ../shared; this test checks the runner,
    not the detector)."""
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(os.path.join(
        os.path.dirname(__import__('mmdet').__file__), '.mim', 'configs', 'yolox',
        'yolox_nano_8xb8-300e_coco.py'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for conv in model.bbox_head.multi_level_conv_obj:
            conv.bias.fill_(4.0)
        for conv in model.bbox_head.multi_level_conv_cls:
            conv.bias.fill_(0.0)
    torch.save(dict(state_dict=model.state_dict()), path)


def test_photo_benchmark_runs_end_to_end_at_toy_size(tmp_path):
    rng = np.random.default_rng(0)
    coco = tmp_path / 'coco'
    _photo_folder(coco, 'train', 4, rng)  # one held out to calibrate GenISP's gate on
    _photo_folder(coco, 'val', 2, rng)
    detector = tmp_path / 'yolox_nano_untrained.pth'
    _detector_that_fires(detector)
    work_dir, data = tmp_path / 'work', tmp_path / 'data'
    cmd = [sys.executable, 'tools/demo/run_photos.py', '--coco-root', str(coco),
           '--train-ann', 'annotations/train.json', '--train-img-dir', 'train',
           '--val-ann', 'annotations/val.json', '--val-img-dir', 'val',
           '--darkness', '10', '200', '--train-darkness', '2', '10', '200', '--seeds', '0',
           '1', '--epochs', '1', '--detector-checkpoint', str(detector), '--data', str(data),
           '--work-dir', str(work_dir), '--workers', '1']
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    report = json.loads((work_dir / 'report.json').read_text())
    results = report['results']
    fixed = ('libraw', 'gain_gamma', 'fixed_rendering')
    assert set(results) == {*fixed, 'genisp_camera', 'genisp', 'oracle'}
    for key in ('genisp', 'genisp_camera'):
        assert set(results[key]) == {'0', '1'}  # one entry per training seed
    for key in fixed:
        assert set(results[key]) == {'None'}
    for key in (*fixed, 'genisp_camera', 'genisp'):
        for per_seed in results[key].values():
            assert set(per_seed) == set(CAMERAS)
            for per_camera in per_seed.values():
                assert set(per_camera) == {'x10', 'x200'}
                for metrics in per_camera.values():
                    assert 0.0 <= metrics['AP'] <= metrics['AP50'] <= 1.0
    stat = report['summary']['unseen_mean']['genisp']['x10']['AP']
    assert stat['n'] == 2 and len(stat['values']) == 2
    assert stat['mean'] == pytest.approx(np.mean(stat['values']), abs=1e-4)
    assert set(report['verdict']['xyz_helps']) == set(CAMERAS[1:])
    # GenISP's margin to its own untrained rendering is reported, not required
    margins = report['verdict']['beats_baselines']['x10']
    assert set(margins) == set(fixed)
    markdown = (work_dir / 'report.md').read_text()
    assert 'GenISP without XYZ' in markdown and 'oracle' in markdown and 'x200' in markdown
    plot = cv2.imread(str(work_dir / 'ap_vs_darkness.png'))
    assert plot is not None and plot.shape[0] > 100
    pictures = cv2.imread(str(work_dir / 'pictures.jpg'))
    assert pictures is not None and pictures.shape[1] > pictures.shape[0]  # 6 pipelines wide
    # GenISP (the gated recipe) trains on the training camera's captures of every
    # --train-darkness level, 2x rendered for training only, merged into one file
    merged = json.loads((data / 'annotations' /
                         'sony_rx100m7_train_x2-x10-x200.json').read_text())
    assert len(merged['images']) == 12 and len({im['id'] for im in merged['images']}) == 12
    assert {im['file_name'].split('/')[0] for im in merged['images']} == {'x2', 'x10', 'x200'}
    assert not (data / 'sony_rx100m7' / 'x2' / 'val').exists()
    trained = (tmp_path / 'photo_isps' /
               'genisp_yolox-nano_photos_residual_gated_calibrated_x2-x10-x200_seed1')
    log = (trained / 'train.log').read_text()
    assert 'annotations/sony_rx100m7_train_x2-x10-x200.json' in log
    # one fitting epoch (--epochs 1) on three photos, then the gate alone on the fourth
    assert 'Epoch(train) [1][3/3]' in log and 'Epoch(train) [4][1/1]' in log
    assert ("epochs 2-4 train only ['data_preprocessor.isp.noise_gate'] at lr 0.01 on 3 "
            'held-out images') in log

    # a single config scored by the analysis tool gets the benchmark's own numbers
    scored = subprocess.run(
        [sys.executable, 'tools/analysis_tools/score_photos_config.py',
         'configs/photos/baseline_gain_gamma.py', '--work-dir', str(tmp_path / 'one'),
         '--data', str(data), '--darkness', '10', '200', '--detector-checkpoint',
         str(detector)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    one = json.loads((tmp_path / 'one' / 'metrics.json').read_text())['metrics']
    assert one == results['gain_gamma']['None']
    assert 'unseen-camera AP x10' in scored.stdout

    # the analysis tool trains a config on --train-darkness levels as the benchmark does: 50x,
    # not rendered yet, is rendered on demand and merged for training only
    gated = subprocess.run(
        [sys.executable, 'tools/analysis_tools/score_photos_config.py',
         'configs/photos/genisp_yolox-nano_photos_residual_gated.py', '--work-dir',
         str(tmp_path / 'gated'), '--data', str(data), '--darkness', '10', '200', '--train',
         '--train-darkness', '10', '50', '--coco-root', str(coco), '--train-ann',
         'annotations/train.json', '--train-img-dir', 'train', '--detector-checkpoint',
         str(detector), '--cfg-options', 'train_cfg.max_epochs=1'], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert gated.returncode == 0, gated.stdout[-3000:] + gated.stderr[-3000:]
    span = json.loads((data / 'annotations' / 'sony_rx100m7_train_x10-x50.json').read_text())
    assert len(span['images']) == 8 and {im['file_name'].split('/')[0]
                                         for im in span['images']} == {'x10', 'x50'}
    assert (data / 'sony_rx100m7' / 'x50' / 'train').is_dir()
    gated_metrics = json.loads((tmp_path / 'gated' / 'metrics.json').read_text())['metrics']
    assert set(gated_metrics) == set(CAMERAS)

    # a second run reuses the renders, the trainings (2 ISPs x 2 seeds) and the scores
    # (4 learned, 3 fixed pipelines, the oracle)
    again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500,
                           env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count(': cached') == 12, again.stdout[-3000:]
