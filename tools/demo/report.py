"""Report of `make demo`: markdown + JSON tables and a picture grid of the same scenes through
every pipeline (each with the frozen detector's predictions drawn)."""
import contextlib
import json
import logging
import os.path as osp

import cv2
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import load_checkpoint

from genisp_mmdet.apis import GenISPInferencer
from genisp_mmdet.visualization import draw_detections as draw_boxes
from genisp_mmdet.visualization import grid, label_image
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

PICTURE_SCENES = 4
SCORE_THR = 0.3


def draw_detections(image, instances, classes):
    """mmdet ``pred_instances`` drawn on ``image`` (score >= ``SCORE_THR``)."""
    return draw_boxes(image, instances.bboxes.cpu().numpy(), instances.scores.cpu().numpy(),
                      instances.labels.cpu().numpy(), classes, score_thr=SCORE_THR)


def pipeline_pictures(config, checkpoint, detector, paths, classes, upscale=2):
    """Each RAW file of ``paths`` through ``config``'s pipeline and model (ISP weights from
    ``checkpoint``, detector from ``detector``): the ISP's rendering with the detections drawn,
    ``upscale`` times its packed size."""
    inferencer = GenISPInferencer(config, checkpoint, 'cpu',
                                  cfg_options={'model.detector_checkpoint': detector})
    tiles = []
    for result in inferencer(paths, return_rendering=True):
        # the packed image is half the visible frame the boxes are in
        scale = upscale / 2
        height, width = (round(side * scale) for side in result.frame_shape)
        image = cv2.resize(result.rendering, (width, height),
                           interpolation=cv2.INTER_NEAREST if upscale > 1 else cv2.INTER_AREA)
        tiles.append(draw_boxes(image, result.bboxes * scale, result.scores, result.labels,
                                classes, score_thr=SCORE_THR))
    return tiles


@torch.no_grad()
def _oracle_pictures(detector, data, stems):
    cfg = Config.fromfile('configs/demo/detector_srgb.py')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, detector, map_location='cpu', logger='silent')
    model.eval()
    pipeline = Compose([t for t in cfg.test_dataloader.dataset.pipeline
                        if t['type'] != 'LoadAnnotations'])
    tiles = []
    for stem in stems:
        path = osp.join(data, 'srgb', 'test', f'{stem}.png')
        batch = pseudo_collate([pipeline(dict(img_path=path, img_id=0))])
        result = model.test_step(batch)[0]
        image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)  # full-size rendering
        tiles.append(draw_detections(image, result.pred_instances, cfg.demo_classes))
    return tiles


