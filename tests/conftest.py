"""Shared fixtures: the real model, a real index of the bundled seeds, searchers over it (FAISS and Milvus Lite)."""
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


@pytest.fixture(scope="session")
def milvus_searcher(index_root, encoder, tmp_path_factory):
    """A searcher over the same build loaded into Milvus Lite (a local file)."""
    from index.lifecycle import current_build
    from index.milvus_store import MilvusStore
    from index.search import Searcher

    uri = str(tmp_path_factory.mktemp("milvus") / "speechqa.db")
    return Searcher(MilvusStore.from_build(current_build(index_root), uri), encoder)
