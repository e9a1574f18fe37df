"""Registered datasets, metric and transforms for COCO-format RAW datasets."""
from .coco_ids import *  # noqa: F401,F403
from .raw_coco import *  # noqa: F401,F403
from . import transforms  # noqa: F401  (registers the RAW loading / box-alignment transforms)
