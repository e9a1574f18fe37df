"""On-disk demo dataset: determinism, layout, COCO content, idempotency, atomicity, CLI."""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import rawpy
from PIL import Image

from genisp_mmdet.synthetic import dataset as ds
from genisp_mmdet.synthetic import (CAMERAS, CLASSES, DemoDatasetSpec, SceneConfig,
                                    generate_demo_dataset, is_complete, load_manifest, spec_with)

SPEC = DemoDatasetSpec(num_train=3, num_test=2, seed=5, scene=SceneConfig(width=64, height=48),
                       cameras=('nikon_d750', 'sony_a7m3'))


def digest(root: Path) -> dict:
    """sha1 of every file except the manifest (which records timing and worker count)."""
    out = {}
    for path in sorted(root.rglob('*')):
        if path.is_file() and path.name != 'manifest.json':
            out[str(path.relative_to(root))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo') / 'genisp_demo'
    manifest = generate_demo_dataset(root, SPEC, workers=1, progress=False)
    return root, manifest


def test_layout_and_manifest(built):
    root, manifest = built
    assert manifest['skipped'] is False
    assert sorted(os.listdir(root)) == ['annotations', 'manifest.json', 'nikon_d750', 'sony_a7m3',
                                        'srgb']
    assert sorted(os.listdir(root / 'annotations')) == [
        'nikon_d750_test.json', 'nikon_d750_train.json', 'sony_a7m3_test.json',
        'srgb_test.json', 'srgb_train.json']
    assert sorted(os.listdir(root / 'srgb' / 'train')) == [f'train_0000{i}.png' for i in range(3)]
    assert sorted(os.listdir(root / 'sony_a7m3')) == ['test']  # only the train camera has train
    assert len(os.listdir(root / 'nikon_d750' / 'train')) == 3
    m = load_manifest(root)
    assert m['params'] == SPEC.to_dict() and m['params']['seed'] == 5
    assert m['params']['train_cameras'] == ['nikon_d750']
    assert m['cameras']['sony_a7m3']['cfa'] == 'BGGR'
    assert m['cameras']['nikon_d750']['xyz_to_camera'] == [list(r) for r in
                                                          CAMERAS['nikon_d750'].xyz_to_camera]
    assert m['layout']['srgb']['test'] == {'images': 'srgb/test',
                                           'ann_file': 'annotations/srgb_test.json'}
    assert m['counts']['train']['images'] == 3
    assert not [p for p in root.parent.iterdir() if p.name.startswith('.')]  # no temp dirs left


def test_coco_files_are_consistent_and_point_to_real_images(built):
    root, _ = built
    for split in ('train', 'test'):
        srgb = json.loads((root / f'annotations/srgb_{split}.json').read_text())
        assert [c['name'] for c in srgb['categories']] == list(CLASSES)
        for slug in SPEC.cameras_for(split):
            raw = json.loads((root / f'annotations/{slug}_{split}.json').read_text())
            # same scenes, same ids, same boxes: only the file and capture metadata differ
            assert [i['id'] for i in raw['images']] == [i['id'] for i in srgb['images']]
            assert raw['annotations'] == srgb['annotations']
            for img in raw['images']:
                assert img['file_name'].endswith('.dng') and img['camera'] == slug
                assert img['cfa'] == CAMERAS[slug].cfa
                assert 20 <= img['exposure_deficit'] <= 200 and 100 <= img['iso'] <= 800
                with rawpy.imread(str(root / slug / split / img['file_name'])) as r:
                    assert r.raw_image.shape == (img['height'], img['width']) == (48, 64)
                    raw_dark = r.raw_image.astype(float).mean() - CAMERAS[slug].black_level
                    assert raw_dark < 0.05 * (CAMERAS[slug].white_level - CAMERAS[slug].black_level)
        ids = {i['id'] for i in srgb['images']}
        assert len(ids) == len(srgb['images'])
        for img in srgb['images']:
            png = Image.open(root / 'srgb' / split / img['file_name'])
            assert png.size == (img['width'], img['height']) and png.mode == 'RGB'
            assert 2500 <= img['cct'] <= 7500
        ann_ids = [a['id'] for a in srgb['annotations']]
        assert len(set(ann_ids)) == len(ann_ids)
        for a in srgb['annotations']:
            x, y, w, h = a['bbox']
            assert a['image_id'] in ids and a['iscrowd'] == 0 and a['category_id'] in (1, 2, 3, 4)
            assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 48 and w > 0 and h > 0
            assert 0 < a['area'] <= w * h + 1e-6


def test_pycocotools_loads_the_annotations(built):
    from pycocotools.coco import COCO
    root, _ = built
    coco = COCO(str(root / 'annotations' / 'sony_a7m3_test.json'))
    assert len(coco.getImgIds()) == 2 and len(coco.getCatIds()) == 4


def test_boxes_match_the_oracle_pixels(built):
    root, _ = built
    coco = json.loads((root / 'annotations/srgb_train.json').read_text())
    for img in coco['images']:
        scene = ds.sample_scene(ds._rng(SPEC.seed, 'train', img['id'] - 1, ds._STREAM_SCENE),
                                SPEC.scene)
        png = np.asarray(Image.open(root / 'srgb' / 'train' / img['file_name']))
        assert np.array_equal(png, scene.srgb())
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        assert [a['bbox'] for a in anns] == [a['bbox'] for a in scene.annotations()]


def test_deterministic_across_runs_and_worker_counts(tmp_path, built):
    root, _ = built
    again = tmp_path / 'again'
    generate_demo_dataset(again, SPEC, workers=2, progress=False)
    assert digest(again) == digest(root)
    other = tmp_path / 'other_seed'
    generate_demo_dataset(other, spec_with(SPEC, seed=6), workers=1, progress=False)
    a, b = digest(other), digest(root)
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a if k.endswith(('.png', '.dng')))


