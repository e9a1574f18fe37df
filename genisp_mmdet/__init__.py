"""genisp-mmdet: GenISP, a neural ISP trained through a frozen MMDetection detector, for object
detection on dark camera RAW images from any sensor.

Importing this package registers its transforms, datasets, models, hooks, evaluator and
optimizer constructor in MMDetection's registries (configs do it with
``custom_imports = dict(imports=['genisp_mmdet'], allow_failed_imports=False)``), and
allow-lists the non-tensor types of mmengine checkpoints for torch's weights-only loading.

Without MMDetection installed only the RAW reader and packing (``genisp_mmdet.raw``: rawpy +
NumPy) are available, which is what a deployment running an exported ISP needs
(README, "Use a trained model").
"""
from importlib.util import find_spec

__version__ = '0.1.0'

if find_spec('mmdet') is not None:
    from . import apis, color, datasets, engine, evaluation, models  # noqa: F401  (registers)
    from .engine import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()
