from .evaluator import ConcatDatasetEvaluator

__all__ = ['ConcatDatasetEvaluator']
