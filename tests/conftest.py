"""Shared fixtures: the real model, a real index of the bundled seeds, a searcher over it."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


@pytest.fixture(scope="session")
def encoder():
    """The default encoder (bundled multilingual-e5-small), loaded once."""
    from index.embed import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def index_root(tmp_path_factory, encoder) -> Path:
    """An index of the seed corpus, built once for the whole test session."""
    from index.build import build

    root = tmp_path_factory.mktemp("index")
    build([SEEDS], root, encoder=encoder)
    return root


@pytest.fixture(scope="session")
def searcher(index_root, encoder):
    """A searcher over the seed index."""
    from index.search import load_searcher

    return load_searcher(index_root, encoder=encoder)
