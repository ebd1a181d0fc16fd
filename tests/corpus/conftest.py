"""One real index (real embedding model, real chromadb) shared by the corpus tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corpus.build import index_builtin
from corpus.embedding import Embedder
from corpus.index import CorpusIndex


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def built_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[CorpusIndex]:
    index = CorpusIndex(tmp_path_factory.mktemp("plumb-data") / "index", embedder)
    index_builtin(index)
    yield index
    index.close()
