"""A real COCO detector offline: the official Megvii YOLOX-Nano ONNX export converted into
MMDetection's native YOLOX (tools/model_converters/yolox_onnx_to_mmdet.py), checked against
onnxruntime on real COCO photos - head outputs and COCO mAP through tools/test.py - and put
behind GenISP (configs/genisp_yolox-nano.py).

The conversion tests need ../shared (detectors/yolox_nano, datasets/coco-photos) and the
optional onnx + onnxruntime packages, and skip with the reason otherwise. The conversion runs
once per test session into a temporary folder.
"""
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from tests.conftest import shared_path
from tests.helpers import REPO_ROOT, load_tool, raw_batch

ONNX = ('detectors', 'yolox_nano', 'yolox_nano.onnx')
PHOTOS = ('datasets', 'coco-photos')
GENISP_CONFIG = str(REPO_ROOT / 'configs' / 'genisp_yolox-nano.py')
COCO_CONFIG = 'configs/detectors/yolox-nano_coco-photos.py'
#: Converted model vs onnxruntime on the 4 photos, measured: raw box terms (|values| <= 3.4)
#: 2.7e-4, sigmoid objectness 3.2e-6, sigmoid class scores 2.1e-5. The conv outputs agree to
#: 4e-7 relative at the stem, growing smoothly to ~1e-5 relative in the head (float32
#: summation order over 113 convs); no layer jumps.
BOX_TOL, PROB_TOL = 1e-3, 1e-4


@pytest.fixture(scope='session')
def tool():
    return load_tool('model_converters/yolox_onnx_to_mmdet')


@pytest.fixture(scope='session')
def reference():
    pytest.importorskip('onnxruntime', reason='the optional onnxruntime package is not '
                        'installed (pip install onnx onnxruntime)')
    from tests.reference import yolox_onnxruntime
    return yolox_onnxruntime


@pytest.fixture(scope='session')
def onnx_file(reference):
    pytest.importorskip('onnx', reason='the optional onnx package is not installed '
                        '(pip install onnx onnxruntime)')
    return shared_path(*ONNX)


@pytest.fixture(scope='session')
def converted(onnx_file, tool, tmp_path_factory):
    """Path of the checkpoint converted by the tool's command line, once per session."""
    out = tmp_path_factory.mktemp('yolox_nano') / 'yolox-nano_coco_megvii.pth'
    tool.main([str(onnx_file), str(out)])
    return out


@pytest.fixture(scope='session')
def model(converted, tool):
    detector = tool.build_detector()
    state = torch.load(converted, map_location='cpu', weights_only=False)['state_dict']
    detector.load_state_dict(state, strict=True)
    return detector.eval()


@pytest.fixture(scope='session')
def blank_detector(tool):
    """MMDetection's YOLOX-Nano, built once for the tests whose weights do not matter (the
    converter only traces the model's structure)."""
    return tool.build_detector()


@pytest.fixture(scope='session')
def photos(reference):
    """Four real val2017 photos, letterboxed as YOLOX's test pipeline does: ``(4, 3, 416,
    416)`` float32 BGR 0-255."""
    folder = shared_path(*PHOTOS, 'val2017')
    paths = sorted(glob.glob(str(folder / '*.jpg')))[:4]
    return np.concatenate([reference.to_input(reference.letterbox(reference.load_image(p))[0])
                           for p in paths])


def _ort(reference, onnx_file, inputs):
    session = reference.YoloxOnnx(str(onnx_file))
    return np.concatenate([session(x[None]) for x in inputs])


# ------------------------------------------------------------------ the conversion
def test_checkpoint_records_its_source(converted, onnx_file):
    ckpt = torch.load(converted, map_location='cpu', weights_only=False)
    meta = ckpt['meta']
    assert meta['sha256'] == \
        '695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14'
    assert meta['source'] == str(os.path.abspath(onnx_file))
    assert meta['config'] == 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py'
    assert meta['max_abs_diff_onnxruntime'] < 1e-4
    # BatchNorms are identities carrying the folded bias, with the model's eps
    state = ckpt['state_dict']
    assert torch.equal(state['backbone.stem.conv.bn.weight'], torch.ones(16))
    assert torch.allclose(state['backbone.stem.conv.bn.running_var'],
                          torch.full((16,), 1 - 0.001))


def test_csp_convs_are_mapped_by_data_flow_not_by_order(converted):
    """The export runs a CSP block as conv1 (main) -> conv2 (short) -> blocks -> conv3,
    MMDetection runs short_conv first and registers final_conv before the blocks."""
    mapping = torch.load(converted, map_location='cpu', weights_only=False)['meta']['mapping']
    assert len(mapping) == 113 and len(set(mapping.values())) == 113
    assert mapping['Conv_41'] == 'backbone.stem.conv.conv'
    assert mapping['Conv_50'] == 'backbone.stage1.1.main_conv.conv'
    assert mapping['Conv_53'] == 'backbone.stage1.1.short_conv.conv'
    assert mapping['Conv_67'] == 'backbone.stage1.1.final_conv.conv'
    assert mapping['Conv_314'] == 'bbox_head.multi_level_conv_cls.0'


