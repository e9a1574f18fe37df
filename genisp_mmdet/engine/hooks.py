"""Runner hooks: visualisation of detections on what the ISP renders (MMDetection's hook reads
image files, which for RAW input means nothing it can decode), a check that distributed ranks
train the same ISP, and CPU memory reuse."""
from __future__ import annotations

import contextlib
import os
import os.path as osp
from typing import List, Sequence

import mmcv
import numpy as np
import torch
from mmengine.dist import all_gather, get_world_size
from mmengine.fileio import join_path
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist

from mmdet.engine.hooks import DetVisualizationHook
from mmdet.registry import HOOKS
from mmdet.structures import DetDataSample

from ..datasets.bad_files import (BAD_FILES_ENV, DECODING_ENV, TooManyBadFilesError,
                                  read_bad_files)
from ..visualization import to_uint8_image
from .allocator import ENV_SWITCH, keep_freed_memory


@torch.no_grad()
def render_for_display(model, inputs: Sequence[torch.Tensor],
                       data_samples: Sequence[DetDataSample]) -> List[np.ndarray]:
    """Run the model's ISP (its data preprocessor's ``render``) on raw batch inputs and return
    uint8 RGB images at each sample's ``ori_shape``, the frame predictions are rescaled to."""
    if is_model_wrapper(model):
        model = model.module
    preprocessor = model.data_preprocessor
    device = next(preprocessor.parameters(), torch.empty(0)).device
    rendered = preprocessor.render([img.to(device) for img in inputs])
    images = []
    for img, sample in zip(rendered, data_samples):
        image = to_uint8_image(img)
        h, w = sample.ori_shape[:2]
        if image.shape[:2] != (h, w):
            image = mmcv.imresize(image, (w, h), interpolation='bilinear')
        images.append(image)
    return images


@HOOKS.register_module()
class RawDetVisualizationHook(DetVisualizationHook):
    """:class:`DetVisualizationHook` that draws on the ISP's output instead of reading
    ``img_path``. ``tools/test.py --show-dir DIR`` turns it on; images are written as
    ``<work_dir>/<timestamp>/DIR/<raw file stem>.png``."""

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[DetDataSample]) -> None:
        if self.draw is False:
            return
        total_curr_iter = runner.iter + batch_idx
        if total_curr_iter % self.interval != 0:
            return
        image = render_for_display(runner.model, data_batch['inputs'][:1], outputs[:1])[0]
        self._visualizer.add_datasample(
            osp.basename(outputs[0].img_path) if self.show else 'val_img', image,
            data_sample=outputs[0], show=self.show, wait_time=self.wait_time,
            pred_score_thr=self.score_thr, step=total_curr_iter)

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[DetDataSample]) -> None:
        if self.draw is False:
            return
        out_dir = None
        if self.test_out_dir is not None:
            out_dir = join_path(runner.work_dir, runner.timestamp, self.test_out_dir)
            mkdir_or_exist(out_dir)
        images = render_for_display(runner.model, data_batch['inputs'], outputs)
        for image, data_sample in zip(images, outputs):
            self._test_index += 1
            stem = osp.splitext(osp.basename(data_sample.img_path))[0]
            out_file = osp.join(out_dir, f'{stem}.png') if out_dir else None
            self._visualizer.add_datasample(
                stem if self.show else 'test_img', image, data_sample=data_sample,
                show=self.show, wait_time=self.wait_time, pred_score_thr=self.score_thr,
                out_file=out_file, step=self._test_index)


