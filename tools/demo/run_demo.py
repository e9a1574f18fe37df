#!/usr/bin/env python
"""`make demo`: GenISP end to end on the embedded low-light multi-camera RAW benchmark, on CPU.

Steps (each cached, so a second run only redoes what changed):

1. render the benchmark: dark DNGs from 5 simulated cameras (4 with real colour matrices, in
   all four CFA orders, and an RCCB sensor derived from the Nikon D750's filters) + well-lit
   sRGB renderings (tools/make_demo_dataset.py);
2. pretrain the small detector (a light RetinaNet) on the well-lit sRGB train renderings
   (tools/train.py configs/demo/detector_srgb.py) - the stand-in for COCO pretraining - and
   a second one of another family (FCOS on the same backbone, configs/demo/detector_srgb_fcos.py;
   not with ``--single-detector``);
3. train GenISP with tools/train.py on the Sony RX100 VII's dark DNGs with the RetinaNet
   frozen (configs/demo/genisp_demo.py), the ablation without the XYZ transform, and GenISP
   through the frozen FCOS (configs/demo/genisp_demo_fcos.py);
4. score with tools/test.py, on the train camera's test split and on four cameras GenISP
   never saw: LibRaw's conventional ISP, packed RAW + gain + gamma, GenISP without XYZ,
   GenISP, and the well-lit sRGB oracle - all through the same frozen RetinaNet; and, on the
   unseen cameras, the cross-detector table: FCOS behind
   LibRaw's ISP, behind the GenISP trained through the RetinaNet (tools/test.py --isp-from)
   and behind its own GenISP, and the RetinaNet behind the GenISP trained through FCOS;
5. write report.md, report.json and pictures.png (the same scenes through each pipeline)
   to the work dir, and print the tables.

    python tools/demo/run_demo.py [--work-dir work_dirs/demo] [--data data/genisp_demo]
        [--single-detector]  # the RetinaNet only: no FCOS, no cross-detector table
        [--quick]            # toy size, for the test suite
"""
import argparse
import copy
import glob
import hashlib
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from genisp_mmdet.synthetic import (DemoDatasetSpec, SceneConfig,  # noqa: E402
                                    generate_demo_dataset)

TRAIN_CAMERA = 'sony_rx100m7'
TEST_CAMERAS = ('nikon_d750', 'canon_eos5dm4', 'sony_a7m3', 'rccb_d750')
#: (key, label, config, trained-checkpoint key or None)
METHODS = (
    ('libraw', 'LibRaw conventional ISP', 'configs/demo/baseline_libraw_isp.py', None),
    ('gain_gamma', 'Packed RAW + gain + gamma', 'configs/demo/baseline_gain_gamma.py', None),
    ('genisp_camera', 'GenISP without XYZ', 'configs/demo/genisp_demo_camera_space.py',
     'genisp_camera'),
    ('genisp', 'GenISP', 'configs/demo/genisp_demo.py', 'genisp'),
)
ORACLE = ('oracle', 'Well-lit sRGB (oracle)')
#: The cross-detector table: (key, label, config, ISP checkpoint key or None, detector key).
#: The ISP of a checkpoint trained through the other detector is loaded alone (--isp-from).
CROSS_METHODS = (
    ('fcos_libraw', 'FCOS behind LibRaw conventional ISP',
     'configs/demo/baseline_libraw_isp_fcos.py', None, 'fcos'),
    ('fcos_genisp_retinanet', 'FCOS behind GenISP trained through the RetinaNet',
     'configs/demo/genisp_demo_fcos.py', 'genisp', 'fcos'),
    ('fcos_genisp_fcos', 'FCOS behind GenISP trained through FCOS (its own)',
     'configs/demo/genisp_demo_fcos.py', 'genisp_fcos', 'fcos'),
    ('retinanet_genisp_fcos', 'RetinaNet behind GenISP trained through FCOS',
     'configs/demo/genisp_demo.py', 'genisp_fcos', 'retinanet'),
)
CROSS_ORACLE = ('fcos_oracle', 'FCOS on well-lit sRGB (oracle)')


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
    parser.add_argument('--single-detector', action='store_true',
                        help='the RetinaNet only: no FCOS pretraining, no GenISP trained '
                             'through it, no cross-detector table')
    args = parser.parse_args(argv)
    args.cross_detector = not args.single_detector
    return args


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


def package_sources() -> list:
    """The plugin's source files (Python and the C packing kernel): what a trained ISP depends
    on besides its configs and data, so a code change retrains it."""
    root = osp.join(REPO_ROOT, 'genisp_mmdet')
    return sorted(f for pattern in ('*.py', '*.c')
                  for f in glob.glob(osp.join(root, '**', pattern), recursive=True))


