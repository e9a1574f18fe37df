"""The 80 COCO detection categories: names in the order of every COCO-pretrained MMDetection
detector's class index, and their official (sparse, 1..90) category ids.

``COCO_CLASSES[i]`` is the name of a COCO-pretrained detector's class ``i`` (the order of
``mmdet.datasets.CocoDataset.METAINFO['classes']``, which is the order of ascending official
id), and ``COCO_CATEGORY_IDS[i]`` the id the official annotation files and the COCO
evaluation server use for it (``instances_val2017.json``; the RAW-NOD Nikon test file declares
the same 80 ids, names and supercategories, which the tests check).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

#: (official id, name, supercategory), in ascending id order == detector class order.
COCO_CATEGORIES: Tuple[Tuple[int, str, str], ...] = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
    (4, 'motorcycle', 'vehicle'), (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
    (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
    (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'),
    (13, 'stop sign', 'outdoor'), (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'),
    (16, 'bird', 'animal'), (17, 'cat', 'animal'), (18, 'dog', 'animal'),
    (19, 'horse', 'animal'), (20, 'sheep', 'animal'), (21, 'cow', 'animal'),
    (22, 'elephant', 'animal'), (23, 'bear', 'animal'), (24, 'zebra', 'animal'),
    (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'), (28, 'umbrella', 'accessory'),
    (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'), (33, 'suitcase', 'accessory'),
    (34, 'frisbee', 'sports'), (35, 'skis', 'sports'), (36, 'snowboard', 'sports'),
    (37, 'sports ball', 'sports'), (38, 'kite', 'sports'), (39, 'baseball bat', 'sports'),
    (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'),
    (42, 'surfboard', 'sports'), (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
    (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'),
    (49, 'knife', 'kitchen'), (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'),
    (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
    (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
    (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'), (61, 'cake', 'food'),
    (62, 'chair', 'furniture'), (63, 'couch', 'furniture'), (64, 'potted plant', 'furniture'),
    (65, 'bed', 'furniture'), (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'),
    (72, 'tv', 'electronic'), (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'),
    (75, 'remote', 'electronic'), (76, 'keyboard', 'electronic'),
    (77, 'cell phone', 'electronic'), (78, 'microwave', 'appliance'), (79, 'oven', 'appliance'),
    (80, 'toaster', 'appliance'), (81, 'sink', 'appliance'), (82, 'refrigerator', 'appliance'),
    (84, 'book', 'indoor'), (85, 'clock', 'indoor'), (86, 'vase', 'indoor'),
    (87, 'scissors', 'indoor'), (88, 'teddy bear', 'indoor'), (89, 'hair drier', 'indoor'),
    (90, 'toothbrush', 'indoor'),
)

#: Detector class order: ``COCO_CLASSES[label]`` is a COCO-pretrained detector's class ``label``.
COCO_CLASSES: Tuple[str, ...] = tuple(name for _, name, _ in COCO_CATEGORIES)
#: ``COCO_CATEGORY_IDS[label]``: the official category id of detector class ``label``.
COCO_CATEGORY_IDS: Tuple[int, ...] = tuple(cat_id for cat_id, _, _ in COCO_CATEGORIES)
COCO_NAME_TO_ID: Dict[str, int] = {name: cat_id for cat_id, name, _ in COCO_CATEGORIES}
COCO_ID_TO_NAME: Dict[int, str] = {cat_id: name for cat_id, name, _ in COCO_CATEGORIES}
COCO_NAME_TO_LABEL: Dict[str, int] = {name: i for i, name in enumerate(COCO_CLASSES)}


def coco_categories(names=None) -> List[dict]:
    """COCO-style ``categories`` entries (``id``, ``name``, ``supercategory``) with the official
    ids, for ``names`` (any order; returned in ascending id order) or all 80 when ``None``.

    Raises:
        KeyError: a name that is not one of the 80 COCO detection categories.
    """
    if names is None:
        wanted = set(COCO_CLASSES)
    else:
        wanted = set(names)
        unknown = sorted(wanted - set(COCO_CLASSES))
        if unknown:
            raise KeyError(f'not COCO detection category names: {unknown}')
    return [dict(id=cat_id, name=name, supercategory=sup)
            for cat_id, name, sup in COCO_CATEGORIES if name in wanted]


__all__ = ['COCO_CATEGORIES', 'COCO_CLASSES', 'COCO_CATEGORY_IDS', 'COCO_NAME_TO_ID',
           'COCO_ID_TO_NAME', 'COCO_NAME_TO_LABEL', 'coco_categories']
