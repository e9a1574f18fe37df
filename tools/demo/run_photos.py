#!/usr/bin/env python
"""The low-light COCO-photo benchmark: real photographs, a real COCO detector, five cameras.

Steps (each cached, so a second run only redoes what changed):

1. convert the official YOLOX-Nano COCO weights (ONNX) into MMDetection's YOLOX checkpoint
   (tools/model_converters/yolox_onnx_to_mmdet.py), unless it is already there;
2. "unprocess" the photos into dark RAW captures (tools/make_unprocessed_coco.py): the train
   photos by the Sony RX100 VII, the val photos by all five cameras, each at every darkness
   level (``--darkness``, default 10x, 50x and 200x below a normal exposure);
3. per seed, train GenISP and its camera-space ablation with tools/train.py through the frozen
   YOLOX-Nano, on the Sony's captures of the train photos at every level of
   ``--train-darkness`` (default: the benchmark's levels and 2x, cleaner captures, rendered
   for training only). GenISP is the calibrated gated residual recipe
   (configs/photos/genisp_yolox-nano_photos_residual_gated_calibrated.py: a zero-initialised
   ConvNet correcting a fixed rendering, scaled by a learned gate on the image's noise level,
   fitted on three quarters of the train photos; the gate then calibrated alone on the
   quarter held out); the paper's design (ConvWB + ConvCC + a ConvNet from random weights,
   which loses to LibRaw's ISP here, README) is added with ``--paper-design``;
4. score with tools/test.py, each pipeline over every (camera, darkness) pair of the val
   photos in one run: LibRaw's conventional ISP, packed RAW + gain + gamma, GenISP's fixed
   rendering untrained (where its training starts), GenISP without XYZ, GenISP (each seed);
   and YOLOX-Nano on the well-lit photos themselves (the oracle);
5. write report.md, report.json, ap_vs_darkness.png (a plot of AP against darkness per
   pipeline) and pictures.jpg (the same photos through each pipeline) to the work dir.

    python tools/demo/run_photos.py --coco-root ../shared/datasets/coco-photos
    python tools/demo/run_photos.py --coco-root /data/coco --max-images 500 --seeds 0 1 2

Trained ISPs are kept in ``--isp-dir`` (default: ``photo_isps`` beside the work dir, shared
with tools/demo/run_photos_detectors.py, whose tables use the gated recipe without the
calibration): each is keyed by its configs, detectors, training captures, seed, options and
the plugin's source, so a training asked for twice runs once. Run one benchmark at a time.

The pictures show COCO photographs: keep them out of the repository (image rights).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from tools.demo.run_demo import (Step, evaluation_job, fingerprint,  # noqa: E402
                                 multi_subset_config, package_sources, read_metrics, run_jobs,
                                 train_all)
from tools.demo.run_demo import read_subset_metrics as read_prefixed_metrics  # noqa: E402

TRAIN_CAMERA = 'sony_rx100m7'
TEST_CAMERAS = ('nikon_d750', 'canon_eos5dm4', 'sony_a7m3', 'rccb_d750')
DETECTOR_CHECKPOINT = 'checkpoints/yolox-nano_coco_megvii.pth'
DETECTOR_ONNX = '../shared/detectors/yolox_nano/yolox_nano.onnx'
ORACLE_CONFIG = 'configs/detectors/yolox-nano_coco-photos.py'
#: (key, label, config, training levels): ``None`` for a fixed pipeline, else the argument
#: holding the darkness levels of the train captures it trains on
METHODS = (
    ('libraw', 'LibRaw conventional ISP', 'configs/photos/baseline_libraw_isp.py', None),
    ('gain_gamma', 'Packed RAW + gain + gamma', 'configs/photos/baseline_gain_gamma.py', None),
    ('fixed_rendering', "GenISP's fixed rendering, untrained",
     'configs/photos/baseline_xyz_wb_gain_gamma.py', None),
    ('genisp_camera', 'GenISP without XYZ',
     'configs/photos/genisp_yolox-nano_photos_residual_gated_calibrated_camera_space.py',
     'train_darkness'),
    ('genisp', 'GenISP', 'configs/photos/genisp_yolox-nano_photos_residual_gated_calibrated.py',
     'train_darkness'),
)
#: ``--paper-design``: the paper's ISP, trained on the benchmark's levels only
PAPER_DESIGN = (
    ('paper_camera', "GenISP, the paper's design, without XYZ",
     'configs/photos/genisp_yolox-nano_photos_camera_space.py', 'darkness'),
    ('paper', "GenISP, the paper's design", 'configs/photos/genisp_yolox-nano_photos.py',
     'darkness'),
)
ORACLE = ('oracle', 'Well-lit photo (oracle)')


def add_benchmark_arguments(parser, work_dir):
    """The options every photo-benchmark runner shares: where the photos are, which darkness
    levels, seeds and epochs, where the renders and results go."""
    parser.add_argument('--coco-root', required=True,
                        help='COCO-format photo folder (e.g. ../shared/datasets/coco-photos or '
                        'a full COCO copy)')
    parser.add_argument('--train-ann', default='annotations/instances_train2017.json')
    parser.add_argument('--train-img-dir', default='train2017')
    parser.add_argument('--val-ann', default='annotations/instances_val2017.json')
    parser.add_argument('--val-img-dir', default='val2017')
    parser.add_argument('--max-images', type=int, default=None,
                        help='use the first N photos of each split (for a full COCO copy)')
    parser.add_argument('--darkness', type=float, nargs='+', default=[10, 50, 200],
                        help='scored darkness levels (times below a normal exposure)')
    parser.add_argument('--train-darkness', type=float, nargs='+', default=[2, 10, 50, 200],
                        help="the train camera's levels GenISP trains on (rendered for "
                             'training when missing; the gated recipe needs clean captures too)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='training seeds of the learned ISPs (renders are fixed)')
    parser.add_argument('--render-seed', type=int, default=0)
    parser.add_argument('--epochs', type=int, default=None,
                        help="GenISP's fitting epochs, train_cfg.max_epochs (default: the "
                             "config's); a calibrated recipe adds its calibration epochs")
    parser.add_argument('--data', default='data/coco-photos-raw')
    parser.add_argument('--work-dir', default=work_dir)
    parser.add_argument('--isp-dir', default=None,
                        help='where trained ISPs are kept (default: photo_isps beside the work '
                             'dir, shared by the photo benchmarks)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='rendering processes')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_benchmark_arguments(parser, 'work_dirs/photos')
    parser.add_argument('--detector-onnx', default=DETECTOR_ONNX,
                        help='official YOLOX-Nano ONNX export, converted once')
    parser.add_argument('--detector-checkpoint', default=DETECTOR_CHECKPOINT,
                        help='MMDetection YOLOX-Nano checkpoint (written from --detector-onnx '
                        'when missing)')
    parser.add_argument('--paper-design', action='store_true',
                        help="also train and score the paper's GenISP design (and its "
                             'camera-space ablation)')
    parser.add_argument('--no-pictures', action='store_true')
    return parser.parse_args(argv)


def darkness_tag(k) -> str:
    """``10.0 -> 'x10'`` (the folder and file-name tag of a darkness level)."""
    return f'x{k:g}'


def subset_names(cameras, darkness):
    return [(camera, darkness_tag(k)) for camera in cameras for k in darkness]


def check_same_annotations(data, split, subsets):
    """The (camera, darkness) subsets of a split carry the same images and boxes (the
    renderer maps each photo's boxes identically for every capture), so one annotation file
    scores them all; refuse to go on when they do not."""
    def key(name):
        with open(osp.join(data, 'annotations', name)) as f:
            coco = json.load(f)
        return (sorted((im['id'], im['width'], im['height']) for im in coco['images']),
                sorted((a['image_id'], tuple(a['bbox']), a['category_id'])
                       for a in coco['annotations']))
    names = [f'{camera}_{tag}_{split}.json' for camera, tag in subsets]
    reference = key(names[0])
    for name in names[1:]:
        if key(name) != reference:
            raise SystemExit(f'{data}/annotations/{name}: images or boxes differ from '
                             f'{names[0]}; re-render the benchmark')


def merge_darkness_levels(data, camera, split, darkness, name):
    """``annotations/<name>``: every darkness level of a camera's captures in one file (file
    names relative to ``<camera>/``, image and annotation ids made unique), which the
    training configs read."""
    merged, images, annotations = None, [], []
    for k in darkness:
        tag = darkness_tag(k)
        with open(osp.join(data, 'annotations', f'{camera}_{tag}_{split}.json')) as f:
            coco = json.load(f)
        merged = merged or coco
        ids = {}
        for im in coco['images']:
            ids[im['id']] = len(images) + 1
            images.append(dict(im, id=ids[im['id']], source_id=im['id'],
                               file_name=f'{tag}/{split}/{im["file_name"]}'))
        for ann in coco['annotations']:
            annotations.append(dict(ann, id=len(annotations) + 1, image_id=ids[ann['image_id']]))
    merged = dict(merged, images=images, annotations=annotations)
    path = osp.join(data, 'annotations', name)
    with open(path + '.tmp', 'w') as f:
        json.dump(merged, f)
    os.replace(path + '.tmp', path)
    return path


def train_levels_command(coco_root, train_ann, train_img_dir, data, levels, render_seed,
                         max_images=None):
    """tools/make_unprocessed_coco.py arguments that render the train camera's captures of the
    train photos at those of ``levels`` not rendered into ``data`` yet (with the benchmark's
    render seed, so existing captures are reproduced exactly); ``None`` when all are there."""
    missing = [k for k in levels if not osp.isfile(osp.join(
        data, 'annotations', f'{TRAIN_CAMERA}_{darkness_tag(k)}_train.json'))]
    if not missing:
        return None
    return ['tools/make_unprocessed_coco.py', coco_root, train_ann, data,
            '--img-dir', train_img_dir, '--split', 'train', '--cameras', TRAIN_CAMERA,
            '--darkness', *[f'{k:g}' for k in missing], '--seed', str(render_seed),
            *(['--max-images', str(max_images)] if max_images else [])]


def merge_train_levels(data, levels) -> str:
    """Every one of ``levels`` of the train camera's train captures in one annotation file,
    ``<camera>_train_<levels>.json`` (name returned), for training on other levels than the
    benchmark's (e.g. adding cleaner 2x captures)."""
    name = f'{TRAIN_CAMERA}_train_' + '-'.join(darkness_tag(k) for k in levels) + '.json'
    merge_darkness_levels(data, TRAIN_CAMERA, 'train', levels, name)
    return name


