"""Command-line glue shared by tools/train.py and tools/test.py: config loading with clear
errors, CPU (gloo) distributed launch, AMP switching."""
from __future__ import annotations

import argparse
import logging
import os
import os.path as osp
import sys
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope


class ConfigError(RuntimeError):
    """A config file that cannot be used; the message names the file and the problem."""


def load_config(path: str, cfg_options: Optional[dict] = None,
                require_model: bool = True) -> Config:
    """``Config.fromfile`` + ``--cfg-options``, turning mmengine's deep errors into one line
    that names the file (a command-line boundary: whatever mmengine raises for a broken
    config - SyntaxError, KeyError, ImportError of custom_imports ... - is the user's config,
    so it becomes a :class:`ConfigError` with the cause chained). ``require_model=False`` for
    configs without a model (a dataset config)."""
    if not osp.isfile(path):
        raise ConfigError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except Exception as exc:  # mmengine raises many types (SyntaxError, KeyError, ...)
        raise ConfigError(f'cannot load config {path}: {type(exc).__name__}: {exc}') from exc
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except Exception as exc:
            raise ConfigError(f'cannot apply --cfg-options to {path}: {exc}') from exc
    if require_model and 'model' not in cfg:
        raise ConfigError(f'config {path} defines no `model`')
    return cfg


def set_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """CLI > config > ./work_dirs/<config name>, as in MMDetection."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mmengine's AmpOptimWrapper (dynamic loss scale)."""
    if not torch.cuda.is_available():
        raise ConfigError('--amp needs a CUDA GPU (mmengine\'s AmpOptimWrapper uses '
                          'torch.cuda.amp); none is available on this machine')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work on machines without a GPU.

    mmengine 0.10.7's launcher calls ``torch.cuda.set_device`` unconditionally and wraps the
    model with ``device_ids=[LOCAL_RANK]``; both fail on CPU. Initialising the gloo process
    group here (the runner then skips its own init) and asking for ``device_ids=None`` keeps
    the standard runner in charge of everything else."""
    if torch.cuda.is_available() or cfg.get('launcher', 'none') != 'pytorch':
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


@contextmanager
def distributed_session(cfg: Config) -> Iterator[None]:
    """Runs the body in the job's process group; after it succeeds, tears the group down and
    ends the process. Use it as the last statement of a tool's ``main``.

    Sets up gloo on CPU-only machines (:func:`setup_cpu_distributed`) before the body builds
    the runner. After a successful body of a distributed job it destroys the process group
    (ours or the runner's) and exits with status 0 without the interpreter's native teardown
    (:func:`exit_now`): a rank could abort there with SIGABRT ("terminate called without an
    active exception"), after the work was done and saved - with the group destroyed first,
    still 6 of 30 two-rank CPU runs of the test suite's torchrun job; with the teardown
    skipped, none of 80. After an error the group is left alone, as destroying it while other
    ranks still wait in a collective can hang (torchtitan#1342)."""
    setup_cpu_distributed(cfg)
    yield
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        exit_now(0)


def exit_now(code: int = 0) -> None:
    """Flush the logs and standard streams, then end the process with ``code`` at once,
    skipping atexit handlers and C++ static destructors (where the SIGABRT above comes from).
    Only for the end of a tool whose work is complete."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def fail(message: str, code: int = 2) -> None:
    """Print one clear line to stderr and exit (no traceback for user errors)."""
    print(f'error: {message}', file=sys.stderr)
    sys.exit(code)


def load_tool_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """:func:`load_config` for a command-line tool that builds models itself (no runner): a
    config error ends it with one line, and registry names resolve in the config's scope."""
    try:
        cfg = load_config(path, cfg_options)
    except ConfigError as exc:
        fail(str(exc))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def parse_runner_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Adds the options tools/train.py and tools/test.py share with MMDetection's tools
    (``--cfg-options``, ``--launcher``, ``--local-rank``), parses ``argv`` and exports
    ``LOCAL_RANK`` for launchers that pass it as an argument."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def prepare_config(args: argparse.Namespace) -> Config:
    """Config of ``args.config`` with ``--cfg-options``, the launcher and the work dir set."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    return cfg
