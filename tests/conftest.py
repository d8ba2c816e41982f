"""Shared fixtures: the real data folder (skip cleanly without it) and a tiny in-process encoder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("POLYALIGN_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}; set POLYALIGN_DATA_DIR to run data tests")
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    from polyalign.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny"))


# The training tests' tiny saved encoder and 48-group corpus (module-scoped: each module gets its own
# copy, so one module's writes never reach another's). test_faults.py overrides `corpus` with its own.
@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from _train_fixtures import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus") / "c")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from _train_fixtures import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny"))
