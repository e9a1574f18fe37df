"""Exported models (ONNX through onnxruntime, TorchScript) give PyTorch's outputs on real packed
RAW at sizes they were not exported with; the exported detector's raw outputs decode to the
inferencer's detections; the ISP runs from a RAW file without MMDetection or torch."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from genisp_mmdet.apis import GenISPInferencer
from genisp_mmdet.apis.export import (ExportableDetector, ExportableISP, decode_head_outputs,
                                      export_onnx, export_torchscript)
from tests.helpers import (DEMO_CONFIG, KEEP_ALL, REPO_ROOT, demo_dngs, load_tool,
                           save_genisp_checkpoint)

ort = pytest.importorskip('onnxruntime', reason='onnxruntime is an optional extra: '
                          'pip install -e .[onnx]')

YOLOX_CONFIG = str(REPO_ROOT / 'configs' / 'genisp_yolox-nano.py')
EXAMPLE = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0)) * 0.02


@pytest.fixture(scope='module')
def dngs(tmp_path_factory):
    return demo_dngs(tmp_path_factory.mktemp('demo'), num_test=2, width=200, height=150)


@pytest.fixture(scope='module', params=['demo_retinanet', 'yolox_nano', 'residual_gated'])
def inferencer(request, tmp_path_factory):
    config, options = {'demo_retinanet': (DEMO_CONFIG, KEEP_ALL),
                       'yolox_nano': (YOLOX_CONFIG, {'model.detector_overrides': dict(
                           test_cfg=dict(score_thr=0.0))}),
                       # the fixed rendering and the noise gate (a median) export too
                       'residual_gated': (DEMO_CONFIG, dict(KEEP_ALL, **{
                           'model.data_preprocessor.isp.residual_to': 'xyz',
                           'model.data_preprocessor.isp.noise_gate': True}))
                       }[request.param]
    checkpoint = save_genisp_checkpoint(tmp_path_factory.mktemp('ckpt') / 'genisp.pth',
                                        config, cfg_options=options)
    return GenISPInferencer(config, checkpoint, 'cpu', cfg_options=options)


def real_inputs(inferencer, dngs, shared_dir):
    """Packed RAW through the config's own pipeline: the demo's DNGs (odd packed sizes such
    as 100x75) and, when ../shared is there, a real camera's DNG."""
    paths = [str(p) for p in dngs]
    real = shared_dir / 'raw-samples' / 'blackmagic_pocket4k_rggb.dng'
    if real.exists():
        paths.append(str(real))
    batches = [inferencer.load(p)['inputs'][None].float() for p in paths]
    return batches + [torch.cat([batches[0], batches[0].flip(-1)])]  # a batch of two


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return [torch.from_numpy(o) for o in session.run(None, {'packed_raw': x.numpy()})]


def as_tuple(outputs):
    return outputs if isinstance(outputs, tuple) else (outputs,)


def test_isp_alone_matches_pytorch_at_every_size(inferencer, dngs, tmp_path):
    from tests.conftest import SHARED_DIR
    isp = ExportableISP(inferencer.model.data_preprocessor).eval()
    export_onnx(isp, EXAMPLE, tmp_path / 'isp.onnx', isp.output_names)
    export_torchscript(isp, EXAMPLE, tmp_path / 'isp.pt')
    scripted = torch.jit.load(str(tmp_path / 'isp.pt'))
    for x in real_inputs(inferencer, dngs, SHARED_DIR):
        assert x.shape[-2:] != EXAMPLE.shape[-2:]
        with torch.no_grad():
            reference = isp(x)
            from_script = scripted(x)
        image, gains, matrix = reference
        assert image.shape == x.shape and gains.shape == (x.shape[0], 3)
        for name, got, script, want in zip(isp.output_names,
                                           run_onnx(tmp_path / 'isp.onnx', x), from_script,
                                           reference):
            scale = float(want.abs().max())
            # onnxruntime's InstanceNormalization over the 2.2 M pixels of the real DNG is
            # 1.6e-3 off float64 on a range of 16 (PyTorch's: 1.1e-5): 1e-4 of the range
            torch.testing.assert_close(got, want, rtol=0, atol=2e-4 * scale,
                                       msg=lambda m, n=name: f'onnx {n}: {m}')
            torch.testing.assert_close(script, want, rtol=0, atol=2e-5 * scale,
                                       msg=lambda m, n=name: f'torchscript {n}: {m}')
        # and PyTorch's ISP is the one the model renders with
        with torch.no_grad():
            rendered = inferencer.model.data_preprocessor.render(list(x))
        torch.testing.assert_close(image, torch.stack(rendered), rtol=0, atol=1e-6)


