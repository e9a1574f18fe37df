#!/usr/bin/env python
"""Run a trained GenISP model over many RAW files: detections, pictures and ISP renderings.

    python tools/infer_raw.py INPUTS... CONFIG CHECKPOINT --out-dir OUT
        [--batch-size 4] [--workers 2] [--device cpu|cuda] [--save-pictures] [--score-thr 0.3]
        [--save-renderings png|jpg] [--isp-only] [--no-resume] [--cfg-options KEY=VALUE ...]

INPUTS are RAW files, folders (searched recursively for RAW extensions) or glob patterns
(quote them; ``**`` allowed). Written to OUT:

* ``predictions.jsonl``: one line per file as it is done - its detections (boxes ``x, y, w, h``
  in the RAW file's visible frame at full resolution, class, score), the ISP's white-balance
  gains and colour matrix, or the reason it could not be read;
* ``detections.json``: COCO results (``image_id``, ``category_id``, ``bbox``, ``score``, plus
  ``file_name``) and ``images.json`` (COCO ``images`` with sizes and ``categories``);
* ``summary.json``: counts, files/s, every unreadable file with its reason;
* with ``--save-pictures``: ``pictures/<file>.jpg``, detections drawn on the ISP's rendering;
  with ``--save-renderings``: ``renderings/<file>.png`` (or ``.jpg``), the 8-bit rendering the
  detector saw, for detectors outside MMDetection.

An unreadable file is reported and skipped; the run goes on. Running again with the same OUT
skips the files already done (``--no-resume`` starts over).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import cv2  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

import genisp_mmdet  # noqa: E402,F401
from genisp_mmdet.apis import GenISPInferencer, RawInferenceFailure, expand_raw_inputs  # noqa: E402
from genisp_mmdet.datasets.coco_ids import COCO_CATEGORY_IDS, COCO_CLASSES  # noqa: E402
from genisp_mmdet.engine.launch import ConfigError, fail  # noqa: E402
from genisp_mmdet.visualization import draw_detections  # noqa: E402

PREDICTIONS = 'predictions.jsonl'
RUN_FILE = 'run.json'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('inputs', nargs='+', help='RAW files, folders or glob patterns')
    parser.add_argument('config', help='config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint of a GenISP run')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--workers', type=int, default=2, help='file-decoding processes')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--save-pictures', action='store_true',
                        help='write pictures/<file>.jpg: detections on the ISP rendering')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='score threshold of the pictures (the JSON keeps every detection)')
    parser.add_argument('--save-renderings', choices=('png', 'jpg'),
                        help='write renderings/<file>.<png|jpg>: the 8-bit ISP output')
    parser.add_argument('--isp-only', action='store_true',
                        help='take only the ISP from CHECKPOINT, the detector from the config\'s '
                             'detector_checkpoint (an ISP trained through another detector)')
    parser.add_argument('--no-resume', action='store_true',
                        help='start over instead of skipping files already in OUT')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.workers < 0:
        parser.error('--batch-size must be >= 1 and --workers >= 0')
    return args


def category_ids(classes):
    """Official COCO ids for a COCO-80 detector, else index + 1."""
    if list(classes) == list(COCO_CLASSES):
        return list(COCO_CATEGORY_IDS)
    return list(range(1, len(classes) + 1))


def done_records(path):
    """Records of a previous run, keyed by file; a line cut short by a kill is dropped and the
    file truncated to the last complete line, so appending goes on cleanly."""
    records, good_bytes = {}, 0
    if not osp.exists(path):
        return records
    with open(path, 'rb') as f:
        for line in f:
            if not line.endswith(b'\n'):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            records[record['file']] = record
            good_bytes += len(line)
    if good_bytes != osp.getsize(path):
        with open(path, 'r+b') as f:
            f.truncate(good_bytes)
    return records


def check_same_run(out_dir, run, resume):
    """A resumed OUT must come from the same model: refuse to mix two models' results."""
    path = osp.join(out_dir, RUN_FILE)
    if resume and osp.exists(path):
        with open(path) as f:
            previous = json.load(f)
        if previous != run:
            raise ConfigError(f'{out_dir} holds results of another model ({previous}); use '
                              'another --out-dir or --no-resume')
    with open(path, 'w') as f:
        json.dump(run, f, indent=1)


def relative_name(path, root):
    return osp.relpath(path, root) if root else osp.basename(path)


def record_of(result, name, ids):
    detections = []
    for box, score, label in zip(result.bboxes.tolist(), result.scores.tolist(),
                                 result.labels.tolist()):
        x0, y0, x1, y1 = box
        detections.append(dict(bbox=[round(x0, 2), round(y0, 2), round(x1 - x0, 2),
                                     round(y1 - y0, 2)],
                               score=round(score, 5), category_id=ids[label],
                               category=result.classes[label]))
    record = dict(file=result.source, name=name, status='ok',
                  height=result.frame_shape[0], width=result.frame_shape[1],
                  detections=detections)
    if result.isp_params is not None:
        record['isp'] = result.isp_params
    return record