def render(args, data, env):
    """Both splits through tools/make_unprocessed_coco.py (resumable: finished files are kept)."""
    common = ['--darkness', *[f'{k:g}' for k in args.darkness], '--seed', str(args.render_seed),
              '--workers', str(args.workers)]
    if args.max_images:
        common += ['--max-images', str(args.max_images)]
    for split, ann, img_dir, cameras in (
            ('train', args.train_ann, args.train_img_dir, (TRAIN_CAMERA,)),
            ('val', args.val_ann, args.val_img_dir, (TRAIN_CAMERA, *TEST_CAMERAS))):
        cmd = [sys.executable, 'tools/make_unprocessed_coco.py', args.coco_root, ann, data,
               '--img-dir', img_dir, '--split', split, '--cameras', *cameras, *common]
        print(' '.join(cmd[1:]), flush=True)
        if subprocess.run(cmd, cwd=REPO_ROOT, env=env).returncode != 0:
            raise SystemExit(f'rendering the {split} split failed (command above)')


def render_with_train_levels(args, data, env, level_sets):
    """:func:`render`, then the train camera's captures of every level in ``level_sets``
    (lists of darkness levels) that is missing; returns ``{tuple(levels): merged annotation
    file}`` for training."""
    render(args, data, env)
    missing = sorted({k for levels in level_sets for k in levels})
    command = train_levels_command(args.coco_root, args.train_ann, args.train_img_dir, data,
                                   missing, args.render_seed, args.max_images)
    if command:
        print(' '.join(command), flush=True)
        if subprocess.run([sys.executable, *command], cwd=REPO_ROOT, env=env).returncode != 0:
            raise SystemExit('rendering the train levels failed (command above)')
    return {tuple(levels): merge_train_levels(data, levels) for levels in level_sets}


