"""Registered mmcv transforms for RAW detection: RAW / cached loading, as-shot white balance and box alignment."""
from .annotations import AlignRawAnnotations, EmptyBoxWarning, annotated_to_visible
from .conventional_isp import LoadLibRawRenderedImage
from .loading import (RAW_META_KEYS, LoadNumpyImageFromFile, LoadPackedRawFromFile,
                      LoadRawImageFromFile)
from .white_balance import AsShotWhiteBalance

__all__ = [
    'LoadLibRawRenderedImage', 'AsShotWhiteBalance',
    'LoadRawImageFromFile', 'LoadPackedRawFromFile', 'LoadNumpyImageFromFile',
    'AlignRawAnnotations', 'RAW_META_KEYS',
    'EmptyBoxWarning', 'annotated_to_visible'
]
