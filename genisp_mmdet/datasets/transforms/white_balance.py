"""White balance from the file's own metadata, as a pipeline transform."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet.registry import TRANSFORMS

from ...color import as_shot_white_balance_matrix
from ...raw import RawReadError


@TRANSFORMS.register_module()
class AsShotWhiteBalance(BaseTransform):
    """Applies the camera's as-shot white balance to a loaded RAW image.

    GenISP's ConvWB estimates the scene's light from the image alone; every RAW file also
    records the multipliers the camera chose when it took the picture (its auto white
    balance, or the user's preset), which LibRaw's conventional ISP applies. This transform
    gives the learned ISP the same information: the scene's white is mapped to daylight
    white (:func:`~genisp_mmdet.color.as_shot_white_balance_matrix`), in whichever space
    the image was loaded (camera RGB or XYZ), and ConvWB then only corrects what is left.

    Place it after the loading transform (and, being linear, it may come after ``Resize``,
    where it costs least). Works on :class:`LoadRawImageFromFile` and
    :class:`LoadPackedRawFromFile` outputs alike.

    Required keys: ``img`` ``(H, W, 3)`` float32 linear, ``raw_meta`` (``camera_wb``,
    ``daylight_wb``, ``cam_to_xyz``, ``color_space``). Modified keys: ``img``; ``raw_meta``
    gains ``white_balance = 'as_shot'``.

    Raises:
        genisp_mmdet.raw.RawReadError: the file records no as-shot or daylight multipliers
            (the message names the file), or the image was white-balanced already.
    """

    def transform(self, results: dict) -> dict:
        meta = results['raw_meta']
        path = results.get('img_path', '<image>')
        if meta.get('white_balance') is not None:
            raise RawReadError(path, f'already white-balanced ({meta["white_balance"]}); '
                                     'AsShotWhiteBalance appears twice in the pipeline')
        if meta.get('camera_wb') is None or meta.get('daylight_wb') is None:
            raise RawReadError(path, 'no as-shot white balance in the file (camera_wb '
                                     f'{meta.get("camera_wb")}, daylight_wb '
                                     f'{meta.get("daylight_wb")}); drop AsShotWhiteBalance '
                                     'from the pipeline to let ConvWB estimate it')
        in_xyz = meta['color_space'] == 'xyz'
        matrix = as_shot_white_balance_matrix(meta['camera_wb'], meta['daylight_wb'],
                                              meta['cam_to_xyz'] if in_xyz else None)
        image = results['img']
        results['img'] = (image.reshape(-1, 3) @ matrix.T.astype(np.float32)).reshape(
            image.shape)
        results['raw_meta'] = dict(meta, white_balance='as_shot')
        return results
