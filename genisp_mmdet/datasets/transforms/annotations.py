"""Mapping boxes annotated on a rendered image onto the packed RAW image
(:class:`AlignRawAnnotations`; the frames and maps are :mod:`genisp_mmdet.structures.frames`).
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import BaseBoxes

from ...structures.frames import FRAMES, annotated_to_visible, visible_to_image

class EmptyBoxWarning(UserWarning):
    """Some boxes have zero width or height after alignment (they are kept, not dropped)."""


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
        vis_h, vis_w = (img_h, img_w) if visible is None else visible
        k, ox, oy, frame = self._visible_map(results, vis_w, vis_h)
        ax, ay, bx, by = visible_to_image((k, ox, oy), (img_h, img_w), visible)
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
