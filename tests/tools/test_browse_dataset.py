"""tools/browse_dataset.py on a tiny COCO folder of synthetic .npy images (always runs) and on
the real CinemaDNG of ../shared through the RAW template config (skips without it)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmdet.datasets import CocoDataset

from genisp_mmdet.datasets import COCO_CLASSES
from tests.helpers import load_tool

REPO = Path(__file__).resolve().parents[2]
LOD_CFG = str(REPO / 'configs' / '_base_' / 'datasets' / 'lod_dark.py')
FOLDER_CFG = str(REPO / 'configs' / '_base_' / 'datasets' / 'raw_coco_folder.py')
PALETTE = CocoDataset.METAINFO['palette']
# one box per image: (file, COCO name, official id, [x, y, w, h])
BOXES = [('0001.npy', 'car', 3, [100, 150, 400, 300]),
         ('0002.npy', 'bottle', 44, [600, 200, 200, 400])]


browse = load_tool('browse_dataset')


@pytest.fixture
def npy_folder(tmp_path):
    """1200x800 RGGB .npy images, dark noise with a brighter patch inside each box."""
    rng = np.random.default_rng(0)
    (tmp_path / 'imgs').mkdir()
    (tmp_path / 'annotations').mkdir()
    images, anns = [], []
    for i, (name, cls, cat_id, (x, y, w, h)) in enumerate(BOXES, start=1):
        arr = rng.uniform(0.0, 0.004, size=(800, 1200, 4))
        arr[y + 20:y + h - 20, x + 20:x + w - 20] += 0.05
        np.save(tmp_path / 'imgs' / name, arr)
        images.append(dict(id=name[:-4], file_name=name, width=1200, height=800))
        anns.append(dict(id=i, image_id=name[:-4], category_id=cat_id, bbox=[x, y, w, h],
                         area=w * h, iscrowd=0))
    cats = [dict(id=3, name='car'), dict(id=44, name='bottle')]
    (tmp_path / 'annotations' / 'val.json').write_text(
        json.dumps(dict(images=images, annotations=anns, categories=cats)))
    return tmp_path


def lod_args(root, out, *extra):
    return [LOD_CFG, '--split', 'val', '--output-dir', str(out), '--not-show',
            '--cfg-options', f'val_dataloader.dataset.data_root={root}',
            'val_dataloader.dataset.ann_file=annotations/val.json',
            'val_dataloader.dataset.data_prefix.img=imgs/', *extra]


def test_counts_boxes_the_pipeline_clips(npy_folder, tmp_path, capsys):
    """A box drawn past the annotated frame is clipped by the pipeline: counted before that."""
    ann = npy_folder / 'annotations' / 'val.json'
    coco = json.loads(ann.read_text())
    coco['annotations'][1]['bbox'] = [1000, 200, 400, 300]  # 200 px past the right edge
    ann.write_text(json.dumps(coco))
    assert browse.main(lod_args(npy_folder, tmp_path / 'out')) == 0
    captured = capsys.readouterr()
    assert '2 image(s), 2 box(es), 1 reaching outside their image (clipped)' in captured.out
    assert 'boxes reach outside the image' in captured.err


def test_writes_pngs_with_boxes_on_a_rendering(npy_folder, tmp_path, capsys):
    out = tmp_path / 'out'
    assert browse.main(lod_args(npy_folder, out)) == 0
    pngs = sorted(out.glob('*.png'))
    assert [p.name for p in pngs] == ['00000_0001.png', '00001_0002.png']
    assert '2 image(s), 2 box(es), 0 reaching outside' in capsys.readouterr().out
    for png, (_, cls, _, (x, y, w, h)) in zip(pngs, BOXES):
        img = cv2.imread(str(png))[..., ::-1]  # RGB
        assert img.shape == (800, 1200, 3)
        color = np.array(PALETTE[COCO_CLASSES.index(cls)])
        # middle of the left and right edges carry the class colour
        np.testing.assert_array_equal(img[y + h // 2, x], color)
        np.testing.assert_array_equal(img[y + h // 2, x + w], color)
        # auto-exposure: the bright patch renders bright, the dark surround stays dark
        inside = img[y + 40:y + h - 40, x + 40:x + w - 40].mean()
        outside = img[10:60, 1100:1190].mean()
        assert inside > 150 and outside < inside / 2


def test_max_limits_the_number_of_images(npy_folder, tmp_path):
    out = tmp_path / 'out'
    assert browse.main(lod_args(npy_folder, out, '--max', '1')) == 0
    assert len(list(out.glob('*.png'))) == 1


def test_wrong_config_path_is_a_clear_error(tmp_path, capsys):
    assert browse.main([str(tmp_path / 'nope.py'), '--output-dir', str(tmp_path),
                        '--not-show']) == 2
    err = capsys.readouterr().err
    assert 'config file not found' in err and 'nope.py' in err


def test_missing_annotation_file_is_a_clear_error(tmp_path, capsys):
    assert browse.main([FOLDER_CFG, '--split', 'val', '--output-dir', str(tmp_path / 'o'),
                        '--not-show', '--cfg-options',
                        f'val_dataloader.dataset.data_root={tmp_path}']) == 2
    err = capsys.readouterr().err
    assert 'browse_dataset: error:' in err and 'val.json' in err


def test_nothing_to_do_without_output_dir(capsys):
    assert browse.main([LOD_CFG, '--not-show']) == 2
    assert '--output-dir' in capsys.readouterr().err


def test_real_dng_through_the_raw_folder_template(shared, tmp_path, capsys):
    """A real Bayer file (Blackmagic Pocket 4K CinemaDNG, 4128x2176 visible) annotated on its
    full frame: decoded, packed, aligned, resized, drawn."""
    dng = shared('raw-samples', 'blackmagic_pocket4k_rggb.dng')
    (tmp_path / 'raw').mkdir()
    (tmp_path / 'raw' / dng.name).symlink_to(dng)
    (tmp_path / 'annotations').mkdir()
    box = [1790, 1540, 450, 215]  # the black hatchback in the middle
    (tmp_path / 'annotations' / 'val.json').write_text(json.dumps(dict(
        images=[dict(id='dng', file_name=dng.name, width=4128, height=2176)],
        annotations=[dict(id=1, image_id='dng', category_id=3, bbox=box, area=4e5,
                          iscrowd=0)],
        categories=[dict(id=3, name='car')])))
    out = tmp_path / 'out'
    assert browse.main([FOLDER_CFG, '--split', 'val', '--output-dir', str(out), '--not-show',
                        '--cfg-options', f'val_dataloader.dataset.data_root={tmp_path}']) == 0
    assert '1 image(s), 1 box(es), 0 reaching outside' in capsys.readouterr().out
    png = cv2.imread(str(next(out.glob('*.png'))))[..., ::-1]
    # packed 2064x1088, then Resize(1333, 800) keeps the ratio: 1333 x 703
    assert png.shape[1] == 1333 and abs(png.shape[0] - 703) <= 1
    s = 1333 / 2064 * 0.5
    color = np.array(PALETTE[COCO_CLASSES.index('car')])
    x0, ym = round(box[0] * s), round((box[1] + box[3] / 2) * s)
    assert np.abs(png[ym, x0 - 1:x0 + 2].astype(int) - color).sum(axis=1).min() == 0


def test_check_lists_every_unreadable_file_clipped_box_and_rotated_frame(tmp_path, capsys,
                                                                        monkeypatch):
    """--check over a RAW folder with one file of each problem: each is named, the clean
    ones are not, the exit status says problems were found, the report has them all. A file
    that crashes LibRaw is listed too (the check decodes in isolation)."""
    from tests.helpers import demo_dngs, libraw_sabotage_env
    for key, value in libraw_sabotage_env(tmp_path / 'site').items():
        monkeypatch.setenv(key, value)
    dngs = demo_dngs(tmp_path / 'gen', num_test=6, width=128, height=96)
    raw = tmp_path / 'raw'
    raw.mkdir()
    names = ['clean.dng', 'cut.dng', 'text.dng', 'clipped.dng', 'rotated.dng',
             'crash_libraw.dng']
    for name, dng in zip(names, dngs):
        (raw / name).write_bytes(dng.read_bytes())
    (raw / 'cut.dng').write_bytes((raw / 'cut.dng').read_bytes()[:5000])
    (raw / 'text.dng').write_text('not a raw file')
    frames = {'rotated.dng': (96, 128)}  # annotated portrait, the file is landscape
    boxes = {'clipped.dng': [100, 40, 60, 30]}  # runs 32 px past the right edge
    images = [dict(id=i + 1, file_name=n, width=frames.get(n, (128, 96))[0],
                   height=frames.get(n, (128, 96))[1]) for i, n in enumerate(names)]
    anns = [dict(id=i + 1, image_id=i + 1, category_id=3, bbox=boxes.get(n, [10, 10, 30, 20]),
                 area=600, iscrowd=0) for i, n in enumerate(names)]
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'val.json').write_text(json.dumps(dict(
        images=images, annotations=anns, categories=[dict(id=3, name='car')])))
    report = tmp_path / 'report.json'
    status = browse.main([FOLDER_CFG, '--split', 'val', '--check', '--workers', '2',
                          '--report', str(report), '--cfg-options',
                          f'val_dataloader.dataset.data_root={tmp_path}'])
    out = capsys.readouterr().out
    assert status == 1
    found = {p['file'].rsplit('/', 1)[1]: p for p in json.loads(report.read_text())['problems']}
    assert {k: v['kind'] for k, v in found.items()} == {
        'cut.dng': 'unreadable', 'text.dng': 'unreadable', 'clipped.dng': 'clipped',
        'rotated.dng': 'orientation', 'crash_libraw.dng': 'unreadable'}
    assert 'DecoderCrashError' in found['crash_libraw.dng']['reason']
    assert 'TruncatedRawError' in found['cut.dng']['reason']
    assert 'NotRawFileError' in found['text.dng']['reason']
    assert found['clipped.dng']['boxes'][0]['in_image'][2] > 64  # packed frame: 64 wide
    assert '6 image(s) checked: 3 unreadable, 1 with clipped boxes, 1 with a rotated' in out
    assert 'clean.dng' not in out


def test_broken_configs_fail_in_one_line_naming_the_file(tmp_path, capsys):
    broken = tmp_path / 'broken.py'
    broken.write_text('val_dataloader = dict(dataset=dict(type="RawCocoDataset"\n')
    assert browse.main([str(broken), '--split', 'val', '--not-show', '--check']) == 2
    err = capsys.readouterr().err
    assert f'cannot load config {broken}: SyntaxError' in err
    unknown = tmp_path / 'unknown.py'
    unknown.write_text('val_dataloader = dict(dataset=dict(type="NoSuchDataset"))\n')
    assert browse.main([str(unknown), '--split', 'val', '--not-show', '--check']) == 2
    assert 'cannot build the val dataset: KeyError' in capsys.readouterr().err