@contextlib.contextmanager
def quiet_mmengine():
    """Building models logs every weight's initialisation at INFO: keep the demo's output to
    its table."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def write_pictures(work_dir, data, checkpoints, detector, cameras, methods, oracle_label):
    """Rows: the first test scenes of each of ``cameras`` (``PICTURE_SCENES`` in all);
    columns: each pipeline, then the oracle. The first row of each camera is labelled."""
    register_all_modules(init_default_scope=True)
    with quiet_mmengine():
        return _write_pictures(work_dir, data, checkpoints, detector, cameras, methods,
                               oracle_label)


def _write_pictures(work_dir, data, checkpoints, detector, cameras, methods, oracle_label):
    labels = [label for _, label, _, _ in methods] + [oracle_label]
    per_camera = max(1, PICTURE_SCENES // len(cameras))
    rows = []
    for camera in cameras:
        with open(osp.join(data, 'annotations', f'{camera}_test.json')) as f:
            images = json.load(f)['images'][:per_camera]
        stems = [osp.splitext(im['file_name'])[0] for im in images]
        paths = [osp.join(data, camera, 'test', f'{stem}.dng') for stem in stems]
        classes = Config.fromfile(methods[0][2]).demo_classes
        columns = [pipeline_pictures(config, checkpoints.get(key), detector, paths, classes)
                   for key, _, config, _ in methods]
        columns.append(_oracle_pictures(detector, data, stems))
        for i in range(len(stems)):
            rows.append([col[i] if i else label_image(
                col[i], f'{camera}: {labels[j]}' if j == 0 else labels[j])
                for j, col in enumerate(columns)])
    picture = grid(rows)
    path = osp.join(work_dir, 'pictures.png')
    cv2.imwrite(path, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    return path


def cross_detector_table(results, cameras, cross_methods, cross_oracle, own):
    """The cross-detector rows on the unseen ``cameras`` (markdown lines, summary dict):
    each of ``cross_methods`` (key, label, ...) and the second detector's oracle, next to
    ``own`` - (key, label) rows of the main table repeated for comparison."""
    header = ['Pipeline'] + list(cameras) + ['unseen mean']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    means = {}
    for key, label in [*own, *((m[0], m[1]) for m in cross_methods)]:
        means[key] = {m: float(np.mean([results[key][c][m] for c in cameras]))
                      for m in ('AP', 'AP50')}
        lines.append(f'| {label} | ' + ' | '.join(
            f'{results[key][c]["AP"]:.3f} / {results[key][c]["AP50"]:.3f}' for c in cameras) +
            f' | {means[key]["AP"]:.3f} / {means[key]["AP50"]:.3f} |')
    oracle_key, oracle_label = cross_oracle
    oracle_ap = results[oracle_key]['all']
    cell = f'{oracle_ap["AP"]:.3f} / {oracle_ap["AP50"]:.3f}'
    lines.append(f'| {oracle_label} | ' + ' | '.join([cell] * len(cameras)) + f' | {cell} |')
    return lines, means


def write_report(work_dir, data, results, checkpoints, detector, train_camera, cameras,
                 methods, oracle, elapsed, cross=None):
    """``cross``: ``(cross_methods, cross_oracle)`` of the second detector, tabled on the
    unseen cameras after the main table."""
    oracle_key, oracle_label = oracle
    all_cameras = (train_camera, *cameras)
    report = dict(train_camera=train_camera, unseen_cameras=list(cameras),
                  metric='COCO bbox AP (AP@[.5:.95]) and AP50, frozen detector',
                  results=results, minutes=round(elapsed / 60, 1))
    oracle_ap = results[oracle_key]['all']
    unseen_mean = {}
    for key, _, _, _ in methods:
        unseen_mean[key] = {m: float(np.mean([results[key][c][m] for c in cameras]))
                            for m in ('AP', 'AP50')}
    report['unseen_mean'] = unseen_mean
    best_baseline = max((k for k, _, _, t in methods if k != 'genisp'),
                        key=lambda k: unseen_mean[k]['AP'])
    report['genisp_minus_best_baseline_AP'] = unseen_mean['genisp']['AP'] - \
        unseen_mean[best_baseline]['AP']
    report['oracle_minus_genisp_AP'] = oracle_ap['AP'] - unseen_mean['genisp']['AP']

    header = ['Method'] + [f'{c}{" (train cam)" if c == train_camera else ""}'
                           for c in all_cameras] + ['unseen mean']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for key, label, _, _ in methods:
        cells = [f'{results[key][c]["AP"]:.3f} / {results[key][c]["AP50"]:.3f}'
                 for c in all_cameras]
        mean = unseen_mean[key]
        bold = '**' if key == 'genisp' else ''
        lines.append(f'| {bold}{label}{bold} | ' + ' | '.join(cells) +
                     f' | {bold}{mean["AP"]:.3f} / {mean["AP50"]:.3f}{bold} |')
    oracle_cell = f'{oracle_ap["AP"]:.3f} / {oracle_ap["AP50"]:.3f}'
    lines.append(f'| {oracle_label} | ' + ' | '.join([oracle_cell] * len(all_cameras)) +
                 f' | {oracle_cell} |')
    table = '\n'.join(lines)
    label_of = {k: label for k, label, _, _ in methods}
    margins = {}
    for camera in cameras:
        best = max((k for k, _, _, _ in methods if k != 'genisp'),
                   key=lambda k: results[k][camera]['AP'])
        margins[camera] = dict(best_baseline=best, AP=results['genisp'][camera]['AP'] -
                               results[best][camera]['AP'])
    report['genisp_minus_best_baseline_AP_per_camera'] = margins
    per_camera = '; '.join(f'{c} {m["AP"]:+.3f} (vs {label_of[m["best_baseline"]]})'
                           for c, m in margins.items())
    summary = (
        f'On the unseen cameras GenISP reaches AP {unseen_mean["genisp"]["AP"]:.3f}; the best '
        f'non-oracle baseline ({label_of[best_baseline]}) reaches '
        f'{unseen_mean[best_baseline]["AP"]:.3f} '
        f'({report["genisp_minus_best_baseline_AP"]:+.3f}). Per unseen camera, GenISP minus '
        f'the best baseline on that camera: {per_camera}. The well-lit sRGB oracle reaches '
        f'{oracle_ap["AP"]:.3f}: GenISP is {report["oracle_minus_genisp_AP"]:.3f} AP below it.')
    cross_lines = []
    if cross is not None:
        label_of_main = {k: label for k, label, _, _ in methods}
        own = [('libraw', f'RetinaNet behind {label_of_main["libraw"]}'),
               ('genisp', 'RetinaNet behind GenISP trained through the RetinaNet (its own)')]
        rows, report['cross_detector_unseen_mean'] = cross_detector_table(
            results, cameras, *cross, own)
        cross_lines = [
            '## Across detectors', '',
            'The same ISPs in front of a detector they were not trained through: FCOS (anchor-'
            'free, BGR input with Caffe-style means) pretrained on the same well-lit renderings '
            'as the RetinaNet (RGB, ImageNet mean/std). COCO bbox AP / AP50 on the unseen '
            'cameras; an ISP trained through the other detector is loaded alone '
            '(`tools/test.py --isp-from`).', '', *rows, '']
    picture_cameras = tuple(dict.fromkeys((cameras[0], cameras[-1])))
    picture = write_pictures(work_dir, data, checkpoints, detector, picture_cameras, methods,
                             oracle_label)
    markdown = '\n'.join([
        '# GenISP demo report', '',
        f'COCO bbox AP / AP50 (AP@[.5:.95] / AP@.5) of the same frozen detector behind each '
        f'pipeline. GenISP trained on `{train_camera}` only; the other cameras are unseen '
        f'(other colour matrices and CFA orders; `rccb_d750` is an RCCB sensor, clear pixels '
        f'instead of green, derived from the Nikon D750). The oracle sees well-lit, '
        f'noise-free sRGB '
        f'renderings of the same test scenes.', '', table, '', summary, '', *cross_lines,
        f'![pipelines]({osp.basename(picture)})', '',
        f'Total time: {elapsed / 60:.1f} min.', ''])
    with open(osp.join(work_dir, 'report.md'), 'w') as f:
        f.write(markdown)
    with open(osp.join(work_dir, 'report.json'), 'w') as f:
        json.dump(report, f, indent=2)
    print('\n' + table + '\n\n' + summary + ('\n\n' + '\n'.join(cross_lines) if cross_lines
                                              else ''))