def config_files(config) -> list:
    """``config`` and every repo config it builds on - its ``_base_`` files and included
    configs (``'{{ fileDirname }}/detectors/...'``), followed through the ``.py`` paths each
    file names; ``mmdet::`` bases come with the pinned mmdet. What a result depends on."""
    found, pending = [], [config]
    while pending:
        path = osp.normpath(pending.pop(0))
        if path in found or not osp.isfile(osp.join(REPO_ROOT, path)):
            continue
        found.append(path)
        # paths named in comments are not read
        for name in re.findall(r"""['"]([^'"\n]+\.py)['"]""",
                               config_code(osp.join(REPO_ROOT, path))):
            if '::' in name:
                continue
            if '{{' in name:
                name = re.sub(r'\{\{\s*fileDirname\s*\}\}', osp.dirname(path), name)
            else:
                name = osp.join(osp.dirname(path), name)
            pending.append(name)
    return [osp.join(REPO_ROOT, path) for path in found]


def config_code(path) -> str:
    """A config file's text without its comment lines: a reworded comment does not retrain."""
    with open(path) as f:
        return re.sub(r'(?m)^[ \t]*#.*\n?', '', f.read())


def detector_options(detectors):
    """--cfg-options giving a training config its detectors' checkpoints: ``detectors[0]``
    is its main detector, the others its ``also_through`` entries."""
    return [f'model.detector_checkpoint={detectors[0]}'] + [
        f'model.also_through.{i}.detector_checkpoint={path}'
        for i, path in enumerate(detectors[1:])]