def test_raw_head_outputs_match_onnxruntime_on_real_photos(model, photos, onnx_file,
                                                           reference):
    """Per level, before decoding: box terms, objectness and class scores of the converted
    model against onnxruntime's output tensor reshaped to the level's grid."""
    expected = _ort(reference, onnx_file, photos)  # (4, 3549, 85)
    with torch.no_grad():
        cls_scores, bbox_preds, objectnesses = model._forward(torch.from_numpy(photos))
    start, diffs = 0, {'bbox': 0.0, 'obj': 0.0, 'cls': 0.0}
    for cls, reg, obj in zip(cls_scores, bbox_preds, objectnesses):
        n, _, h, w = cls.shape
        level = torch.from_numpy(expected[:, start:start + h * w]).permute(0, 2, 1)
        level = level.reshape(n, 85, h, w)
        start += h * w
        diffs['bbox'] = max(diffs['bbox'], (reg - level[:, :4]).abs().max().item())
        diffs['obj'] = max(diffs['obj'], (obj.sigmoid() - level[:, 4:5]).abs().max().item())
        diffs['cls'] = max(diffs['cls'], (cls.sigmoid() - level[:, 5:]).abs().max().item())
    assert start == expected.shape[1]
    assert diffs['bbox'] < BOX_TOL and max(diffs['obj'], diffs['cls']) < PROB_TOL, diffs
    # the photos make the detector fire: the comparison is not one of near-zero scores
    assert (expected[..., 4] * expected[..., 5:].max(-1)).max() > 0.5


def test_a_broken_mapping_is_detected(model, photos, onnx_file, reference, tool,
                                      blank_detector):
    """Sanity check of the comparison above: swapping one CSP block's main and short conv
    weights (same shapes) makes the outputs differ by far more than the tolerance."""
    broken = blank_detector
    state = {k: v.clone() for k, v in model.state_dict().items()}
    a, b = 'backbone.stage2.1.main_conv', 'backbone.stage2.1.short_conv'
    for suffix in ('conv.weight', 'bn.bias'):
        state[f'{a}.{suffix}'], state[f'{b}.{suffix}'] = \
            state[f'{b}.{suffix}'], state[f'{a}.{suffix}']
    broken.load_state_dict(state)
    broken.eval()
    expected = _ort(reference, onnx_file, photos[:1])
    with torch.no_grad():
        got = tool.onnx_layout_outputs(broken, torch.from_numpy(photos[:1])).numpy()
    assert np.abs(got - expected).max() > 100 * BOX_TOL


def _modified(onnx_file, tmp_path, name, edit):
    import onnx
    proto = onnx.load(str(onnx_file))
    edit(proto.graph)
    path = tmp_path / name
    onnx.save(proto, str(path))
    return str(path)


def test_converter_refuses_a_conv_with_a_wrong_shape(onnx_file, tool, tmp_path, blank_detector):
    from onnx import numpy_helper

    def edit(graph):  # Conv_47 (stage1's pointwise conv, 16 -> 32) made 16 -> 24
        node = next(n for n in graph.node if n.name == 'Conv_47')
        for init in graph.initializer:
            if init.name in node.input[1:]:
                value = numpy_helper.to_array(init)[:24]
                init.CopyFrom(numpy_helper.from_array(value, init.name))
    path = _modified(onnx_file, tmp_path, 'wrong_shape.onnx', edit)
    with pytest.raises(tool.ConversionError, match=r'shapes disagree: ONNX Conv_47 '
                       r'\(weight \(24, 16, 1, 1\).*backbone\.stage1\.0\.pointwise_conv\.conv: '
                       r'weight \(32, 16, 1, 1\)'):
        tool.convert(path, blank_detector)


def test_converter_refuses_an_unmapped_conv(onnx_file, tool, tmp_path, blank_detector):
    import onnx
    from onnx import helper, numpy_helper

    def edit(graph):  # a 1x1 conv on the stem's output that the model does not have
        stem_out = next(n for n in graph.node if n.name == 'Conv_41').output[0]
        graph.initializer.append(numpy_helper.from_array(
            np.zeros((8, 16, 1, 1), np.float32), 'extra.weight'))
        graph.node.append(helper.make_node('Conv', [stem_out, 'extra.weight'], ['extra_out'],
                                           name='Conv_extra', kernel_shape=[1, 1]))
    path = _modified(onnx_file, tmp_path, 'extra_conv.onnx', edit)
    onnx.checker.check_model(path)
    with pytest.raises(tool.ConversionError, match=r'unmapped: ONNX Conv_extra .*no unmapped '
                       r'conv of the model takes that input'):
        tool.convert(path, blank_detector)


