"""COCO-format datasets of camera RAW images, read from the annotation files *as published*.

What plain ``CocoDataset`` + ``CocoMetric`` get wrong on these datasets, and what is done here:

* **String image ids** (RAW-NOD ``'DSC01881'``, LOD ``'4432'``). pycocotools itself copes with
  them, but the data pipeline, result files and samplers are simpler with ints, so
  :func:`normalize_coco_dict` maps them to ints *deterministically from the file alone* (1-based
  position in ``images`` when any id is not an int; all-int ids, e.g. the Sony test file, are
  kept). The published id and file name stay in every data info (``orig_img_id``,
  ``file_name``), and :class:`RawCocoMetric` builds its ground truth from the same file with the
  same rule, so both sides agree.
* **Annotation id 0.** pycocotools' matcher stores the matched ground-truth *id* in
  ``dtMatches``/``gtMatches`` and reads 0 as "unmatched", so the annotation with id 0 (RAW-NOD
  and LOD ids start at 0) can never be matched: with the published files even perfect
  predictions score mAP 0.992-0.996. Annotation ids are renumbered 1..N in memory.
* **Class order.** The detector is COCO-pretrained and frozen: its class ``i`` is
  ``COCO_CLASSES[i]``. Labels are assigned by *category name* into that space (never by the
  file's category order), so a file that declares 3 or 8 categories (RAW-NOD, converted LOD) or
  uses non-COCO ids (raw LOD, ids 0-7) still yields the detector's labels, and
  :class:`RawCocoMetric` maps a label back to *the file's* category id for that name.
* **Frames.** Boxes are annotated on the rendered full-size frame (Sony 5472x3648) while the
  pipeline (``AlignRawAnnotations``) and so the detector's predictions live in the packed frame
  (``ori_shape``, e.g. 1836x2748). :class:`RawCocoMetric` maps predictions back into the
  annotated frame before COCO evaluation, so AP, the small/medium/large split and the written
  result json are those of the published protocol.

Class subsets: ``metainfo=dict(classes=('person', 'car'))`` restricts which categories are
loaded and scored; it does **not** renumber labels. After construction ``dataset.metainfo`` is::

    classes        = detector_classes (default: the 80 COCO classes)  # label i <-> classes[i]
    eval_classes   = the requested subset (default: all of classes)
    detector_label = (classes.index(c) for c in eval_classes)          # subset index -> label
    ann_file       = the resolved annotation file (RawCocoMetric reads it when given none)

so ``bbox_label`` (training targets) and predicted labels are always in the detector's index
space, the visualiser's ``classes[label]`` is right, and no remapping layer is needed in the
frozen detector. For a detector fine-tuned on fewer classes pass ``detector_classes`` (its
class names in its own order).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import dump, get, get_local_path
from mmengine.logging import MMLogger, print_log

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.evaluation import CocoMetric
from mmdet.registry import DATASETS, METRICS, TRANSFORMS

from ..raw import RawReadError
from .coco_ids import COCO_CLASSES

__all__ = ['RawCocoDataset', 'RawCocoMetric', 'LoadNumpyImageFromFile', 'normalize_coco_dict',
           'load_raw_coco', 'annotation_to_image_affine', 'image_to_annotation_boxes']


# --------------------------------------------------------------------------------------------
# annotation files
# --------------------------------------------------------------------------------------------
def normalize_coco_dict(coco: dict, source: str = '<dict>', drop_degenerate: bool = False,
                        logger: Optional[MMLogger] = None) -> dict:
    """Return a copy of a COCO detection dict that pycocotools and mmdet handle correctly.

    * image ids: kept when all are ints; otherwise ``id = 1 + position in images``. The
      published id is kept as ``orig_id`` on each image (and annotation ``image_id`` follows).
    * annotation ids: renumbered ``1..N`` in file order (``orig_id`` kept): pycocotools treats
      a matched id 0 as "unmatched".
    * ``iscrowd`` defaults to 0 and ``area`` to ``w * h`` when absent.
    * ``drop_degenerate``: drop boxes with ``w <= 0`` or ``h <= 0`` (no detection can ever match
      them; the RAW-NOD Nikon test file has one, ``[1764, 872, 2, 0]``), with a warning.

    Raises:
        ValueError: missing ``images``/``categories``, an image without ``file_name``/size,
            duplicate image ids, an annotation on an image that is not listed, or a malformed
            box; the message names ``source``.
    """
    for key in ('images', 'categories'):
        if key not in coco:
            raise ValueError(f'{source}: not a COCO detection file (no {key!r} list)')
    images = coco['images']
    anns = coco.get('annotations', [])
    orig_ids = [img['id'] for img in images]
    if len(set(orig_ids)) != len(orig_ids):
        dup = sorted({str(i) for i in orig_ids if orig_ids.count(i) > 1})[:5]
        raise ValueError(f'{source}: duplicate image ids, e.g. {dup}')
    keep_ids = all(isinstance(i, int) and not isinstance(i, bool) for i in orig_ids)
    id_map = {orig: (orig if keep_ids else pos + 1) for pos, orig in enumerate(orig_ids)}

    new_images = []
    for img in images:
        for key in ('file_name', 'width', 'height'):
            if key not in img:
                raise ValueError(f'{source}: image {img.get("id")!r} has no {key!r}')
        new_img = dict(img)
        new_img['id'] = id_map[img['id']]
        new_img['orig_id'] = img['id']
        new_images.append(new_img)

    new_anns = []
    dropped = []
    for ann in anns:
        if ann.get('image_id') not in id_map:
            raise ValueError(f'{source}: annotation {ann.get("id")!r} refers to image '
                             f'{ann.get("image_id")!r}, which is not in "images"')
        bbox = ann.get('bbox')
        if bbox is None or len(bbox) != 4:
            raise ValueError(f'{source}: annotation {ann.get("id")!r} has no [x, y, w, h] bbox')
        if drop_degenerate and (bbox[2] <= 0 or bbox[3] <= 0):
            dropped.append(ann.get('id'))
            continue
        new_ann = dict(ann)
        new_ann['orig_id'] = ann.get('id')
        new_ann['id'] = len(new_anns) + 1
        new_ann['image_id'] = id_map[ann['image_id']]
        new_ann.setdefault('iscrowd', 0)
        if 'area' not in new_ann:
            new_ann['area'] = float(bbox[2]) * float(bbox[3])
        new_anns.append(new_ann)
    if dropped:
        print_log(f'{source}: ignoring {len(dropped)} zero-area ground-truth box(es) in '
                  f'evaluation (annotation ids {dropped[:10]}): no detection can match them',
                  logger=logger or 'current', level=30)

    out = {k: v for k, v in coco.items() if k not in ('images', 'annotations')}
    out['images'] = new_images
    out['annotations'] = new_anns
    out['categories'] = [dict(c) for c in coco['categories']]
    return out


def load_raw_coco(ann_file: str, backend_args: Optional[dict] = None,
                  drop_degenerate: bool = False) -> dict:
    """Read a COCO json (any mmengine file backend) and :func:`normalize_coco_dict` it."""
    try:
        with get_local_path(ann_file, backend_args=backend_args) as local_path:
            with open(local_path, encoding='utf-8') as f:
                coco = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'annotation file not found: {ann_file}') from None
    except json.JSONDecodeError as err:
        raise ValueError(f'{ann_file} is not valid JSON: {err}') from None
    if not isinstance(coco, dict):
        raise ValueError(f'{ann_file}: expected a COCO dict at the top level, got '
                         f'{type(coco).__name__}')
    return normalize_coco_dict(coco, source=ann_file, drop_degenerate=drop_degenerate)


def _coco_api(coco_dict: dict) -> COCO:
    """An mmdet ``COCO`` object over an in-memory dict (no file, no prints)."""
    api = COCO()
    api.dataset = coco_dict
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    api.img_ann_map = api.imgToAnns
    api.cat_img_map = api.catToImgs
    return api


def _category_ids_by_name(coco_dict: dict, source: str) -> Dict[str, int]:
    name_to_id: Dict[str, int] = {}
    for cat in coco_dict['categories']:
        name = cat.get('name')
        if name in name_to_id and name_to_id[name] != cat['id']:
            raise ValueError(f'{source}: category name {name!r} is declared twice '
                             f'(ids {name_to_id[name]} and {cat["id"]})')
        name_to_id[name] = cat['id']
    return name_to_id


# --------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------
def annotation_to_image_affine(ann_size: Sequence[float], image_shape: Sequence[int],
                               visible_shape: Optional[Sequence[int]] = None,
                               frame: str = 'auto', margin: float = 0.02
                               ) -> Tuple[float, float, float, float]:
    """``(ax, ay, bx, by)`` with ``x_img = ax * x_ann + bx``, ``y_img = ay * y_ann + by``:
    the map ``AlignRawAnnotations(frame, margin)`` applies to boxes (same formula, built on its
    :func:`~genisp_mmdet.datasets.transforms.annotated_to_visible`).

    ``ann_size = (W, H)`` of the annotated frame, ``image_shape = (h, w, ...)`` of the loaded
    image, ``visible_shape = (H_v, W_v)`` from ``raw_meta`` (Sony RX100 VII: 5472x3648 is the
    5496x3672 visible frame less 12 px per side, packed by 0.5 -> ``(0.5, 0.5, 6, 6)``).
    ``visible_shape=None`` (no RAW metadata, e.g. a pre-packed ``.npy``): the image is a plain
    resize of the annotated frame.
    """
    ann_w, ann_h = float(ann_size[0]), float(ann_size[1])
    img_h, img_w = float(image_shape[0]), float(image_shape[1])
    if visible_shape is None:
        return img_w / ann_w, img_h / ann_h, 0.0, 0.0
    from .transforms.annotations import annotated_to_visible
    vis_h, vis_w = (float(v) for v in visible_shape[:2])
    k, ox, oy, _ = annotated_to_visible((ann_w, ann_h), (vis_w, vis_h), frame, margin)
    # the packed image covers the visible frame cropped to even size
    sx = img_w / (vis_w - vis_w % 2)
    sy = img_h / (vis_h - vis_h % 2)
    return sx * k, sy * k, sx * ox, sy * oy


def image_to_annotation_boxes(bboxes: np.ndarray, ann_size: Sequence[float],
                              image_shape: Sequence[int],
                              visible_shape: Optional[Sequence[int]] = None,
                              ann_to_img: Optional[dict] = None) -> np.ndarray:
    """Map ``(N, 4)`` xyxy boxes from the loaded image frame back to the annotated frame.

    ``ann_to_img``: the map ``AlignRawAnnotations`` recorded for this image
    (``dict(scale=(ax, ay), offset=(bx, by))``, exact whatever its settings); without it the
    map is recomputed with :func:`annotation_to_image_affine`'s defaults.
    """
    if ann_to_img is not None:
        (ax, ay), (bx, by) = ann_to_img['scale'], ann_to_img['offset']
    else:
        ax, ay, bx, by = annotation_to_image_affine(ann_size, image_shape, visible_shape)
    boxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, 0::2] = (boxes[:, 0::2] - bx) / ax
    boxes[:, 1::2] = (boxes[:, 1::2] - by) / ay
    return boxes


# --------------------------------------------------------------------------------------------
# dataset
# --------------------------------------------------------------------------------------------
@DATASETS.register_module()
class RawCocoDataset(CocoDataset):
    """COCO-format detection dataset of RAW images (see the module docstring).

    Args:
        detector_classes: the class names of the detector's head, in its order; labels are
            indices into it. Defaults to the 80 COCO classes (a COCO-pretrained detector).
        unreadable_test_images: a test-mode file that cannot be read is an error naming it
            (``'raise'``, default) or, opted in, ``'no_detections'``: a blank stand-in that
            :class:`RawCocoMetric` scores as an image without any detection, warning with the
            file and reporting ``unreadable_images`` among the metrics.
        *args, **kwargs: :class:`mmdet.datasets.CocoDataset` arguments. ``metainfo['classes']``
            (default: ``detector_classes``) selects the categories to load and score;
            ``data_prefix=dict(img=...)`` is the folder of the RAW (or cached) files named by
            ``file_name``.

    Data infos carry ``img_path``, ``img_id`` (int, see :func:`normalize_coco_dict`),
    ``orig_img_id`` (as published), ``file_name``, ``width``/``height`` (the annotated frame,
    which ``AlignRawAnnotations`` needs) and ``instances`` (xyxy boxes in the annotated frame,
    ``bbox_label`` in the detector's index space; zero-size boxes skipped as in mmdet).
    """

    METAINFO = dict(classes=COCO_CLASSES, palette=CocoDataset.METAINFO['palette'])
    UNREADABLE_POLICIES = ('raise', 'no_detections')

    def __init__(self, *args, detector_classes: Optional[Sequence[str]] = None,
                 unreadable_test_images: str = 'raise', **kwargs):
        if unreadable_test_images not in self.UNREADABLE_POLICIES:
            raise ValueError(f'unreadable_test_images must be one of '
                             f'{self.UNREADABLE_POLICIES}, got {unreadable_test_images!r}')
        self.unreadable_test_images = unreadable_test_images
        self._detector_classes = tuple(detector_classes) if detector_classes else COCO_CLASSES
        if len(set(self._detector_classes)) != len(self._detector_classes):
            raise ValueError(f'detector_classes has duplicate names: {self._detector_classes}')
        data_prefix = dict(kwargs.get('data_prefix') or {})
        data_prefix.setdefault('img', '')
        kwargs['data_prefix'] = data_prefix
        super().__init__(*args, **kwargs)
        self._setup_label_space()

    def _setup_label_space(self) -> None:
        """Idempotent: turn the requested ``classes`` into ``eval_classes`` and make the label
        space ``detector_classes`` (see the module docstring)."""
        meta = self._metainfo
        if 'eval_classes' in meta:
            return
        requested = tuple(meta.get('classes') or self._detector_classes)
        unknown = [c for c in requested if c not in self._detector_classes]
        if unknown:
            raise ValueError(
                f'classes {unknown} are not among the detector classes; labels must index the '
                f'detector head (detector_classes has {len(self._detector_classes)} names, '
                f'e.g. {self._detector_classes[:5]}). Pass detector_classes=... for a detector '
                'with other classes.')
        meta['eval_classes'] = requested
        meta['detector_label'] = tuple(self._detector_classes.index(c) for c in requested)
        meta['classes'] = self._detector_classes
        meta['ann_file'] = self.ann_file
        palette = meta.get('palette')
        if palette is not None and len(palette) < len(self._detector_classes):
            meta.pop('palette')  # let the visualiser generate one per detector class

    def load_data_list(self) -> List[dict]:
        self._setup_label_space()
        coco_dict = load_raw_coco(self.ann_file, backend_args=self.backend_args)
        self.coco = _coco_api(coco_dict)
        name_to_cat = _category_ids_by_name(coco_dict, self.ann_file)
        eval_classes = self._metainfo['eval_classes']
        declared = [c for c in eval_classes if c in name_to_cat]
        if not declared:
            raise ValueError(
                f'{self.ann_file}: none of the requested classes {list(eval_classes)[:8]}... '
                f'is declared in its categories {sorted(name_to_cat)}; category names must be '
                'COCO names (convert the file, e.g. tools/convert_lod.py)')
        self.cat_ids = [name_to_cat[c] for c in declared]
        self.cat2label = {name_to_cat[c]: self._detector_classes.index(c) for c in declared}
        self.cat_img_map = copy.deepcopy(self.coco.cat_img_map)

        data_list = []
        for img_id in self.coco.get_img_ids():
            raw_img_info = dict(self.coco.imgs[img_id])
            raw_img_info['img_id'] = img_id
            raw_ann_info = self.coco.load_anns(self.coco.get_ann_ids(img_ids=[img_id]))
            data_info = self.parse_data_info(dict(raw_ann_info=raw_ann_info,
                                                  raw_img_info=raw_img_info))
            data_info['orig_img_id'] = raw_img_info['orig_id']
            data_info['file_name'] = raw_img_info['file_name']
            data_list.append(data_info)
        del self.coco
        return data_list

    def prepare_data(self, idx: int) -> Optional[dict]:
        if not self.test_mode:
            return super().prepare_data(idx)
        path = self.get_data_info(idx)['img_path']
        try:
            data = super().prepare_data(idx)
        except RawReadError as error:
            if self.unreadable_test_images == 'raise':
                raise
            return self._unreadable_sample(idx, f'{type(error).__name__}: {error.reason}')
        if data is None:
            # mmengine would raise an anonymous "pipeline should not get None"; evaluation
            # must not drop an image, so a test pipeline never skips a file
            if self.unreadable_test_images == 'raise':
                raise RawReadError(path, "could not be read (logged above); evaluation never "
                                         "drops an image: use on_error='raise' in test "
                                         "pipelines, or unreadable_test_images="
                                         "'no_detections' to score it as one without any")
            return self._unreadable_sample(idx, 'the test pipeline skipped it')
        return data

    def _unreadable_sample(self, idx: int, reason: str) -> dict:
        """A stand-in for an unreadable test image (``unreadable_test_images=
        'no_detections'``): a small blank input whose data sample carries ``unreadable``, so
        :class:`RawCocoMetric` scores the image as one without any detection (its objects
        all missed) and reports it."""
        import torch
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData

        info = self.get_data_info(idx)
        print_log(f'unreadable test image scored as one without detections: '
                  f'{info["img_path"]} ({reason})', logger='current', level=logging.WARNING)
        sample = DetDataSample(metainfo=dict(
            img_id=info['img_id'], img_path=info['img_path'], ori_shape=(32, 32),
            img_shape=(32, 32), scale_factor=(1.0, 1.0), raw_meta=None, unreadable=reason))
        sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long))
        return dict(inputs=torch.zeros(3, 32, 32), data_samples=sample)


def _stem(path: str) -> str:
    """File stem: ``x/DSC01.ARW`` and ``x/DSC01.ARW.npy`` (packed cache) -> ``DSC01``,
    ``4432.npy`` -> ``4432``."""
    name = osp.basename(path)
    if name.endswith('.npy'):
        name = name[:-len('.npy')]
    return osp.splitext(name)[0]


# --------------------------------------------------------------------------------------------
# metric
# --------------------------------------------------------------------------------------------
@METRICS.register_module()
class RawCocoMetric(CocoMetric):
    """``CocoMetric`` for :class:`RawCocoDataset` (see the module docstring).

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


# --------------------------------------------------------------------------------------------
# pre-packed numpy images (LOD)
# --------------------------------------------------------------------------------------------
@TRANSFORMS.register_module()
class LoadNumpyImageFromFile(BaseTransform):
    """Load a pre-packed RAW image stored as ``.npy`` (no RAW metadata), e.g. the LOD release.

    Assumed layout (what Sony AI's RAM ``preprocess_files/preprocess_lod.py`` writes for LOD,
    read from its source; the LOD ``.npy`` files themselves were not available to check):
    ``(H, W, 4)`` float64, channels ``(R, G1, G2, B)`` taken from ``raw_image_visible`` by the
    CFA pattern (Canon EOS 5D Mark IV, RGGB), ``(raw - 2047) / 14336`` (black level 2047,
    white 16383, so ~[0, 1] but *not clipped*: dark noise goes below 0), then resized with
    ``cv2.resize`` to 1200x800 (so the image is a resize of the full frame and the LOD boxes,
    given on 1200x800, need no alignment). ``(H, W, 3)`` arrays are taken as camera RGB, and a
    channels-first ``(4|3, H, W)`` array is transposed.

    Output, as ``LoadRawImageFromFile``: ``img`` ``(H, W, 3)`` float32 (greens averaged,
    clipped to [0, 1], then camera RGB -> XYZ when ``xyz_to_camera`` is given),
    ``img_shape``/``ori_shape``, and ``raw_meta`` with the contract's keys; fields unknown
    for a ``.npy`` (``camera_wb``, ``iso``, ``exposure_time``, ``visible_shape``) are None.

    Args:
        channel_layout: ``'auto'`` (by channel count), ``'RGGB'`` (R, G1, G2, B) or ``'RGB'``.
        xyz_to_camera: 3x3 XYZ(D65) -> camera matrix (Adobe ``ColorMatrix``, LibRaw
            ``cam_xyz``) to convert to XYZ; the daylight white balance is derived from it as
            LibRaw does, and camera -> XYZ is scaled so daylight white has Y = 1.
            ``None``: leave camera RGB (``raw_meta['color_space'] = 'camera'``).
        clip: clip to [0, 1] before the colour matrix (default True).
        make, model: camera name for ``raw_meta``.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self, channel_layout: str = 'auto', xyz_to_camera=None, clip: bool = True,
                 make: Optional[str] = None, model: Optional[str] = None,
                 backend_args: Optional[dict] = None):
        if channel_layout not in ('auto', 'RGGB', 'RGB'):
            raise ValueError(f"channel_layout must be 'auto', 'RGGB' or 'RGB', "
                             f'got {channel_layout!r}')
        self.channel_layout = channel_layout
        self.clip = clip
        self.make, self.model = make, model
        self.backend_args = backend_args
        self.cam_to_xyz = None
        self.daylight_wb = None
        if xyz_to_camera is not None:
            from genisp_mmdet.color import SRGB_TO_XYZ, camera_to_xyz_matrix
            m = np.asarray(xyz_to_camera, dtype=np.float64)
            if m.shape != (3, 3):
                raise ValueError(f'xyz_to_camera must be 3x3, got shape {m.shape}')
            # camera response to daylight (sRGB white) ~ m @ SRGB_TO_XYZ @ 1; LibRaw's pre_mul
            white = m @ SRGB_TO_XYZ @ np.ones(3)
            if np.any(white <= 0):
                raise ValueError('xyz_to_camera gives a non-positive camera response to white')
            self.daylight_wb = (white[1] / white)
            self.cam_to_xyz = camera_to_xyz_matrix(m, daylight_whitebalance=self.daylight_wb)

    def _read(self, path: str) -> np.ndarray:
        try:
            buf = get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'LoadNumpyImageFromFile: {path} does not exist') from None
        try:
            return np.load(io.BytesIO(buf), allow_pickle=False)
        except Exception as err:  # noqa: BLE001 - report which file is broken
            raise ValueError(f'LoadNumpyImageFromFile: {path} is not a readable .npy array '
                             f'({err})') from None

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        arr = self._read(path)
        if arr.ndim != 3:
            raise ValueError(f'LoadNumpyImageFromFile: {path} has shape {arr.shape}; expected '
                             '(H, W, 4) packed RGGB or (H, W, 3) RGB')
        if arr.shape[-1] not in (3, 4) and arr.shape[0] in (3, 4):
            arr = arr.transpose(1, 2, 0)
        channels = arr.shape[-1]
        layout = self.channel_layout
        if layout == 'auto':
            layout = {4: 'RGGB', 3: 'RGB'}.get(channels)
        if layout is None or (layout == 'RGGB') != (channels == 4) or channels not in (3, 4):
            raise ValueError(f'LoadNumpyImageFromFile: {path} has shape {arr.shape}, which does '
                             f'not fit channel_layout={self.channel_layout!r}')
        arr = arr.astype(np.float32, copy=False)
        if layout == 'RGGB':
            img = np.stack([arr[..., 0], 0.5 * (arr[..., 1] + arr[..., 2]), arr[..., 3]], -1)
        else:
            img = np.array(arr, dtype=np.float32)
        if self.clip:
            np.clip(img, 0.0, 1.0, out=img)
        color_space = 'camera'
        if self.cam_to_xyz is not None:
            img = img @ self.cam_to_xyz.T.astype(np.float32)
            color_space = 'xyz'
        img = np.ascontiguousarray(img, dtype=np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['raw_meta'] = dict(
            make=self.make, model=self.model,
            cfa_pattern='RGGB' if layout == 'RGGB' else None,
            black_level=[0.0, 0.0, 0.0], white_level=1.0, camera_wb=None,
            daylight_wb=None if self.daylight_wb is None else self.daylight_wb.tolist(),
            cam_to_xyz=None if self.cam_to_xyz is None else self.cam_to_xyz.tolist(),
            color_space=color_space, iso=None, exposure_time=None, visible_shape=None)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(channel_layout={self.channel_layout!r}, '
                f'color_space={"xyz" if self.cam_to_xyz is not None else "camera"!r}, '
                f'clip={self.clip})')