class Job:
    """One repo tool run in a subprocess, its output going to ``log_path``."""

    def __init__(self, label, args, log_path, on_success=None):
        self.label, self.args, self.log_path, self.on_success = label, args, log_path, on_success
        self.proc = self.log = None
        self.result = None

    def start(self, env):
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen([sys.executable, *self.args], cwd=REPO_ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def finish(self):
        self.log.close()
        if self.proc.returncode != 0:
            with open(self.log_path) as f:
                tail = ''.join(f.readlines()[-25:])
            raise SystemExit(f'\nfailed: {" ".join(self.args)}\n(log: {self.log_path})\n{tail}')
        if self.on_success is not None:
            self.result = self.on_success()

    def progress(self):
        """The last ``[epoch][iter/iters]`` the training log reports, or ''."""
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(max(0, osp.getsize(self.log_path) - 4096))
                tail = f.read().decode('utf-8', 'replace')
        except OSError:
            return ''
        found = re.findall(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]', tail)
        return f'epoch {found[-1][0]}, iter {found[-1][1]}/{found[-1][2]}' if found else ''


def run_jobs(jobs, env, report_every=60.0, slots=None, threads=None):
    """Run ``jobs`` concurrently, as many at a time as there are CPU cores (at least one) or
    ``slots``, splitting the cores' threads between them: on the 2-core reference machine two
    1-thread trainings finish in ~1.05 s per iteration each where one 2-thread training
    takes ~0.62 s, so two side by side save ~15% of the wall time; short test runs gain
    more, as each spends seconds in single-threaded start-up. Three trainings of equal length
    on two cores are best started together (``slots=3``): two at a time leave a core idle
    while the third runs alone with its one thread. Prints each job's progress every
    ``report_every`` seconds and fails with the log tail of the first job that fails.
    ``threads``: each job's thread count instead of the cores' share.
    """
    slots = max(1, min(len(jobs), slots or os.cpu_count() or 1))
    threads = str(threads or max(1, (os.cpu_count() or 1) // slots))
    job_env = dict(env, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    pending, running = list(jobs), []
    last_report = time.time()
    while pending or running:
        while pending and len(running) < slots:
            job = pending.pop(0)
            job.start(job_env)
            running.append(job)
        time.sleep(0.2)
        for job in [j for j in running if j.proc.poll() is not None]:
            running.remove(job)
            try:
                job.finish()
            except SystemExit:
                for other in running:
                    other.proc.kill()
                raise
        if running and time.time() - last_report >= report_every:
            last_report = time.time()
            states = [f'{j.label}: {j.progress() or "running"}' for j in running]
            print('  ' + '; '.join(states), flush=True)
    return [job.result for job in jobs]


def training_job(name, config, work_dir, cfg_options, key):
    """A tools/train.py job for ``config`` unless ``work_dir/final.pth`` matches ``key``
    (then ``None``: cached). On success the last checkpoint is copied to ``final.pth``."""
    final = osp.join(work_dir, 'final.pth')
    stamp = osp.join(work_dir, 'final.json')
    if osp.isfile(final) and osp.isfile(stamp) and json.load(open(stamp)).get('key') == key:
        print(f'{name}: cached ({final})')
        return None
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)

    def finalise():
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            last = f.read().strip()
        shutil.copyfile(last, final + '.tmp')
        os.replace(final + '.tmp', final)
        with open(stamp, 'w') as f:
            json.dump({'key': key, 'from': last}, f)
        return final

    print(f'{name}: tools/train.py {config} (log: {work_dir}/train.log)', flush=True)
    return Job(name, ['tools/train.py', config, '--work-dir', work_dir,
                      '--cfg-options', *cfg_options], osp.join(work_dir, 'train.log'), finalise)


def train_all(specs, env, at_once=None, threads=None):
    """``specs``: (name, config, work_dir, cfg_options, key); returns the final checkpoints.
    ``at_once``: how many trainings run together (default: one per core); ``threads``: each
    one's thread count (default: the cores' share)."""
    jobs = [j for j in (training_job(*spec) for spec in specs) if j is not None]
    run_jobs(jobs, env, slots=at_once, threads=threads)
    return [osp.join(spec[2], 'final.pth') for spec in specs]


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


def multi_subset_config(config, out_dir, subsets):
    """A copy of ``config`` whose test set is one copy of its test dataset per ``(prefix,
    dataset overrides)`` of ``subsets``, each scored separately in one tools/test.py run
    (:class:`ConcatDatasetEvaluator` over mmdet's ``ConcatDataset``: results logged as
    ``<prefix>/coco/bbox_mAP``), written to ``out_dir/config.py``. One run instead of one
    per subset saves the start-up (imports, model, weights) of every other run."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    template = cfg.test_dataloader.dataset
    datasets = []
    for _, overrides in subsets:
        dataset = copy.deepcopy(template)
        dataset.update(overrides)
        datasets.append(dataset)
    # mmdet's ConcatDataset hands each subset's metainfo (its own annotation file) to the
    # metric at the same position
    cfg.test_dataloader.dataset = dict(type='ConcatDataset', datasets=datasets)
    cfg.test_evaluator = dict(type='ConcatDatasetEvaluator',
                              metrics=[dict(cfg.test_evaluator) for _ in subsets],
                              dataset_prefixes=[prefix for prefix, _ in subsets])
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, 'config.py')
    cfg.dump(path)
    return path


def read_subset_metrics(eval_dir, prefixes):
    """``{prefix: {'AP', 'AP50'}}`` from the json log of a :func:`multi_subset_config` run.
    A subset on which the detector found nothing above its score threshold has no metrics in
    the log (mmdet logs "results ... empty" instead): it scores 0."""
    runs = sorted(d for d in os.listdir(eval_dir) if osp.isfile(osp.join(eval_dir, d, f'{d}.json')))
    if not runs:
        raise SystemExit(f'no test log found under {eval_dir}')
    with open(osp.join(eval_dir, runs[-1], f'{runs[-1]}.json')) as f:
        record = json.loads(f.readlines()[-1])
    with open(osp.join(eval_dir, 'test.log')) as f:
        some_empty = 'testing results of the whole dataset is empty' in f.read()
    out = {}
    for prefix in prefixes:
        key = f'{prefix}/coco/bbox_mAP'  # <dataset prefix>/<metric prefix>/<name>
        if key in record:
            out[prefix] = dict(AP=record[key], AP50=record[key + '_50'])
        elif some_empty:
            out[prefix] = dict(AP=0.0, AP50=0.0)
        else:
            raise SystemExit(f'{eval_dir}: no COCO metrics for {prefix} in {runs[-1]}')
    return out


def evaluation_job(label, config, checkpoint, eval_dir, cfg_options=(), isp_from=None,
                   read=None):
    """A tools/test.py job whose result is the COCO AP / AP50 it logged (printed as soon as
    the job ends), or what ``read()`` returns; ``isp_from``: score only the ISP of that
    checkpoint (tools/test.py --isp-from), in front of the config's own detector."""
    os.makedirs(eval_dir, exist_ok=True)
    args = ['tools/test.py', config, *([checkpoint] if checkpoint else []),
            *(['--isp-from', isp_from] if isp_from else []), '--work-dir', eval_dir]
    if cfg_options:
        args += ['--cfg-options', *cfg_options]

    def score():
        if read is not None:
            return read()
        metrics = read_metrics(eval_dir)
        print(f'  {label:<48} AP {metrics["AP"]:.3f}  AP50 {metrics["AP50"]:.3f}', flush=True)
        return metrics
    return Job(label, args, osp.join(eval_dir, 'test.log'), score)


def per_camera_job(label, config, checkpoint, eval_dir, data, cameras, cfg_options,
                   isp_from=None):
    """One tools/test.py run of ``config`` over the test split of every camera of
    ``cameras``; its result: ``{camera: {'AP', 'AP50'}}`` (printed as the job ends)."""
    eval_config = multi_subset_config(config, eval_dir, [
        (camera, dict(data_root=data.rstrip('/') + '/', ann_file=f'annotations/{camera}_test.json',
                      data_prefix=dict(img=f'{camera}/test/'))) for camera in cameras])

    def read():
        metrics = read_subset_metrics(eval_dir, cameras)
        print(f'  {label:<48} ' + '  '.join(f'{camera} {m["AP"]:.3f}'
                                            for camera, m in metrics.items()), flush=True)
        return metrics
    return evaluation_job(label, eval_config, checkpoint, eval_dir, cfg_options, isp_from, read)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    data = osp.abspath(args.data)
    os.makedirs(work_dir, exist_ok=True)
    # warnings stay on: they land in each job's log next to the numbers the report quotes
    env = dict(os.environ, GENISP_DEMO_ROOT=data.rstrip('/') + '/')
    if args.quick:
        spec = DemoDatasetSpec(num_train=16, num_test=8, seed=args.seed,
                               scene=SceneConfig(width=128, height=96))
        det_epochs, isp_epochs = ['train_cfg.max_epochs=2'], ['train_cfg.max_epochs=1']
        cameras = (TEST_CAMERAS[0], TEST_CAMERAS[-1])
    else:
        spec = DemoDatasetSpec(num_train=400, num_test=150, seed=args.seed)
        det_epochs, isp_epochs, cameras = [], [], TEST_CAMERAS

    with Step(f'Rendering the benchmark into {data}'):
        manifest = generate_demo_dataset(data, spec, overwrite=True)
        print('already there: skipped' if manifest.get('skipped') else 'rendered')
    data_key = fingerprint(osp.join(data, 'manifest.json'))

    pretrainings = [('RetinaNet', 'configs/demo/detector_srgb.py',
                     'configs/demo/_base_/demo_detector.py')]
    if args.cross_detector:
        pretrainings.append(('FCOS', 'configs/demo/detector_srgb_fcos.py',
                             'configs/demo/_base_/demo_detector_fcos.py'))
    with Step(f'Pretraining {" and ".join(p[0] for p in pretrainings)} on well-lit sRGB '
              f'renderings (~{3 * len(pretrainings)} min)'):
        # one after the other on two threads, as the RetinaNet was always pretrained: the
        # thread count changes the float summation order, and a RetinaNet pretrained on one
        # thread differed enough to move the demo's table (README); two 2-thread trainings
        # side by side on two cores run ~15x slower (OpenMP threads spin-waiting)
        pretrained = train_all([(
            name, config, osp.join(work_dir, osp.splitext(osp.basename(config))[0]),
            [*(det_epochs or ['train_cfg.max_epochs=30']), 'train_cfg.val_interval=1000'],
            fingerprint(config, base, 'configs/demo/_base_/demo_srgb_pretraining.py',
                        data_key, det_epochs))
            for name, config, base in pretrainings], env, at_once=1, threads=2)
    detectors = dict(zip(('retinanet', 'fcos'), pretrained))
    detector = detectors['retinanet']

    trained = [(key, label, config, 'retinanet') for key, label, config, ckpt in METHODS if ckpt]
    if args.cross_detector:
        trained.append(('genisp_fcos', 'GenISP through FCOS',
                        'configs/demo/genisp_demo_fcos.py', 'fcos'))
    with Step(f'Training GenISP on {TRAIN_CAMERA} dark DNGs, detector frozen: through the '
              'RetinaNet with and without the XYZ transform' +
              (', and through FCOS (~9 min)' if args.cross_detector else ' (~6 min)')):
        # one thread each, all at once: two at a time would leave a core idle while a third
        # ran alone
        finals = train_all([
            (label, config, osp.join(work_dir, key),
             # tools/test.py scores every camera next: no validation pass at the end
             [f'model.detector_checkpoint={detectors[det]}', 'train_cfg.val_interval=1000',
              *isp_epochs],
             fingerprint(config, 'configs/demo/genisp_demo.py', detectors[det], data_key,
                         isp_epochs, *package_sources()))
            for key, label, config, det in trained], env, at_once=len(trained), threads=1)
        checkpoints = {key: final for (key, _, _, _), final in zip(trained, finals)}

    with Step('Scoring every pipeline with tools/test.py, one run per pipeline over every '
              'camera (COCO AP, ~3 min)'):
        jobs, keys = [], []
        for key, label, config, _ in METHODS:
            jobs.append(per_camera_job(label, config, checkpoints.get(key),
                                       osp.join(work_dir, 'eval', key), data,
                                       (TRAIN_CAMERA, *cameras),
                                       [f'model.detector_checkpoint={detector}']))
            keys.append(key)
        oracles = [(ORACLE, 'configs/demo/detector_srgb.py', detector)]
        if args.cross_detector:
            for key, label, config, isp, det in CROSS_METHODS:
                jobs.append(per_camera_job(label, config, None, osp.join(work_dir, 'eval', key),
                                           data, cameras,
                                           [f'model.detector_checkpoint={detectors[det]}'],
                                           isp_from=checkpoints[isp] if isp else None))
                keys.append(key)
            oracles.append((CROSS_ORACLE, 'configs/demo/detector_srgb_fcos.py',
                            detectors['fcos']))
        for (key, label), config, weights in oracles:
            jobs.append(evaluation_job(label, config, weights, osp.join(work_dir, 'eval', key)))
            keys.append(key)
        results = {}
        for key, metrics in zip(keys, run_jobs(jobs, env)):
            # the oracles score the well-lit renderings once, for every camera
            results[key] = metrics if key not in (ORACLE[0], CROSS_ORACLE[0]) \
                else {'all': metrics}

    with Step('Writing the report and the picture grid'):
        from tools.demo.report import write_report
        write_report(work_dir, data, results, checkpoints, detector, TRAIN_CAMERA, cameras,
                     METHODS, ORACLE, elapsed=time.time() - start,
                     cross=(CROSS_METHODS, CROSS_ORACLE) if args.cross_detector else None)
    print(f'\nDemo finished in {(time.time() - start) / 60:.1f} min. '
          f'Report: {work_dir}/report.md, pictures: {work_dir}/pictures.png')


if __name__ == '__main__':
    main()
