from .evaluator import ConcatDatasetEvaluator
from .metrics import RawCocoMetric

__all__ = ['ConcatDatasetEvaluator', 'RawCocoMetric']
