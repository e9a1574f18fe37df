"""Scoring several test sets in one run: each subset of a ConcatDataset by its own metric."""
from __future__ import annotations

from typing import Sequence, Union

from mmdet.evaluation.evaluator import MultiDatasetsEvaluator
from mmdet.registry import EVALUATOR


@EVALUATOR.register_module()
class ConcatDatasetEvaluator(MultiDatasetsEvaluator):
    """MMDetection's :class:`MultiDatasetsEvaluator` (one metric per subset of an mmdet
    ``ConcatDataset``, results keyed ``<dataset_prefix>/<metric prefix>/<name>``), with each
    metric given its own subset's metainfo as soon as the runner sets it.

    The parent hands the subsets' metainfo to the metrics only when computing results;
    until then every metric sees the list of all of them. :class:`RawCocoMetric` needs its
    annotation file (``metainfo['ann_file']``) already while processing batches, to map
    predictions back into the annotated frame.

    Use with ``dict(type='ConcatDataset', datasets=[...])`` whose subsets differ in their
    metainfo (e.g. their ``ann_file``), and ``metrics`` listing one metric per subset in the
    same order.
    """

    @property
    def dataset_meta(self) -> Union[dict, Sequence[dict], None]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Union[dict, Sequence[dict]]) -> None:
        self._dataset_meta = dataset_meta
        if isinstance(dataset_meta, dict):
            per_metric = [dataset_meta] * len(self.metrics)
        else:
            if len(dataset_meta) != len(self.metrics):
                raise ValueError(f'{type(self).__name__}: {len(self.metrics)} metrics for '
                                 f'{len(dataset_meta)} datasets; give one metric per dataset')
            per_metric = dataset_meta
        for metric, meta in zip(self.metrics, per_metric):
            metric.dataset_meta = meta
