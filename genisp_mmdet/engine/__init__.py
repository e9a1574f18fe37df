"""Runner glue: trainable-only optimizer, safe checkpoint loading, hooks, launch helpers."""
from .checkpoint import allow_mmengine_checkpoints
from .hooks import ISPSyncCheckHook, RawDetVisualizationHook, render_for_display, to_uint8_image
from .optimizer import TrainableParamsOptimWrapperConstructor

__all__ = ['ISPSyncCheckHook', 'RawDetVisualizationHook', 'render_for_display', 'to_uint8_image', 'allow_mmengine_checkpoints', 'TrainableParamsOptimWrapperConstructor']
