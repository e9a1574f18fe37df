"""The record of RAW files a training run could not read (``on_error='skip'``).

Loading runs in DataLoader worker processes, so the record is a JSON-lines file that every
process appends to (one short ``write`` per file: appends of a few hundred bytes are not
interleaved on local file systems): :class:`~genisp_mmdet.engine.BadFilesHook` names it in
the environment before the workers start, and reads it to report and to enforce the run's
limit. Without the hook (a loader used outside a runner), skipped files are only logged.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from typing import Dict, List, Optional

from mmengine.logging import print_log

#: environment variable naming the run's bad-file record (set by BadFilesHook)
BAD_FILES_ENV = 'GENISP_BAD_FILES'
#: environment variable naming the folder where each loading process notes the file it is
#: decoding (set by BadFilesHook), so a worker killed inside LibRaw can be named afterwards
DECODING_ENV = 'GENISP_DECODING_DIR'

_reported: set = set()


class TooManyBadFilesError(RuntimeError):
    """More of the training set is unreadable than the run tolerates (BadFilesHook)."""


def record_bad_file(path: str, error: BaseException) -> None:
    """Logs a file that could not be read (once per file and process) and appends it to the
    run's record when there is one."""
    reason = f'{type(error).__name__}: {getattr(error, "reason", None) or error}'
    if path not in _reported:
        _reported.add(path)
        print_log(f'skipped an unreadable file: {path} ({reason})', logger='current',
                  level=logging.WARNING)
    record = os.environ.get(BAD_FILES_ENV)
    if record:
        line = json.dumps(dict(file=path, error=type(error).__name__, reason=reason)) + '\n'
        fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def read_bad_files(record: str) -> Dict[str, str]:
    """``{file: reason}`` of a record (a line cut short by a killed process is ignored)."""
    out: Dict[str, str] = {}
    if not os.path.isfile(record):
        return out
    with open(record) as f:
        for line in f:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            out.setdefault(entry['file'], entry['reason'])
    return out


def check_on_error(on_error: str, options=('raise', 'skip')) -> str:
    if on_error not in options:
        raise ValueError(f'on_error must be one of {options}, got {on_error!r}')
    return on_error


def skip_or_raise(on_error: str, path: Optional[str], error: BaseException):
    """``None`` (the dataset then draws another sample) after recording ``path`` when
    ``on_error == 'skip'``; otherwise re-raises ``error``."""
    if on_error != 'skip':
        raise error
    record_bad_file(str(path), error)
    return None


@contextlib.contextmanager
def decoding(path: str):
    """Notes ``path`` as what this process is decoding while the block runs (one small file
    per process in the run's :data:`DECODING_ENV` folder, removed when the block ends): after
    a crash inside the decoder the note remains and :func:`files_being_decoded` names it."""
    folder = os.environ.get(DECODING_ENV)
    if not folder:
        yield
        return
    note = os.path.join(folder, str(os.getpid()))
    try:
        fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, os.fsencode(path))
        finally:
            os.close(fd)
    except OSError:
        note = None  # the note is a diagnosis aid; loading goes on without it
    try:
        yield
    finally:
        if note is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(note)


def files_being_decoded(error: BaseException) -> List[str]:
    """The files that the DataLoader workers named in ``error`` (PyTorch's "DataLoader worker
    (pid(s) 123, 456) exited unexpectedly" / "(pid 123) is killed by signal") were decoding
    when they died, from their :func:`decoding` notes; empty when there is none."""
    folder = os.environ.get(DECODING_ENV)
    match = re.search(r'DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\)', str(error))
    if not folder or match is None:
        return []
    files = []
    for pid in re.findall(r'\d+', match.group(1)):
        with contextlib.suppress(OSError):
            with open(os.path.join(folder, pid), 'rb') as f:
                files.append(os.fsdecode(f.read()))
    return files
