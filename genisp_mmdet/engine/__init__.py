"""Runner glue: trainable-only optimizer, safe checkpoint loading, hooks, launch helpers."""
from .calibration import HeldOutCalibrationHook
from .checkpoint import allow_mmengine_checkpoints
from .hooks import BadFilesHook, ISPSyncCheckHook, ISPWatchHook, RawDetVisualizationHook, render_for_display, to_uint8_image
from .optimizer import TrainableParamsOptimWrapperConstructor
from .warm_start import WarmStartISPHook, warm_start_isp

__all__ = ['BadFilesHook', 'HeldOutCalibrationHook', 'ISPWatchHook', 'WarmStartISPHook', 'warm_start_isp', 'ISPSyncCheckHook', 'RawDetVisualizationHook', 'render_for_display', 'to_uint8_image', 'allow_mmengine_checkpoints', 'TrainableParamsOptimWrapperConstructor']
