"""Dark RAW (DNG) captures of any COCO-format photo folder, by unprocessing (:mod:`.unprocess`).

For every photo (optionally the first ``max_images``), camera and darkness level, one real CFA
DNG written with :func:`.dng.write_dng`, plus one COCO json per (camera, darkness, split).

Layout (``OUT`` = output root)::

    OUT/manifest.json                               spec, cameras' noise parameters, runs
    OUT/<camera>/x<k>/<split>/<stem>.dng            2W x 2H mosaic of photo <stem>.<ext>
    OUT/annotations/<camera>_x<k>_<split>.json      COCO, file_name relative to the folder above

COCO json: ``images`` keep the source's ``id`` (and ``license``), ``file_name`` = ``<stem>.dng``,
``width``/``height`` = the DNG's full frame (2x the photo), extra keys ``camera, cfa,
darkness, iso, cct, exposure_deficit, tone_curve, source_file_name``; ``annotations`` keep
the source's ids and category ids with ``bbox`` x2, ``area`` x4 (polygon segmentations x2;
RLE masks are dropped); ``categories`` = the source's list unchanged (downstream matches
labels by COCO category name). Photos without annotations are kept.

Determinism: the illuminant and the auto-ISO quantile are drawn per photo from
``SeedSequence([seed, crc32(split), image_id, 0])`` (shared by every camera and darkness level:
comparisons are paired); the noise per capture from
``SeedSequence([seed, crc32(split), image_id, 1, crc32(camera), round(1000 k)])``. Files are
byte-identical whatever the number of workers, and the first ``N`` photos of a larger run are
the files of a ``max_images=N`` run.

Resumability: ``OUT/manifest.json`` records the spec (seed, tone curve, illuminant and ISO
ranges, exposure, format version), every camera's parameters, and per split the source
annotation file's SHA-1 (its content decides which photo a stem or an id is). A run with the
same spec skips the DNGs already there (each is written to a temporary name and renamed, so a
present file is complete) and writes the rest; adding cameras, darkness levels or photos to a
split only writes the new files. A different spec (or another annotation file for a split) is
refused unless ``overwrite``, which deletes what the old manifest lists and starts again. Two
runs into the same ``OUT`` at once are not supported.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cameras import DEFAULT_CAMERAS, camera_seed_key, capture_bayer, get_camera
from .dataset import _Progress, load_manifest
from .dng import write_dng
from .scenes import illuminant_xyz
from .unprocess import (CCT_RANGE, MAX_ISO, bayer_cells, exposure_deficit, relight_xyz,
                        sample_iso, unprocess_srgb, with_measured_noise)

#: Bumped whenever the same spec would produce different files.
FORMAT_VERSION = 1
DEFAULT_DARKNESS = (10.0, 50.0, 200.0)
_STREAM_PHOTO, _STREAM_NOISE = 0, 1
_TMP_TAG = '.partial-'


@dataclass(frozen=True)
class UnprocessSpec:
    """Everything that determines a capture's file besides the photo, camera and darkness.

    ``seed``: random seed. ``tone_curve``: invert Brooks' tone curve. ``cct_range``: illuminant
    range (K), uniform. ``max_iso``: auto-ISO cap. ``normal_white_fraction``: normal exposure
    (white reflector's green under D65 at this fraction of the raw range at base ISO).
    ``exposure_time``: seconds written to the DNG (the darkness is the scene's light level).
    """
    seed: int = 0
    tone_curve: bool = True
    cct_range: tuple = CCT_RANGE
    max_iso: float = MAX_ISO
    normal_white_fraction: float = 0.75
    exposure_time: float = 1 / 30

    def __post_init__(self):
        lo, hi = self.cct_range
        if not 1667 <= lo <= hi <= 25000:
            raise ValueError(f'cct_range {self.cct_range} must lie in 1667..25000 K')
        if self.max_iso <= 0 or not 0 < self.normal_white_fraction <= 1:
            raise ValueError('need max_iso > 0 and 0 < normal_white_fraction <= 1')
        object.__setattr__(self, 'cct_range', (float(lo), float(hi)))

    def to_dict(self) -> dict:
        return {'format_version': FORMAT_VERSION, 'seed': self.seed,
                'tone_curve': self.tone_curve, 'cct_range': list(self.cct_range),
                'max_iso': self.max_iso, 'normal_white_fraction': self.normal_white_fraction,
                'exposure_time': self.exposure_time, 'noise': 'with_measured_noise'}


def darkness_name(k: float) -> str:
    """Folder name of darkness ``k``: ``'x10'``, ``'x12.5'``."""
    return f'x{float(k):g}'


def capture_dir(camera: str, k: float, split: str) -> str:
    """DNG folder relative to ``OUT``: ``'<camera>/x<k>/<split>'``."""
    return f'{camera}/{darkness_name(k)}/{split}'


def annotation_file(camera: str, k: float, split: str) -> str:
    """COCO json relative to ``OUT``: ``'annotations/<camera>_x<k>_<split>.json'``."""
    return f'annotations/{camera}_{darkness_name(k)}_{split}.json'


def _key(text: str) -> int:
    return zlib.crc32(str(text).encode('utf-8'))


def _id_key(image_id) -> int:
    return image_id if isinstance(image_id, int) and image_id >= 0 else _key(str(image_id))


def _darkness_key(k: float) -> int:
    return int(round(float(k) * 1000))


def photo_draws(spec: UnprocessSpec, split: str, image_id) -> tuple[float, float]:
    """``(cct, iso_quantile)`` of a photo: shared by all its cameras and darkness levels."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [spec.seed, _key(split), _id_key(image_id), _STREAM_PHOTO]))
    cct = float(rng.uniform(*spec.cct_range))
    return cct, float(rng.uniform())


def noise_rng(spec: UnprocessSpec, split: str, image_id, camera: str,
              k: float) -> np.random.Generator:
    """The noise generator of one capture (photo, camera, darkness)."""
    return np.random.default_rng(np.random.SeedSequence(
        [spec.seed, _key(split), _id_key(image_id), _STREAM_NOISE, camera_seed_key(camera),
         _darkness_key(k)]))


def _atomic_json(path: Path, obj, indent=None) -> None:
    tmp = path.with_name(f'.{path.name}{_TMP_TAG}{os.getpid()}')
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=indent)
    os.replace(tmp, path)


def _load_photo(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert('RGB'))


def _photo_task(args) -> dict:
    """Write every missing capture of one photo; returns its record."""
    (spec, out, split, image_id, photo_path, stem, size, cameras, darkness, skip_existing) = args
    out = Path(out)
    cct, quantile = photo_draws(spec, split, image_id)
    captures, todo = {}, []
    for slug in cameras:
        camera = with_measured_noise(get_camera(slug))
        for k in darkness:
            iso = sample_iso(camera, k, quantile, spec.max_iso)
            path = out / capture_dir(slug, k, split) / f'{stem}.dng'
            captures[(slug, k)] = {'iso': iso,
                                   'exposure_deficit': exposure_deficit(camera, k, iso)}
            if not (skip_existing and path.is_file()):
                todo.append((camera, k, iso, path))
    if todo:
        srgb = _load_photo(photo_path)
        height, width = srgb.shape[:2]
        # one Bayer cell per photo pixel, upsampled once for all captures (= capture_dark)
        cells = bayer_cells(relight_xyz(unprocess_srgb(srgb, spec.tone_curve), cct))
        neutral = {}
        for camera, k, iso, path in todo:
            bayer = capture_bayer(cells, camera, exposure_deficit(camera, k, iso), iso,
                                  noise_rng(spec, split, image_id, camera.slug, k),
                                  normal_white_fraction=spec.normal_white_fraction)
            if camera.slug not in neutral:
                neutral[camera.slug] = camera.neutral(illuminant_xyz(cct))
            tmp = path.with_name(f'.{stem}{_TMP_TAG}{os.getpid()}.dng')
            write_dng(tmp, bayer, camera, neutral[camera.slug], iso, spec.exposure_time)
            os.replace(tmp, path)
    else:
        from PIL import Image
        with Image.open(photo_path) as im:
            width, height = im.size
    if None not in size and (width, height) != tuple(size):
        raise ValueError(f'{photo_path}: the photo is {width}x{height} but its COCO entry says '
                         f'{size[0]}x{size[1]}; its boxes would not match')
    return {'image_id': image_id, 'stem': stem, 'width': width, 'height': height, 'cct': cct,
            'iso_quantile': quantile, 'captures': captures, 'written': len(todo),
            'skipped': len(cameras) * len(darkness) - len(todo)}


def _scale_segmentation(seg):
    if isinstance(seg, list):
        return [[round(float(v) * 2.0, 3) for v in poly] for poly in seg]
    return None  # RLE: not resampled


def _coco_for(source: dict, images: list, anns_by_image: dict, records: dict, camera,
              k: float, split: str, spec: UnprocessSpec) -> dict:
    out_images, out_anns = [], []
    for img in images:
        rec = records[img['id']]
        cap = rec['captures'][(camera.slug, k)]
        entry = {'id': img['id'], 'file_name': f"{rec['stem']}.dng",
                 'width': 2 * rec['width'], 'height': 2 * rec['height'],
                 'camera': camera.slug, 'cfa': camera.cfa, 'darkness': float(k),
                 'iso': cap['iso'], 'cct': round(rec['cct'], 1),
                 'exposure_deficit': round(cap['exposure_deficit'], 4),
                 'tone_curve': spec.tone_curve, 'source_file_name': img['file_name']}
        if 'license' in img:
            entry['license'] = img['license']
        out_images.append(entry)
        for ann in anns_by_image.get(img['id'], ()):
            x, y, w, h = (float(v) for v in ann['bbox'])
            new = {'id': ann['id'], 'image_id': ann['image_id'],
                   'category_id': ann['category_id'],
                   'bbox': [2.0 * x, 2.0 * y, 2.0 * w, 2.0 * h],
                   'area': 4.0 * float(ann.get('area', w * h)),
                   'iscrowd': int(ann.get('iscrowd', 0))}
            seg = _scale_segmentation(ann.get('segmentation'))
            if seg:
                new['segmentation'] = seg
            out_anns.append(new)
    info = dict(source.get('info') or {})
    info.update(description=(f'dark RAW captures (unprocessed, x{float(k):g} fewer photo-'
                             f'electrons than normal) by a simulated {camera.name} ({camera.cfa})'
                             f' of the photos of {split}; source: '
                             f"{(source.get('info') or {}).get('description', 'COCO')}"),
                genisp_unprocess=spec.to_dict())
    return {'info': info, 'licenses': source.get('licenses', []), 'images': out_images,
            'annotations': out_anns, 'categories': source.get('categories', [])}


def _incompatibility(manifest: dict, spec: UnprocessSpec, cameras: dict, split: str,
                     source: dict) -> str | None:
    if manifest.get('spec') != spec.to_dict():
        return (f"was generated with another spec ({manifest.get('spec')} vs "
                f'{spec.to_dict()})')
    for slug, params in cameras.items():
        old = manifest.get('cameras', {}).get(slug)
        if old is not None and old != params:
            return f'holds {slug} captures made with other camera parameters'
    old = manifest.get('splits', {}).get(split, {}).get('source')
    if old is not None and old != source:
        return f'holds split {split!r} made from another source ({old} vs {source})'
    return None


def _remove_listed(out: Path, manifest: dict) -> None:
    """Delete what ``manifest`` says a previous run wrote under ``out``."""
    for slug in manifest.get('cameras', {}):
        shutil.rmtree(out / slug, ignore_errors=True)
    for split in manifest.get('splits', {}).values():
        for rel in split.get('ann_files', []):
            (out / rel).unlink(missing_ok=True)
    (out / 'manifest.json').unlink(missing_ok=True)


def _under(root: Path, rel) -> Path:
    """``rel`` under ``root`` when it is there, else ``rel`` as given (absolute or relative to
    the working directory)."""
    rel = Path(rel)
    return rel if rel.is_absolute() or not (root / rel).exists() else root / rel


def _clean_partials(folder: Path) -> None:
    for p in folder.glob(f'.*{_TMP_TAG}*'):
        p.unlink(missing_ok=True)


def generate_unprocessed_coco(coco_root: str | os.PathLike, ann_file: str | os.PathLike,
                              out: str | os.PathLike, *, split: str = 'val',
                              img_dir: str | os.PathLike | None = None,
                              cameras=DEFAULT_CAMERAS,
                              darkness=DEFAULT_DARKNESS, spec: UnprocessSpec = UnprocessSpec(),
                              max_images: int | None = None, workers: int | None = None,
                              overwrite: bool = False, progress: bool = True) -> dict:
    """Unprocess the photos of a COCO json into dark RAW DNGs + COCO jsons (module docstring).

    Args:
        coco_root: dataset root; ``ann_file`` and ``img_dir`` are relative to it unless they
            exist as given or are absolute.
        ann_file: COCO instances json (boxes ``[x, y, w, h]`` in photo pixels).
        out: output root.
        split: name used in the layout and the seeds (``'val'``, ``'train'``).
        img_dir: photo folder (default: ``<coco_root>/<split>2017`` when it exists, else
            ``coco_root``).
        cameras: slugs of :data:`.cameras.CAMERAS` with sourced noise
            (:data:`.unprocess.MEASURED_SENSOR_NOISE`).
        darkness: levels ``k`` >= 1 (times fewer photo-electrons than a normal exposure).
        spec: what else determines the files.
        max_images: only the first N images of the json (in its order).
        workers: processes (default ``os.cpu_count()``, at most 8); 1 works in-process.
        overwrite: replace an ``out`` holding another spec (deleting what its manifest lists);
            otherwise that is a ``FileExistsError``.
        progress: progress bar on stderr.

    Returns:
        A summary: ``{'photos', 'captures', 'written', 'skipped', 'annotations', 'ann_files',
        'workers', 'seconds', 'manifest'}``.
    """
    start = time.perf_counter()
    coco_root, out = Path(coco_root), Path(out)
    ann_path = _under(coco_root, ann_file)
    if img_dir is None:
        img_path = coco_root / f'{split}2017'
        img_path = img_path if img_path.is_dir() else coco_root
    else:
        img_path = _under(coco_root, img_dir)
    if not ann_path.is_file():
        raise FileNotFoundError(f'annotation file not found: {ann_file} (nor under {coco_root})')
    if not img_path.is_dir():
        raise FileNotFoundError(f'image folder not found: {img_dir} (nor under {coco_root})')
    cameras = tuple(cameras)
    darkness = tuple(float(k) for k in darkness)
    if not cameras or not darkness:
        raise ValueError('need at least one camera and one darkness level')
    if len(set(cameras)) != len(cameras) or len(set(darkness)) != len(darkness):
        raise ValueError(f'duplicate cameras or darkness levels: {cameras}, {darkness}')
    if any(k < 1 for k in darkness):
        raise ValueError(f'darkness levels must be >= 1, got {darkness}')
    specs = {slug: with_measured_noise(get_camera(slug)) for slug in cameras}
    cam_params = {slug: cam.to_dict() for slug, cam in specs.items()}

    raw_json = ann_path.read_bytes()
    source = json.loads(raw_json)
    images = list(source.get('images', []))
    if max_images is not None:
        images = images[:max_images]
    if not images:
        raise ValueError(f'{ann_path} lists no images')
    stems = [Path(img['file_name']).stem for img in images]
    if len(set(stems)) != len(stems):
        raise ValueError(f'{ann_path}: file names with the same stem would share a DNG name')
    wanted = {img['id'] for img in images}
    anns_by_image: dict = {}
    for ann in source.get('annotations', []):
        if ann['image_id'] in wanted:
            anns_by_image.setdefault(ann['image_id'], []).append(ann)
    # the annotation file's content decides which photo a stem and an id are; paths are
    # recorded for information only (the folder may move)
    src_record = {'ann_sha1': hashlib.sha1(raw_json).hexdigest()}

    # compatibility with what OUT already holds
    manifest = load_manifest(out)
    skip_existing = True
    why = None
    if manifest is not None:
        why = _incompatibility(manifest, spec, cam_params, split, src_record)
        if why and not overwrite:
            raise FileExistsError(f'{out} {why}; pass overwrite=True (--overwrite) to replace '
                                  'it or choose another folder')
        if why:
            _remove_listed(out, manifest)
            manifest = None
    elif any(any((out / capture_dir(s, k, split)).glob('*.dng'))
             for s in cameras for k in darkness):
        if not overwrite:
            raise FileExistsError(f'{out} holds DNGs but no manifest.json, so their spec is '
                                  'unknown; pass overwrite=True (--overwrite) to rewrite them '
                                  'or choose another folder')
        skip_existing = False
    if manifest is None:
        manifest = {'generator': 'genisp_mmdet.synthetic.unprocessed_coco',
                    'spec': spec.to_dict(), 'cameras': {}, 'splits': {}}
    manifest['cameras'].update(cam_params)
    split_rec = manifest['splits'].setdefault(split, {})
    split_rec.update(source=src_record, complete=False, ann_file=str(ann_path.resolve()),
                     img_dir=str(img_path.resolve()))
    for slug in cameras:
        for k in darkness:
            folder = out / capture_dir(slug, k, split)
            folder.mkdir(parents=True, exist_ok=True)
            _clean_partials(folder)
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    _clean_partials(out / 'annotations')
    _atomic_json(out / 'manifest.json', manifest, indent=2)  # before any DNG: resumable

    tasks = [(spec, str(out), split, img['id'], str(img_path / img['file_name']),
              Path(img['file_name']).stem, (img.get('width'), img.get('height')), cameras,
              darkness, skip_existing) for img in images]
    workers = max(1, min(workers or os.cpu_count() or 1, 8, len(tasks)))
    records = {}
    bar = _Progress(len(tasks), False)  # the demo's progress reporting, with our own label
    bar.enabled = progress
    if progress:
        try:
            from tqdm import tqdm
            bar._bar = tqdm(total=len(tasks), unit='photo', desc='unprocess coco', file=sys.stderr)
        except ImportError:
            pass
    try:
        if workers == 1:
            for rec in map(_photo_task, tasks):
                records[rec['image_id']] = rec
                bar.update()
        else:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context('fork' if 'fork' in methods else 'spawn')
            with ctx.Pool(workers) as pool:
                for rec in pool.imap_unordered(_photo_task, tasks, chunksize=1):
                    records[rec['image_id']] = rec
                    bar.update()
    finally:
        bar.close()

    ann_files = []
    for slug in cameras:
        for k in darkness:
            coco = _coco_for(source, images, anns_by_image, records, specs[slug], k, split, spec)
            rel = annotation_file(slug, k, split)
            _atomic_json(out / rel, coco)
            ann_files.append(rel)
    written = sum(r['written'] for r in records.values())
    skipped = sum(r['skipped'] for r in records.values())
    seconds = time.perf_counter() - start
    old_files = split_rec.get('ann_files', [])
    old_levels = split_rec.get('darkness', [])
    split_rec.update(
        complete=True,
        cameras=sorted(set(split_rec.get('cameras', [])) | set(cameras)),
        darkness=sorted(set(old_levels) | set(darkness)),
        images=len(images),
        annotations=sum(len(anns_by_image.get(i['id'], ())) for i in images),
        ann_files=sorted(set(old_files) | set(ann_files)),
        last_run={'photos': len(images), 'written': written, 'skipped': skipped,
                  'workers': workers, 'seconds': round(seconds, 2)})
    _atomic_json(out / 'manifest.json', manifest, indent=2)
    return {'photos': len(images), 'captures': len(images) * len(cameras) * len(darkness),
            'written': written, 'skipped': skipped,
            'annotations': split_rec['annotations'], 'ann_files': ann_files, 'workers': workers,
            'seconds': seconds, 'manifest': manifest}
