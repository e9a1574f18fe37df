#!/usr/bin/env python
"""Convert LOD annotations (Sony AI RAM's COCO re-packaging, classes 0-7) to COCO json with the
official COCO category ids, so that a COCO-pretrained detector's labels score correctly.

    python tools/convert_lod.py all_dark-train.json data/lod/annotations/lod_dark_train.json
    python tools/convert_lod.py all_dark-val.json   data/lod/annotations/lod_dark_val.json

What changes (everything else, including the string image ids and file names, is kept):

* categories: looked up *by name* (car, motorcycle, bicycle, chair, dining table, bottle, tv,
  bus -> 3, 4, 2, 62, 67, 44, 72, 6); only the categories the source declares are written, in
  ascending id order. VOC spellings (motorbike, diningtable, tvmonitor) are accepted.
* annotation ids: renumbered 1..N (pycocotools' matcher cannot match an annotation with id 0).
* area: recomputed as ``w * h`` of the box (the source's ``area`` is ~1.96x the box area, not
  in the 1200x800 frame of its boxes; it only matters for COCO's small/medium/large split).
  ``--keep-area`` keeps the source values.

Exit status 0 on success; 2 with a one-line reason for a missing/invalid source file, a category
that is not a COCO category, or an annotation on an unknown image.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import tempfile
from typing import List, Optional

from tqdm import tqdm

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)  # run from a clone without `pip install -e .` too

from genisp_mmdet.datasets.coco_ids import COCO_NAME_TO_ID, coco_categories  # noqa: E402

#: LOD class -> official COCO category id (double-checked against COCO_NAME_TO_ID in the tests).
LOD_TO_COCO_ID = {'car': 3, 'motorcycle': 4, 'bicycle': 2, 'chair': 62, 'dining table': 67,
                  'bottle': 44, 'tv': 72, 'bus': 6}
#: Spellings of the same classes in VOC-style label sets.
NAME_ALIASES = {'motorbike': 'motorcycle', 'diningtable': 'dining table', 'tvmonitor': 'tv',
                'tv monitor': 'tv'}


class ConversionError(ValueError):
    """The source file cannot be converted; the message says why."""


def convert(src: dict, keep_area: bool = False, source: str = '<dict>',
            progress: bool = True) -> dict:
    """Convert an LOD COCO dict (see the module docstring); ``source`` names it in errors."""
    if not isinstance(src, dict):
        raise ConversionError(f'{source}: expected a COCO dict, got {type(src).__name__}')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(src.get(key), list):
            raise ConversionError(f'{source}: not a COCO detection file (no {key!r} list)')

    cat_map = {}
    for cat in src['categories']:
        name = str(cat.get('name', '')).strip()
        coco_name = NAME_ALIASES.get(name.lower(), name.lower())
        if coco_name not in COCO_NAME_TO_ID:
            raise ConversionError(f'{source}: category {cat!r} is not a COCO category name')
        if cat.get('id') in cat_map:
            raise ConversionError(f'{source}: category id {cat.get("id")!r} declared twice')
        cat_map[cat.get('id')] = coco_name
    names = sorted(set(cat_map.values()), key=COCO_NAME_TO_ID.get)

    image_ids = set()
    images = []
    for img in src['images']:
        for key in ('id', 'file_name', 'width', 'height'):
            if key not in img:
                raise ConversionError(f'{source}: image {img!r} has no {key!r}')
        if img['id'] in image_ids:
            raise ConversionError(f'{source}: duplicate image id {img["id"]!r}')
        image_ids.add(img['id'])
        images.append(dict(img))

    anns: List[dict] = []
    outside = 0
    sizes = {img['id']: (img['width'], img['height']) for img in images}
    for ann in tqdm(src['annotations'], desc=f'converting {osp.basename(source)}',
                    unit='box', disable=not progress, file=sys.stderr):
        if ann.get('image_id') not in image_ids:
            raise ConversionError(f'{source}: annotation {ann.get("id")!r} is on image '
                                  f'{ann.get("image_id")!r}, which is not in "images"')
        if ann.get('category_id') not in cat_map:
            raise ConversionError(f'{source}: annotation {ann.get("id")!r} has category '
                                  f'{ann.get("category_id")!r}, which is not declared')
        bbox = ann.get('bbox')
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise ConversionError(f'{source}: annotation {ann.get("id")!r} has no [x, y, w, h]')
        width, height = sizes[ann['image_id']]
        x, y, w, h = bbox
        if x < 0 or y < 0 or x + w > width or y + h > height:
            outside += 1
        new = dict(ann)
        new['id'] = len(anns) + 1
        new['category_id'] = COCO_NAME_TO_ID[cat_map[ann['category_id']]]
        new.setdefault('iscrowd', 0)
        if not keep_area or 'area' not in new:
            new['area'] = float(w) * float(h)
        anns.append(new)
    if outside:
        print(f'convert_lod: warning: {outside} box(es) of {source} reach outside their image',
              file=sys.stderr)

    info = dict(src.get('info') or {})
    note = ('converted by genisp-mmdet tools/convert_lod.py: official COCO category ids, '
            'annotation ids from 1' + ('' if keep_area else ', area = box w*h'))
    info['description'] = f'{info["description"]}; {note}' if info.get('description') else \
        f'LOD; {note}'
    out = dict(info=info, images=images, annotations=anns, categories=coco_categories(names))
    if 'licenses' in src:
        out['licenses'] = src['licenses']
    return out


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert LOD annotations (classes 0-7) to COCO json with official COCO '
                    'category ids.')
    parser.add_argument('src', help='LOD annotation json, e.g. all_dark-train.json')
    parser.add_argument('out', help='output COCO json (parent folders are created)')
    parser.add_argument('--keep-area', action='store_true',
                        help="keep the source 'area' values instead of box w*h")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)

    def fail(msg: str) -> int:
        print(f'convert_lod: error: {msg}', file=sys.stderr)
        return 2

    if not osp.isfile(args.src):
        return fail(f'source annotation file not found: {args.src}')
    if osp.abspath(args.src) == osp.abspath(args.out):
        return fail('refusing to overwrite the source file; give another output path')
    try:
        with open(args.src, encoding='utf-8') as f:
            src = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        return fail(f'cannot read {args.src} as JSON: {err}')
    try:
        out = convert(src, keep_area=args.keep_area, source=args.src,
                      progress=not args.no_progress)
    except ConversionError as err:
        return fail(str(err))

    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix='.json.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(out, f)
        os.replace(tmp, args.out)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    counts = {c['name']: 0 for c in out['categories']}
    id_to_name = {c['id']: c['name'] for c in out['categories']}
    for ann in out['annotations']:
        counts[id_to_name[ann['category_id']]] += 1
    print(f'wrote {args.out}: {len(out["images"])} images, {len(out["annotations"])} boxes; '
          + ', '.join(f'{n} (id {COCO_NAME_TO_ID[n]}): {k}' for n, k in counts.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
