"""Report of the low-light COCO-photo benchmark (tools/demo/run_photos.py): markdown + JSON
tables with the spread over training seeds, a plot of AP against darkness per pipeline, and a
picture grid of the same photos through every pipeline (COCO photographs: not for the
repository)."""
import json
import os.path as osp

import numpy as np
import torch

#: the baselines the benchmark asks GenISP to beat; its margin to the others (its own untrained
#: fixed rendering) is reported, not judged
REQUIRED_BASELINES = ('libraw', 'gain_gamma')
#: A learned ISP "wins" a comparison only when its mean minus the baseline's exceeds this many
#: standard deviations of its seeds (one seed: any positive margin, reported as unreplicated).
MARGIN_IN_SD = 1.0
PICTURE_PHOTOS = 3


def _runs(results, key):
    """The per-seed result dicts of ``key`` (one for a deterministic baseline)."""
    return list(results[key].values())


def _stat(values):
    values = np.asarray(values, dtype=np.float64)
    return dict(mean=float(values.mean()), sd=float(values.std(ddof=1)) if len(values) > 1
                else 0.0, n=int(len(values)), values=[round(float(v), 4) for v in values])


def summarise(results, spec):
    """Means and seed spreads per method, camera and darkness; unseen-camera means; margins."""
    cameras = [spec['train_camera'], *spec['test_cameras']]
    out = dict(per_camera={}, unseen_mean={})
    for key, _, _ in spec['methods']:
        runs = _runs(results, key)
        out['per_camera'][key] = {
            camera: {tag: {m: _stat([r[camera][tag][m] for r in runs]) for m in ('AP', 'AP50')}
                     for tag in spec['darkness']} for camera in cameras}
        # unseen mean per seed first, so its spread is the spread of the seeds' means
        out['unseen_mean'][key] = {
            tag: {m: _stat([np.mean([r[c][tag][m] for c in spec['test_cameras']]) for r in runs])
                  for m in ('AP', 'AP50')} for tag in spec['darkness']}
    return out


def _cell(stat, with_sd):
    ap, ap50 = stat['AP'], stat['AP50']
    sd = f' ± {ap["sd"]:.3f}' if with_sd and ap['n'] > 1 else ''
    return f'{ap["mean"]:.3f}{sd} / {ap50["mean"]:.3f}'


def _verdicts(summary, spec):
    """GenISP against each conventional baseline per darkness (unseen mean), and per camera
    whether the XYZ transform helps (GenISP vs its camera-space ablation, over darkness)."""
    lines, verdict = [], dict(beats_baselines={}, xyz_helps={}, gap_to_oracle={})
    genisp = summary['unseen_mean']['genisp']
    for tag in spec['darkness']:
        g = genisp[tag]['AP']
        for base in (*REQUIRED_BASELINES, 'fixed_rendering'):
            if base not in summary['unseen_mean']:
                continue
            b = summary['unseen_mean'][base][tag]['AP']['mean']
            margin = g['mean'] - b
            verdict['beats_baselines'].setdefault(tag, {})[base] = dict(
                margin=round(margin, 4), beats=margin > MARGIN_IN_SD * g['sd'] and margin > 0)
    for camera in spec['test_cameras']:
        diffs = []
        for tag in spec['darkness']:
            xyz = summary['per_camera']['genisp'][camera][tag]['AP']
            cam = summary['per_camera']['genisp_camera'][camera][tag]['AP']
            diffs.append((tag, xyz['mean'] - cam['mean'], float(np.hypot(xyz['sd'], cam['sd']))))
        mean_diff = float(np.mean([d for _, d, _ in diffs]))
        spread = float(np.mean([s for _, _, s in diffs]))
        if len(spec['seeds']) < 2:
            word = (f'{"helps" if mean_diff > 0 else "hurts"} by {abs(mean_diff):.3f} AP '
                    '(one seed: no spread to judge it against)')
        else:
            word = ('helps' if mean_diff > MARGIN_IN_SD * spread and mean_diff > 0 else
                    'hurts' if mean_diff < -MARGIN_IN_SD * spread and mean_diff < 0 else
                    'makes no difference beyond the seed spread')
        verdict['xyz_helps'][camera] = dict(
            mean_AP_difference=round(mean_diff, 4), seed_spread=round(spread, 4), verdict=word,
            per_darkness={tag: round(d, 4) for tag, d, _ in diffs})
        lines.append(f'- `{camera}`: XYZ {word} (GenISP minus GenISP without XYZ, mean over '
                     f'darkness levels: {mean_diff:+.3f} AP, seed spread ±{spread:.3f}; per '
                     'level ' + ', '.join(f'{t} {d:+.3f}' for t, d, _ in diffs) + ').')
    return verdict, lines


