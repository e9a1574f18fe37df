"""Small builders shared by tests: tiny detector configs, synthetic RAW batches, tool modules."""
import importlib.util
import os
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_RETINANET = str(REPO_ROOT / 'configs' / '_base_' / 'models' / 'retinanet_tiny.py')


def tiny_retinanet_cfg():
    return Config.fromfile(TINY_RETINANET).model  # a ConfigDict: mmdet heads read it by attribute


def frozen_tiny_cfg(**kwargs) -> dict:
    cfg = dict(type='FrozenDetector', detector=tiny_retinanet_cfg(),
               data_preprocessor=dict(isp=dict(type='GenISP')))
    cfg.update(kwargs)
    return cfg


def raw_batch(sizes=((64, 96), (64, 96)), seed=0, exposure=0.02, num_boxes=2):
    """A data batch as a dataloader yields it: float packed-RAW ``(3, H, W)`` inputs and
    DetDataSamples with boxes (labels in COCO's 80-class index space)."""
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in sizes:
        img = torch.rand(3, h, w, generator=g) * exposure
        boxes = []
        for _ in range(num_boxes):
            x0, y0 = float(torch.randint(0, w // 2, (1,), generator=g)), \
                float(torch.randint(0, h // 2, (1,), generator=g))
            bw, bh = 12 + float(torch.randint(0, w // 3, (1,), generator=g)), \
                12 + float(torch.randint(0, h // 3, (1,), generator=g))
            boxes.append([x0, y0, min(x0 + bw, w - 1), min(y0 + bh, h - 1)])
            img[:, int(y0):int(boxes[-1][3]), int(x0):int(boxes[-1][2])] *= 4
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1.0, 1.0), img_id=len(samples),
                                             img_path=f'img{len(samples)}.dng'))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes), labels=torch.randint(0, 3, (num_boxes,), generator=g))
        inputs.append(img)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (the tools are scripts, not a package API)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMO_CONFIG = str(REPO_ROOT / 'configs' / 'demo' / 'genisp_demo.py')
#: The demo config with every detection kept: an untrained detector's scores are low.
KEEP_ALL = {'model.detector.test_cfg.score_thr': 0.0}


def demo_dngs(root, num_test=3, width=128, height=96, seed=5):
    """Dark DNGs of the demo benchmark's unseen camera (Nikon D750 matrix, GBRG)."""
    from genisp_mmdet.synthetic import DemoDatasetSpec, SceneConfig, generate_demo_dataset
    root = Path(root, 'demo')  # the generator creates the folder itself
    generate_demo_dataset(root, DemoDatasetSpec(num_train=1, num_test=num_test, seed=seed,
                                                scene=SceneConfig(width=width, height=height)),
                          workers=1, progress=False)
    return sorted(Path(root, 'nikon_d750', 'test').glob('*.dng'))


def save_genisp_checkpoint(path, config=DEMO_CONFIG, seed=0, cfg_options=None) -> str:
    """A checkpoint as tools/train.py saves one, of ``config``'s model with its ISP's parameter
    nets moved off their identity start (so gains and matrix differ per image) and the
    detector's convolutions at random variance-keeping weights (no pretrained weights needed,
    yet its outputs depend on the image)."""
    from mmdet.registry import MODELS

    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(cfg_options or {}, **{'model.detector_checkpoint': None}))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    isp = model.data_preprocessor.isp
    for net in (isp.conv_wb.net, isp.conv_cc.net):
        torch.nn.init.normal_(net.mlp[-1].weight, std=0.5)
    # a freshly initialised head predicts nearly the same everywhere (small normal weights,
    # a prior bias): variance-keeping weights make the outputs depend on the image
    for module in model.detector.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity='linear')
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, std=0.5)
    classes = cfg.get('demo_classes') or None
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes) if classes else {})), path)
    return str(path)


#: a sitecustomize that makes LibRaw's decode crash (a real segmentation fault) on files whose
#: name contains ``crash_libraw`` and hang on ``hang_libraw``, in every new Python process
#: started with it on PYTHONPATH: what a malformed file does to an unlucky LibRaw build
_LIBRAW_SABOTAGE = '''
import ctypes, time
import rawpy

_imread = rawpy.imread


def imread(source, *args, **kwargs):
    name = source if isinstance(source, str) else ''
    if 'crash_libraw' in name:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file in the test's folder
        ctypes.string_at(0)  # segmentation fault
    if 'hang_libraw' in name:
        time.sleep(3600)
    return _imread(source, *args, **kwargs)


rawpy.imread = imread
'''


def libraw_sabotage_env(folder) -> dict:
    """Environment for child processes in which LibRaw crashes or hangs on chosen files
    (:data:`_LIBRAW_SABOTAGE`); this process is left alone."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'sitecustomize.py').write_text(_LIBRAW_SABOTAGE)
    paths = [str(folder)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    return dict(PYTHONPATH=os.pathsep.join(paths))