@HOOKS.register_module()
class ISPSyncCheckHook(Hook):
    """In distributed training, checks after every epoch that the learnable ISP parameters
    are identical on every rank, and raises if they are not.

    The ISP lives in the data preprocessor, which MMEngine's DDP wrapper calls outside
    ``DistributedDataParallel.forward``; its gradients are still all-reduced (they are
    parameters of the wrapped module), but a silent divergence would make every rank train a
    different ISP, so it is worth one all-gather of a checksum per epoch."""

    def after_train_epoch(self, runner: Runner) -> None:
        world_size = get_world_size()
        if world_size < 2:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        params = [p.detach().double().flatten() for p in model.parameters() if p.requires_grad]
        if not params:
            return
        flat = torch.cat(params)
        weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64, device=flat.device)
        checksum = torch.stack([flat.sum(), (flat * weights).sum() / flat.numel()])
        gathered = all_gather(checksum)
        if any(not torch.equal(g, gathered[0]) for g in gathered[1:]):
            raise RuntimeError(
                'ISP parameters differ across ranks after epoch '
                f'{runner.epoch}: {[g.tolist() for g in gathered]}')
        runner.logger.info(f'ISPSyncCheckHook: ISP parameters identical on {world_size} ranks '
                           f'(checksum {checksum.tolist()})')


@HOOKS.register_module()
class KeepFreedMemoryHook(Hook):
    """When the model trains on CPU, tells glibc to keep freed memory for reuse
    (:func:`genisp_mmdet.engine.allocator.keep_freed_memory`), as PyTorch's caching allocator
    does on a GPU: measured 18-22 % faster steps at 1333x800 (docs/benchmarks.md), at the
    price of the process keeping its peak memory. ``GENISP_KEEP_FREED_MEMORY=0`` opts out.

    A hook rather than a line in ``tools/train.py`` so that every runner built from a GenISP
    config gets it (MMDetection's own ``tools/train.py``, ``mim train``). It runs before the
    first iteration, so the dataloader workers forked then inherit the setting."""

    priority = 'VERY_HIGH'

    def before_run(self, runner: Runner) -> None:
        param = next(runner.model.parameters(), None)
        if param is None or param.device.type != 'cpu':
            return
        if keep_freed_memory():
            runner.logger.info('CPU training: glibc keeps freed memory for reuse (set '
                               f'{ENV_SWITCH}=0 to keep its defaults)')


@HOOKS.register_module()
class BadFilesHook(Hook):
    """Keeps the record of unreadable training files (``on_error='skip'`` in the loading
    transform), reports it, and stops a run whose data is too broken to trust.

    Before the run it names ``<work_dir>/bad_files.jsonl`` in the environment (DataLoader
    workers, forked later, append to it; see :mod:`genisp_mmdet.datasets.bad_files`). Every
    ``interval`` iterations and after each epoch it counts the distinct files in it: new ones
    are logged with their reasons, the epoch's log line gets ``bad_files``, and when more than
    ``max_bad_fraction`` of the training set is unreadable the run stops with an error naming
    the record - skipping is for the odd corrupt file, not for a wrong path or a broken disk.
    It also names ``<work_dir>/.decoding/`` where each loading process notes the file it is
    decoding, so ``tools/train.py`` can name the file a DataLoader worker died on.

    Args:
        max_bad_fraction: largest tolerated share of unreadable training files (default 1 %).
        interval: iterations between checks within an epoch.
    """

    priority = 'NORMAL'

    def __init__(self, max_bad_fraction: float = 0.01, interval: int = 50):
        if not 0.0 <= max_bad_fraction < 1.0:
            raise ValueError(f'max_bad_fraction must be in [0, 1), got {max_bad_fraction}')
        self.max_bad_fraction, self.interval = max_bad_fraction, interval
        self.record: str | None = None
        self.reported: set = set()

    def before_run(self, runner) -> None:
        self.record = osp.join(runner.work_dir, 'bad_files.jsonl')
        if not runner._resume:  # a fresh run in a reused work dir starts a fresh record
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.record)
        os.environ[BAD_FILES_ENV] = self.record
        decoding = osp.join(runner.work_dir, '.decoding')
        os.makedirs(decoding, exist_ok=True)
        os.environ[DECODING_ENV] = decoding

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._check(runner)

    def after_train_epoch(self, runner) -> None:
        count = self._check(runner)
        runner.message_hub.update_scalar('train/bad_files', count)

    def _check(self, runner) -> int:
        bad = read_bad_files(self.record)
        for path in sorted(set(bad) - self.reported):
            runner.logger.warning(f'BadFilesHook: unreadable training file skipped: {path} '
                                  f'({bad[path]})')
        self.reported |= set(bad)
        total = len(runner.train_dataloader.dataset)
        if bad and len(bad) > self.max_bad_fraction * total:
            raise TooManyBadFilesError(
                f'{len(bad)} of {total} training files are unreadable (more than '
                f'{self.max_bad_fraction:.1%}; list with reasons in {self.record}): check the '
                "data before training on it, or raise BadFilesHook's max_bad_fraction")
        return len(bad)


