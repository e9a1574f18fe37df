#!/usr/bin/env python
"""The cross-detector benchmark on real photographs: an ISP trained through one detector.

Does an ISP trained through one frozen COCO detector work in front of another it never saw
(the paper's second claim)?

On the renders of tools/demo/run_photos.py (dark RAW captures of COCO photos by five
cameras), with two COCO detectors of different families, YOLOX-Nano (416, BGR 0-255) and
NanoDet-m (320, BGR ImageNet mean/std):

1. convert both detectors' official weights into MMDetection checkpoints when missing;
2. render what is missing (the benchmark's captures, plus the train camera's 2x captures the
   gated recipe also trains on);
3. per seed, train the gated GenISP recipe (configs/photos/*_residual_gated.py) on the
   Sony RX100 VII's train captures three times: through the frozen YOLOX-Nano, through the
   frozen NanoDet-m, and through both at once (summed losses, FrozenDetector(also_through));
   kept in ``--isp-dir`` like tools/demo/run_photos.py's (the first is its GenISP: trained
   once for both);
4. score each detector on the unseen cameras' val captures at every darkness level behind:
   LibRaw's ISP, packed RAW + gain + gamma, and each of the three ISPs (tools/test.py
   --isp-from: the ISP alone, in front of that detector's own config); and on the well-lit
   photos (the oracle);
5. write report_detectors.md / report_detectors.json to the work dir.

    python tools/demo/run_photos_detectors.py --coco-root ../shared/datasets/coco-photos
    python tools/demo/run_photos_detectors.py --coco-root ../shared/datasets/coco-photos \\
        --seeds 0 1 2

Every step is cached by what it depends on (configs, weights, renders, plugin source).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from tools.demo.run_demo import (Step, fingerprint, package_sources, read_metrics,  # noqa: E402
                                 run_jobs, train_all)
from tools.demo.run_photos import (DETECTOR_CHECKPOINT, DETECTOR_ONNX, TEST_CAMERAS,  # noqa: E402
                                   TRAIN_CAMERA, YOLOX_NANO_CONVERSION,
                                   add_benchmark_arguments, convert_detector,
                                   darkness_tag, evaluation, evaluation_config, isp_training,
                                   printed, render_with_train_levels, rendering_key,
                                   report_subset_metrics, subset_names)

PHOTOS = 'configs/photos'
#: detector key -> what scoring it needs: its oracle config (plain mmdet on the well-lit
#: photos), its ISP config (what --isp-from loads an ISP into), its fixed baselines.
DETECTORS = {
    'yolox-nano': dict(
        label='YOLOX-Nano', checkpoint=DETECTOR_CHECKPOINT,
        oracle='configs/detectors/yolox-nano_coco-photos.py',
        isp_config=f'{PHOTOS}/genisp_yolox-nano_photos_residual_gated.py',
        baselines=(('libraw', 'LibRaw conventional ISP', f'{PHOTOS}/baseline_libraw_isp.py'),
                   ('gain_gamma', 'Packed RAW + gain + gamma',
                    f'{PHOTOS}/baseline_gain_gamma.py'))),
    'nanodet-m': dict(
        label='NanoDet-m', checkpoint='checkpoints/nanodet-m_coco_rangilyu.pth',
        oracle='configs/detectors/nanodet-m_coco-photos.py',
        isp_config=f'{PHOTOS}/genisp_nanodet-m_photos_residual_gated.py',
        baselines=(('libraw', 'LibRaw conventional ISP',
                    f'{PHOTOS}/baseline_libraw_isp_nanodet-m.py'),
                   ('gain_gamma', 'Packed RAW + gain + gamma',
                    f'{PHOTOS}/baseline_gain_gamma_nanodet-m.py'))),
}
#: (key, label, training config, detectors it is trained through)
ISPS = (
    ('via_yolox-nano', 'GenISP trained through YOLOX-Nano',
     f'{PHOTOS}/genisp_yolox-nano_photos_residual_gated.py', ('yolox-nano',)),
    ('via_nanodet-m', 'GenISP trained through NanoDet-m',
     f'{PHOTOS}/genisp_nanodet-m_photos_residual_gated.py', ('nanodet-m',)),
    ('via_both', 'GenISP trained through both (summed losses)',
     f'{PHOTOS}/genisp_yolox-nano_nanodet-m_photos_residual_gated.py',
     ('yolox-nano', 'nanodet-m')),
)
NANODET_WEIGHTS = '../shared/detectors/nanodet_m/nanodet_m.pth'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_benchmark_arguments(parser, 'work_dirs/photos_detectors')
    for det, spec in DETECTORS.items():
        parser.add_argument(f'--{det.split("-")[0]}-checkpoint', dest=f'{det}_checkpoint',
                            default=spec['checkpoint'], metavar='CKPT',
                            help=f'MMDetection checkpoint of {spec["label"]} (converted from '
                                 'the official weights when missing)')
    return parser.parse_args(argv)


def convert_detectors(checkpoints, env):
    convert_detector(osp.join(REPO_ROOT, DETECTOR_ONNX), checkpoints['yolox-nano'], env,
                     **YOLOX_NANO_CONVERSION)
    convert_detector(osp.join(REPO_ROOT, NANODET_WEIGHTS), checkpoints['nanodet-m'], env,
                     converter='tools/model_converters/nanodet_to_mmdet.py',
                     weights="NanoDet-m weights (RangiLyu's COCO checkpoint; see "
                             '../shared/detectors/nanodet_m/README.md)')


def own_isp(det):
    """The key of the ISP trained through detector ``det`` alone."""
    return next(key for key, _, _, through in ISPS if through == (det,))


def oracle_label(spec):
    return f'{spec["label"]} on the well-lit photos (oracle)'


def summary(per_seed, tags):
    """``{tag: {'AP': mean, 'AP_sd': sd, 'AP50': mean, 'AP50_sd': sd, 'seeds': n}}`` of the
    unseen cameras' mean AP over seeds (``per_seed``: seed -> camera -> tag -> metrics)."""
    out = {}
    for tag in tags:
        row = {}
        for metric in ('AP', 'AP50'):
            values = list(unseen_mean_per_seed(per_seed, tag, metric).values())
            row[metric] = statistics.mean(values)
            row[metric + '_sd'] = statistics.stdev(values) if len(values) > 1 else None
        row['seeds'] = len(per_seed)
        out[tag] = row
    return out


