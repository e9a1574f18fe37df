"""A frozen, pretrained MMDetection detector behind a learnable RAW preprocessor (GenISP)."""
from __future__ import annotations

import copy
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn
from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from mmengine.logging import print_log
from mmengine.utils import get_installed_path
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType

from ..color import gray_world_loss

#: DetDataPreprocessor options of the detector that the RAW preprocessor inherits.
_INHERITED_PREPROCESSOR_KEYS = ('mean', 'std', 'pad_size_divisor', 'pad_value',
                                'batch_augments', 'boxtype2tensor', 'pad_mask', 'pad_seg',
                                'mask_pad_value', 'seg_pad_value')


def resolve_detector(spec: Union[str, dict]) -> Tuple[dict, Optional[str]]:
    """Detector model config from a dict, or from a config file: ``'mmdet::retinanet/
    retinanet_r50_fpn_1x_coco.py'`` (a config shipped with MMDetection) or a path. Returns
    ``(model_cfg, weights_url)``; the URL is the one MMDetection's model zoo lists for that
    config (``None`` for dicts, plain paths and configs without published weights)."""
    if not isinstance(spec, str):
        return ConfigDict(copy.deepcopy(dict(spec))), None
    if '::' not in spec:
        if not osp.isfile(spec):
            raise FileNotFoundError(f'detector config not found: {spec}')
        return Config.fromfile(spec).model, None
    package, rel_path = spec.split('::', 1)
    path = osp.join(get_installed_path(package), '.mim', 'configs', rel_path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'detector config not found: {spec} (no {path})')
    try:
        cfg = get_config(spec, pretrained=True)
    except AssertionError:  # listed in the package's metafiles without published weights
        return Config.fromfile(path).model, None
    # a config missing from the metafiles comes back without model_path (get_config's own
    # fallback); anything else (a broken config file) raises as it is
    return cfg.model, cfg.get('model_path')


def raw_preprocessor_for(detector_preprocessor: Optional[dict], overrides: dict) -> dict:
    """Config of a :class:`RawDetDataPreprocessor` that prepares inputs exactly as the
    detector's own ``DetDataPreprocessor`` config did (mean/std, pad divisor, batch augments,
    channel order), with ``overrides`` (e.g. ``isp=dict(type='GenISP')``) taking priority."""
    detector_preprocessor = dict(detector_preprocessor or {})
    cfg = dict(type='RawDetDataPreprocessor')
    cfg.update({k: copy.deepcopy(v) for k, v in detector_preprocessor.items()
                if k in _INHERITED_PREPROCESSOR_KEYS})
    # mmdet loads images as BGR; either flip flag means the detector was trained on RGB.
    flipped = detector_preprocessor.get('bgr_to_rgb', False) or \
        detector_preprocessor.get('rgb_to_bgr', False)
    cfg['detector_channel_order'] = 'rgb' if flipped else 'bgr'
    cfg.update(overrides)
    return cfg


def frozen_detector_config(detector: Union[str, ConfigType], overrides: Optional[dict],
                           checkpoint: Optional[str]) -> Tuple[ConfigDict, Optional[dict],
                                                               Optional[str]]:
    """``(model_cfg without its data_preprocessor, that data_preprocessor, checkpoint)`` for
    a detector given as :func:`resolve_detector` takes it, with ``overrides`` merged into its
    model config and ``checkpoint='zoo'`` resolved to the model zoo's weights."""
    detector, zoo_weights = resolve_detector(detector)
    if overrides:
        detector = Config(dict(model=detector))
        detector.merge_from_dict(dict(model=copy.deepcopy(dict(overrides))))
        detector = detector.model
    if checkpoint == 'zoo':
        if zoo_weights is None:
            raise ValueError("detector_checkpoint='zoo' needs a detector given as an "
                             "'mmdet::...' config with published weights")
        checkpoint = zoo_weights
    preprocessor = detector.pop('data_preprocessor', None)
    # mmdet heads read their train/test cfg by attribute: keep ConfigDicts.
    return ConfigDict(detector), preprocessor, checkpoint


#: Keys of one entry of ``FrozenDetector(also_through=[...])``.
_ALSO_THROUGH_KEYS = ('name', 'detector', 'detector_checkpoint', 'detector_overrides',
                      'data_preprocessor', 'loss_weight')