@HOOKS.register_module()
class ISPWatchHook(Hook):
    """Watches GenISP while it trains: its parameters' range, saturation and finite losses.

    Every ``interval`` iterations it runs GenISP's parameter nets (not the ConvNet: cheap) on
    the batch just trained and logs ConvWB's gains and ConvCC's matrix entries: min, max and
    the share at their bounds (within 2 % of ``max_gain`` in log space, or of
    ``max_matrix_delta`` from the identity); the first time more than ``saturation_warning``
    of them sit at a bound it warns once - a rate too high for the data drives the soft
    bounds into saturation, where their gradient vanishes. After every iteration a non-finite
    loss stops the run with an error naming the batch's files (a run that went on would save
    non-finite weights).

    Args:
        interval: iterations between logged statistics.
        saturation_warning: share of parameters at a bound that triggers the warning.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50, saturation_warning: float = 0.5):
        self.interval, self.saturation_warning = interval, saturation_warning
        self.warned = False

    @staticmethod
    def _isp(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        isp = getattr(model.data_preprocessor, 'isp', None)
        return isp if hasattr(isp, 'predict_params') else None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        bad = [k for k, v in (outputs or {}).items()
               if not torch.isfinite(torch.as_tensor(v, dtype=torch.float64)).all()]
        if bad:
            files = [s.metainfo.get('img_path') for s in (data_batch or {}).get('data_samples', [])]
            raise FloatingPointError(
                f'non-finite {", ".join(bad)} at iteration {runner.iter + 1}; the batch: '
                f'{files}. Check these files (tools/browse_dataset.py) and the learning rate')
        isp = self._isp(runner)
        if isp is None or not data_batch or not self.every_n_train_iters(runner, self.interval):
            return
        stats = self.param_stats(isp, data_batch['inputs'])
        for name, value in stats.items():
            runner.message_hub.update_scalar(f'train/isp_{name}', value)
        at_bound = max(stats.get('gain_at_bound', 0.0), stats.get('matrix_at_bound', 0.0))
        if at_bound > self.saturation_warning and not self.warned:
            self.warned = True
            runner.logger.warning(
                f'ISPWatchHook: {at_bound:.0%} of GenISP\'s parameters sit at their bounds at '
                f'iteration {runner.iter + 1} ({stats}); their gradient vanishes there - lower '
                'the learning rate or raise max_gain / max_matrix_delta')

    @staticmethod
    @torch.no_grad()
    def param_stats(isp, inputs) -> dict:
        """min / max / share at the bound of the gains and of the matrix entries over
        ``inputs`` (a list of ``(3, H, W)`` packed images, each run at its own size)."""
        device = next(isp.parameters()).device
        gains, matrices = zip(*(isp.predict_params(x.to(device).float()[None])
                                for x in inputs))
        gains, matrices = torch.cat(gains), torch.cat(matrices)
        out = {}
        if isp.use_wb:
            bound = isp.conv_wb.max_log_gain
            out.update(gain_min=float(gains.min()), gain_max=float(gains.max()),
                       gain_at_bound=float((gains.log().abs() > 0.98 * bound).float().mean()))
        if isp.use_cc:
            delta = matrices - torch.eye(3, device=matrices.device)
            bound = isp.conv_cc.max_matrix_delta
            out.update(matrix_min=float(matrices.min()), matrix_max=float(matrices.max()),
                       matrix_at_bound=float((delta.abs() > 0.98 * bound).float().mean()))
        return out