def unseen_mean_per_seed(per_seed, tag, metric='AP'):
    """seed -> the unseen cameras' mean ``metric`` at darkness ``tag``."""
    return {seed: sum(cams[c][tag][metric] for c in TEST_CAMERAS) / len(TEST_CAMERAS)
            for seed, cams in per_seed.items()}


def paired_difference(minuend, subtrahend, tags):
    """``{tag: {'mean', 'sd', 'above', 'values'}}``: per seed, the unseen-camera mean AP of
    ``minuend`` minus that of ``subtrahend`` with the same seed (a fixed pipeline, given under
    the single key ``'-'``, is subtracted from every seed); ``above``: how many seeds' values
    are > 0. Per seed, so that a seed on the other side of zero shows."""
    out = {}
    for tag in tags:
        first = unseen_mean_per_seed(minuend, tag)
        second = unseen_mean_per_seed(subtrahend, tag)
        values = [first[seed] - second[seed if seed in second else '-'] for seed in first]
        out[tag] = dict(mean=statistics.mean(values),
                        sd=statistics.stdev(values) if len(values) > 1 else None,
                        above=sum(v > 0 for v in values), values=values)
    return out


def paired_cell(diff):
    sd = f' ± {diff["sd"]:.3f}' if diff['sd'] is not None else ''
    return f'{diff["mean"]:+.3f}{sd} ({diff["above"]}/{len(diff["values"])} above)'


def paired_comparisons(results, det):
    """``[(label, minuend, subtrahend)]`` (per-seed results) of detector ``det``: each ISP it
    never saw and the joint one against its own ISP, every ISP against each fixed baseline."""
    spec, own = DETECTORS[det], own_isp(det)
    isps = [(key, label) for key, label, _, _ in ISPS]
    pairs = [(f'{label} minus own ISP', results[det][key], results[det][own])
             for key, label in isps if key != own]
    pairs += [(f'{label} minus {base_label}', results[det][key], {'-': results[det][base]})
              for key, label in isps for base, base_label, _ in spec['baselines']]
    return pairs