def isp_training(label, config, detectors, data, train_ann, seed, epochs, isp_dir):
    """The :func:`train_all` spec of one learned ISP: ``config`` trained with tools/train.py
    through ``detectors`` (checkpoints, the config's main one first) on the captures of
    ``annotations/<train_ann>``. Its folder under ``isp_dir`` and its cache key depend only on
    what the training reads, so every benchmark asking for the same training shares it."""
    stem = osp.splitext(osp.basename(config))[0]
    levels = re.sub(r'^.*_train_?|\.json$', '', train_ann) or 'benchmark'
    options = [f'randomness.seed={seed}', f'train_dataloader.dataset.ann_file=annotations/'
               f'{train_ann}', 'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
               *detector_options(detectors), *epochs]
    key = fingerprint(*map(config_code, config_files(config)), *detectors,
                      rendering_key(data, [train_ann]), options, *package_sources())
    return (f'{label} (seed {seed})', config,
            osp.join(isp_dir, f'{stem}_{levels}_seed{seed}'), options, key)


#: per detector: its converter and what the official weights are, for the error when missing
YOLOX_NANO_CONVERSION = dict(
    converter='tools/model_converters/yolox_onnx_to_mmdet.py',
    weights='YOLOX-Nano ONNX weights (the official Megvii export; see '
            '../shared/detectors/yolox_nano/README.md)',
    needs=' (needs the optional extra: pip install onnx onnxruntime)')


def convert_detector(source, checkpoint, env, converter, weights, needs=''):
    """Turn the official weights ``source`` into the MMDetection checkpoint ``checkpoint`` with
    the repo tool ``converter``, unless it is already there. ``weights`` names the official
    weights in the error when ``source`` is missing; ``needs``: what a failed conversion may
    lack."""
    if osp.isfile(checkpoint):
        print(f'already converted: {checkpoint}')
        return
    if not osp.isfile(source):
        raise SystemExit(f'{weights[0].upper()}{weights[1:]} not found: {source}')
    cmd = [sys.executable, converter, source, checkpoint]
    if subprocess.run(cmd, cwd=REPO_ROOT, env=env).returncode != 0:
        raise SystemExit(f'converting {source} failed (command: {" ".join(cmd[1:])}){needs}')


