"""Mapping boxes annotated on a rendered image onto the packed RAW image.

Annotations of RAW datasets are drawn on an image rendered from the RAW file (rawpy/camera
JPEG), whose frame is not the packed image's: renderers drop a few border pixels of LibRaw's
visible area (Sony RX100 VII: visible 5496x3672, rendered 5472x3648, i.e. 12 px per side) or
resize, and packing halves the resolution. :class:`AlignRawAnnotations` composes the two maps:

``x_img = sx * (k * x_ann + ox)``, ``y_img = sy * (k * y_ann + oy)`` with ``(k, ox, oy)`` the
annotated -> visible map and ``sx = img_w / visible_w_even``, ``sy = img_h / visible_h_even``
(the loaded image covers the visible frame cropped to even size; for a freshly packed image
``sx = sy = 0.5``, for a cached one the training-scale ratio).
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import BaseBoxes

FRAMES = ('auto', 'crop', 'resize')


class EmptyBoxWarning(UserWarning):
    """Some boxes have zero width or height after alignment (they are kept, not dropped)."""


def annotated_to_visible(ann_size: Tuple[float, float], visible_size: Tuple[float, float],
                         frame: str = 'auto',
                         margin: float = 0.02) -> Tuple[float, float, float, str]:
    """The map from the annotated (rendered) frame to LibRaw's visible frame.

    Args:
        ann_size: ``(width, height)`` of the annotated image (the COCO image entry).
        visible_size: ``(width, height)`` of the visible Bayer frame (``raw_meta``).
        frame: ``'crop'``: the annotated frame is the visible frame centre-cropped (or padded)
            at full resolution; ``'resize'``: it is the visible frame uniformly resized by
            ``1 / k`` with ``k = min(visible_w / ann_w, visible_h / ann_h)`` and centre-cropped
            to the annotated aspect; ``'auto'``: ``'crop'`` when each side differs by at most
            ``margin`` of the visible size (per side, i.e. half the difference), else
            ``'resize'``.
        margin: the per-side tolerance of ``'auto'``, as a fraction of the visible size.

    Returns:
        ``(k, ox, oy, frame)``: ``x_visible = k * x_ann + ox`` (same for y with ``oy``), and the
        frame that was used.

    Raises:
        ValueError: invalid sizes or ``frame``, or the annotated frame is rotated relative to
            the visible frame (portrait vs landscape) although the loader has already turned
            the image into the orientation the file records: file and annotation disagree.
    """
    ann_w, ann_h = (float(v) for v in ann_size)
    vis_w, vis_h = (float(v) for v in visible_size)
    if min(ann_w, ann_h, vis_w, vis_h) <= 0:
        raise ValueError(f'invalid frame sizes: annotated {ann_size}, visible {visible_size}')
    if frame not in FRAMES:
        raise ValueError(f'frame must be one of {FRAMES}, got {frame!r}')
    if (ann_w > ann_h) != (vis_w > vis_h) and ann_w != ann_h and vis_w != vis_h:
        raise ValueError(f'annotated frame {ann_w:g}x{ann_h:g} is rotated relative to the '
                         f'visible frame {vis_w:g}x{vis_h:g} in the orientation the RAW file '
                         'records: the annotations were drawn on a differently rotated '
                         'rendering (give an explicit offset/scale only if you un-rotate the '
                         'boxes yourself)')
    if frame == 'auto':
        small = (abs(vis_w - ann_w) / 2 <= margin * vis_w
                 and abs(vis_h - ann_h) / 2 <= margin * vis_h)
        frame = 'crop' if small else 'resize'
    k = 1.0 if frame == 'crop' else min(vis_w / ann_w, vis_h / ann_h)
    return k, (vis_w - k * ann_w) / 2.0, (vis_h - k * ann_h) / 2.0, frame


@TRANSFORMS.register_module()
class AlignRawAnnotations(BaseTransform):
    """Maps ``gt_bboxes`` from the annotated (rendered) frame onto the loaded packed image.

    Place it right after mmdet's ``LoadAnnotations`` and before any geometric transform
    (``Resize``, ``RandomFlip``, crops): it needs the image as loaded, and refuses to run
    once ``scale_factor`` differs from the loaders' ``(1.0, 1.0)`` or ``flip`` is set.

    Required keys: ``img_shape`` (as loaded), ``raw_meta['visible_shape']`` (when it is absent
    or None -- an image without sensor geometry, e.g. a pre-packed array -- the loaded image
    itself stands for the visible frame), ``width`` and
    ``height`` (the annotated image's size, from the COCO image entry); ``gt_bboxes``
    (``HorizontalBoxes`` or an ``(N, 4)`` array, x1y1x2y2) when present.
    Modified keys: ``gt_bboxes`` (same type and count, clipped to the image).
    Added keys: ``ann_to_img`` ``dict(scale=(ax, ay), offset=(bx, by), frame=str)`` with
    ``x_img = ax * x_ann + bx`` -- the inverse maps predictions back to the annotated frame
    for evaluation against the original annotation file.

    No box is dropped: boxes that end up with zero width or height (e.g. drawn entirely in the
    border the renderer kept but the sensor's visible area lacks, or already degenerate in the
    annotation file) are kept and reported with an :class:`EmptyBoxWarning` naming the image.

    Args:
        frame: ``'auto'`` (default), ``'crop'`` or ``'resize'``; see
            :func:`annotated_to_visible`.
        offset: explicit ``(ox, oy)`` of the annotated frame's origin in visible-frame pixels
            (e.g. ``(12, 12)``); with ``scale`` it overrides ``frame``.
        scale: explicit ``k`` (visible pixels per annotated pixel); default 1.0 when only
            ``offset`` is given.
        margin: per-side tolerance of ``frame='auto'`` as a fraction of the visible size.
    """

    def __init__(self, frame: str = 'auto', offset: Optional[Sequence[float]] = None,
                 scale: Optional[float] = None, margin: float = 0.02):
        if frame not in FRAMES:
            raise ValueError(f'frame must be one of {FRAMES}, got {frame!r}')
        if offset is not None and len(offset) != 2:
            raise ValueError(f'offset must be (ox, oy), got {offset!r}')
        if scale is not None and not scale > 0:
            raise ValueError(f'scale must be positive, got {scale!r}')
        self.frame = frame
        self.offset = None if offset is None else (float(offset[0]), float(offset[1]))
        self.scale = None if scale is None else float(scale)
        self.margin = float(margin)

    def _visible_map(self, results: dict, vis_w: int,
                     vis_h: int) -> Tuple[float, float, float, str]:
        if self.offset is not None or self.scale is not None:
            ox, oy = self.offset if self.offset is not None else (0.0, 0.0)
            return (self.scale if self.scale is not None else 1.0), ox, oy, 'explicit'
        if 'width' not in results or 'height' not in results:
            raise KeyError(f'{results.get("img_path")}: AlignRawAnnotations needs the '
                           "annotated image size in results['width'] / results['height'] "
                           '(the COCO image entry), or an explicit offset/scale')
        return annotated_to_visible((results['width'], results['height']), (vis_w, vis_h),
                                    self.frame, self.margin)

    def transform(self, results: dict) -> dict:
        # the loaders set scale_factor (1, 1); Resize/RandomFlip change it or set 'flip'
        if tuple(results.get('scale_factor', (1.0, 1.0))) != (1.0, 1.0) or \
                results.get('flip', False):
            raise RuntimeError('AlignRawAnnotations must run before Resize/RandomFlip: it maps '
                               'boxes onto the image as loaded')
        img_h, img_w = results['img_shape'][:2]
        visible = (results.get('raw_meta') or {}).get('visible_shape')
        if visible is None:
            vis_h, vis_w = img_h, img_w
            sx = sy = 1.0
        else:
            vis_h, vis_w = visible
            # the packed image covers the visible frame cropped to even size
            sx = img_w / float(vis_w - vis_w % 2)
            sy = img_h / float(vis_h - vis_h % 2)
        k, ox, oy, frame = self._visible_map(results, vis_w, vis_h)
        ax, ay, bx, by = sx * k, sy * k, sx * ox, sy * oy
        results['ann_to_img'] = dict(scale=(ax, ay), offset=(bx, by), frame=frame)

        boxes = results.get('gt_bboxes')
        if boxes is None:
            return results
        if isinstance(boxes, BaseBoxes):
            t = boxes.tensor
            mul = t.new_tensor([ax, ay, ax, ay])
            add = t.new_tensor([bx, by, bx, by])
            before_empty = int(((t[:, 2] <= t[:, 0]) | (t[:, 3] <= t[:, 1])).sum())
            mapped = t * mul + add
            mapped[:, 0::2] = mapped[:, 0::2].clamp(0, img_w)
            mapped[:, 1::2] = mapped[:, 1::2].clamp(0, img_h)
            empty = int(((mapped[:, 2] <= mapped[:, 0]) | (mapped[:, 3] <= mapped[:, 1])).sum())
            results['gt_bboxes'] = type(boxes)(mapped)
        else:
            arr = np.asarray(boxes)
            dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
            arr = arr.astype(dtype, copy=False).reshape(-1, 4)
            before_empty = int(((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])).sum())
            mapped = arr * np.array([ax, ay, ax, ay], dtype) + np.array([bx, by, bx, by], dtype)
            np.clip(mapped[:, 0::2], 0, img_w, out=mapped[:, 0::2])
            np.clip(mapped[:, 1::2], 0, img_h, out=mapped[:, 1::2])
            empty = int(((mapped[:, 2] <= mapped[:, 0]) | (mapped[:, 3] <= mapped[:, 1])).sum())
            results['gt_bboxes'] = mapped if not isinstance(boxes, torch.Tensor) \
                else torch.from_numpy(mapped)
        if empty:
            warnings.warn(f'{results.get("img_path")}: {empty} of {len(mapped)} boxes have zero '
                          f'width or height after mapping to the packed image ({before_empty} '
                          'already were in the annotation); they are kept', EmptyBoxWarning)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(frame={self.frame!r}, offset={self.offset!r}, '
                f'scale={self.scale!r}, margin={self.margin!r})')
