"""`make demo` end to end at toy size: data -> detector pretraining -> GenISP training with
tools/train.py -> every pipeline scored with tools/test.py -> report and pictures."""
import json
import os
import subprocess
import sys

import cv2

from tests.helpers import REPO_ROOT


def test_demo_pipeline_runs_end_to_end_at_toy_size(tmp_path):
    work_dir, data = tmp_path / 'demo', tmp_path / 'data'
    proc = subprocess.run(
        [sys.executable, 'tools/demo/run_demo.py', '--quick', '--work-dir',
         str(work_dir), '--data', str(data)], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=1200, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((work_dir / 'report.json').read_text())
    methods = {'libraw', 'gain_gamma', 'genisp_camera', 'genisp', 'oracle'}
    cross = {'fcos_libraw', 'fcos_genisp_retinanet', 'fcos_genisp_fcos',
             'retinanet_genisp_fcos'}
    assert set(report['results']) == methods | cross | {'fcos_oracle'}
    for key in methods - {'oracle'}:
        assert set(report['results'][key]) == {'sony_rx100m7', 'nikon_d750', 'rccb_d750'}
        for metrics in report['results'][key].values():
            assert 0.0 <= metrics['AP'] <= metrics['AP50'] <= 1.0
    for key in cross:  # the cross-detector table: the unseen cameras only
        assert set(report['results'][key]) == {'nikon_d750', 'rccb_d750'}
    assert set(report['cross_detector_unseen_mean']) == cross | {'libraw', 'genisp'}
    # the ISP trained through the RetinaNet, alone, in front of FCOS
    cross_log = (work_dir / 'eval' / 'fcos_genisp_retinanet' / 'test.log').read_text()
    assert 'loaded ISP weights from ' + str(work_dir / 'genisp' / 'final.pth') in cross_log
    assert 'loaded detector weights from ' + str(work_dir / 'detector_srgb_fcos' /
                                                 'final.pth') in cross_log
    assert set(report['genisp_minus_best_baseline_AP_per_camera']) == {'nikon_d750', 'rccb_d750'}
    markdown = (work_dir / 'report.md').read_text()
    assert 'GenISP' in markdown and 'oracle' in markdown and '| ' in markdown
    assert '## Across detectors' in markdown and 'FCOS behind GenISP trained through the ' \
        'RetinaNet' in markdown
    picture = cv2.imread(str(work_dir / 'pictures.png'))
    assert picture is not None and picture.shape[1] > picture.shape[0]  # 5 pipelines wide
    # trained with the real tools: their checkpoints and logs are there
    assert (work_dir / 'genisp' / 'final.pth').exists()
    assert (work_dir / 'detector_srgb' / 'final.pth').exists()
    assert (work_dir / 'detector_srgb_fcos' / 'final.pth').exists()
    assert (work_dir / 'genisp_fcos' / 'final.pth').exists()
    # a second run reuses everything it can; with --single-detector it neither trains nor
    # reports the second detector
    again = subprocess.run(
        [sys.executable, 'tools/demo/run_demo.py', '--quick', '--single-detector', '--work-dir',
         str(work_dir), '--data', str(data)], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=1200)
    assert again.returncode == 0
    assert again.stdout.count(': cached') == 3, again.stdout[-2000:]  # RetinaNet, two ISPs
    assert 'FCOS' not in again.stdout
    plain = json.loads((work_dir / 'report.json').read_text())
    assert set(plain['results']) == methods and 'cross_detector_unseen_mean' not in plain
    for key in methods:  # the same numbers as in the run with the second detector
        assert plain['results'][key] == report['results'][key]