def rendering_key(data, annotation_files):
    """What the benchmark's renders depend on: the manifest's spec and cameras (not its record
    of runs, which changes with every resumed run or extra level rendered into the folder)
    and the annotation files the benchmark reads (the captures' names, sizes and boxes)."""
    with open(osp.join(data, 'manifest.json')) as f:
        manifest = json.load(f)
    return fingerprint(manifest['spec'], manifest['cameras'],
                       *sorted(osp.join(data, 'annotations', name) for name in annotation_files))


def evaluation_config(config, work_dir, data, subsets):
    """A copy of ``config`` whose test set is every (camera, darkness) val subset, each scored
    separately, written to ``work_dir/config.py`` for tools/test.py."""
    return multi_subset_config(config, work_dir, [
        (f'{camera}_{tag}', dict(data_root=data.rstrip('/') + '/',
                                 ann_file=f'annotations/{camera}_{tag}_val.json',
                                 data_prefix=dict(img=f'{camera}/{tag}/val/')))
        for camera, tag in subsets])


def read_subset_metrics(eval_dir, subsets):
    """``{camera: {tag: {'AP', 'AP50'}}}`` from the json log of a multi-subset test run."""
    metrics = read_prefixed_metrics(eval_dir, [f'{camera}_{tag}' for camera, tag in subsets])
    out = {}
    for camera, tag in subsets:
        out.setdefault(camera, {})[tag] = metrics[f'{camera}_{tag}']
    return out


def evaluation(results, result_key, label, config, checkpoint, eval_dir, cfg_options, key,
               read, isp_from=None):
    """A tools/test.py job that stores ``read()`` (its metrics) in ``results[result_key]``
    and in ``eval_dir/metrics.json``; ``None`` (and the stored metrics) when that file was
    written for the same ``key`` (config, weights, renders, plugin source)."""
    stamp = osp.join(eval_dir, 'metrics.json')
    if osp.isfile(stamp):
        with open(stamp) as f:
            cached = json.load(f)
        if cached.get('key') == key:
            print(f'{label}: cached ({stamp})')
            results[result_key] = cached['metrics']
            return None
    job = evaluation_job(label, config, checkpoint, eval_dir, cfg_options, isp_from)

    def finish():
        metrics = results[result_key] = read()
        with open(stamp + '.tmp', 'w') as f:
            json.dump(dict(key=key, metrics=metrics), f)
        os.replace(stamp + '.tmp', stamp)
        return metrics
    job.on_success = finish
    return job


def printed(label, metrics):
    print(f'  {label:<36} AP {metrics["AP"]:.3f}  AP50 {metrics["AP50"]:.3f}', flush=True)
    return metrics