def save_images(result, name, args):
    stem = osp.splitext(name)[0]
    if args.save_renderings:
        path = osp.join(args.out_dir, 'renderings', f'{stem}.{args.save_renderings}')
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, cv2.cvtColor(result.rendering, cv2.COLOR_RGB2BGR))
    if args.save_pictures:
        sx, sy = result.rendering_scale
        picture = draw_detections(result.rendering, result.bboxes * [sx, sy, sx, sy],
                                  result.scores, result.labels, result.classes,
                                  score_thr=args.score_thr)
        path = osp.join(args.out_dir, 'pictures', f'{stem}.jpg')
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))


def write_coco_outputs(out_dir, records, files, classes, ids):
    """detections.json (COCO results) and images.json, image ids in sorted file order."""
    images, detections = [], []
    for image_id, path in enumerate(files, 1):
        record = records.get(path)
        if record is None or record['status'] != 'ok':
            continue
        images.append(dict(id=image_id, file_name=record['name'], width=record['width'],
                           height=record['height']))
        detections += [dict(image_id=image_id, file_name=record['name'],
                            category_id=d['category_id'], bbox=d['bbox'], score=d['score'])
                       for d in record['detections']]
    with open(osp.join(out_dir, 'detections.json'), 'w') as f:
        json.dump(detections, f)
    categories = [dict(id=i, name=name) for i, name in zip(ids, classes)]
    with open(osp.join(out_dir, 'images.json'), 'w') as f:
        json.dump(dict(images=images, categories=categories), f)
    return len(images), len(detections)


def main(argv=None):
    args = parse_args(argv)
    try:
        files = expand_raw_inputs(args.inputs)
        for path, what in ((args.checkpoint, 'checkpoint'), (args.config, 'config')):
            if not osp.isfile(path):
                raise ConfigError(f'{what} not found: {path}')
        inferencer = GenISPInferencer(args.config, args.checkpoint, args.device,
                                      cfg_options=args.cfg_options, isp_only=args.isp_only)
        os.makedirs(args.out_dir, exist_ok=True)
        stat = os.stat(args.checkpoint)
        check_same_run(args.out_dir, dict(config=osp.abspath(args.config),
                                          checkpoint=osp.abspath(args.checkpoint),
                                          checkpoint_size=stat.st_size,
                                          checkpoint_mtime=int(stat.st_mtime),
                                          isp_only=args.isp_only,
                                          cfg_options=args.cfg_options or {}),
                       resume=not args.no_resume)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    root = osp.commonpath([osp.dirname(p) for p in files]) if len(files) > 1 else None
    ids = category_ids(inferencer.classes)
    predictions = osp.join(args.out_dir, PREDICTIONS)
    records = {} if args.no_resume else done_records(predictions)
    todo = [p for p in files if p not in records]
    print(f'{len(files)} RAW files, {len(files) - len(todo)} already done in {args.out_dir}, '
          f'{len(todo)} to run on {args.device}')

    start, failures = time.time(), []
    progress = ProgressBar(len(todo)) if todo else None
    with open(predictions, 'w' if args.no_resume else 'a') as out:
        for item in inferencer.iter_results(
                todo, batch_size=args.batch_size, num_workers=min(args.workers, len(todo)),
                return_rendering=args.save_pictures or bool(args.save_renderings),
                return_isp_params=True):
            name = relative_name(item.source, root)
            if isinstance(item, RawInferenceFailure):
                record = dict(file=item.source, name=name, status='error',
                              error_type=item.error_type, error=item.error)
            else:
                record = record_of(item, name, ids)
                save_images(item, name, args)
            out.write(json.dumps(record) + '\n')
            out.flush()
            records[item.source] = record
            progress.update()
    elapsed = time.time() - start
    if todo:
        print()

    wanted = set(files)
    failed = [r for p, r in records.items() if p in wanted and r['status'] != 'ok']
    num_images, num_detections = write_coco_outputs(args.out_dir, records, files,
                                                     inferencer.classes, ids)
    summary = dict(files=len(files), processed_now=len(todo), ok=num_images,
                   unreadable=len(failed), detections=num_detections,
                   seconds=round(elapsed, 2),
                   files_per_second=round(len(todo) / elapsed, 3) if todo and elapsed else None,
                   batch_size=args.batch_size, workers=args.workers, device=args.device,
                   failures=[dict(file=r['file'], error_type=r['error_type'], error=r['error'])
                             for r in failed])
    with open(osp.join(args.out_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    rate = f', {summary["files_per_second"]} files/s' if summary['files_per_second'] else ''
    print(f'{num_images} files with {num_detections} detections, {len(failed)} unreadable '
          f'({len(todo)} run now in {elapsed:.1f} s{rate}) -> {args.out_dir}')
    for r in failed:
        print(f'  unreadable: {r["error"]}')


if __name__ == '__main__':
    main()
