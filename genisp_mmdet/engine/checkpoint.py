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


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model built from the config."""


def load_model_state(path: str, isp_only: bool = False) -> tuple[dict, dict | None]:
    """The state dict of a run's checkpoint (``module.`` prefixes of DDP runs dropped; with
    ``isp_only`` just the ISP's weights, ``data_preprocessor.*``) and its ``meta``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointMismatchError: ``isp_only`` and the file holds no ISP weights.
    """
    import os.path as osp

    from mmengine.runner.checkpoint import _load_checkpoint
    if '://' not in path and not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    checkpoint = _load_checkpoint(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    if isp_only:
        state = {k: v for k, v in state.items() if k.startswith('data_preprocessor.')}
        if not state:
            raise CheckpointMismatchError(f'{path} holds no ISP weights (data_preprocessor.*)')
    return state, checkpoint.get('meta')


def check_state_fits(model: torch.nn.Module, state: dict, path: str) -> bool:
    """Refuses weights that would leave part of a GenISP model untrained without a word.

    A run's checkpoint holds the ISP (``data_preprocessor.*``) and the frozen detector
    (``detector.*``); an ISP-only state dict is accepted too (the detector then comes from the
    config's ``detector_checkpoint``). Anything else - a bare detector checkpoint
    (``backbone.*``), or weights of another ISP or detector - is an error naming the file and
    a few of the keys, where loading with ``strict=False`` would keep random weights and
    score zero AP.

    Returns:
        Whether ``state`` includes the detector's weights.

    Raises:
        CheckpointMismatchError: missing or unexpected keys.
    """
    has_detector = any(k.startswith('detector.') for k in state)
    required = ('data_preprocessor.', 'detector.') if has_detector else ('data_preprocessor.',)
    expected = model.state_dict().keys()
    missing = [k for k in expected if k.startswith(required) and k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        hint = ''
        if any(k.startswith(('backbone.', 'bbox_head.')) for k in unexpected):
            hint = (" It looks like a bare detector's checkpoint: set it as the config's "
                    'model.detector_checkpoint instead.')
        raise CheckpointMismatchError(
            f"{path} does not fit the config's model: {len(missing)} missing keys "
            f'{missing[:4]}, {len(unexpected)} unexpected keys {unexpected[:4]} (was it '
            f'trained with this config?).{hint}')
    return has_detector


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file: its zip archive opens and every member
    passes its CRC check (a run killed while saving leaves a truncated file that fails it)."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def find_resumable_checkpoint(work_dir: str) -> tuple[str | None, list[str]]:
    """The checkpoint a ``--resume`` of ``work_dir`` should continue from, and the newer ones
    it had to pass over.

    mmengine resumes from the file named in ``work_dir/last_checkpoint``; a run killed at the
    wrong moment leaves that name pointing at a truncated file (killed while saving) or at one
    already deleted (``max_keep_ckpts`` removes old checkpoints before the name is updated).
    Candidates are that file, then every ``*.pth`` of the work dir from the newest; the first
    complete one (:func:`is_complete_checkpoint`) wins.

    Returns:
        ``(path or None, skipped)``: ``skipped`` lists the candidates that were incomplete or
        missing, newest first.
    """
    import glob
    import os
    import os.path as osp
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named:
            candidates.append(named if osp.isabs(named) else osp.join(work_dir, named))
    candidates += sorted(glob.glob(osp.join(work_dir, '*.pth')), key=os.path.getmtime,
                         reverse=True)
    skipped, seen = [], set()
    for path in candidates:
        key = osp.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        if osp.isfile(path) and is_complete_checkpoint(path):
            return path, skipped
        skipped.append(path)
    return None, skipped
