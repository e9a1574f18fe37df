"""Shared test fixtures. Real data lives in ../shared (read-only); tests that need it skip with
a clear reason when it is absent (a user's fresh clone has none)."""
import os
from pathlib import Path

import pytest
from mmdet.utils import register_all_modules

import genisp_mmdet  # noqa: F401  (registers the plugin's modules)

register_all_modules(init_default_scope=True)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get('GENISP_SHARED_DIR', REPO_ROOT.parent / 'shared'))


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the calling test when it is not there."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'real test data not available: {path} is absent '
                    '(set GENISP_SHARED_DIR to the shared data folder to run this test)')
    return path


@pytest.fixture
def shared():
    """``shared('raw-samples', 'x.dng')`` -> Path, skipping when ../shared lacks it."""
    return shared_path
