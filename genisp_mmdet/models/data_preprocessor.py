"""Data preprocessor that turns batches of packed RAW images into detector inputs through GenISP."""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from mmengine.utils import is_seq_of

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS

#: The ISP renders images in [0, 1]; detectors were trained on 8-bit images.
DETECTOR_PIXEL_SCALE = 255.0


@MODELS.register_module()
class RawDetDataPreprocessor(DetDataPreprocessor):
    """Collates packed RAW images, renders them with a learnable ISP, and prepares them for a
    frozen detector exactly as that detector's own preprocessor prepared its training images.

    Steps (all inside the model's train/val/test step, so AMP autocast and DDP cover them):

    1. move the float inputs (``(3, H, W)`` each, linear XYZ or camera RGB, ~[0, 1]; no uint8
       or BGR assumption) to the device;
    2. run the ISP on every image at its own size (one batched call when all sizes agree),
       so padding never leaks into the ISP's statistics;
    3. scale the ISP's [0, 1] RGB to 0-255, reorder to the detector's channel order, normalise
       with the detector's mean/std, pad to its size divisor (then batch augments, if any).

    Args:
        isp: config of the ISP module (e.g. ``dict(type='GenISP')``); ``None`` feeds the input
            through unchanged (for baselines that render RGB in the data pipeline).
        detector_channel_order: ``'rgb'`` or ``'bgr'`` - what the detector was trained on.
            :class:`FrozenDetector` derives it from the detector's own preprocessor config.
        input_scale: multiplier applied to the inputs before the ISP (1 for packed RAW).
        **kwargs: :class:`DetDataPreprocessor` arguments (``mean``, ``std``,
            ``pad_size_divisor``, ``batch_augments``...). ``bgr_to_rgb``/``rgb_to_bgr`` are
            not accepted: say ``detector_channel_order`` instead.
    """

    def __init__(self, isp: Optional[dict] = None, detector_channel_order: str = 'rgb',
                 input_scale: float = 1.0, **kwargs):
        for flag in ('bgr_to_rgb', 'rgb_to_bgr'):
            if kwargs.pop(flag, False):
                raise ValueError(f'RawDetDataPreprocessor: `{flag}` is ambiguous for RAW input; '
                                 "set detector_channel_order='rgb' or 'bgr' instead")
        if detector_channel_order not in ('rgb', 'bgr'):
            raise ValueError("detector_channel_order must be 'rgb' or 'bgr', "
                             f'got {detector_channel_order!r}')
        # The ISP renders RGB; flipping RGB->BGR is the same index permutation as BGR->RGB.
        super().__init__(bgr_to_rgb=detector_channel_order == 'bgr', **kwargs)
        self.detector_channel_order = detector_channel_order
        self.input_scale = input_scale
        self.isp = MODELS.build(isp) if isp is not None else None

    def render(self, images: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """ISP over a list of ``(3, H, W)`` images -> list of ``(3, H, W)`` RGB in ~[0, 1]."""
        images = [img.float() * self.input_scale for img in images]
        if self.isp is None:
            return images
        if all(img.shape == images[0].shape for img in images):
            return list(self.isp(torch.stack(images)).unbind(0))
        return [self.isp(img[None])[0] for img in images]

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs.unbind(0))
        elif not is_seq_of(inputs, torch.Tensor):
            raise TypeError('RawDetDataPreprocessor expects a tensor or a list of tensors as '
                            f"'inputs', got {type(inputs)}")
        for img in inputs:
            if img.dim() != 3 or img.shape[0] != 3:
                raise ValueError('RawDetDataPreprocessor expects (3, H, W) packed RAW images, '
                                 f'got shape {tuple(img.shape)}')
            if not img.is_floating_point():
                raise TypeError('RawDetDataPreprocessor expects float packed RAW images '
                                f'(LoadRawImageFromFile), got {img.dtype}')
        data['inputs'] = [img * DETECTOR_PIXEL_SCALE for img in self.render(inputs)]
        return super().forward(data, training)

    def recover_isp_output(self, batch_inputs: torch.Tensor,
                           data_samples: Optional[list] = None) -> List[torch.Tensor]:
        """Inverse of step 3: normalised, padded detector inputs ``(B, 3, Hp, Wp)`` -> list of
        ``(3, H, W)`` ISP outputs (RGB, ~[0, 1]) cropped to each sample's ``img_shape``.
        Differentiable; used for colour losses and visualisation."""
        x = batch_inputs
        if self._enable_normalize:
            x = x * self.std + self.mean
        if self._channel_conversion:
            x = x[:, [2, 1, 0]]
        x = x / DETECTOR_PIXEL_SCALE
        if data_samples is None:
            return list(x.unbind(0))
        return [img[:, :s.img_shape[0], :s.img_shape[1]] for img, s in zip(x, data_samples)]
