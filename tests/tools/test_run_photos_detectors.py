"""The cross-detector photo benchmark end to end at toy size, without ../shared: generated
"photos" -> dark DNGs -> the gated ISP trained through YOLOX-Nano, through NanoDet-m and
through both -> each detector scored behind every pipeline -> report; and its summary maths."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.helpers import REPO_ROOT, load_tool
from tests.tools.test_run_photos import _detector_that_fires, _photo_folder

TEST_CAMERAS = ('nikon_d750', 'canon_eos5dm4', 'sony_a7m3', 'rccb_d750')
PIPELINES = {'libraw', 'gain_gamma', 'via_yolox-nano', 'via_nanodet-m', 'via_both', 'oracle'}


def _nanodet_that_fires(path):
    """An untrained NanoDet-m whose class logits start at 0 (score 0.5 > its 0.05 threshold),
    so every pipeline yields detections to score."""
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(Config.fromfile(str(REPO_ROOT / 'configs' / 'detectors' /
                                             'nanodet-m.py')).model)
    model.init_weights()
    with torch.no_grad():
        for conv in model.bbox_head.gfl_cls:
            conv.bias[:80].fill_(0.0)
    torch.save(dict(state_dict=model.state_dict()), path)


def test_cross_detector_benchmark_runs_end_to_end_at_toy_size(tmp_path):
    rng = np.random.default_rng(0)
    coco = tmp_path / 'coco'
    _photo_folder(coco, 'train', 3, rng)
    _photo_folder(coco, 'val', 2, rng)
    yolox, nanodet = tmp_path / 'yolox.pth', tmp_path / 'nanodet.pth'
    _detector_that_fires(yolox)
    _nanodet_that_fires(nanodet)
    work_dir, data = tmp_path / 'work', tmp_path / 'data'
    cmd = [sys.executable, 'tools/demo/run_photos_detectors.py', '--coco-root', str(coco),
           '--train-ann', 'annotations/train.json', '--train-img-dir', 'train',
           '--val-ann', 'annotations/val.json', '--val-img-dir', 'val',
           '--darkness', '10', '200', '--train-darkness', '2', '200', '--seeds', '0',
           '--epochs', '1', '--yolox-checkpoint', str(yolox), '--nanodet-checkpoint',
           str(nanodet), '--data', str(data), '--work-dir', str(work_dir), '--workers', '1']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500,
                          env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    report = json.loads((work_dir / 'report_detectors.json').read_text())
    for det in ('yolox-nano', 'nanodet-m'):
        results = report['per_camera'][det]
        assert set(results) == PIPELINES
        for key in PIPELINES - {'oracle'}:
            per_seed = {'-': results[key]} if key in ('libraw', 'gain_gamma') else results[key]
            assert set(per_seed) in ({'-'}, {'0'})
            for cameras in per_seed.values():
                assert set(cameras) == set(TEST_CAMERAS)  # the unseen cameras only
                for levels in cameras.values():
                    assert set(levels) == {'x10', 'x200'}
                    for metrics in levels.values():
                        assert 0.0 <= metrics['AP'] <= metrics['AP50'] <= 1.0
    markdown = (work_dir / 'report_detectors.md').read_text()
    assert markdown.count('(never saw this detector)') == 2
    assert markdown.count('(own ISP)') == 2
    assert '## YOLOX-Nano' in markdown and '## NanoDet-m' in markdown

    # the joint ISP trained through both detectors, each with the weights given
    isps = tmp_path / 'photo_isps'  # beside the work dir, shared with run_photos
    joint_log = (isps / 'genisp_yolox-nano_nanodet-m_photos_residual_gated_x2-x200_seed0' /
                 'train.log').read_text()
    assert 'nanodet-m.loss_cls' in joint_log and 'loss_cls' in joint_log
    assert f'loaded detector weights from {nanodet}' in joint_log
    assert f'loaded detector weights from {yolox}' in joint_log
    # the ISP trained through YOLOX-Nano, scored in front of NanoDet-m
    cross_log = (work_dir / 'eval' / 'nanodet-m' / 'via_yolox-nano_seed0' / 'test.log').read_text()
    assert 'loaded ISP weights from ' + str(
        isps / 'genisp_yolox-nano_photos_residual_gated_x2-x200_seed0' / 'final.pth') in cross_log
    assert f'loaded detector weights from {nanodet}' in cross_log
    # the train camera's 2x captures rendered for training only
    merged = json.loads((data / 'annotations' / 'sony_rx100m7_train_x2-x200.json').read_text())
    assert {im['file_name'].split('/')[0] for im in merged['images']} == {'x2', 'x200'}

    again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                           env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count(': cached') == 3 + 12  # 3 trainings; 2 x (2 + 3 + 1) scores


def test_summary_is_the_unseen_camera_mean_over_seeds_with_its_spread():
    tool = load_tool('demo/run_photos_detectors')
    per_seed = {}
    for seed, offset in (('0', 0.0), ('1', 0.1)):
        per_seed[seed] = {camera: {'x10': dict(AP=0.1 * i + offset, AP50=0.5)}
                          for i, camera in enumerate(TEST_CAMERAS)}
    row = tool.summary(per_seed, ['x10'])['x10']
    assert row['AP'] == pytest.approx(0.2)  # seed means 0.15 and 0.25
    assert row['AP_sd'] == pytest.approx(np.std([0.15, 0.25], ddof=1))
    assert row['AP50'] == pytest.approx(0.5) and row['AP50_sd'] == pytest.approx(0.0)
    assert tool.summary({'-': per_seed['0']}, ['x10'])['x10']['AP_sd'] is None
    assert tool.cell(row) == '0.200 ± 0.071'


def _per_camera(ap):
    return {camera: {'x10': dict(AP=ap, AP50=0.5)} for camera in TEST_CAMERAS}


def test_paired_differences_subtract_seed_by_seed_and_fixed_baselines_from_every_seed():
    tool = load_tool('demo/run_photos_detectors')
    # the ISPs' seeds rank oppositely: unpaired, their means tie; paired, one always wins
    own = {'0': _per_camera(0.30), '1': _per_camera(0.40), '2': _per_camera(0.35)}
    other = {'0': _per_camera(0.31), '1': _per_camera(0.41), '2': _per_camera(0.33)}
    diff = tool.paired_difference(other, own, ['x10'])['x10']
    assert diff['values'] == pytest.approx([0.01, 0.01, -0.02])
    assert diff['mean'] == pytest.approx(0.0) and diff['above'] == 2
    assert diff['sd'] == pytest.approx(np.std([0.01, 0.01, -0.02], ddof=1))
    assert tool.paired_cell(diff) == '+0.000 ± 0.017 (2/3 above)'
    fixed = tool.paired_difference(other, {'-': _per_camera(0.32)}, ['x10'])['x10']
    assert fixed['values'] == pytest.approx([-0.01, 0.09, 0.01]) and fixed['above'] == 2

    results = {det: dict(libraw=_per_camera(0.2), gain_gamma=_per_camera(0.1),
                         oracle=dict(AP=0.5, AP50=0.7),
                         **{key: own for key, _, _, _ in tool.ISPS})
               for det in tool.DETECTORS}
    results['nanodet-m']['via_yolox-nano'] = other
    pairs = {label: (a, b) for label, a, b in tool.paired_comparisons(results, 'nanodet-m')}
    minuend, subtrahend = pairs['GenISP trained through YOLOX-Nano minus own ISP']
    assert minuend is other and subtrahend is own  # NanoDet-m's own ISP
    assert len(pairs) == 2 + 3 * 2  # two ISPs vs own; three ISPs vs two baselines


def test_report_states_the_paired_differences(tmp_path):
    tool = load_tool('demo/run_photos_detectors')
    own = {'0': _per_camera(0.30), '1': _per_camera(0.40)}
    better = {'0': _per_camera(0.32), '1': _per_camera(0.41)}
    results = {det: dict(libraw=_per_camera(0.35), gain_gamma=_per_camera(0.1),
                         oracle=dict(AP=0.5, AP50=0.7),
                         **{key: (own if key == tool.own_isp(det) else better)
                            for key, _, _, _ in tool.ISPS})
               for det in tool.DETECTORS}
    tool.write_report(str(tmp_path), results, ['x10'], [0, 1], {}, 60.0)
    markdown = (tmp_path / 'report_detectors.md').read_text()
    assert markdown.count('| GenISP trained through both (summed losses) minus own ISP | '
                          '+0.015 ± 0.007 (2/2 above) |') == 2
    assert '| GenISP trained through NanoDet-m minus LibRaw conventional ISP | '\
           '+0.015 ± 0.064 (1/2 above) |' in markdown
    report = json.loads((tmp_path / 'report_detectors.json').read_text())
    paired = report['paired_by_seed']['yolox-nano']
    assert paired['GenISP trained through YOLOX-Nano minus Packed RAW + gain + gamma'][
        'x10']['above'] == 2


class _StopAfterTrainingSpecs(Exception):
    pass


def _training_specs(tool_name, argv, monkeypatch):
    """The trainings a benchmark driver asks for (``{folder: spec}``), stopping it there."""
    tool = load_tool(tool_name)
    asked = []

    def record(specs, env, **kwargs):
        asked.extend(specs)
        raise _StopAfterTrainingSpecs
    monkeypatch.setattr(tool, 'train_all', record)
    with pytest.raises(_StopAfterTrainingSpecs):
        tool.main(argv)
    return {spec[2]: spec for spec in asked}


def test_photo_benchmarks_key_their_trainings_by_what_they_read(tmp_path, monkeypatch):
    """Each ISP training of the two photo benchmarks has its own folder and cache key under
    the shared ISP folder - run_photos' calibrated GenISP is not run_photos_detectors' gated
    ISP through YOLOX-Nano - and a key follows the configs' code and the detector's weights."""
    rng = np.random.default_rng(1)
    coco = tmp_path / 'coco'
    _photo_folder(coco, 'train', 2, rng)
    _photo_folder(coco, 'val', 1, rng)
    yolox, nanodet = tmp_path / 'yolox.pth', tmp_path / 'nanodet.pth'
    yolox.write_bytes(b'yolox weights')  # present, so nothing is converted; hashed by content
    nanodet.write_bytes(b'nanodet weights')
    common = ['--coco-root', str(coco), '--train-ann', 'annotations/train.json',
              '--train-img-dir', 'train', '--val-ann', 'annotations/val.json',
              '--val-img-dir', 'val', '--darkness', '10', '--train-darkness', '2', '10',
              '--seeds', '0', '--data', str(tmp_path / 'data'), '--workers', '1']
    monkeypatch.chdir(REPO_ROOT)
    photos = _training_specs('demo/run_photos', [
        *common, '--work-dir', str(tmp_path / 'photos'), '--detector-checkpoint', str(yolox)],
        monkeypatch)
    detectors = _training_specs('demo/run_photos_detectors', [
        *common, '--work-dir', str(tmp_path / 'photos_detectors'), '--yolox-checkpoint',
        str(yolox), '--nanodet-checkpoint', str(nanodet)], monkeypatch)

    isps = tmp_path / 'photo_isps'
    shared = str(isps / 'genisp_yolox-nano_photos_residual_gated_calibrated_x2-x10_seed0')
    assert set(photos) == {shared, str(
        isps / 'genisp_yolox-nano_photos_residual_gated_calibrated_camera_space_x2-x10_seed0')}
    assert str(isps / 'genisp_yolox-nano_photos_residual_gated_x2-x10_seed0') in detectors
    assert len(detectors) == 3
    keys = [spec[4] for spec in (*photos.values(), *detectors.values())]
    assert len(set(keys)) == 5

    # the key follows the configs' code, not their comments
    tool = load_tool('demo/run_photos')
    config = tmp_path / 'isp.py'
    monkeypatch.setattr(tool, 'config_files', lambda _: [str(config)])

    def key(text):
        config.write_text(text)
        return tool.isp_training('GenISP', 'isp.py', [str(yolox)], str(tmp_path / 'data'),
                                 'sony_rx100m7_train_x2-x10.json', 0, [], str(isps))[4]
    base = key("# the recipe\nlr = 2e-4\n")
    assert key("# the recipe, reworded\n  # more words\nlr = 2e-4\n") == base
    assert key("# the recipe\nlr = 2e-3\n") != base

    # the key follows the detector's weights
    yolox.write_bytes(b'other yolox weights')
    again = _training_specs('demo/run_photos', [
        *common, '--work-dir', str(tmp_path / 'photos'), '--detector-checkpoint', str(yolox)],
        monkeypatch)
    assert again[shared][4] != photos[shared][4]


def test_config_files_follow_bases_and_included_detector_configs():
    config_files = load_tool('demo/run_photos').config_files
    files = [os.path.relpath(f, REPO_ROOT) for f in config_files(
        'configs/photos/genisp_nanodet-m_photos_residual_gated.py')]
    assert files[0] == 'configs/photos/genisp_nanodet-m_photos_residual_gated.py'
    for base in ('configs/photos/genisp_yolox-nano_photos_residual_gated.py',
                 'configs/photos/genisp_yolox-nano_photos_residual_wb.py',
                 'configs/photos/genisp_yolox-nano_photos.py',
                 'configs/photos/_base_/photos_data.py',
                 'configs/detectors/nanodet-m.py'):  # '{{ fileDirname }}/../detectors/...'
        assert base in files
    assert len(files) == len(set(files))
    assert all(os.path.isfile(os.path.join(REPO_ROOT, f)) for f in files)
