"""Registered metrics."""
from .raw_coco_metric import RawCocoMetric

__all__ = ['RawCocoMetric']
