"""genisp-mmdet: GenISP, a neural ISP trained through a frozen MMDetection detector, for object
detection on dark camera RAW images from any sensor.

Importing this package registers its transforms, datasets, models, hooks, evaluator and
optimizer constructor in MMDetection's registries (configs do it with
``custom_imports = dict(imports=['genisp_mmdet'], allow_failed_imports=False)``), and
allow-lists the non-tensor types of mmengine checkpoints for torch's weights-only loading.
"""
from . import color, datasets, engine, evaluation, models  # noqa: F401  (registers modules)
from .engine import allow_mmengine_checkpoints

__version__ = '0.1.0'

allow_mmengine_checkpoints()
