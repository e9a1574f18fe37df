"""Registered mmcv transforms for RAW detection: RAW / cached loading and box alignment."""
from .annotations import AlignRawAnnotations, EmptyBoxWarning, annotated_to_visible
from .conventional_isp import LoadLibRawRenderedImage
from .loading import RAW_META_KEYS, LoadPackedRawFromFile, LoadRawImageFromFile

__all__ = [
    'LoadLibRawRenderedImage',
    'LoadRawImageFromFile', 'LoadPackedRawFromFile', 'AlignRawAnnotations', 'RAW_META_KEYS',
    'EmptyBoxWarning', 'annotated_to_visible'
]
