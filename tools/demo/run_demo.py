#!/usr/bin/env python
"""`make demo`: GenISP end to end on the embedded low-light multi-camera RAW benchmark, on CPU.

Steps (each cached, so a second run only redoes what changed):

1. render the benchmark: dark DNGs from 4 simulated cameras (real colour matrices, each a
   different CFA order) + well-lit sRGB renderings (tools/make_demo_dataset.py);
2. pretrain the small detector on the well-lit sRGB train renderings (tools/train.py
   configs/demo/detector_srgb.py) - the stand-in for COCO pretraining;
3. train GenISP with tools/train.py on the Sony RX100 VII's dark DNGs with that detector
   frozen (configs/demo/genisp_demo.py), and the ablation without the XYZ transform;
4. score with tools/test.py, on the train camera's test split and on three cameras GenISP
   never saw: LibRaw's conventional ISP, packed RAW + gain + gamma, GenISP without XYZ,
   GenISP, and the well-lit sRGB oracle - all through the same frozen detector;
5. write report.md, report.json and pictures.png (the same scenes through each pipeline)
   to the work dir, and print the table.

    python tools/demo/run_demo.py [--work-dir work_dirs/demo] [--data data/genisp_demo]
        [--quick]   # toy size, for the test suite
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from genisp_mmdet.synthetic import (DemoDatasetSpec, SceneConfig,  # noqa: E402
                                    generate_demo_dataset)

TRAIN_CAMERA = 'sony_rx100m7'
TEST_CAMERAS = ('nikon_d750', 'canon_eos5dm4', 'sony_a7m3')
#: (key, label, config, trained-checkpoint key or None)
METHODS = (
    ('libraw', 'LibRaw conventional ISP', 'configs/demo/baseline_libraw_isp.py', None),
    ('gain_gamma', 'Packed RAW + gain + gamma', 'configs/demo/baseline_gain_gamma.py', None),
    ('genisp_camera', 'GenISP without XYZ', 'configs/demo/genisp_demo_camera_space.py',
     'genisp_camera'),
    ('genisp', 'GenISP', 'configs/demo/genisp_demo.py', 'genisp'),
)
ORACLE = ('oracle', 'Well-lit sRGB (oracle)')


class Step:
    """Prints a numbered step with its duration."""
    count = 0

    def __init__(self, title):
        Step.count += 1
        self.title = title

    def __enter__(self):
        self.start = time.time()
        print(f'\n=== [{Step.count}] {self.title}', flush=True)
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            print(f'=== [{Step.count}] done in {time.time() - self.start:.0f}s', flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default='data/genisp_demo')
    parser.add_argument('--quick', action='store_true',
                        help='toy size (a few scenes, one epoch each): checks the pipeline')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def fingerprint(*items) -> str:
    """Hash of files (by content) and plain values, to know when a cached result is stale."""
    digest = hashlib.sha256()
    for item in items:
        if isinstance(item, str) and osp.isfile(item):
            with open(item, 'rb') as f:
                digest.update(f.read())
        else:
            digest.update(json.dumps(item, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def run_tool(args, log_path, env):
    """Run a repo tool in a subprocess, its output to ``log_path``; fail loudly with its tail."""
    cmd = [sys.executable, *args]
    with open(log_path, 'w') as log:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = ''.join(f.readlines()[-25:])
        raise SystemExit(f'\nfailed: {" ".join(cmd)}\n(log: {log_path})\n{tail}')


def cached_training(name, config, work_dir, cfg_options, key, env, progress_note):
    """Train with tools/train.py unless ``work_dir/final.pth`` matches ``key``."""
    final = osp.join(work_dir, 'final.pth')
    stamp = osp.join(work_dir, 'final.json')
    if osp.isfile(final) and osp.isfile(stamp) and json.load(open(stamp)).get('key') == key:
        print(f'{name}: cached ({final})')
        return final
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    print(f'{name}: tools/train.py {config} ({progress_note}; log: {work_dir}/train.log)',
          flush=True)
    run_tool(['tools/train.py', config, '--work-dir', work_dir, '--cfg-options', *cfg_options],
             osp.join(work_dir, 'train.log'), env)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    shutil.copyfile(last, final + '.tmp')
    os.replace(final + '.tmp', final)
    with open(stamp, 'w') as f:
        json.dump({'key': key, 'from': last}, f)
    return final


def read_metrics(work_dir):
    """COCO bbox AP / AP50 of the single tools/test.py run logged under ``work_dir``."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    for path in reversed(logs):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                for prefix in ('coco', 'raw_coco'):
                    if f'{prefix}/bbox_mAP' in record:
                        return dict(AP=record[f'{prefix}/bbox_mAP'],
                                    AP50=record[f'{prefix}/bbox_mAP_50'])
    with open(osp.join(work_dir, 'test.log')) as f:
        if 'testing results of the whole dataset is empty' in f.read():
            return dict(AP=0.0, AP50=0.0)  # the detector found nothing above its threshold
    raise SystemExit(f'no COCO metrics found in {work_dir}')


