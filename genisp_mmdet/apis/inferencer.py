"""Inference with a trained GenISP model, in the style of ``mmdet.apis.DetInferencer``: RAW files
(or packed arrays) in; detections in the RAW file's own frame, and on request the ISP's
rendering and the parameters it rendered with, out.

    from genisp_mmdet.apis import GenISPInferencer
    inferencer = GenISPInferencer('configs/genisp_yolox-nano.py', 'work_dirs/.../epoch_15.pth')
    result = inferencer('night/DSC01234.ARW', return_rendering=True, return_isp_params=True)[0]
    result.bboxes, result.scores, result.labels, result.rendering, result.isp_params
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from ..datasets.coco_ids import COCO_CLASSES
from ..engine.checkpoint import check_state_fits, load_model_state
from ..engine.launch import load_config
from ..models.data_preprocessor import RawDetDataPreprocessor
from ..raw import RAW_EXTENSIONS, PackedRaw, RawReadError
from ..visualization import to_uint8_image


#: Pipeline steps that need annotations; inference has none.
ANNOTATION_TRANSFORMS = ('LoadAnnotations', 'mmdet.LoadAnnotations', 'AlignRawAnnotations')

InferenceInput = Union[str, PackedRaw, np.ndarray]


@dataclass
class RawInferenceResult:
    """What the model found in one RAW file (or packed array).

    Attributes:
        source: the file's path, or ``'<array N>'`` for the N-th array input.
        bboxes: ``(N, 4)`` float32 ``x0, y0, x1, y1`` in pixels of ``frame_shape``: for a RAW
            file its visible sensor frame at full resolution, cropped to even size, in the
            orientation the file records (the image ``rawpy``'s ``postprocess`` renders, a
            portrait shot upright); for an array, the array.
        scores: ``(N,)`` float32, sorted as the detector returned them.
        labels: ``(N,)`` int64 class indices into ``classes``.
        classes: the detector's class names.
        frame_shape: ``(H, W)`` of the frame the boxes are in.
        rendering: ``(h, w, 3)`` uint8 RGB, the ISP's output exactly as the detector saw it
            (the config's test scale), when asked for; boxes map onto it by
            ``rendering_scale``.
        rendering_scale: ``(sx, sy)``: rendering pixel = frame pixel x ``(sx, sy)``.
        isp_params: GenISP's per-image parameters when asked for: ``wb_gains`` (3 floats,
            ConvWB), ``cc_matrix`` (3x3 nested list, ConvCC) as applied, and ``noise_gate``
            (a float in (0, 1)) for a noise-gated GenISP. ``None`` for fixed ISPs.
        data_sample: mmdet's prediction, boxes in the packed image's frame (``ori_shape``).
    """

    source: str
    bboxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    classes: Sequence[str]
    frame_shape: Tuple[int, int]
    rendering: Optional[np.ndarray] = None
    rendering_scale: Tuple[float, float] = (1.0, 1.0)
    isp_params: Optional[Dict[str, Any]] = None
    data_sample: Optional[DetDataSample] = field(default=None, repr=False)


@dataclass
class RawInferenceFailure:
    """An input that could not be read: ``error`` names the file and the problem."""

    source: str
    error: str
    error_type: str


def expand_raw_inputs(inputs: Iterable[str],
                      extensions: Sequence[str] = RAW_EXTENSIONS) -> List[str]:
    """Files named by ``inputs``: files as given, folders searched recursively for
    ``extensions``, glob patterns (``**`` allowed) expanded; sorted, without duplicates.

    Raises:
        FileNotFoundError: an input names nothing (a missing path, a folder without RAW
            files, a pattern without matches); the message lists every such input.
    """
    extensions = tuple(e.lower() for e in extensions)
    found, empty = [], []
    for item in inputs:
        if osp.isdir(item):
            matches = [osp.join(root, name) for root, _, names in os.walk(item)
                       for name in names if name.lower().endswith(extensions)]
        elif osp.isfile(item):
            matches = [item]
        elif glob.has_magic(item):
            matches = [p for p in glob.glob(item, recursive=True) if osp.isfile(p)]
        else:
            matches = []
        if not matches:
            empty.append(item)
        found += [osp.abspath(p) for p in matches]
    if empty:
        def why(item):
            return ('a folder without RAW files' if osp.isdir(item)
                    else 'no such file, or a pattern without matches')
        raise FileNotFoundError('no RAW files found for: ' +
                                ', '.join(f'{item!r} ({why(item)})' for item in empty))
    return sorted(set(found))


def dataset_classes(checkpoint_meta: Optional[dict], cfg: Config, num_classes: int) -> List[str]:
    """Class names for a model: the checkpoint's dataset meta, else the config's test dataset
    metainfo, else COCO's when the detector has 80 classes, else ``class_0...``."""
    classes = ((checkpoint_meta or {}).get('dataset_meta') or {}).get('classes')
    if not classes:
        dataset = cfg.get('test_dataloader', {}).get('dataset', {})
        while 'dataset' in dataset:
            dataset = dataset['dataset']
        classes = (dataset.get('metainfo') or cfg.get('metainfo') or {}).get('classes')
    if not classes and num_classes == len(COCO_CLASSES):
        classes = COCO_CLASSES
    return list(classes) if classes else [f'class_{i}' for i in range(num_classes)]


