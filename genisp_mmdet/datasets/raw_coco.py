"""COCO-format datasets of camera RAW images, read from the annotation files *as published*.

This module holds the dataset and the annotation-file rules; the metric that scores against
the same files is :class:`genisp_mmdet.evaluation.RawCocoMetric`, the frame geometry both use
:mod:`genisp_mmdet.structures.frames`.

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
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.fileio import get, get_local_path
from mmengine.logging import MMLogger, print_log

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS

from ..raw import RawReadError
from .coco_ids import COCO_CLASSES

__all__ = ['RawCocoDataset', 'normalize_coco_dict', 'load_raw_coco', 'held_out_photos',
           'photo_stem']


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
# dataset
# --------------------------------------------------------------------------------------------
def photo_stem(file_name: str) -> str:
    """The photo a capture shows: its file stem (``x10/train/000000000009.dng`` ->
    ``000000000009``), the same for every darkness level and camera."""
    return osp.splitext(osp.basename(file_name))[0]


def held_out_photos(stems: Sequence[str], fraction: float) -> set:
    """The held-out photos among ``stems`` (see ``RawCocoDataset``'s ``held_out_fraction``):
    of the distinct stems in sorted order, ``round(n * fraction)`` evenly spaced ones (every
    fourth for 0.25), at least one when ``n * fraction >= 1``."""
    ordered = sorted(set(stems))
    return {stem for rank, stem in enumerate(ordered)
            if math.floor((rank + 1) * fraction + 1e-9) > math.floor(rank * fraction + 1e-9)}


@DATASETS.register_module()
class RawCocoDataset(CocoDataset):
    """COCO-format detection dataset of RAW images (see the module docstring).

    Args:
        detector_classes: the class names of the detector's head, in its order; labels are
            indices into it. Defaults to the 80 COCO classes (a COCO-pretrained detector).
        held_out_fraction, part: split the photos into a part to fit on and a held-out part
            (e.g. to calibrate a few parameters on photos the rest of the model never saw):
            ``part='fit'`` keeps the photos outside the held-out ``held_out_fraction``,
            ``'held_out'`` those inside it, ``'all'`` (default) every photo. A photo is held
            out by its file stem (``x10/train/000000000009.dng`` -> ``000000000009``), so every
            capture of one photo (each darkness level) falls on the same side: of the file's
            distinct stems in sorted order, ``round(n * held_out_fraction)`` evenly spaced ones
            (every fourth for 0.25) - a fixed split, independent of the file's order.
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
    PARTS = ('all', 'fit', 'held_out')

    def __init__(self, *args, detector_classes: Optional[Sequence[str]] = None,
                 held_out_fraction: float = 0.0, part: str = 'all',
                 unreadable_test_images: str = 'raise', **kwargs):
        if part not in self.PARTS:
            raise ValueError(f'part must be one of {self.PARTS}, got {part!r}')
        if part != 'all' and not 0.0 < held_out_fraction < 1.0:
            raise ValueError(f"part={part!r} needs 0 < held_out_fraction < 1, got "
                             f'{held_out_fraction!r}')
        self.held_out_fraction, self.part = held_out_fraction, part
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

        held_out = set()
        if self.part != 'all':
            held_out = held_out_photos([photo_stem(image['file_name'])
                                        for image in self.coco.imgs.values()],
                                       self.held_out_fraction)
        data_list = []
        for img_id in self.coco.get_img_ids():
            raw_img_info = dict(self.coco.imgs[img_id])
            raw_img_info['img_id'] = img_id
            raw_ann_info = self.coco.load_anns(self.coco.get_ann_ids(img_ids=[img_id]))
            data_info = self.parse_data_info(dict(raw_ann_info=raw_ann_info,
                                                  raw_img_info=raw_img_info))
            data_info['orig_img_id'] = raw_img_info['orig_id']
            data_info['file_name'] = raw_img_info['file_name']
            if self.part == 'all' or (photo_stem(data_info['file_name']) in held_out) == (
                    self.part == 'held_out'):
                data_list.append(data_info)
        del self.coco
        if not data_list:
            raise ValueError(f'{self.ann_file}: no image in part {self.part!r} '
                             f'(held_out_fraction={self.held_out_fraction})')
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