def evaluate(config, checkpoint, camera, eval_dir, detector, env):
    os.makedirs(eval_dir, exist_ok=True)
    args = ['tools/test.py', config]
    if checkpoint:
        args.append(checkpoint)
    args += ['--work-dir', eval_dir, '--cfg-options',
             f'test_dataloader.dataset.ann_file=annotations/{camera}_test.json',
             f'test_dataloader.dataset.data_prefix.img={camera}/test/',
             f'model.detector_checkpoint={detector}']
    run_tool(args, osp.join(eval_dir, 'test.log'), env)
    return read_metrics(eval_dir)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    data = osp.abspath(args.data)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, GENISP_DEMO_ROOT=data.rstrip('/') + '/', PYTHONWARNINGS='ignore')
    if args.quick:
        spec = DemoDatasetSpec(num_train=16, num_test=8, seed=args.seed,
                               scene=SceneConfig(width=128, height=96))
        det_epochs, isp_epochs = ['train_cfg.max_epochs=2'], ['train_cfg.max_epochs=1']
        cameras = TEST_CAMERAS[:1]
    else:
        spec = DemoDatasetSpec(num_train=400, num_test=150, seed=args.seed)
        det_epochs, isp_epochs, cameras = [], [], TEST_CAMERAS

    with Step(f'Rendering the benchmark into {data}'):
        manifest = generate_demo_dataset(data, spec, overwrite=True)
        print('already there: skipped' if manifest.get('skipped') else 'rendered')
    data_key = fingerprint(osp.join(data, 'manifest.json'))

    with Step('Pretraining the small detector on well-lit sRGB renderings'):
        detector = cached_training(
            'detector', 'configs/demo/detector_srgb.py', osp.join(work_dir, 'detector_srgb'),
            det_epochs or ['train_cfg.max_epochs=30'],
            fingerprint('configs/demo/detector_srgb.py', 'configs/demo/_base_/demo_detector.py',
                        data_key, det_epochs), env, 'about 2 minutes on 2 CPU cores')

    checkpoints = {}
    with Step(f'Training GenISP on {TRAIN_CAMERA} dark DNGs, detector frozen'):
        for key, label, config, trained in METHODS:
            if trained is None:
                continue
            checkpoints[key] = cached_training(
                label, config, osp.join(work_dir, key),
                [f'model.detector_checkpoint={detector}', *isp_epochs],
                fingerprint(config, 'configs/demo/genisp_demo.py', detector, data_key,
                            isp_epochs), env, 'about 6 minutes')

    results = {}
    with Step('Scoring every pipeline with tools/test.py (COCO AP)'):
        for camera in (TRAIN_CAMERA, *cameras):
            for key, label, config, _ in METHODS:
                metrics = evaluate(config, checkpoints.get(key), camera,
                                   osp.join(work_dir, 'eval', key, camera), detector, env)
                results.setdefault(key, {})[camera] = metrics
                print(f'  {camera:<14} {label:<28} AP {metrics["AP"]:.3f}  '
                      f'AP50 {metrics["AP50"]:.3f}', flush=True)
        oracle_dir = osp.join(work_dir, 'eval', 'oracle')
        os.makedirs(oracle_dir, exist_ok=True)
        run_tool(['tools/test.py', 'configs/demo/detector_srgb.py', detector,
                  '--work-dir', oracle_dir], osp.join(oracle_dir, 'test.log'), env)
        results[ORACLE[0]] = {'all': read_metrics(oracle_dir)}

    with Step('Writing the report and the picture grid'):
        from tools.demo.report import write_report
        write_report(work_dir, data, results, checkpoints, detector, TRAIN_CAMERA, cameras,
                     METHODS, ORACLE, elapsed=time.time() - start)
    print(f'\nDemo finished in {(time.time() - start) / 60:.1f} min. '
          f'Report: {work_dir}/report.md, pictures: {work_dir}/pictures.png')


if __name__ == '__main__':
    main()
