"""COCO bbox AP of RAW detection datasets, scored in the annotated frame of the published
annotation file (:class:`RawCocoMetric`)."""
from __future__ import annotations

import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.fileio import dump
from mmengine.logging import print_log

from mmdet.datasets.api_wrappers import COCO
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS

from ...datasets.coco_ids import COCO_CLASSES
from ...datasets.raw_coco import _category_ids_by_name, _coco_api, load_raw_coco
from ...structures.frames import image_to_annotation_boxes


def _stem(path: str) -> str:
    """File stem: ``x/DSC01.ARW`` and ``x/DSC01.ARW.npy`` (packed cache) -> ``DSC01``,
    ``4432.npy`` -> ``4432``."""
    name = osp.basename(path)
    if name.endswith('.npy'):
        name = name[:-len('.npy')]
    return osp.splitext(name)[0]


@METRICS.register_module()
class RawCocoMetric(CocoMetric):
    """``CocoMetric`` for :class:`~genisp_mmdet.datasets.RawCocoDataset` (what plain
    ``CocoMetric`` gets wrong on these files: :mod:`genisp_mmdet.datasets.raw_coco`).

    Differences from ``CocoMetric``:

    * ground truth: the annotation file as published, normalised in memory
      (:func:`normalize_coco_dict`: int image ids as the dataset assigns them, annotation ids
      from 1, zero-area boxes dropped). ``ann_file=None`` reads the dataset's own file
      (``dataset_meta['ann_file']``), so overriding the dataset's ``data_root`` is enough;
    * predicted label ``l`` is written with the category id that the *annotation file* gives
      the name ``dataset_meta['classes'][l]`` (official COCO ids for RAW-NOD and converted LOD).
      Predictions of classes the file does not declare, or outside ``eval_classes``, are
      dropped (COCOeval would ignore them anyway: only declared categories are evaluated);
    * evaluated categories: those of ``eval_classes`` the file declares. Categories without
      ground truth among the evaluated images get precision/recall -1 in pycocotools and are
      left out of the means (``np.mean(s[s > -1])``), so the 77 unused categories the Nikon
      test file declares do not change mAP;
    * predictions are mapped from the loaded image frame (``ori_shape``) back into the
      annotated frame (:func:`image_to_annotation_boxes`): exactly by the ``ann_to_img`` map
      ``AlignRawAnnotations`` recorded when the pipeline packs it (the configs add it to
      ``meta_keys``), else by the same rule from ``raw_meta['visible_shape']``, else (no RAW
      metadata) as a resize of the annotated frame;
    * only images that were processed are evaluated (identical to all images on a full run;
      correct on a subset, e.g. ``--max`` or a sliced dataset);
    * an image the dataset could not read (``unreadable_test_images='no_detections'``) counts
      with no detection at all, is named in a warning and counted as ``unreadable_images``;
    * each prediction's ``img_path`` stem must equal the stem of the file name the annotation
      file gives that image id (catches a metric reading a different file than the dataset).

    Args:
        ann_file: annotation file; ``None``: the dataset's (recommended).
        to_annotation_frame: map predictions back into the annotated frame (default True).
        check_file_names: the ``img_path`` check above (default True).
        **kwargs: ``CocoMetric`` arguments (``metric`` 'bbox'/'proposal'/'proposal_fast',
            ``classwise``, ``outfile_prefix``, ``format_only``...). With ``outfile_prefix``,
            ``<prefix>.bbox.published_ids.json`` repeats the results with the published image
            ids (for submission to other tools).
    """

    def __init__(self, ann_file: Optional[str] = None, metric: Union[str, List[str]] = 'bbox',
                 to_annotation_frame: bool = True, check_file_names: bool = True, **kwargs):
        metrics = metric if isinstance(metric, list) else [metric]
        if 'segm' in metrics:
            raise ValueError('RawCocoMetric evaluates boxes only (no masks in RAW datasets)')
        kwargs.pop('sort_categories', None)
        super().__init__(ann_file=None, metric=metric, **kwargs)
        self.raw_ann_file = ann_file
        self.to_annotation_frame = to_annotation_frame
        self.check_file_names = check_file_names
        self._coco_source: Optional[str] = None
        self._label_to_cat: Dict[int, int] = {}

    # -- ground truth --------------------------------------------------------------------
    def _ensure_coco(self) -> COCO:
        source = self.raw_ann_file or (self.dataset_meta or {}).get('ann_file')
        if not source:
            raise ValueError('RawCocoMetric needs an annotation file: give ann_file=..., or use '
                             'it with a RawCocoDataset (its dataset_meta names the file)')
        if self._coco_api is None or self._coco_source != source:
            backend_args = self.backend_args
            self._coco_api = _coco_api(load_raw_coco(source, backend_args=backend_args,
                                                     drop_degenerate=True))
            self._coco_source = source
        return self._coco_api

    def _setup_categories(self) -> None:
        meta = self.dataset_meta or {}
        classes = tuple(meta.get('classes') or COCO_CLASSES)
        eval_classes = set(meta.get('eval_classes') or classes)
        name_to_cat = _category_ids_by_name(self._coco_api.dataset, self._coco_source)
        self._label_to_cat = {label: name_to_cat[name] for label, name in enumerate(classes)
                              if name in eval_classes and name in name_to_cat}
        if not self._label_to_cat:
            raise ValueError(f'{self._coco_source}: declares none of the dataset classes '
                             f'{sorted(eval_classes)[:8]}... (categories: '
                             f'{sorted(name_to_cat)})')
        self.cat_ids = [self._label_to_cat[label] for label in sorted(self._label_to_cat)]

    # -- per batch -----------------------------------------------------------------------
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        coco = self._ensure_coco()
        for sample in data_samples:
            img_id = sample['img_id']
            info = coco.imgs.get(img_id)
            if info is None:
                raise KeyError(f'RawCocoMetric: image id {img_id!r} ({sample.get("img_path")}) '
                               f'is not in {self._coco_source}; the dataset and the metric must '
                               'read the same annotation file')
            if self.check_file_names and sample.get('img_path'):
                got, want = _stem(sample['img_path']), _stem(info['file_name'])
                if got != want:
                    raise ValueError(
                        f'RawCocoMetric: image id {img_id} is {info["file_name"]!r} in '
                        f'{self._coco_source} but the prediction is for {sample["img_path"]!r}; '
                        'the dataset and the metric read different annotation files')
            pred = sample['pred_instances']
            if sample.get('unreadable'):  # RawCocoDataset(unreadable_test_images='no_...')
                result = dict(img_id=img_id, bboxes=np.zeros((0, 4)), scores=np.zeros(0),
                              labels=np.zeros(0, dtype=np.int64),
                              unreadable=(sample.get('img_path'), sample['unreadable']))
                self.results.append((dict(width=info['width'], height=info['height'],
                                          img_id=img_id), result))
                continue
            bboxes = pred['bboxes'].cpu().numpy()
            if self.to_annotation_frame and len(bboxes):
                raw_meta = sample.get('raw_meta') or {}
                bboxes = image_to_annotation_boxes(
                    bboxes, (info['width'], info['height']), sample['ori_shape'],
                    raw_meta.get('visible_shape'), sample.get('ann_to_img'))
            result = dict(img_id=img_id, bboxes=bboxes,
                          scores=pred['scores'].cpu().numpy(),
                          labels=pred['labels'].cpu().numpy())
            gt = dict(width=info['width'], height=info['height'], img_id=img_id)
            self.results.append((gt, result))

    # -- end of evaluation ---------------------------------------------------------------
    def results2json(self, results: Sequence[dict], outfile_prefix: str) -> dict:
        bbox_json, dropped = [], 0
        for result in results:
            for bbox, score, label in zip(result['bboxes'], result['scores'],
                                          result['labels']):
                cat_id = self._label_to_cat.get(int(label))
                if cat_id is None:
                    dropped += 1
                    continue
                bbox_json.append(dict(image_id=result['img_id'], bbox=self.xyxy2xywh(bbox),
                                      score=float(score), category_id=cat_id))
        if dropped:
            print_log(f'RawCocoMetric: {dropped} detection(s) of classes that '
                      f'{osp.basename(self._coco_source)} does not evaluate were left out',
                      logger='current')
        files = dict(bbox=f'{outfile_prefix}.bbox.json', proposal=f'{outfile_prefix}.bbox.json')
        dump(bbox_json, files['bbox'])
        if self.outfile_prefix is not None:
            imgs = self._coco_api.imgs
            published = [dict(det, image_id=imgs[det['image_id']]['orig_id'])
                         for det in bbox_json]
            dump(published, f'{outfile_prefix}.bbox.published_ids.json')
        return files

    def compute_metrics(self, results: list) -> Dict[str, float]:
        self._ensure_coco()
        self._setup_categories()
        self.img_ids = sorted({gt['img_id'] for gt, _ in results})
        unreadable = [r['unreadable'] for _, r in results if 'unreadable' in r]
        for path, reason in unreadable:
            print_log(f'RawCocoMetric: {path} could not be read and is scored as an image '
                      f'without detections ({reason})', logger='current',
                      level=logging.WARNING)
        metrics = super().compute_metrics(results)
        if unreadable:
            metrics['unreadable_images'] = len(unreadable)
        return metrics