def cell(row, metric='AP'):
    sd = row[metric + '_sd']
    return f'{row[metric]:.3f}' + (f' ± {sd:.3f}' if sd is not None else '')


def write_report(work_dir, results, tags, seeds, checkpoints, elapsed):
    """report_detectors.json (every number, per camera and seed) and report_detectors.md (the
    unseen cameras' mean per pipeline and darkness, one table per detector)."""
    tables, paired, lines = {}, {}, [
        '# GenISP across detectors, on dark RAW captures of real COCO photographs', '',
        f'Trained on the {TRAIN_CAMERA}\'s captures of the train photos; scored on the unseen '
        f'cameras ({", ".join(TEST_CAMERAS)}), their mean COCO AP per darkness level '
        f'(seeds {seeds}; ± is the standard deviation over seeds). "Own ISP" is the ISP '
        'trained through the detector in the table, the upper bound of the transfer.', '']
    for det, spec in DETECTORS.items():
        own = own_isp(det)
        rows = [(oracle_label(spec), {t: dict(AP=results[det]['oracle']['AP'], AP_sd=None,
                                                AP50=results[det]['oracle']['AP50'],
                                                AP50_sd=None) for t in tags})]
        for key, label, _ in spec['baselines']:
            rows.append((label, summary({'-': results[det][key]}, tags)))
        for key, label, _, through in ISPS:
            mark = ' (own ISP)' if key == own else (
                '' if det in through else ' (never saw this detector)')
            rows.append((label + mark, summary(results[det][key], tags)))
        tables[det] = {label: row for label, row in rows}
        lines += [f'## {spec["label"]}', '',
                  '| Pipeline | ' + ' | '.join(f'AP {t}' for t in tags) + ' | ' +
                  ' | '.join(f'AP50 {t}' for t in tags) + ' |',
                  '|---|' + '---:|' * (2 * len(tags))]
        for label, row in rows:
            lines.append(f'| {label} | ' + ' | '.join(cell(row[t]) for t in tags) + ' | ' +
                         ' | '.join(cell(row[t], 'AP50') for t in tags) + ' |')
        pairs = paired[det] = {
            label: paired_difference(minuend, subtrahend, tags)
            for label, minuend, subtrahend in paired_comparisons(results, det)}
        lines += ['', f'{spec["label"]}, paired by seed: AP difference of the unseen-camera '
                  'mean, mean ± sd over seeds (seeds above zero)', '',
                  '| Comparison | ' + ' | '.join(f'AP {t}' for t in tags) + ' |',
                  '|---|' + '---:|' * len(tags)]
        for label, diff in pairs.items():
            lines.append(f'| {label} | ' + ' | '.join(paired_cell(diff[t]) for t in tags) +
                         ' |')
        lines.append('')
    lines += ['The oracle row is the detector on the well-lit photos themselves (one number, '
              'repeated per level).', '',
              'ISP checkpoints: ' + ', '.join(f'{k} {v}' for k, v in sorted(checkpoints.items())),
              '', f'Finished in {elapsed / 60:.1f} min (`python tools/demo/'
              'run_photos_detectors.py`, cached steps included as cached).']
    with open(osp.join(work_dir, 'report_detectors.json'), 'w') as f:
        json.dump(dict(train_camera=TRAIN_CAMERA, test_cameras=list(TEST_CAMERAS),
                       darkness=tags, seeds=seeds, unseen_camera_mean=tables,
                       paired_by_seed=paired,
                       per_camera=results, checkpoints=checkpoints), f, indent=1)
    with open(osp.join(work_dir, 'report_detectors.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    work_dir, data = osp.abspath(args.work_dir), osp.abspath(args.data)
    coco_root = osp.abspath(args.coco_root)
    args.coco_root = coco_root
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, GENISP_PHOTOS_ROOT=data.rstrip('/') + '/',
               GENISP_COCO_ROOT=coco_root.rstrip('/') + '/')
    subsets = subset_names(TEST_CAMERAS, args.darkness)
    tags = [darkness_tag(k) for k in args.darkness]

    detectors = {det: osp.abspath(getattr(args, f'{det}_checkpoint')) for det in DETECTORS}
    with Step('YOLOX-Nano and NanoDet-m, COCO-pretrained: official weights -> MMDetection'):
        convert_detectors(detectors, env)

    with Step(f'Unprocessing the photos of {coco_root} into dark RAW captures ({data})'):
        train_ann = render_with_train_levels(args, data, env, [args.train_darkness])[
            tuple(args.train_darkness)]
    data_key = rendering_key(data, [f'{camera}_{tag}_val.json' for camera, tag in subsets])
    isp_dir = osp.abspath(args.isp_dir or osp.join(osp.dirname(work_dir), 'photo_isps'))

    epochs = [f'train_cfg.max_epochs={args.epochs}'] if args.epochs else []
    with Step(f'Training the gated GenISP through each detector and through both, seeds '
              f'{args.seeds}'):
        runs = [(f'{key}_seed{seed}', isp_training(
                    label, config, [detectors[det] for det in through], data, train_ann, seed,
                    epochs, isp_dir))
                for seed in args.seeds for key, label, config, through in ISPS]
        # three at a time, one thread each (the three of a seed together): two at a time
        # left a core idle while the longest (through both detectors) ran alone at the end
        finals = train_all([spec for _, spec in runs], env, at_once=len(ISPS))
        checkpoints = {run: final for (run, _), final in zip(runs, finals)}

    with Step('Scoring each detector behind every pipeline on the unseen cameras'):
        jobs, results = [], {}
        for det, spec in DETECTORS.items():
            detector_results = results.setdefault(det, {})
            weights_det = detectors[det]
            options = [f'model.detector_checkpoint={weights_det}']
            for key, label, config in spec['baselines']:
                eval_dir = osp.join(work_dir, 'eval', det, key)
                eval_config = evaluation_config(config, eval_dir, data, subsets)
                jobs.append(evaluation(
                    detector_results, key, f'{spec["label"]} behind {label}', eval_config, None,
                    eval_dir, options, fingerprint(eval_config, weights_det, data_key,
                                              *package_sources()),
                    lambda d=eval_dir, name=label: report_subset_metrics(name, d, subsets)))
            for key, label, _, _ in ISPS:
                for seed in args.seeds:
                    run = f'{key}_seed{seed}'
                    eval_dir = osp.join(work_dir, 'eval', det, run)
                    eval_config = evaluation_config(spec['isp_config'], eval_dir, data, subsets)
                    name = f'{spec["label"]} behind {label} (seed {seed})'
                    jobs.append(evaluation(
                        detector_results.setdefault(key, {}), str(seed), name, eval_config,
                        None, eval_dir, options, fingerprint(eval_config, checkpoints[run],
                                                        weights_det, data_key,
                                                        *package_sources()),
                        lambda d=eval_dir, n=name: report_subset_metrics(n, d, subsets),
                        isp_from=checkpoints[run]))
            oracle_dir = osp.join(work_dir, 'eval', det, 'oracle')
            val_ann = osp.join(coco_root, args.val_ann)
            jobs.append(evaluation(
                detector_results, 'oracle', oracle_label(spec), spec['oracle'], weights_det,
                oracle_dir,
                [f'test_dataloader.dataset.ann_file={args.val_ann}',
                 f'test_dataloader.dataset.data_prefix.img={args.val_img_dir}/',
                 f'test_evaluator.ann_file={val_ann}'],
                fingerprint(spec['oracle'], weights_det, val_ann, args.val_img_dir, coco_root),
                lambda d=oracle_dir, n=oracle_label(spec): printed(n, read_metrics(d))))
        run_jobs([job for job in jobs if job is not None], env)

    with Step('Writing the report'):
        write_report(work_dir, results, tags, args.seeds, checkpoints, time.time() - start)
    print(f'\nFinished in {(time.time() - start) / 60:.1f} min. '
          f'Report: {work_dir}/report_detectors.md')


if __name__ == '__main__':
    main()
