"""Frames of a RAW detection sample and the maps between them, in one place.

Annotations of RAW datasets are drawn on an image rendered from the RAW file (rawpy/camera
JPEG), whose frame is not the packed image's: renderers drop a few border pixels of LibRaw's
visible area (Sony RX100 VII: visible 5496x3672, rendered 5472x3648, i.e. 12 px per side) or
resize, and packing halves the resolution. The annotated -> image map composes two steps:

``x_img = sx * (k * x_ann + ox)``, ``y_img = sy * (k * y_ann + oy)`` with ``(k, ox, oy)`` the
annotated -> visible map (:func:`annotated_to_visible`) and ``sx = img_w / visible_w_even``,
``sy = img_h / visible_h_even`` (:func:`visible_to_image`: the loaded image covers the visible
frame cropped to even size; for a freshly packed image ``sx = sy = 0.5``, for a cached one the
training-scale ratio). ``AlignRawAnnotations`` applies it to the ground truth,
``RawCocoMetric`` inverts it for the predictions (:func:`image_to_annotation_boxes`).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

FRAMES = ('auto', 'crop', 'resize')


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


def visible_to_image(visible_map: Sequence[float], image_shape: Sequence[int],
                     visible_shape: Optional[Sequence[int]] = None
                     ) -> Tuple[float, float, float, float]:
    """``(ax, ay, bx, by)`` of the annotated -> image map (``x_img = ax * x_ann + bx``) from
    the annotated -> visible map ``(k, ox, oy)``: the image ``(h, w, ...)`` covers the visible
    frame ``(H_v, W_v)`` cropped to even size; ``visible_shape=None`` means the image itself
    is the visible frame."""
    k, ox, oy = (float(v) for v in visible_map[:3])
    if visible_shape is None:
        sx = sy = 1.0
    else:
        img_h, img_w = float(image_shape[0]), float(image_shape[1])
        vis_h, vis_w = (float(v) for v in visible_shape[:2])
        sx = img_w / (vis_w - vis_w % 2)
        sy = img_h / (vis_h - vis_h % 2)
    return sx * k, sy * k, sx * ox, sy * oy


def annotation_to_image_affine(ann_size: Sequence[float], image_shape: Sequence[int],
                               visible_shape: Optional[Sequence[int]] = None,
                               frame: str = 'auto', margin: float = 0.02
                               ) -> Tuple[float, float, float, float]:
    """``(ax, ay, bx, by)`` with ``x_img = ax * x_ann + bx``, ``y_img = ay * y_ann + by``:
    the map ``AlignRawAnnotations(frame, margin)`` applies to boxes (both are
    :func:`annotated_to_visible` followed by :func:`visible_to_image`).

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
    vis_h, vis_w = (float(v) for v in visible_shape[:2])
    k, ox, oy, _ = annotated_to_visible((ann_w, ann_h), (vis_w, vis_h), frame, margin)
    return visible_to_image((k, ox, oy), image_shape, visible_shape)


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