@MODELS.register_module()
class FrozenDetector(BaseDetector):
    """Wraps any MMDetection detector config, frozen, behind a RAW data preprocessor.

    * Every detector parameter has ``requires_grad=False`` from construction on, and the
      detector stays in eval mode (BatchNorm statistics, dropout) while the model trains.
    * ``data_preprocessor`` (default :class:`RawDetDataPreprocessor` with GenISP) inherits the
      detector preprocessor's mean/std, size divisor, batch augments and channel order; keys
      given here override them.
    * ``detector_checkpoint`` (path or URL) is loaded into the detector alone by
      ``init_weights`` - the ISP is untouched; ``isp_checkpoint`` loads only the ISP's weights
      from a checkpoint of a previous run (e.g. an ISP trained in front of another detector).
    * Loss: the detector's own losses, plus ``gray_world_weight`` x the gray-world colour term
      on the ISP output, logged as ``loss_gray_world``.
    * ``also_through``: further frozen detectors whose losses on the same rendered images are
      added (each prepared by its own mean/std/channel order/padding), so one ISP is trained
      through several detectors at once. Only ``detector`` predicts.

    Args:
        detector: any MMDetection detector: a model config dict, or a config file such as
            ``'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'`` whose ``model`` is used.
        detector_overrides: merged into the detector's model config (e.g. ``test_cfg``).
        data_preprocessor: overrides for the RAW preprocessor (``isp=...``).
        detector_checkpoint: pretrained detector weights (path or URL); ``'zoo'`` takes the
            weights MMDetection's model zoo lists for the ``mmdet::`` config; ``None`` keeps
            the initial weights (tests only).
        isp_checkpoint: checkpoint whose ``data_preprocessor.isp.*`` weights initialise the ISP.
        freeze_detector: keep ``True``; ``False`` exists to measure what freezing saves.
        gray_world_weight: weight of the gray-world loss (0 disables it).
        also_through: list of dicts, one per further frozen detector: ``name`` (prefix of its
            logged losses), ``detector``, ``detector_checkpoint``, optional
            ``detector_overrides``, ``data_preprocessor`` (overrides of the preprocessor
            derived from that detector's config, e.g. ``batch_augments=None``) and
            ``loss_weight`` (default 1). It sees the ISP output of the main detector's batch
            (after that batch's resize and batch augments).
    """

    def __init__(self,
                 detector: Union[str, ConfigType],
                 detector_overrides: Optional[dict] = None,
                 data_preprocessor: Optional[ConfigType] = None,
                 detector_checkpoint: Optional[str] = None,
                 isp_checkpoint: Optional[str] = None,
                 freeze_detector: bool = True,
                 gray_world_weight: float = 0.0,
                 also_through: Optional[Sequence[dict]] = None,
                 init_cfg=None):
        detector, detector_preprocessor, detector_checkpoint = frozen_detector_config(
            detector, detector_overrides, detector_checkpoint)
        overrides = dict(data_preprocessor or {})
        if overrides.get('type', 'RawDetDataPreprocessor') == 'RawDetDataPreprocessor':
            overrides.pop('type', None)
            preprocessor_cfg = raw_preprocessor_for(detector_preprocessor, overrides)
        else:  # a preprocessor of another type is taken as given
            preprocessor_cfg = overrides
        # Built from mmdet's registry here, so it resolves without a default scope set.
        super().__init__(data_preprocessor=MODELS.build(preprocessor_cfg), init_cfg=init_cfg)
        self.detector = MODELS.build(detector)
        self.detector_checkpoint = detector_checkpoint
        self.isp_checkpoint = isp_checkpoint
        self.freeze_detector = freeze_detector
        self.gray_world_weight = gray_world_weight
        self.also_through = nn.ModuleDict()
        self.also_through_checkpoints, self.also_through_weights = {}, {}
        for spec in also_through or ():
            self._add_further_detector(dict(spec))
        if freeze_detector:
            for module in (self.detector, self.also_through):
                module.requires_grad_(False)
                module.eval()

    def _add_further_detector(self, spec: dict) -> None:
        unknown = sorted(set(spec) - set(_ALSO_THROUGH_KEYS))
        if unknown or 'name' not in spec or 'detector' not in spec:
            raise ValueError(f'FrozenDetector: each also_through entry needs name and detector '
                             f'(keys: {", ".join(_ALSO_THROUGH_KEYS)}); got {sorted(spec)}')
        name = spec['name']
        if name in self.also_through or '.' in name:
            raise ValueError(f'FrozenDetector: also_through name {name!r} is repeated or '
                             "contains '.'")
        detector, detector_preprocessor, checkpoint = frozen_detector_config(
            spec['detector'], spec.get('detector_overrides'), spec.get('detector_checkpoint'))
        # the ISP lives in the main preprocessor; this one only scales, reorders, normalises
        # and pads the rendered images the way this detector was trained on
        preprocessor = MODELS.build(raw_preprocessor_for(
            detector_preprocessor, dict(spec.get('data_preprocessor') or {}, isp=None)))
        self.also_through[name] = nn.ModuleDict(dict(
            preprocessor=preprocessor, detector=MODELS.build(detector)))
        self.also_through_checkpoints[name] = checkpoint
        self.also_through_weights[name] = float(spec.get('loss_weight', 1.0))

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """ISP: its own init (or ``isp_checkpoint``); detector: ``detector_checkpoint``.

        With a detector checkpoint the detector's own ``init_weights`` is skipped: it would
        only fetch backbone ImageNet weights that the checkpoint overwrites."""
        isp = getattr(self.data_preprocessor, 'isp', None)
        if isp is not None:
            isp.init_weights()
        self._init_detector(self.detector, self.detector_checkpoint)
        for name, module in self.also_through.items():
            self._init_detector(module['detector'], self.also_through_checkpoints[name])
        if self.isp_checkpoint:
            self.load_isp_weights(self.isp_checkpoint)

    def _init_detector(self, detector: nn.Module, checkpoint: Optional[str]) -> None:
        if checkpoint:
            _load_checkpoint_to_model(detector, _load_checkpoint(checkpoint, map_location='cpu'),
                                      strict=True)
            print_log(f'FrozenDetector: loaded detector weights from {checkpoint}',
                      logger='current')
        else:
            detector.init_weights()
            if self.freeze_detector:
                print_log('FrozenDetector: no detector_checkpoint given - a frozen detector '
                          'keeps its initial weights (only sensible for tests)',
                          logger='current', level=30)

    def load_isp_weights(self, filename: str) -> None:
        """Load only ``data_preprocessor.isp.*`` from a checkpoint of a GenISP run."""
        checkpoint = _load_checkpoint(filename, map_location='cpu')
        state = checkpoint.get('state_dict', checkpoint)
        prefix = 'data_preprocessor.isp.'
        isp_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not isp_state:
            raise KeyError(f'{filename}: no ISP weights (keys starting with {prefix!r}) found; '
                           'is this a GenISP checkpoint?')
        self.data_preprocessor.isp.load_state_dict(isp_state, strict=True)
        print_log(f'FrozenDetector: loaded ISP weights from {filename}', logger='current')

    def train(self, mode: bool = True) -> 'FrozenDetector':
        super().train(mode)
        if self.freeze_detector:
            self.detector.eval()
            self.also_through.eval()
        return self

    # ------------------------------------------------------------------ forward
    def loss(self, batch_inputs: torch.Tensor,
             batch_data_samples: SampleList) -> Union[dict, list]:
        losses = self.detector.loss(batch_inputs, batch_data_samples)
        if self.gray_world_weight <= 0 and not self.also_through:
            return losses
        rendered = self.data_preprocessor.recover_isp_output(batch_inputs, batch_data_samples)
        if self.gray_world_weight > 0:
            term = torch.stack([gray_world_loss(img[None]) for img in rendered]).mean()
            losses['loss_gray_world'] = self.gray_world_weight * term
        for name, module in self.also_through.items():
            data = module['preprocessor'](dict(inputs=rendered, data_samples=batch_data_samples),
                                          training=True)
            weight = self.also_through_weights[name]
            for key, value in module['detector'].loss(data['inputs'],
                                                      data['data_samples']).items():
                if 'loss' in key:  # what mmengine sums into the total
                    value = [weight * v for v in value] if isinstance(value, (list, tuple)) \
                        else weight * value
                losses[f'{name}.{key}'] = value
        return losses

    def predict(self, batch_inputs: torch.Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        return self.detector.predict(batch_inputs, batch_data_samples, rescale=rescale)

    def _forward(self, batch_inputs: torch.Tensor, batch_data_samples: OptSampleList = None):
        return self.detector._forward(batch_inputs, batch_data_samples)

    def extract_feat(self, batch_inputs: torch.Tensor):
        return self.detector.extract_feat(batch_inputs)
