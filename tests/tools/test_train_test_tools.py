"""tools/train.py and tools/test.py as a user runs them: training with the standard runner,
--resume with torch's weights-only loading, torchrun/gloo DDP on CPU, COCO evaluation,
--show-dir pictures on the ISP output, and clear errors for bad input."""
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from genisp_mmdet.synthetic import DemoDatasetSpec, SceneConfig, generate_demo_dataset
from tests.helpers import REPO_ROOT

CONFIG = 'configs/demo/genisp_demo.py'
TINY = ['model.detector_checkpoint=None', 'randomness.seed=0',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.3.prob=0.0',  # no random flips: runs comparable
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=3',
        'default_hooks.logger.interval=1']


@pytest.fixture(scope='module')
def micro_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('micro') / 'demo'
    generate_demo_dataset(root, DemoDatasetSpec(num_train=8, num_test=4, seed=3,
                                                scene=SceneConfig(width=128, height=96)),
                          workers=1, progress=False)
    return root


@pytest.fixture(scope='module')
def one_epoch_run(micro_data, tmp_path_factory):
    """The checkpoint of one training epoch (read-only: tests that change a run train their
    own)."""
    work_dir = tmp_path_factory.mktemp('one_epoch')
    train(work_dir, micro_data, 1)
    return work_dir / 'epoch_1.pth'


def run(args, data_root, check=True, extra_env=None):
    env = dict(os.environ, GENISP_DEMO_ROOT=f'{data_root}/', OMP_NUM_THREADS='1')
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def train(work_dir, data_root, epochs, *extra):
    return run(['tools/train.py', CONFIG, '--work-dir', str(work_dir), *extra,
                '--cfg-options', *TINY, f'train_cfg.max_epochs={epochs}'], data_root)


def isp_state(checkpoint):
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
    return {k: v for k, v in state.items() if k.startswith('data_preprocessor.isp.')}


@pytest.fixture(scope='module')
def straight_run(micro_data, tmp_path_factory):
    """Two uninterrupted epochs: what every interrupted and resumed run must end with."""
    work_dir = tmp_path_factory.mktemp('straight')
    train(work_dir, micro_data, 2)
    return isp_state(work_dir / 'epoch_2.pth')


def test_resume_matches_an_uninterrupted_run(micro_data, straight_run, tmp_path):
    train(tmp_path / 'resumed', micro_data, 1)
    out = train(tmp_path / 'resumed', micro_data, 2, '--resume')
    # the config's KeepFreedMemoryHook switched glibc to reusing memory on this CPU run
    assert 'CPU training: glibc keeps freed memory' in out.stdout + out.stderr
    assert 'resumed epoch: 1' in (out.stdout + out.stderr).lower() or \
        'auto resumed from the latest checkpoint' in (out.stdout + out.stderr).lower()
    straight = straight_run
    resumed = isp_state(tmp_path / 'resumed' / 'epoch_2.pth')
    first = isp_state(tmp_path / 'resumed' / 'epoch_1.pth')
    assert straight.keys() == resumed.keys() and straight
    assert any(not torch.equal(first[k], straight[k]) for k in straight)  # epoch 2 trained
    for k in straight:
        torch.testing.assert_close(resumed[k], straight[k], rtol=0, atol=1e-6)


