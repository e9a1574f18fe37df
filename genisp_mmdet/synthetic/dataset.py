"""Generating the demo benchmark on disk: scenes -> sRGB oracle PNGs + per-camera DNGs + COCO.

See the package docstring (``genisp_mmdet.synthetic``) for the layout. Generation is
deterministic given :class:`DemoDatasetSpec`: every scene, and every capture of it, draws
from its own ``numpy`` generator seeded by ``(seed, split, index[, camera])``, so the files
are byte-identical whatever the number of worker processes or their scheduling.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .cameras import CAMERAS, DEFAULT_CAMERAS, camera_seed_key, capture_bayer, get_camera
from .dng import write_dng
from .scenes import CATEGORIES, SceneConfig, sample_scene

#: Bumped whenever the same spec would produce different files.
FORMAT_VERSION = 1
SPLITS = ('train', 'test')
SRGB = 'srgb'
_SPLIT_CODE = {'train': 0, 'test': 1}
_STREAM_SCENE, _STREAM_CAPTURE, _STREAM_NOISE = 0, 1, 2


@dataclass(frozen=True)
class CaptureConfig:
    """Low-light capture parameters, shared by all cameras for a given scene.

    ``exposure_deficit``: log-uniform range of how many times darker than normal exposure the
    recorded raw signal is. ``iso``: log-uniform ISO range; at a fixed deficit a higher ISO
    means fewer photo-electrons, so more shot noise, plus more read noise. The photon budget
    relative to a base-ISO normal exposure is ``1 / (deficit * iso / 100)``: with the
    defaults 1/20..1/1600, the darkest corner being barely readable on the 1-inch RX100 VII.
    ``normal_white_fraction``: fraction of ``white - black`` a white reflector's green
    reaches under D65 at normal exposure. ``exposure_time``: seconds written to the DNG
    (constant; the darkness is the scene's light level).
    """
    exposure_deficit: tuple = (20.0, 200.0)
    iso: tuple = (100.0, 800.0)
    normal_white_fraction: float = 0.75
    exposure_time: float = 1 / 30

    def __post_init__(self):
        if not 0 < self.exposure_deficit[0] <= self.exposure_deficit[1]:
            raise ValueError(f'bad exposure_deficit range {self.exposure_deficit}')
        if not 0 < self.iso[0] <= self.iso[1]:
            raise ValueError(f'bad iso range {self.iso}')

    def sample(self, rng: np.random.Generator) -> tuple[float, float]:
        """``(exposure_deficit, iso)`` for one scene, both log-uniform."""
        deficit = math.exp(rng.uniform(*np.log(self.exposure_deficit)))
        iso = math.exp(rng.uniform(*np.log(self.iso)))
        return deficit, iso

    def to_dict(self) -> dict:
        return {'exposure_deficit': list(self.exposure_deficit), 'iso': list(self.iso),
                'normal_white_fraction': self.normal_white_fraction,
                'exposure_time': self.exposure_time}


@dataclass(frozen=True)
class DemoDatasetSpec:
    """Everything that determines the generated files (recorded in ``manifest.json``).

    ``cameras``: slugs of :data:`~genisp_mmdet.synthetic.cameras.CAMERAS` captured for the
    test split. ``train_cameras``: the subset also captured for the train split (GenISP
    trains on one camera; default: the first of ``cameras``).
    """
    num_train: int = 400
    num_test: int = 150
    seed: int = 0
    scene: SceneConfig = field(default_factory=SceneConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    cameras: tuple = DEFAULT_CAMERAS
    train_cameras: tuple | None = None

    def __post_init__(self):
        if self.num_train < 0 or self.num_test < 0 or self.num_train + self.num_test == 0:
            raise ValueError('need num_train >= 0, num_test >= 0 and at least one scene')
        if not self.cameras:
            raise ValueError('need at least one camera')
        for slug in self.cameras:
            get_camera(slug)
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f'duplicate cameras in {self.cameras}')
        if self.train_cameras is None:
            object.__setattr__(self, 'train_cameras', (self.cameras[0],))
        object.__setattr__(self, 'cameras', tuple(self.cameras))
        object.__setattr__(self, 'train_cameras', tuple(self.train_cameras))
        stray = set(self.train_cameras) - set(self.cameras)
        if stray:
            raise ValueError(f'train cameras {sorted(stray)} are not among cameras {self.cameras}')

    def num_scenes(self, split: str) -> int:
        return self.num_train if split == 'train' else self.num_test

    def cameras_for(self, split: str) -> tuple:
        return self.train_cameras if split == 'train' else self.cameras

    def to_dict(self) -> dict:
        return {'format_version': FORMAT_VERSION, 'num_train': self.num_train,
                'num_test': self.num_test, 'seed': self.seed, 'scene': self.scene.to_dict(),
                'capture': self.capture.to_dict(), 'cameras': list(self.cameras),
                'train_cameras': list(self.train_cameras)}


def scene_name(split: str, index: int) -> str:
    """File stem of scene ``index`` of ``split``: ``'train_00012'``."""
    return f'{split}_{index:05d}'


def image_dir(name: str, split: str) -> str:
    """Image folder relative to the dataset root; ``name`` is ``'srgb'`` or a camera slug."""
    return f'{name}/{split}'


def annotation_file(name: str, split: str) -> str:
    """COCO json relative to the dataset root; ``name`` is ``'srgb'`` or a camera slug."""
    return f'annotations/{name}_{split}.json'


def _rng(seed: int, split: str, index: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_CODE[split], index, *stream]))


def render_scene_files(spec: DemoDatasetSpec, root: str | os.PathLike, split: str,
                       index: int) -> dict:
    """Render scene ``index`` of ``split``: write its oracle PNG and one DNG per camera of
    the split under ``root``.

    Returns:
        ``{'index', 'name', 'cct', 'exposure_deficit', 'iso', 'annotations': [...]}`` with
        COCO-style annotations (no ids) in the rendered frame.
    """
    from PIL import Image

    root = Path(root)
    name = scene_name(split, index)
    scene = sample_scene(_rng(spec.seed, split, index, _STREAM_SCENE), spec.scene)
    deficit, iso = spec.capture.sample(_rng(spec.seed, split, index, _STREAM_CAPTURE))
    # fast zlib level: grainy textures compress poorly anyway and level 6 costs 10x the time
    Image.fromarray(scene.srgb()).save(root / image_dir(SRGB, split) / f'{name}.png',
                                       compress_level=1)
    xyz = scene.xyz()
    illuminant = scene.illuminant_xyz()
    for slug in spec.cameras_for(split):
        camera = CAMERAS[slug]
        rng = _rng(spec.seed, split, index, _STREAM_NOISE, camera_seed_key(slug))
        bayer = capture_bayer(xyz, camera, deficit, iso, rng,
                              normal_white_fraction=spec.capture.normal_white_fraction)
        write_dng(root / image_dir(slug, split) / f'{name}.dng', bayer, camera,
                  camera.neutral(illuminant), iso, spec.capture.exposure_time)
    return {'index': index, 'name': name, 'cct': round(scene.cct, 1),
            'exposure_deficit': round(deficit, 3), 'iso': int(round(iso)),
            'annotations': scene.annotations()}


def _render_task(args):
    spec, root, split, index = args
    return split, render_scene_files(spec, root, split, index)


def _coco(spec: DemoDatasetSpec, split: str, records: list[dict], name: str) -> dict:
    is_raw = name != SRGB
    images, annotations = [], []
    for rec in records:
        image_id = rec['index'] + 1
        img = {'id': image_id, 'file_name': f"{rec['name']}.{'dng' if is_raw else 'png'}",
               'width': spec.scene.width, 'height': spec.scene.height, 'scene': rec['name'],
               'cct': rec['cct']}
        if is_raw:
            img.update(camera=name, cfa=CAMERAS[name].cfa, iso=rec['iso'],
                       exposure_deficit=rec['exposure_deficit'])
        images.append(img)
        for ann in rec['annotations']:
            annotations.append({'id': len(annotations) + 1, 'image_id': image_id,
                                'category_id': ann['category_id'], 'bbox': ann['bbox'],
                                'area': ann['area'], 'iscrowd': 0})
    what = (f"simulated low-light RAW captures by {CAMERAS[name].name} ({CAMERAS[name].cfa})"
            if is_raw else 'well-lit sRGB oracle renderings')
    return {'info': {'description': f'GenISP demo benchmark, {split} split: {what}',
                     'version': str(FORMAT_VERSION), 'seed': spec.seed},
            'licenses': [], 'images': images, 'annotations': annotations,
            'categories': [dict(c) for c in CATEGORIES]}


def layout(spec: DemoDatasetSpec) -> dict:
    """``{name: {split: {'images': dir, 'ann_file': json}}}`` relative to the dataset root,
    for ``'srgb'`` and every camera (a camera only has the splits it was captured for)."""
    out = {SRGB: {s: {'images': image_dir(SRGB, s), 'ann_file': annotation_file(SRGB, s)}
                  for s in SPLITS if spec.num_scenes(s)}}
    for slug in spec.cameras:
        out[slug] = {s: {'images': image_dir(slug, s), 'ann_file': annotation_file(slug, s)}
                     for s in SPLITS if spec.num_scenes(s) and slug in spec.cameras_for(s)}
    return out


def load_manifest(root: str | os.PathLike) -> dict | None:
    """The dataset's ``manifest.json`` as a dict, or ``None`` when there is none."""
    path = Path(root) / 'manifest.json'
    if not path.is_file():
        return None
    with open(path) as f:
        return json.load(f)


def is_complete(root: str | os.PathLike, spec: DemoDatasetSpec) -> bool:
    """Whether ``root`` holds a finished dataset generated from ``spec``: same manifest
    parameters, and every annotation file and image folder has what the manifest lists."""
    root = Path(root)
    manifest = load_manifest(root)
    if manifest is None or manifest.get('params') != spec.to_dict():
        return False
    for name, splits in layout(spec).items():
        for split, paths in splits.items():
            folder = root / paths['images']
            if not (root / paths['ann_file']).is_file() or not folder.is_dir():
                return False
            if len(os.listdir(folder)) != spec.num_scenes(split):
                return False
    return True


class _Progress:
    """tqdm when installed, else a line every 10%."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled, self._bar = total, 0, enabled, None
        if enabled:
            try:
                from tqdm import tqdm
                self._bar = tqdm(total=total, unit='scene', desc='genisp demo', file=sys.stderr)
            except ImportError:
                pass

    def update(self):
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self.enabled and (self.done == self.total or
                               self.done % max(1, self.total // 10) == 0):
            print(f'  {self.done}/{self.total} scenes', file=sys.stderr, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()


def generate_demo_dataset(out: str | os.PathLike, spec: DemoDatasetSpec = DemoDatasetSpec(),
                          workers: int | None = None, overwrite: bool = False,
                          progress: bool = True) -> dict:
    """Generate the dataset at ``out`` (see the package docstring for the layout).

    Idempotent: when ``out`` already holds a complete dataset of the same spec nothing is
    written and its manifest is returned with ``'skipped': True``. Everything is written to
    a hidden sibling folder first and renamed into place at the end, so an interrupted run
    never leaves a dataset that looks complete.

    Args:
        out: dataset root.
        spec: what to generate.
        workers: processes (default: ``os.cpu_count()``, at most 8); 1 renders in-process.
        overwrite: replace an existing ``out`` that is incomplete or of another spec
            (otherwise that is a ``FileExistsError``).
        progress: show a progress bar on stderr.

    Returns:
        The manifest dict (also written to ``out/manifest.json``).
    """
    out = Path(out)
    if is_complete(out, spec):
        manifest = load_manifest(out)
        manifest['skipped'] = True
        return manifest
    if out.exists() and not overwrite:
        old = load_manifest(out)
        why = ('was generated with different parameters' if old is not None else
               'exists but is not a complete demo dataset')
        raise FileExistsError(f'{out} {why}; pass overwrite=True (--overwrite) to replace it '
                              'or choose another folder')

    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f'.{out.name}.partial-{os.getpid()}'
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        for name, splits in layout(spec).items():
            for paths in splits.values():
                (tmp / paths['images']).mkdir(parents=True, exist_ok=True)
        (tmp / 'annotations').mkdir(exist_ok=True)

        tasks = [(spec, str(tmp), split, i) for split in SPLITS
                 for i in range(spec.num_scenes(split))]
        workers = max(1, min(workers or os.cpu_count() or 1, 8, len(tasks)))
        records = {split: [] for split in SPLITS}
        bar = _Progress(len(tasks), progress)
        try:
            if workers == 1:
                results = map(_render_task, tasks)
                for split, rec in results:
                    records[split].append(rec)
                    bar.update()
            else:
                methods = multiprocessing.get_all_start_methods()
                ctx = multiprocessing.get_context('fork' if 'fork' in methods else 'spawn')
                with ctx.Pool(workers) as pool:
                    for split, rec in pool.imap_unordered(_render_task, tasks, chunksize=4):
                        records[split].append(rec)
                        bar.update()
        finally:
            bar.close()

        counts = {}
        for split in SPLITS:
            recs = sorted(records[split], key=lambda r: r['index'])
            for name in [SRGB, *spec.cameras_for(split)]:
                if not recs:
                    continue
                coco = _coco(spec, split, recs, name)
                with open(tmp / annotation_file(name, split), 'w') as f:
                    json.dump(coco, f)
            counts[split] = {'images': len(recs),
                             'annotations': sum(len(r['annotations']) for r in recs),
                             'per_class': {c['name']: sum(a['category_id'] == c['id']
                                                          for r in recs for a in r['annotations'])
                                           for c in CATEGORIES}}
        manifest = {
            'generator': 'genisp_mmdet.synthetic',
            'params': spec.to_dict(),
            'cameras': {slug: CAMERAS[slug].to_dict() for slug in spec.cameras},
            'categories': [dict(c) for c in CATEGORIES],
            'layout': layout(spec),
            'counts': counts,
            'workers': workers,
            'generation_seconds': round(time.perf_counter() - start, 2),
        }
        # written last: its presence with matching params is what "complete" means
        with open(tmp / 'manifest.json', 'w') as f:
            json.dump(manifest, f, indent=2)

        if out.exists():
            trash = out.parent / f'.{out.name}.old-{os.getpid()}'
            os.rename(out, trash)
            os.rename(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest['skipped'] = False
    return manifest


def spec_with(spec: DemoDatasetSpec, **changes) -> DemoDatasetSpec:
    """``dataclasses.replace`` that also accepts ``width``/``height`` for the scene frame;
    changing ``cameras`` without ``train_cameras`` resets the latter to the first camera."""
    if 'cameras' in changes and 'train_cameras' not in changes:
        changes['train_cameras'] = None
    scene_changes = {k: changes.pop(k) for k in ('width', 'height') if k in changes}
    if scene_changes:
        changes['scene'] = replace(changes.get('scene', spec.scene), **scene_changes)
    return replace(spec, **changes)