def plot_ap_vs_darkness(summary, spec, oracle, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    levels = [float(tag[1:]) for tag in spec['darkness']]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for key, label, _ in spec['methods']:
        stats = [summary['unseen_mean'][key][tag]['AP'] for tag in spec['darkness']]
        ax.errorbar(levels, [s['mean'] for s in stats], yerr=[s['sd'] for s in stats],
                    marker='o', capsize=3, label=label)
    ax.axhline(oracle['AP'], color='k', linestyle='--', label='Well-lit photo (oracle)')
    ax.set_xscale('log')
    ax.set_xticks(levels)
    ax.set_xticklabels([f'{k:g}x' for k in levels])
    ax.set_xlabel('darkness (times below a normal exposure)')
    ax.set_ylabel('COCO bbox AP, mean of the unseen cameras')
    ax.set_title(f'YOLOX-Nano (COCO, frozen) behind each ISP; GenISP trained on '
                 f'{spec["train_camera"]}', fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@torch.no_grad()
def write_pictures(spec, data, path):
    """Rows: the first val photos with objects, captured by the first unseen camera at the
    middle darkness level; columns: every pipeline (seed 0 for the learned ones), then the
    well-lit photo through the same detector."""
    import cv2
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.runner.checkpoint import load_checkpoint
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from genisp_mmdet.datasets.coco_ids import COCO_CLASSES
    from genisp_mmdet.visualization import grid, label_image
    from tools.demo.report import draw_detections, pipeline_pictures, quiet_mmengine

    register_all_modules(init_default_scope=True)
    camera, tag = spec['test_cameras'][0], spec['darkness'][len(spec['darkness']) // 2]
    with open(osp.join(data, 'annotations', f'{camera}_{tag}_val.json')) as f:
        coco = json.load(f)
    with_objects = {a['image_id'] for a in coco['annotations']}
    images = [im for im in coco['images'] if im['id'] in with_objects][:PICTURE_PHOTOS]
    paths = [osp.join(data, camera, tag, 'val', im['file_name']) for im in images]
    seed = spec['seeds'][0]
    columns, labels = [], []
    with quiet_mmengine():
        for key, label, config in spec['methods']:
            columns.append(pipeline_pictures(config, spec['checkpoints'].get(f'{key}_seed{seed}'),
                                             spec['detector'], paths, COCO_CLASSES, upscale=1))
            labels.append(label)
        oracle_cfg = Config.fromfile('configs/detectors/yolox-nano_coco-photos.py')
        model = MODELS.build(oracle_cfg.model)
        load_checkpoint(model, spec['detector'], map_location='cpu', logger='silent')
        model.eval()
        pipeline = Compose([t for t in oracle_cfg.test_dataloader.dataset.pipeline
                            if t['type'] != 'LoadAnnotations'])
        tiles = []
        for im in images:
            photo = osp.join(spec['val_photos'], im['source_file_name'])
            result = model.test_step(pseudo_collate([pipeline(dict(img_path=photo,
                                                                   img_id=0))]))[0]
            tiles.append(draw_detections(cv2.cvtColor(cv2.imread(photo), cv2.COLOR_BGR2RGB),
                                         result.pred_instances, COCO_CLASSES))
        columns.append(tiles)
        labels.append('Well-lit photo (oracle)')
    height = min(t.shape[0] for col in columns for t in col)
    rows = []
    for i in range(len(images)):
        row = []
        for j, col in enumerate(columns):
            tile = col[i]
            tile = cv2.resize(tile, (round(tile.shape[1] * height / tile.shape[0]), height))
            row.append(label_image(tile, f'{camera} {tag}: {labels[j]}' if i == 0 and j == 0
                                   else labels[j]) if i == 0 else tile)
        rows.append(row)
    picture = grid(rows)
    cv2.imwrite(path, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return path


def write_photos_report(work_dir, data, results, spec, elapsed):
    summary = summarise(results, spec)
    oracle = results['oracle']
    verdict, xyz_lines = _verdicts(summary, spec)
    label_of = {key: label for key, label, _ in spec['methods']}
    seeds = spec['seeds']

    lines = ['| Pipeline | ' + ' | '.join(spec['darkness']) + ' |',
             '|---|' + '---|' * len(spec['darkness'])]
    for key, label, _ in spec['methods']:
        bold = '**' if key == 'genisp' else ''
        lines.append(f'| {bold}{label}{bold} | ' + ' | '.join(
            _cell(summary['unseen_mean'][key][tag], True) for tag in spec['darkness']) + ' |')
    oracle_cell = f'{oracle["AP"]:.3f} / {oracle["AP50"]:.3f}'
    lines.append(f'| Well-lit photo (oracle) | ' + ' | '.join(
        [oracle_cell] * len(spec['darkness'])) + ' |')
    main_table = '\n'.join(lines)

    cameras = [spec['train_camera'], *spec['test_cameras']]
    camera_tables = []
    for tag in spec['darkness']:
        rows = [f'**{tag}** | ' + ' | '.join(
            f'{c}{" (train cam)" if c == spec["train_camera"] else ""}' for c in cameras),
            '|---|' + '---|' * len(cameras)]
        for key, label, _ in spec['methods']:
            rows.append(f'| {label} | ' + ' | '.join(
                _cell(summary['per_camera'][key][c][tag], True) for c in cameras) + ' |')
        camera_tables.append('| ' + rows[0] + ' |\n' + '\n'.join(rows[1:]))

    findings = []
    for tag in spec['darkness']:
        g = summary['unseen_mean']['genisp'][tag]['AP']
        parts = [f'{label_of[b]} {m["margin"]:+.3f}' + ('' if m['beats'] else ' (NOT a win)')
                 for b, m in verdict['beats_baselines'][tag].items()]
        gap = oracle['AP'] - g['mean']
        verdict['gap_to_oracle'][tag] = round(gap, 4)
        findings.append(f'- {tag}: GenISP {g["mean"]:.3f} AP (seeds {g["values"]}); minus '
                        + ', '.join(parts) + f'; {gap:.3f} AP below the oracle.')
    all_win = all(per[base]['beats'] for per in verdict['beats_baselines'].values()
                  for base in REQUIRED_BASELINES)
    verdict['beats_every_baseline_at_every_darkness'] = all_win
    headline = (f'On the unseen cameras GenISP {"beats" if all_win else "does NOT beat"} '
                f'LibRaw\'s ISP and gain + gamma at every darkness level (margin larger than '
                f'{MARGIN_IN_SD:g} seed standard deviation{"" if len(seeds) > 1 else "; one seed only, so unreplicated"}).')

    plot = plot_ap_vs_darkness(summary, spec, oracle, osp.join(work_dir, 'ap_vs_darkness.png'))
    picture = None
    if spec.get('pictures', True):
        picture = write_pictures(spec, data, osp.join(work_dir, 'pictures.jpg'))

    markdown = '\n'.join([
        '# GenISP on real photographs: the low-light COCO-photo benchmark', '',
        'COCO bbox AP / AP50 of the frozen, COCO-pretrained YOLOX-Nano behind each pipeline, '
        'mean of the four unseen cameras (Nikon D750, Canon EOS 5D Mark IV, Sony A7 III and '
        'an RCCB sensor derived from the D750) on the val photos, per darkness level (times '
        f'below a normal exposure). GenISP was trained on `{spec["train_camera"]}` captures of '
        f'the train photos only. Learned pipelines: mean ± standard deviation over training '
        f'seeds {seeds}; baselines are deterministic.', '', main_table, '', headline, '',
        *findings, '', '## Does the XYZ transform help? (per unseen camera)', '', *xyz_lines,
        '', '## Per camera', '', *[t + '\n' for t in camera_tables],
        f'![AP against darkness]({osp.basename(plot)})', '',
        *([f'Pictures (COCO photographs: keep out of the repository): '
           f'`{osp.basename(picture)}`', ''] if picture else []),
        f'Total time: {elapsed / 60:.1f} min.', ''])
    with open(osp.join(work_dir, 'report.md'), 'w') as f:
        f.write(markdown)
    with open(osp.join(work_dir, 'report.json'), 'w') as f:
        json.dump(dict(results=results, summary=summary, oracle=oracle, verdict=verdict,
                       seeds=seeds, darkness=spec['darkness'],
                       train_camera=spec['train_camera'], test_cameras=spec['test_cameras'],
                       minutes=round(elapsed / 60, 1)), f, indent=1)
    print('\n' + main_table + '\n\n' + headline + '\n' + '\n'.join(findings) + '\n' +
          '\n'.join(xyz_lines))
