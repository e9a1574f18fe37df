"""tools/infer_raw.py as a user runs it: a folder with a corrupt file and a non-RAW file is
processed to the end with both reported; COCO outputs, pictures, renderings; resuming skips
what is done (also after a kill mid-line) and refuses another model's results."""
import json
import shutil
import subprocess
import sys

import cv2
import pytest
from pycocotools.coco import COCO

from tests.helpers import DEMO_CONFIG, KEEP_ALL, REPO_ROOT, demo_dngs, save_genisp_checkpoint


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """night/ with three good DNGs (one in a subfolder), a truncated DNG and a JPEG posing as
    .ARW."""
    root = tmp_path_factory.mktemp('footage')
    dngs = demo_dngs(root / 'src', num_test=3, width=160, height=120)
    night = root / 'night'
    (night / 'cam2').mkdir(parents=True)
    shutil.copy(dngs[0], night / 'a.dng')
    shutil.copy(dngs[1], night / 'b.dng')
    shutil.copy(dngs[2], night / 'cam2' / 'c.DNG')
    data = dngs[0].read_bytes()
    (night / 'truncated.dng').write_bytes(data[:len(data) // 2])
    ok, jpeg = cv2.imencode('.jpg', (cv2.getGaussianKernel(64, 9) * 255).astype('uint8'))
    (night / 'cam2' / 'photo.arw').write_bytes(jpeg.tobytes())
    (night / 'notes.txt').write_text('not a RAW file and not collected')
    return night


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return save_genisp_checkpoint(tmp_path_factory.mktemp('ckpt') / 'genisp.pth')


def infer(*args, check=True):
    options = [f'{k}={v}' for k, v in KEEP_ALL.items()]
    proc = subprocess.run([sys.executable, 'tools/infer_raw.py', *map(str, args),
                           '--cfg-options', *options],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def test_a_folder_with_bad_files_is_processed_to_the_end(folder, checkpoint, tmp_path):
    out = tmp_path / 'out'
    proc = infer(folder, DEMO_CONFIG, checkpoint, '--out-dir', out, '--batch-size', '2',
                 '--save-pictures', '--save-renderings', 'png', '--score-thr', '0')
    assert '5 RAW files, 0 already done' in proc.stdout
    assert '3 files with' in proc.stdout and '2 unreadable' in proc.stdout
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['ok'] == 3 and summary['unreadable'] == 2
    failures = {f['file']: f for f in summary['failures']}
    assert failures[str(folder / 'truncated.dng')]['error_type'] == 'TruncatedRawError'
    assert failures[str(folder / 'cam2' / 'photo.arw')]['error_type'] == 'NotRawFileError'
    assert all(path in f['error'] for path, f in failures.items())  # each names its file
    assert summary['files_per_second'] > 0

    # COCO outputs that pycocotools reads, boxes in the 160x120 RAW frame
    images = json.loads((out / 'images.json').read_text())
    assert sorted(im['file_name'] for im in images['images']) == ['a.dng', 'b.dng',
                                                                  'cam2/c.DNG']
    assert {(im['width'], im['height']) for im in images['images']} == {(160, 120)}
    coco = COCO()
    coco.dataset = dict(images=images['images'], categories=images['categories'],
                        annotations=[])
    coco.createIndex()
    detections = coco.loadRes(str(out / 'detections.json'))
    assert len(detections.anns) == summary['detections'] > 0
    for ann in detections.anns.values():
        x, y, w, h = ann['bbox']
        assert -1 <= x and x + w <= 161 and -1 <= y and y + h <= 121
    records = [json.loads(line) for line in (out / 'predictions.jsonl').read_text().splitlines()]
    good = [r for r in records if r['status'] == 'ok']
    assert all(len(r['isp']['wb_gains']) == 3 for r in good)

    # renderings as the detector saw them (packed 80x60), pictures with boxes drawn
    rendering = cv2.imread(str(out / 'renderings' / 'cam2' / 'c.png'))
    picture = cv2.imread(str(out / 'pictures' / 'cam2' / 'c.jpg'))
    assert rendering.shape == (60, 80, 3) and picture.shape == (60, 80, 3)
    assert (cv2.absdiff(rendering, picture).max(axis=2) > 60).sum() > 20  # boxes drawn
    assert not (out / 'renderings' / 'truncated.png').exists()


def test_resume_skips_finished_files_and_redoes_a_cut_line(folder, checkpoint, tmp_path):
    out = tmp_path / 'out'
    infer(folder / 'a.dng', folder / 'b.dng', DEMO_CONFIG, checkpoint, '--out-dir', out)
    first = (out / 'predictions.jsonl').read_text()
    proc = infer(folder, DEMO_CONFIG, checkpoint, '--out-dir', out)
    assert '5 RAW files, 2 already done' in proc.stdout
    lines = (out / 'predictions.jsonl').read_text().splitlines()
    assert len(lines) == 5 and '\n'.join(lines).startswith(first.rstrip('\n'))
    # a kill while writing leaves half a line: it is dropped and that file is run again
    cut = '\n'.join(lines[:4]) + '\n' + lines[4][:len(lines[4]) // 2]
    (out / 'predictions.jsonl').write_text(cut)
    proc = infer(folder, DEMO_CONFIG, checkpoint, '--out-dir', out)
    assert '5 RAW files, 4 already done' in proc.stdout and '1 to run' in proc.stdout
    again = (out / 'predictions.jsonl').read_text().splitlines()
    assert len(again) == 5 and all(json.loads(line) for line in again)
    assert json.loads((out / 'summary.json').read_text())['ok'] == 3


def test_resuming_with_another_model_is_refused(folder, checkpoint, tmp_path):
    out = tmp_path / 'out'
    infer(folder / 'a.dng', DEMO_CONFIG, checkpoint, '--out-dir', out)
    other = save_genisp_checkpoint(tmp_path / 'other.pth', seed=1)
    proc = infer(folder, DEMO_CONFIG, other, '--out-dir', out, check=False)
    assert proc.returncode == 2 and 'another model' in proc.stderr
    assert 'Traceback' not in proc.stderr
    proc = infer(folder / 'a.dng', DEMO_CONFIG, other, '--out-dir', out, '--no-resume')
    assert '1 RAW files, 0 already done' in proc.stdout


def test_inputs_that_name_nothing_are_a_clear_error(checkpoint, tmp_path):
    proc = infer(tmp_path / 'missing_folder', DEMO_CONFIG, checkpoint,
                 '--out-dir', tmp_path / 'out', check=False)
    assert proc.returncode == 2 and 'missing_folder' in proc.stderr
    assert 'Traceback' not in proc.stderr and not (tmp_path / 'out').exists()


def test_real_camera_files(shared, checkpoint, tmp_path):
    samples = shared('raw-samples')
    out = tmp_path / 'out'
    proc = infer(samples, DEMO_CONFIG, checkpoint, '--out-dir', out)
    summary = json.loads((out / 'summary.json').read_text())
    # the one readable Bayer DNG is processed; every file in bad/ is reported, none stops it
    assert summary['ok'] == 1 and summary['unreadable'] == summary['files'] - 1 >= 4, proc.stdout
    assert all(f['error_type'].endswith('Error') for f in summary['failures'])
