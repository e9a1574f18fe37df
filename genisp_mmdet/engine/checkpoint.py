"""Let mmengine resume from its own checkpoints with torch's weights-only loading kept on.

torch >= 2.6 loads checkpoints with ``weights_only=True``; mmengine 0.10.7's checkpoints hold
a few non-tensor objects (its MessageHub's ``HistoryBuffer``, the NumPy arrays and scalars
inside it, and references to ``HistoryBuffer``'s statistics methods, which pickle as
``getattr(HistoryBuffer, 'min')``), so ``--resume`` fails with ``UnpicklingError: Weights only
load failed``. We allow-list exactly those: the types, and - instead of the builtin
``getattr``, which would hand a checkpoint arbitrary attribute access - a ``getattr`` that only
resolves ``HistoryBuffer``'s registered statistics methods. ``weights_only`` is never switched
off: a checkpoint from the internet must not be able to run code.
"""
from __future__ import annotations

import pickle

import numpy as np
import torch


def _numpy_checkpoint_types() -> list:
    """The NumPy callables/types a pickled ndarray or NumPy scalar refers to."""
    try:  # NumPy >= 2 moved the implementation to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(name)) for name in
                     ('float64', 'float32', 'float16', 'int64', 'int32', 'bool')]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def history_buffer_method(owner, name: str):
    """Stands in for ``getattr`` while unpickling: resolves only ``HistoryBuffer.<statistics
    method>`` (what mmengine checkpoints reference) and refuses everything else."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if owner is HistoryBuffer and isinstance(name, str) and \
            name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({getattr(owner, "__name__", type(owner).__name__)}, '
        f'{name!r}); only HistoryBuffer statistics methods are allowed')


def mmengine_checkpoint_types() -> list:
    """Every non-tensor global found in an mmengine 0.10.7 training checkpoint; ``getattr``
    is mapped to :func:`history_buffer_method` (pickle protocol 2 names it ``__builtin__``)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer()  # registers the default statistics methods (done in its __init__)
    return [HistoryBuffer, *_numpy_checkpoint_types(),
            (history_buffer_method, '__builtin__.getattr'),
            (history_buffer_method, 'builtins.getattr')]


def allow_mmengine_checkpoints() -> None:
    """Register :func:`mmengine_checkpoint_types` with ``torch.serialization.add_safe_globals``
    (idempotent; a no-op on torch without weights-only loading)."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(mmengine_checkpoint_types())