def test_converter_refuses_an_unused_weight_tensor(onnx_file, tool, tmp_path, blank_detector):
    from onnx import numpy_helper

    def edit(graph):
        graph.initializer.append(numpy_helper.from_array(np.ones(3, np.float32), 'stray'))
    path = _modified(onnx_file, tmp_path, 'stray_tensor.onnx', edit)
    with pytest.raises(tool.ConversionError, match=r"unmapped: ONNX tensors \['stray'\]"):
        tool.convert(path, blank_detector)


def test_converter_explains_a_missing_onnx_package(tool, monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnx', None)  # import onnx -> ImportError
    with pytest.raises(tool.ConversionError, match=r'pip install onnx onnxruntime'):
        tool.import_onnx()


def test_genisp_package_never_imports_onnx():
    pattern = re.compile(r'^\s*(import|from)\s+onnx', re.M)
    sources = glob.glob(str(REPO_ROOT / 'genisp_mmdet' / '**' / '*.py'), recursive=True)
    assert sources
    assert not [p for p in sources if pattern.search(open(p, encoding='utf-8').read())]


# ------------------------------------------------------------------ COCO mAP
def test_val_categories_are_cocos_80_classes_by_name(reference):
    ann = shared_path(*PHOTOS, 'annotations', 'instances_val2017.json')
    from mmdet.datasets import CocoDataset
    cats = sorted(json.loads(ann.read_text())['categories'], key=lambda c: c['id'])
    names = tuple(c['name'] for c in cats)
    assert names == tuple(CocoDataset.METAINFO['classes']) == reference.COCO_CLASSES


def test_tools_test_map_matches_the_onnxruntime_pipeline(converted, onnx_file, reference,
                                                         tmp_path):
    """The converted checkpoint through plain mmdet (tools/test.py: CocoDataset, YOLOX's test
    pipeline, CocoMetric) and the export through the onnxruntime reference pipeline score the
    96 val2017 photos alike (measured: 0.3640 vs 0.3640 bbox mAP, 4611 ORT detections)."""
    root = shared_path(*PHOTOS)
    ann = str(root / 'annotations' / 'instances_val2017.json')
    env = dict(os.environ, GENISP_COCO_ROOT=str(root) + os.sep, OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', COCO_CONFIG, str(converted),
         '--work-dir', str(tmp_path),
         # 2 shared cores: no loader processes next to the model's two threads (faster here)
         '--cfg-options', 'test_dataloader.num_workers=0'], cwd=REPO_ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    logs = glob.glob(str(tmp_path / '*' / '*.json'))
    metrics = json.loads(open(logs[0]).read()) if logs else {}
    mmdet_map = metrics.get('coco/bbox_mAP')
    if mmdet_map is None:
        mmdet_map = float(re.findall(r'coco/bbox_mAP: ([0-9.]+)', proc.stdout)[-1])
    ort = reference.evaluate(str(onnx_file), ann, str(root / 'val2017'),
                             reference.test_cfg_thresholds(), threads=2)
    print(f'bbox mAP: tools/test.py {mmdet_map:.4f}, onnxruntime reference '
          f'{ort["bbox_mAP"]:.4f}')
    assert ort['bbox_mAP'] > 0.25  # a real COCO detector (YOLOX-Nano: 25.8 AP on val2017)
    assert abs(mmdet_map - ort['bbox_mAP']) <= 0.005


# ------------------------------------------------------------------ behind GenISP
def _genisp_model(**overrides):
    cfg = Config.fromfile(GENISP_CONFIG)
    cfg.model.update(overrides)
    torch.manual_seed(0)
    return cfg, MODELS.build(cfg.model)


def test_genisp_yolox_nano_config():
    cfg = Config.fromfile(GENISP_CONFIG)
    assert cfg.model.detector == 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py'
    assert cfg.model.detector_checkpoint == 'checkpoints/yolox-nano_coco_megvii.pth'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        resize = [t for t in cfg[loader].dataset.pipeline if t['type'] == 'Resize']
        assert resize == [dict(type='Resize', scale=(416, 416), keep_ratio=True)], loader


def test_frozen_yolox_stays_in_eval_mode_and_only_the_isp_gets_gradients():
    _, model = _genisp_model(detector_checkpoint=None)
    assert model.data_preprocessor.batch_augments is None  # no multi-scale resize
    assert model.data_preprocessor.pad_value == 114.0
    model.train()
    assert model.training and model.data_preprocessor.isp.training
    assert not any(m.training for m in model.detector.modules())
    data = model.data_preprocessor(raw_batch(sizes=((96, 128), (96, 128))), training=True)
    losses = model(**data, mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_obj'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values()), losses
    sum(v.sum() for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(p.grad is None for p in model.detector.parameters())
    isp_grads = [p.grad for p in model.data_preprocessor.isp.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in isp_grads)
    assert any(g.abs().sum() > 0 for g in isp_grads)
    assert not any(m.training for m in model.detector.modules())


def test_genisp_loads_the_converted_detector(converted, model):
    _, genisp = _genisp_model(detector_checkpoint=str(converted))
    genisp.init_weights()
    for (name, got), want in zip(genisp.detector.state_dict().items(),
                                 model.state_dict().values()):
        assert torch.equal(got, want), name
