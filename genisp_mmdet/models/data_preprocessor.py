"""Data preprocessor that turns batches of packed RAW images into detector inputs through GenISP."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

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
        if self.isp is None:
            return self._scaled(images)
        return [out['image'] for out in self._run_isp(lambda x: dict(image=self.isp(x)), images)]

    def render_with_params(self, images: Sequence[torch.Tensor]) -> List[Dict[str, torch.Tensor]]:
        """Like :meth:`render`, but one dict per image: ``image`` ``(3, H, W)`` and, for an ISP
        with ``forward_with_params`` (GenISP), its per-image parameters (``wb_gains`` ``(3,)``,
        ``cc_matrix`` ``(3, 3)``, ...) from the same call that rendered the image."""
        if self.isp is None:
            return [dict(image=img) for img in self._scaled(images)]
        run = getattr(self.isp, 'forward_with_params', None) or \
            (lambda x: dict(image=self.isp(x)))
        return self._run_isp(run, images)

    def _scaled(self, images: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        return [img.float() * self.input_scale for img in images]

    def _run_isp(self, run, images: Sequence[torch.Tensor]) -> List[Dict[str, torch.Tensor]]:
        """``run`` (batch -> dict of batched outputs) on every image at its own size, in one
        batched call when all sizes agree; returns one dict per image."""
        images = self._scaled(images)
        if all(img.shape == images[0].shape for img in images):
            groups = [torch.stack(images)]
        else:
            groups = [img[None] for img in images]
        outputs = []
        for group in groups:
            out = run(group)
            outputs += [{key: value[i] for key, value in out.items()}
                        for i in range(group.shape[0])]
        return outputs

    def check_inputs(self, inputs) -> List[torch.Tensor]:
        """The batch's packed RAW images as a list of float ``(3, H, W)`` tensors, or a clear
        error."""
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
        return inputs

    def detector_inputs(self, data: dict, rendered: Sequence[torch.Tensor],
                        training: bool = False) -> dict:
        """Step 3 on the ISP's ``rendered`` images (``data`` already cast to the device): the
        batch as the detector's own preprocessor would have prepared it."""
        data = dict(data, inputs=[img * DETECTOR_PIXEL_SCALE for img in rendered])
        return super().forward(data, training)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        return self.detector_inputs(data, self.render(self.check_inputs(data['inputs'])),
                                    training)

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