def test_isp_and_detector_match_pytorch_and_decode_to_the_inferencers_detections(
        inferencer, dngs, tmp_path):
    from tests.conftest import SHARED_DIR
    detector = ExportableDetector(inferencer.model).eval()
    with torch.no_grad():
        names = detector.output_names(len(detector(EXAMPLE)))
    export_onnx(detector, EXAMPLE, tmp_path / 'det.onnx', names)
    export_torchscript(detector, EXAMPLE, tmp_path / 'det.pt')
    scripted = torch.jit.load(str(tmp_path / 'det.pt'))
    for x in real_inputs(inferencer, dngs, SHARED_DIR):
        with torch.no_grad():
            reference = detector(x)
            from_script = scripted(x)
        from_onnx = run_onnx(tmp_path / 'det.onnx', x)
        assert len(from_onnx) == len(reference) == len(names)
        for name, got, script, want in zip(names, from_onnx, from_script, reference):
            scale = float(want.abs().max()) + 1
            torch.testing.assert_close(got, want, rtol=0, atol=1e-4 * scale,
                                       msg=lambda m, n=name: f'{n}: {m}')
            torch.testing.assert_close(script, want, rtol=0, atol=1e-4 * scale,
                                       msg=lambda m, n=name: f'{n}: {m}')
        # the wrapper computes what the model's own preprocessor + detector compute
        data, predictions = model_run(inferencer.model, x)
        with torch.no_grad():
            own = [t for group in inferencer.model._forward(data['inputs']) for t in group]
        for name, got, want in zip(names, reference, own):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * (want.abs().max() + 1),
                                       msg=lambda m, n=name: f'{n}: {m}')
        # decoding the flattened outputs is the model's own prediction (same tensors, so
        # exactly; the exported outputs equal these tensors to the tolerance above)
        for instances, expected in zip(
                decode_head_outputs(inferencer.model, own, tuple(x.shape[-2:])), predictions):
            assert len(expected.scores) > 0
            for key in ('bboxes', 'scores', 'labels'):
                torch.testing.assert_close(getattr(instances, key), getattr(expected, key),
                                           rtol=0, atol=0)


def model_run(model, x):
    """The model's own preprocessed batch and predictions for packed RAW ``x`` (no resizing,
    boxes in x's pixels)."""
    from mmdet.structures import DetDataSample
    shape = tuple(x.shape[-2:])
    samples = [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape,
                                           scale_factor=(1.0, 1.0))) for _ in x]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=list(x), data_samples=samples))
        return data, [s.pred_instances for s in model(**data, mode='predict')]


def test_two_stage_detectors_are_refused(tmp_path):
    from mmengine.config import Config
    from mmdet.registry import MODELS
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'genisp_faster-rcnn_r50_fpn.py'))
    cfg.model.detector_checkpoint = None
    model = MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='only single-stage'):
        ExportableDetector(model)


def test_export_tool_writes_and_verifies_every_model(dngs, tmp_path):
    checkpoint = save_genisp_checkpoint(tmp_path / 'genisp.pth')
    out = tmp_path / 'export'
    proc = subprocess.run(
        [sys.executable, 'tools/export.py', DEMO_CONFIG, checkpoint, '--out-dir', str(out),
         '--verify', *map(str, dngs)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ('isp.onnx', 'isp.torchscript.pt', 'isp_detector.onnx',
                 'isp_detector.torchscript.pt'):
        assert (out / name).stat().st_size > 10_000, name
    info = json.loads((out / 'export.json').read_text())
    assert info['isp']['outputs'] == ['image', 'wb_gains', 'cc_matrix']
    assert info['isp_detector']['head'] == 'RetinaHead'
    assert info['isp_detector']['outputs'][0] == 'cls_score_0'
    diffs = info['verification']['max_abs_diff']
    assert set(diffs) == {'isp.onnx', 'isp.torchscript', 'isp_detector.onnx',
                          'isp_detector.torchscript'}
    assert max(diffs.values()) < 1e-3 and 'max |diff|' in proc.stdout
    bad = subprocess.run([sys.executable, 'tools/export.py', DEMO_CONFIG, checkpoint,
                          '--out-dir', str(out), '--verify', str(tmp_path / 'nope.dng')],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and 'nope.dng' in bad.stderr and 'Traceback' not in bad.stderr


STANDALONE = r'''
import sys
for name in ('torch', 'torchvision', 'mmdet', 'mmengine', 'mmcv', 'cv2'):
    sys.modules[name] = None  # not installed, as far as this process can tell
sys.path.insert(0, sys.argv[1])
import numpy as np
import onnxruntime
from genisp_mmdet.raw import read_raw

packed = read_raw(sys.argv[2]).image                     # (H, W, 3) float32, XYZ
x = np.ascontiguousarray(packed.transpose(2, 0, 1))[None]
session = onnxruntime.InferenceSession(sys.argv[3], providers=['CPUExecutionProvider'])
image, gains, matrix = session.run(None, {'packed_raw': x})
np.save(sys.argv[4], image)
print(any(sys.modules.get(m) is not None for m in ('torch', 'mmdet', 'cv2')))
'''


def test_packing_and_exported_isp_run_without_mmdetection_torch_or_opencv(dngs, tmp_path):
    checkpoint = save_genisp_checkpoint(tmp_path / 'genisp.pth')
    inferencer = GenISPInferencer(DEMO_CONFIG, checkpoint, 'cpu')
    isp = ExportableISP(inferencer.model.data_preprocessor).eval()
    export_onnx(isp, EXAMPLE, tmp_path / 'isp.onnx', isp.output_names)
    script = tmp_path / 'standalone.py'
    script.write_text(STANDALONE)
    proc = subprocess.run([sys.executable, str(script), str(REPO_ROOT), str(dngs[0]),
                           str(tmp_path / 'isp.onnx'), str(tmp_path / 'image.npy')],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == 'False'  # torch, mmdet, cv2 never imported
    with torch.no_grad():
        expected = isp(inferencer.load(str(dngs[0]))['inputs'][None])[0]
    np.testing.assert_allclose(np.load(tmp_path / 'image.npy'), expected.numpy(), atol=2e-5)


def test_the_tool_module_imports_without_onnxruntime_at_module_level():
    export_tool = load_tool('export')
    assert 'onnxruntime' not in vars(export_tool)