def test_idempotent_skip_refusal_and_overwrite(tmp_path, capsys):
    out = tmp_path / 'd'
    spec = spec_with(SPEC, num_train=1, num_test=1)
    first = generate_demo_dataset(out, spec, workers=1, progress=False)
    stamp = (out / 'manifest.json').stat().st_mtime_ns
    second = generate_demo_dataset(out, spec, workers=1, progress=False)
    assert first['skipped'] is False and second['skipped'] is True
    assert (out / 'manifest.json').stat().st_mtime_ns == stamp
    other = spec_with(spec, seed=99)
    with pytest.raises(FileExistsError, match='different parameters'):
        generate_demo_dataset(out, other, workers=1, progress=False)
    assert is_complete(out, spec)
    generate_demo_dataset(out, other, workers=1, progress=False, overwrite=True)
    assert is_complete(out, other) and not is_complete(out, spec)
    # a file gone missing makes the dataset incomplete: it is regenerated, not skipped
    next((out / 'srgb' / 'test').iterdir()).unlink()
    assert not is_complete(out, other)
    with pytest.raises(FileExistsError, match='not a complete'):
        (out / 'manifest.json').unlink()
        generate_demo_dataset(out, other, workers=1, progress=False)


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    calls = []

    def boom(spec, root, split, index):
        calls.append(index)
        if len(calls) == 2:
            raise RuntimeError('disk full')
        return real(spec, root, split, index)

    real = ds.render_scene_files
    monkeypatch.setattr(ds, 'render_scene_files', boom)
    out = tmp_path / 'd'
    with pytest.raises(RuntimeError, match='disk full'):
        generate_demo_dataset(out, SPEC, workers=1, progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_spec_validation():
    with pytest.raises(KeyError):
        DemoDatasetSpec(cameras=('no_such_camera',))
    with pytest.raises(ValueError, match='not among'):
        DemoDatasetSpec(cameras=('nikon_d750',), train_cameras=('sony_a7m3',))
    with pytest.raises(ValueError):
        DemoDatasetSpec(num_train=0, num_test=0)
    assert DemoDatasetSpec().train_cameras == ('sony_rx100m7',)
    assert spec_with(SPEC, cameras=('sony_a7m3',)).train_cameras == ('sony_a7m3',)
    assert spec_with(SPEC, width=32).scene.width == 32


def test_cli(tmp_path, capsys):
    from tools.make_demo_dataset import main
    out = tmp_path / 'cli'
    args = ['--out', str(out), '--num-train', '2', '--num-test', '1', '--seed', '1',
            '--size', '48x32', '--cameras', 'canon_eos5dm4,sony_rx100m7', '--workers', '1',
            '--no-progress']
    assert main(args) == 0
    assert 'wrote' in capsys.readouterr().out
    m = load_manifest(out)
    assert m['params']['scene']['width'] == 48 and m['params']['scene']['height'] == 32
    assert m['params']['train_cameras'] == ['canon_eos5dm4']
    assert main(args) == 0
    assert 'already holds a complete demo dataset' in capsys.readouterr().out
    assert main(args[:-5] + ['--seed', '2', '--no-progress', '--workers', '1']) == 2
    assert 'different parameters' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--out', str(out), '--size', '47x32'])
    with pytest.raises(SystemExit):
        main(['--out', str(out), '--cameras', 'leica'])