def report_subset_metrics(label, eval_dir, subsets):
    """:func:`read_subset_metrics`, printing the unseen cameras' mean AP per darkness level."""
    metrics = read_subset_metrics(eval_dir, subsets)
    tags = list(dict.fromkeys(tag for _, tag in subsets))
    means = [sum(metrics[c][t]['AP'] for c in TEST_CAMERAS) / len(TEST_CAMERAS) for t in tags]
    print(f'  {label:<36} unseen-camera AP ' +
          '  '.join(f'{t} {m:.3f}' for t, m in zip(tags, means)), flush=True)
    return metrics


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    data = osp.abspath(args.data)
    coco_root = osp.abspath(args.coco_root)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, GENISP_PHOTOS_ROOT=data.rstrip('/') + '/',
               GENISP_COCO_ROOT=coco_root.rstrip('/') + '/')
    subsets = subset_names((TRAIN_CAMERA, *TEST_CAMERAS), args.darkness)
    isp_dir = osp.abspath(args.isp_dir or osp.join(osp.dirname(work_dir), 'photo_isps'))
    methods = METHODS + (PAPER_DESIGN if args.paper_design else ())

    with Step('YOLOX-Nano, COCO-pretrained: official weights -> MMDetection checkpoint'):
        detector = osp.abspath(args.detector_checkpoint)
        convert_detector(osp.abspath(args.detector_onnx), detector, env, **YOLOX_NANO_CONVERSION)

    with Step(f'Unprocessing the photos of {coco_root} into dark RAW captures ({data})'):
        train_anns = render_with_train_levels(
            args, data, env, [getattr(args, levels) for *_, levels in methods if levels])
        check_same_annotations(data, 'val', subsets)
    data_key = rendering_key(data, [f'{camera}_{tag}_val.json' for camera, tag in subsets])

    epochs = [f'train_cfg.max_epochs={args.epochs}'] if args.epochs else []
    learned = [(key, label, config, train_anns[tuple(getattr(args, levels))])
               for key, label, config, levels in methods if levels]
    with Step(f'Training GenISP on {TRAIN_CAMERA} (train photos) through the frozen '
              f'YOLOX-Nano, with and without XYZ, seeds {args.seeds}'):
        runs = [(f'{key}_seed{seed}', isp_training(label, config, [detector], data, train_ann,
                                                   seed, epochs, isp_dir))
                for seed in args.seeds for key, label, config, train_ann in learned]
        finals = train_all([spec for _, spec in runs], env)
        checkpoints = {run: final for (run, _), final in zip(runs, finals)}

    with Step('Scoring every pipeline on every (camera, darkness) pair with tools/test.py'):
        jobs, results = [], {}
        for key, label, config, is_learned in methods:
            for seed in (args.seeds if is_learned else [None]):
                run = key if seed is None else f'{key}_seed{seed}'
                eval_dir = osp.join(work_dir, 'eval', run)
                eval_config = evaluation_config(config, eval_dir, data, subsets)
                ckpt = checkpoints[run] if is_learned else None
                seed_label = label if seed is None else f'{label} (seed {seed})'
                jobs.append(evaluation(
                    results.setdefault(key, {}), str(seed), seed_label, eval_config, ckpt,
                    eval_dir, [f'model.detector_checkpoint={detector}'],
                    fingerprint(eval_config, ckpt, detector, data_key, *package_sources()),
                    lambda d=eval_dir, name=seed_label: report_subset_metrics(name, d, subsets)))
        oracle_dir = osp.join(work_dir, 'eval', ORACLE[0])
        val_ann = osp.join(coco_root, args.val_ann)
        jobs.append(evaluation(
            results, ORACLE[0], ORACLE[1], ORACLE_CONFIG, detector, oracle_dir,
            [f'test_dataloader.dataset.ann_file={args.val_ann}',
             f'test_dataloader.dataset.data_prefix.img={args.val_img_dir}/',
             f'test_evaluator.ann_file={val_ann}'],
            fingerprint(ORACLE_CONFIG, detector, val_ann, args.val_img_dir, coco_root),
            lambda: printed(ORACLE[1], read_metrics(oracle_dir))))
        run_jobs([job for job in jobs if job is not None], env)

    with Step('Writing the report, the plot and the picture grid'):
        from tools.demo.photos_report import write_photos_report
        write_photos_report(work_dir, data, results, dict(
            train_camera=TRAIN_CAMERA, test_cameras=list(TEST_CAMERAS),
            darkness=[darkness_tag(k) for k in args.darkness], seeds=args.seeds,
            methods=[m[:3] for m in methods], oracle=ORACLE,
            val_photos=osp.join(coco_root, args.val_img_dir),
            detector=detector, checkpoints=checkpoints,
            work_dir=work_dir, pictures=not args.no_pictures),
            elapsed=time.time() - start)
    print(f'\nFinished in {(time.time() - start) / 60:.1f} min. Report: {work_dir}/report.md')


if __name__ == '__main__':
    main()