def _num_classes(model) -> int:
    head = getattr(model.detector, 'bbox_head', None) or \
        getattr(getattr(model.detector, 'roi_head', None), 'bbox_head', None)
    return int(getattr(head, 'num_classes', 0))


class GenISPInferencer:
    """Runs a GenISP model (any config whose preprocessor is the RAW one: GenISP, the fixed
    ISPs) on RAW files or packed arrays.

    Args:
        model: config file (or a loaded :class:`mmengine.Config`) the weights were trained with.
        weights: checkpoint of a training run (ISP + frozen detector, as ``tools/train.py``
            saves it). ``None``: the ISP's initial weights (a fixed ISP needs none) and the
            config's ``detector_checkpoint``.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; default CUDA when available.
        cfg_options: overrides merged into the config (as ``--cfg-options``).
        isp_only: take only the ISP from ``weights``; the detector comes from the config's
            ``detector_checkpoint`` (an ISP trained through another detector, as
            ``tools/test.py --isp-from``).

    Raises:
        genisp_mmdet.engine.launch.ConfigError: the config cannot be loaded.
        ValueError: the config's model has no RAW preprocessor, or ``weights`` do not fit it
            (the message names the file and the mismatched keys).
    """

    def __init__(self, model: Union[str, Config], weights: Optional[str] = None,
                 device: Optional[str] = None, cfg_options: Optional[dict] = None,
                 isp_only: bool = False):
        cfg = model if isinstance(model, Config) else load_config(model, cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        self.cfg = cfg
        self.device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        self.model = MODELS.build(cfg.model)
        if not isinstance(self.model.data_preprocessor, RawDetDataPreprocessor):
            raise ValueError(f'{type(self.model.data_preprocessor).__name__} is not a RAW data '
                             'preprocessor: GenISPInferencer runs models that take packed RAW '
                             '(FrozenDetector with RawDetDataPreprocessor)')
        meta = self._load_weights(weights, isp_only)
        self.model.to(self.device).eval()
        self.classes = dataset_classes(meta, cfg, _num_classes(self.model))
        self.pipeline, self.array_pipeline = self.test_pipelines(cfg)

    # ------------------------------------------------------------------ setup
    def _load_weights(self, weights: Optional[str], isp_only: bool = False) -> Optional[dict]:
        if weights is None:
            self.model.init_weights()
            if any(p.requires_grad for p in self.model.data_preprocessor.parameters()):
                warnings.warn('GenISPInferencer: no weights given - the learnable ISP keeps its '
                              'initial (untrained) weights')
            return None
        state, meta = load_model_state(weights, isp_only)
        has_detector = check_state_fits(self.model, state, weights)
        if not has_detector:
            # an ISP-only state dict: the detector comes from the config's detector_checkpoint
            self.model.init_weights()
        self.model.load_state_dict(state, strict=False)
        # an ISP trained on another dataset says nothing about this detector's classes
        return None if isp_only else meta

    @staticmethod
    def test_pipelines(cfg: Config) -> Tuple[Compose, Compose]:
        """The config's test pipeline without its annotation transforms: from a file
        (``dict(img_path=...)``) and after loading (a packed RAW array)."""
        dataset = cfg.test_dataloader.dataset
        while 'dataset' in dataset:  # wrappers such as RepeatDataset
            dataset = dataset.dataset
        steps = [t for t in dataset.pipeline if t['type'] not in ANNOTATION_TRANSFORMS]
        if not steps or not steps[0]['type'].split('.')[-1].startswith('Load'):
            raise ValueError('the config\'s test pipeline does not start with a loading '
                             f'transform: {[t["type"] for t in steps]}')
        return Compose(steps), Compose(steps[1:])

    # ------------------------------------------------------------------ loading
    def load(self, item: InferenceInput, index: int = 0) -> dict:
        """One input through the test pipeline (file) or the pipeline after loading (arrays:
        ``(H, W, 3)`` float packed RAW in the config's colour space, or a
        :class:`~genisp_mmdet.raw.PackedRaw` from :func:`~genisp_mmdet.raw.read_raw`).

        Raises:
            genisp_mmdet.raw.RawReadError: the file cannot be read (the message names it).
        """
        if isinstance(item, (str, bytes)) or hasattr(item, '__fspath__'):
            return self.pipeline(dict(img_path=str(item), img_id=index))
        meta = dict(item.meta) if isinstance(item, PackedRaw) else {}
        image = item.image if isinstance(item, PackedRaw) else item
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or not np.issubdtype(image.dtype, np.floating):
            raise ValueError('packed RAW arrays must be (H, W, 3) float, got '
                             f'{image.shape} {image.dtype}')
        results = dict(img=image.astype(np.float32, copy=False), img_shape=image.shape[:2],
                       ori_shape=image.shape[:2], scale_factor=(1.0, 1.0), raw_meta=meta,
                       img_path=f'<array {index}>', img_id=index)
        return self.array_pipeline(results)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def infer_batch(self, batch: Sequence[dict], return_rendering: bool = False,
                    return_isp_params: bool = False) -> List[RawInferenceResult]:
        """Loaded inputs (``load``'s outputs) -> one result each."""
        preprocessor = self.model.data_preprocessor
        data = preprocessor.cast_data(pseudo_collate(list(batch)))
        outputs = preprocessor.render_with_params(preprocessor.check_inputs(data['inputs']))
        data = preprocessor.detector_inputs(data, [o['image'] for o in outputs], False)
        samples = self.model(**data, mode='predict')
        return [self._result(sample, out, return_rendering, return_isp_params)
                for sample, out in zip(samples, outputs)]

    def _result(self, sample: DetDataSample, isp_out: Dict[str, torch.Tensor],
                return_rendering: bool, return_isp_params: bool) -> RawInferenceResult:
        ori_h, ori_w = sample.ori_shape[:2]
        visible = (sample.metainfo.get('raw_meta') or {}).get('visible_shape')
        if visible:  # the packed image covers the visible frame cropped to even size
            frame = (int(visible[0]) // 2 * 2, int(visible[1]) // 2 * 2)
        else:
            frame = (int(ori_h), int(ori_w))
        to_frame = np.array([frame[1] / ori_w, frame[0] / ori_h] * 2, np.float32)
        instances = sample.pred_instances
        img_h, img_w = sample.img_shape[:2]
        params = None
        if return_isp_params and 'wb_gains' in isp_out:
            params = dict(wb_gains=isp_out['wb_gains'].tolist(),
                          cc_matrix=isp_out['cc_matrix'].tolist())
            if 'noise_gate' in isp_out:
                params['noise_gate'] = float(isp_out['noise_gate'])
        return RawInferenceResult(
            source=sample.img_path,
            bboxes=instances.bboxes.cpu().numpy().astype(np.float32) * to_frame,
            scores=instances.scores.cpu().numpy().astype(np.float32),
            labels=instances.labels.cpu().numpy().astype(np.int64),
            classes=self.classes, frame_shape=frame,
            rendering=to_uint8_image(isp_out['image']) if return_rendering else None,
            rendering_scale=(img_w / frame[1], img_h / frame[0]),
            isp_params=params, data_sample=sample)

    def iter_results(self, inputs: Sequence[InferenceInput], batch_size: int = 1,
                     num_workers: int = 0, return_rendering: bool = False,
                     return_isp_params: bool = False
                     ) -> Iterator[Union[RawInferenceResult, RawInferenceFailure]]:
        """Results in input order; an input that cannot be read yields a
        :class:`RawInferenceFailure` instead and the others go on. ``num_workers`` processes
        decode files while the model runs."""
        loader = torch.utils.data.DataLoader(
            _LoadingDataset(self, inputs), batch_size=batch_size, num_workers=num_workers,
            collate_fn=list, shuffle=False)
        for batch in loader:
            loaded = [item for item in batch if not isinstance(item, RawInferenceFailure)]
            results = iter(self.infer_batch(loaded, return_rendering, return_isp_params)
                           if loaded else [])
            for item in batch:
                yield item if isinstance(item, RawInferenceFailure) else next(results)

    def __call__(self, inputs: Union[InferenceInput, Sequence[InferenceInput]],
                 batch_size: int = 1, return_rendering: bool = False,
                 return_isp_params: bool = False) -> List[RawInferenceResult]:
        """Results for one input or a list of inputs (paths, ``PackedRaw`` or arrays).

        Raises:
            genisp_mmdet.raw.RawReadError: an input file cannot be read (use
                :meth:`iter_results` to go on past unreadable files).
        """
        single = isinstance(inputs, (str, PackedRaw, np.ndarray)) or hasattr(inputs, '__fspath__')
        items = [inputs] if single else list(inputs)
        results = []
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            loaded = [self.load(item, start + i) for i, item in enumerate(chunk)]
            results += self.infer_batch(loaded, return_rendering, return_isp_params)
        return results


class _LoadingDataset(torch.utils.data.Dataset):
    """Inputs through the inferencer's pipeline; unreadable files become failures."""

    def __init__(self, inferencer: GenISPInferencer, inputs: Sequence[InferenceInput]):
        self.load, self.inputs = inferencer.load, list(inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int):
        try:
            return self.load(self.inputs[index], index)
        except RawReadError as exc:
            return RawInferenceFailure(str(self.inputs[index]), str(exc), type(exc).__name__)
