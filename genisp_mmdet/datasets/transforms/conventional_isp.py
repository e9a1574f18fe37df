"""LibRaw's conventional ISP as a loading transform: the baseline GenISP has to beat."""
from __future__ import annotations

from typing import Optional

import mmcv
import numpy as np
import rawpy
from mmcv.transforms import BaseTransform

from mmdet.registry import TRANSFORMS

from ...raw import RawReadError, read_raw
from ..bad_files import check_on_error, skip_or_raise
from .loading import _fill_results


@TRANSFORMS.register_module()
class LoadLibRawRenderedImage(BaseTransform):
    """Renders a RAW file with LibRaw's conventional pipeline - camera (as-shot) white balance,
    demosaicing at half size, camera -> sRGB matrix, sRGB gamma and LibRaw's auto-brightness -
    at the packed resolution, so it is a drop-in replacement for
    :class:`LoadRawImageFromFile` in front of a detector (``isp=None`` in the preprocessor).

    Added keys: ``img`` ``(H/2, W/2, 3)`` float32 sRGB-encoded in [0, 1], ``img_shape``,
    ``ori_shape``, ``raw_meta`` (from :func:`~genisp_mmdet.raw.read_raw`, which also
    validates the file, with ``color_space='srgb'``), so boxes align exactly as for the
    packed image.

    Args:
        white_balance: ``'as_shot'`` (default; the multipliers the camera recorded),
            ``'auto'`` (LibRaw's grey-world estimate from the image itself) or ``'daylight'``
            (the camera's fixed D65 multipliers: no white balance for the scene's light).
        on_error: ``'raise'`` (default) or ``'skip'``, as for :class:`LoadRawImageFromFile`.
    """

    #: white_balance option -> LibRaw ``postprocess`` arguments
    WHITE_BALANCES = {'as_shot': dict(use_camera_wb=True, use_auto_wb=False),
                      'auto': dict(use_camera_wb=False, use_auto_wb=True),
                      'daylight': dict(use_camera_wb=False, use_auto_wb=False)}

    def __init__(self, white_balance: str = 'as_shot', on_error: str = 'raise'):
        if white_balance not in self.WHITE_BALANCES:
            raise ValueError(f'white_balance must be one of {tuple(self.WHITE_BALANCES)}, '
                             f'got {white_balance!r}')
        self.white_balance = white_balance
        self.on_error = check_on_error(on_error)

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return self._render(results)
        except RawReadError as error:
            return skip_or_raise(self.on_error, results.get('img_path'), error)

    def _render(self, results: dict) -> dict:
        path = results['img_path']
        packed = read_raw(path, color_space='camera')
        try:
            with rawpy.imread(path) as raw:
                rgb = raw.postprocess(half_size=True, no_auto_bright=False,
                                      **self.WHITE_BALANCES[self.white_balance],
                                      output_color=rawpy.ColorSpace.sRGB,
                                      output_bps=16)
        except (rawpy.LibRawError, OSError) as exc:  # read_raw accepted it: a LibRaw failure
            raise RawReadError(path, f'LibRaw could not render it ({exc})') from exc
        image = rgb.astype(np.float32) / 65535.0
        h, w = packed.image.shape[:2]
        if image.shape[:2] != (h, w):  # LibRaw's half-size frame can differ by a margin
            image = mmcv.imresize(image, (w, h), interpolation='area')
        meta = dict(packed.meta, color_space='srgb')
        return _fill_results(results, image, meta)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(white_balance={self.white_balance!r}, '
                f'on_error={self.on_error!r})')
