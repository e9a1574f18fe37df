"""Export of a trained model for deployment, as ONNX or TorchScript: the ISP alone, or the ISP +
the frozen detector up to its head's raw outputs.

MMDetection's deployment path (mmdeploy) exports the detector from its data preprocessor's
output on, so a learnable ISP living in the preprocessor would silently be dropped; these
wrappers put the ISP and the preprocessor's arithmetic (scale to 0-255, channel order, mean/std,
padding to the size divisor) into the exported graph, from packed RAW on.

The detector part ends at the head's raw outputs (per pyramid level, before box decoding and
NMS): decoding is specific to each head and NMS has no exact equivalent among standard ONNX
operators (mmcv's batched NMS is a custom op), so both stay with the consumer - in Python
:func:`decode_head_outputs` gives exactly MMDetection's detections from them.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.data_preprocessor import DETECTOR_PIXEL_SCALE

#: Names of the per-level outputs of the single-stage heads this was checked with, in the
#: order of the head's ``forward``; other heads get ``output<i>``.
HEAD_OUTPUT_NAMES: Dict[str, Tuple[str, ...]] = {
    'RetinaHead': ('cls_score', 'bbox_pred'),
    'YOLOXHead': ('cls_score', 'bbox_pred', 'objectness'),
    'FCOSHead': ('cls_score', 'bbox_pred', 'centerness'),
    'ATSSHead': ('cls_score', 'bbox_pred', 'centerness'),
}

INPUT_NAME = 'packed_raw'


class ExportableISP(nn.Module):
    """The model's ISP as a plain module: packed RAW ``(B, 3, H, W)`` (linear, the config's
    colour space, black level removed and divided by the white level, as
    :func:`genisp_mmdet.raw.read_raw` returns it, channels first) -> ``image`` ``(B, 3, H, W)``
    RGB nominally in [0, 1], and for GenISP also ``wb_gains`` ``(B, 3)`` and ``cc_matrix``
    ``(B, 3, 3)``. Any batch, height and width (GenISP looks at a fixed 256x256 copy)."""

    def __init__(self, preprocessor):
        super().__init__()
        if preprocessor.isp is None:
            raise ValueError('the model has no ISP module to export (isp=None: its images are '
                             'rendered in the data pipeline)')
        self.isp = preprocessor.isp
        self.input_scale = float(preprocessor.input_scale)
        self.with_params = hasattr(self.isp, 'forward_with_params')

    @property
    def output_names(self) -> List[str]:
        return ['image', 'wb_gains', 'cc_matrix'] if self.with_params else ['image']

    def forward(self, packed_raw: torch.Tensor):
        x = packed_raw.float() * self.input_scale
        if not self.with_params:
            return self.isp(x)
        out = self.isp.forward_with_params(x)
        return out['image'], out['wb_gains'], out['cc_matrix']


class ExportableDetector(nn.Module):
    """ISP + frozen single-stage detector: packed RAW ``(B, 3, H, W)`` (as for
    :class:`ExportableISP`; the images of a batch share one size) -> the head's raw outputs,
    flattened level by level (``cls_score_0, cls_score_1, ..., bbox_pred_0, ...``) for the
    input padded (bottom and right) to the detector's size divisor, exactly as
    :class:`~genisp_mmdet.models.RawDetDataPreprocessor` prepares a batch of one size."""

    def __init__(self, model):
        super().__init__()
        detector = model.detector
        if not hasattr(detector, 'bbox_head') or hasattr(detector, 'roi_head'):
            raise ValueError(f'{type(detector).__name__}: only single-stage detectors (a '
                             '`bbox_head`, no `roi_head`) are exported; two-stage detectors '
                             'run proposal NMS inside the graph')
        self.isp = ExportableISP(model.data_preprocessor)
        self.detector = detector
        pre = model.data_preprocessor
        self.flip_channels = bool(pre._channel_conversion)
        self.normalize = bool(pre._enable_normalize)
        if self.normalize:
            self.register_buffer('mean', pre.mean.detach().clone(), persistent=False)
            self.register_buffer('std', pre.std.detach().clone(), persistent=False)
        self.size_divisor = int(pre.pad_size_divisor)
        self.pad_value = float(pre.pad_value)
        self.level_names = HEAD_OUTPUT_NAMES.get(type(detector.bbox_head).__name__)

    @property
    def num_levels(self) -> int:
        return len(self.detector.bbox_head.prior_generator.strides)

    def output_names(self, num_outputs: int) -> List[str]:
        """Names of the ``num_outputs`` flattened outputs, ``<name>_<level>``."""
        groups = num_outputs // self.num_levels
        names = self.level_names or [f'output{i}' for i in range(groups)]
        return [f'{names[g]}_{level}' for g in range(groups) for level in range(self.num_levels)]

    def forward(self, packed_raw: torch.Tensor):
        rendered = self.isp(packed_raw)
        x = rendered[0] if isinstance(rendered, tuple) else rendered
        x = x * DETECTOR_PIXEL_SCALE
        if self.flip_channels:
            x = x[:, [2, 1, 0]]
        if self.normalize:
            x = (x - self.mean) / self.std
        if self.size_divisor > 1:
            height, width = x.shape[-2:]
            x = F.pad(x, (0, (self.size_divisor - width % self.size_divisor) % self.size_divisor,
                          0, (self.size_divisor - height % self.size_divisor) % self.size_divisor),
                      value=self.pad_value)
        groups = self.detector._forward(x)
        return tuple(t for group in groups for t in group)


def export_onnx(module: nn.Module, example: torch.Tensor, path: str,
                output_names: Sequence[str], opset: int = 17) -> None:
    """``module`` as ONNX (TorchScript-based exporter), batch, height and width dynamic."""
    dims = {0: 'batch', 2: 'height', 3: 'width'}
    with torch.no_grad():
        torch.onnx.export(module, (example,), path, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=list(output_names),
                          dynamic_axes={INPUT_NAME: dims,
                                        **{name: {0: 'batch'} for name in output_names}})


def export_torchscript(module: nn.Module, example: torch.Tensor, path: str) -> None:
    """``module`` traced to TorchScript (any batch, height and width: nothing in these
    wrappers depends on the example's shape)."""
    with torch.no_grad():
        traced = torch.jit.trace(module, (example,), check_trace=False)
    traced.save(path)


def decode_head_outputs(model, outputs: Sequence, image_shape: Tuple[int, int],
                        frame_shape: Optional[Tuple[int, int]] = None) -> list:
    """MMDetection's detections from the outputs of an exported :class:`ExportableDetector`
    (arrays or tensors, in its output order) for a batch of packed images of ``image_shape``
    ``(H, W)``: the head's own ``predict_by_feat`` (box decoding, score threshold, NMS, as the
    config's ``test_cfg``). Boxes are in the input's pixels, or scaled to ``frame_shape``
    ``(H0, W0)`` (e.g. the packed image before it was resized). One mmdet ``InstanceData`` per
    image."""
    outputs = [torch.as_tensor(o) for o in outputs]
    levels = len(model.detector.bbox_head.prior_generator.strides)
    groups = [outputs[i:i + levels] for i in range(0, len(outputs), levels)]
    height, width = image_shape
    frame_h, frame_w = frame_shape or image_shape
    metas = [dict(img_shape=(height, width), ori_shape=(frame_h, frame_w),
                  scale_factor=(width / frame_w, height / frame_h))
             for _ in range(groups[0][0].shape[0])]
    with torch.no_grad():
        return model.detector.bbox_head.predict_by_feat(*groups, batch_img_metas=metas,
                                                        rescale=frame_shape is not None)