def test_killed_runs_resume_to_the_uninterrupted_result(micro_data, straight_run, tmp_path):
    """SIGKILL at random moments, each followed by --resume, and a kill while a checkpoint is
    written (simulated: a truncated newest checkpoint that last_checkpoint names): the run
    ends with the uninterrupted run's ISP, never loading a truncated file."""
    import random
    import signal
    import time
    work_dir = tmp_path / 'killed'
    command = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
               '--resume', '--cfg-options', *TINY, 'train_cfg.max_epochs=2']
    env = dict(os.environ, GENISP_DEMO_ROOT=f'{micro_data}/', OMP_NUM_THREADS='1')
    moments = random.Random(0)
    # the first kill at a random moment, the second soon after the first epoch's checkpoint
    # (waiting for it, however slow the machine), so a checkpoint always exists to cut short
    for first in (True, False):
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if first:
            time.sleep(moments.uniform(6.0, 20.0))
        else:
            deadline = time.time() + 600
            while not (work_dir / 'epoch_1.pth').exists() and proc.poll() is None \
                    and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(moments.uniform(0.0, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the kill during a save: the newest checkpoint cut short, named by last_checkpoint
    assert (work_dir / 'epoch_1.pth').exists()
    cut = work_dir / 'epoch_2.pth'
    data = (work_dir / 'epoch_1.pth').read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    (work_dir / 'last_checkpoint').write_text(str(cut))
    out = run(command[1:], micro_data)
    log = out.stdout + out.stderr
    assert f'not resuming from {cut}: missing or truncated' in log
    resumed = isp_state(work_dir / 'epoch_2.pth')
    assert resumed.keys() == straight_run.keys()
    for k in straight_run:
        torch.testing.assert_close(resumed[k], straight_run[k], rtol=0, atol=1e-6)
    # an explicit --resume of a truncated file is refused in one line
    bad = tmp_path / 'cut.pth'
    bad.write_bytes((work_dir / 'epoch_2.pth').read_bytes()[:1000])
    refused = run(['tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'other'),
                   '--resume', str(bad)], micro_data, check=False)
    assert refused.returncode == 2 and 'is truncated or corrupt' in refused.stderr
    assert 'Traceback' not in refused.stderr


def test_checkpoints_load_weights_only_and_code_stays_refused(one_epoch_run, tmp_path):
    checkpoint = torch.load(one_epoch_run, map_location='cpu', weights_only=True)
    assert {'state_dict', 'optimizer', 'message_hub', 'meta'} <= set(checkpoint)

    class Payload:  # what a malicious checkpoint would carry
        def __reduce__(self):
            return (os.system, ('echo pwned',))

    class Sneaky:  # getattr is allowed only for HistoryBuffer's statistics methods
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__subclasses__'))

    for name, payload in (('evil', Payload()), ('sneaky', Sneaky())):
        path = tmp_path / f'{name}.pth'
        torch.save({'state_dict': {}, 'x': payload}, path)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, weights_only=True)


def test_warm_start_hook_runs_before_a_fresh_run_only(micro_data, one_epoch_run, tmp_path):
    config = tmp_path / 'warm.py'
    config.write_text(f"_base_ = '{REPO_ROOT / CONFIG}'\n"
                      "custom_hooks = [dict(type='WarmStartISPHook', steps=6, lr=1e-2)]\n")

    def train_warm(name, *options):
        out = run(['tools/train.py', str(config), '--work-dir', str(tmp_path / name),
                   '--cfg-options', *TINY, 'train_cfg.max_epochs=1', *options], micro_data)
        return out.stdout + out.stderr
    log = train_warm('fresh')
    line = next(x for x in log.splitlines() if 'WarmStartISPHook: L1 to GainGammaISP' in x)
    first, last = (float(v) for v in line.split('GainGammaISP ')[1].split(' over')[0]
                   .split(' -> '))
    assert last < first, line
    assert log.index('warm start 6/6') < log.index('Epoch(train)')  # before the first step
    log = train_warm('loaded', f'load_from={one_epoch_run}')
    assert f'skipped, the run loads its weights from {one_epoch_run}' in log
    assert 'warm start 6/6' not in log


def test_unreadable_training_files_are_skipped_reported_and_bounded(micro_data, tmp_path):
    import json
    import shutil
    data = tmp_path / 'data'
    shutil.copytree(micro_data, data)
    train_dngs = sorted((data / 'sony_rx100m7' / 'train').glob('*.dng'))
    truncated, garbage = train_dngs[1], train_dngs[4]
    truncated.write_bytes(truncated.read_bytes()[:4000])
    garbage.write_text('this is not a RAW file')
    out = run(['tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'tolerant'),
               '--cfg-options', *TINY, 'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
               'custom_hooks.2.max_bad_fraction=0.3'], data)
    log = out.stdout + out.stderr
    assert (tmp_path / 'tolerant' / 'epoch_2.pth').exists()  # the run went to its end
    record = [json.loads(line) for line in
              (tmp_path / 'tolerant' / 'bad_files.jsonl').read_text().splitlines()]
    assert {r['file'] for r in record} == {str(truncated), str(garbage)}
    assert {r['error'] for r in record} == {'TruncatedRawError', 'NotRawFileError'}
    for path in (truncated, garbage):
        assert f'BadFilesHook: unreadable training file skipped: {path}' in log
        assert log.count(f'BadFilesHook: unreadable training file skipped: {path}') == 1
    assert 'bad_files: 2' in log  # in the epoch's log line

    # with the configs' default (1 %) two bad files of eight stop the run, in one line
    strict = run(['tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'strict'),
                  '--cfg-options', *TINY, 'train_cfg.max_epochs=1'], data, check=False)
    assert strict.returncode == 2 and 'Traceback' not in strict.stderr, strict.stderr[-2000:]
    assert '2 of 8 training files are unreadable' in strict.stderr
    assert str(tmp_path / 'strict' / 'bad_files.jsonl') in strict.stderr


def test_a_run_over_a_truncated_a_monochrome_a_portrait_and_a_libraw_crashing_file(
        micro_data, tmp_path):
    """Issue 14's acceptance run: every kind of bad file in one training folder, DataLoader
    workers decoding in isolation; the run ends, the three unreadable files are reported and
    the portrait shot is trained on, turned."""
    import json
    import shutil

    import numpy as np

    from tests.helpers import libraw_sabotage_env
    from tests.raw.dng_writer import set_orientation, write_monochrome_dng
    data = tmp_path / 'data'
    shutil.copytree(micro_data, data)
    folder = data / 'sony_rx100m7' / 'train'
    ann_path = data / 'annotations' / 'sony_rx100m7_train.json'
    coco = json.loads(ann_path.read_text())
    images = sorted(coco['images'], key=lambda im: im['file_name'])
    truncated, mono, portrait, crash = (folder / images[k]['file_name'] for k in range(4))
    truncated.write_bytes(truncated.read_bytes()[:4000])
    write_monochrome_dng(mono, np.full((96, 128), 1000, np.uint16))
    # the portrait shot: the camera recorded "turn 90 degrees clockwise"; its annotations
    # are drawn on the turned picture, as a labelling tool shows it
    set_orientation(portrait, 6)
    images[2]['width'], images[2]['height'] = images[2]['height'], images[2]['width']
    for ann in coco['annotations']:
        if ann['image_id'] == images[2]['id']:
            x, y, w, h = ann['bbox']
            ann['bbox'] = [images[2]['width'] - y - h, x, h, w]
    # the LibRaw crash: a name the sabotaged decoder process segfaults on
    crash_name = 'crash_libraw.dng'
    crash.rename(folder / crash_name)
    images[3]['file_name'] = crash_name
    crash = folder / crash_name
    ann_path.write_text(json.dumps(coco))

    work_dir = tmp_path / 'run'
    out = run(['tools/train.py', CONFIG, '--work-dir', str(work_dir), '--cfg-options', *TINY,
               'train_cfg.max_epochs=1', 'train_dataloader.num_workers=2',
               'train_dataloader.dataset.pipeline.0.isolate=True',
               'custom_hooks.2.max_bad_fraction=0.5'], data,
              extra_env=libraw_sabotage_env(tmp_path / 'site'))
    log = out.stdout + out.stderr
    assert (work_dir / 'epoch_1.pth').exists()  # the run went to its end
    record = {r['file']: r['error'] for r in map(
        json.loads, (work_dir / 'bad_files.jsonl').read_text().splitlines())}
    assert record == {str(truncated): 'TruncatedRawError', str(mono): 'UnsupportedSensorError',
                      str(crash): 'DecoderCrashError'}
    assert f'unreadable training file skipped: {crash} (DecoderCrashError' in log
    assert 'SIGSEGV' in log
    assert str(portrait) not in record


def test_a_worker_killed_inside_libraw_is_named_with_the_file(micro_data, tmp_path):
    """Without isolation a LibRaw crash still ends the run, but with one line naming the file
    and the way out, not PyTorch's anonymous 'DataLoader worker exited unexpectedly'."""
    import json
    import shutil

    from tests.helpers import libraw_sabotage_env
    data = tmp_path / 'data'
    shutil.copytree(micro_data, data)
    ann_path = data / 'annotations' / 'sony_rx100m7_train.json'
    coco = json.loads(ann_path.read_text())
    image = sorted(coco['images'], key=lambda im: im['file_name'])[0]
    folder = data / 'sony_rx100m7' / 'train'
    (folder / image['file_name']).rename(folder / 'crash_libraw.dng')
    image['file_name'] = 'crash_libraw.dng'
    ann_path.write_text(json.dumps(coco))
    out = run(['tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'run'), '--cfg-options',
               *TINY, 'train_cfg.max_epochs=1', 'train_dataloader.num_workers=2'], data,
              check=False, extra_env=libraw_sabotage_env(tmp_path / 'site'))
    assert out.returncode == 2, out.stderr[-2000:]
    assert 'exited unexpectedly' in out.stderr
    assert f'were decoding {folder / "crash_libraw.dng"}: the file crashes LibRaw' in out.stderr
    assert 'pipeline.0.isolate=True' in out.stderr


def free_port() -> int:
    # a fixed port fails the run when another job (or a previous run's socket) holds it
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_torchrun_gloo_ddp_keeps_isp_identical_on_both_ranks(micro_data, tmp_path):
    out = run(['-m', 'torch.distributed.run', '--nproc_per_node=2',
               f'--master_port={free_port()}',
               'tools/train.py', CONFIG, '--launcher', 'pytorch', '--work-dir',
               str(tmp_path / 'ddp'), '--cfg-options', *TINY, 'train_cfg.max_epochs=2'],
              micro_data)
    log = out.stdout + out.stderr
    assert log.count('ISP parameters identical on 2 ranks') >= 2, log[-3000:]
    assert (tmp_path / 'ddp' / 'epoch_2.pth').exists()
    # the ranks end without the native teardown (distributed_session): the log is complete
    assert 'Epoch(val) [2][1/1]' in log, log[-3000:]


def test_test_tool_scores_coco_and_draws_on_the_isp_output(micro_data, one_epoch_run,
                                                          tmp_path):
    out = run(['tools/test.py', CONFIG, str(one_epoch_run), '--work-dir',
               str(tmp_path / 'eval'), '--show-dir', 'vis', '--cfg-options',
               'model.detector_checkpoint=None', 'model.detector.test_cfg.score_thr=0.0',
               'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False'], micro_data)
    assert 'bbox_mAP' in out.stdout + out.stderr
    pictures = [p for root, _, files in os.walk(tmp_path / 'eval') for p in files
                if p.endswith('.png') and 'vis' in root]
    assert len(pictures) == 4  # one per test image, named after the RAW files
    assert all(p.startswith('test_') for p in pictures)


@pytest.mark.parametrize('args,message', [
    (['tools/train.py', 'configs/does_not_exist.py'], 'config file not found'),
    (['tools/train.py', CONFIG, '--resume', '/nope/epoch_3.pth'], 'checkpoint not found'),
    (['tools/test.py', CONFIG, '/nope/epoch_3.pth'], 'checkpoint not found'),
    (['tools/test.py', CONFIG], 'its ISP is learned'),
])
def test_bad_command_lines_fail_with_one_clear_line(micro_data, args, message):
    out = run(args, micro_data, check=False)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr[-2000:]
    assert 'Traceback' not in out.stderr


def test_broken_config_names_the_file(micro_data, tmp_path):
    bad = tmp_path / 'broken.py'
    bad.write_text("_base_ = ['./does_not_exist.py']\nmodel = dict(\n")
    out = run(['tools/train.py', str(bad)], micro_data, check=False)
    assert out.returncode == 2 and str(bad) in out.stderr and 'Traceback' not in out.stderr


def test_test_tool_refuses_weights_that_do_not_fit(micro_data, one_epoch_run, tmp_path):
    """A bare detector checkpoint (what a user has from mmdet) would load with strict=False
    into nothing and score zero AP; it is refused, naming the file and the cure."""
    state = torch.load(one_epoch_run, map_location='cpu', weights_only=False)['state_dict']
    bare = tmp_path / 'detector_only.pth'
    torch.save({'state_dict': {k[len('detector.'):]: v for k, v in state.items()
                               if k.startswith('detector.')}}, bare)
    out = run(['tools/test.py', CONFIG, str(bare), '--work-dir', str(tmp_path / 'eval'),
               '--cfg-options', 'model.detector_checkpoint=None'], micro_data, check=False)
    assert out.returncode != 0 and 'Traceback' not in out.stderr
    assert f"{bare} does not fit the config's model" in out.stderr, out.stderr[-2000:]
    assert 'model.detector_checkpoint instead' in out.stderr


def test_demo_raw_draws_detections_and_isp_stages(micro_data, one_epoch_run, tmp_path):
    import cv2
    dng = sorted((micro_data / 'nikon_d750' / 'test').glob('*.dng'))[0]
    out, stages = tmp_path / 'out.png', tmp_path / 'stages.png'
    proc = run(['tools/demo_raw.py', str(dng), CONFIG, str(one_epoch_run),
                '--out', str(out), '--stages', str(stages), '--score-thr', '0.0',
                ], micro_data)
    assert 'detections' in proc.stdout
    picture, panel = cv2.imread(str(out)), cv2.imread(str(stages))
    assert picture.shape[:2] == (48, 64)  # the packed frame of a 128x96 DNG
    assert panel.shape[1] > 4 * 64  # input, ConvWB, ConvCC, output side by side
    # a file that is not RAW: one clear line naming it, nothing written
    fake = tmp_path / 'fake.arw'
    fake.write_bytes(b'not a raw file at all, 42 bytes of text..')
    bad = run(['tools/demo_raw.py', str(fake), CONFIG, str(one_epoch_run),
               '--out', str(tmp_path / 'bad.png')], micro_data, check=False)
    assert bad.returncode != 0 and str(fake) in bad.stderr and 'Traceback' not in bad.stderr
    assert not (tmp_path / 'bad.png').exists()
