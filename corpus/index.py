"""The local index: passages in a chromadb persistent directory plus a BM25 lexical index,
queried together (hybrid retrieval).

Layout under the data directory: index/manifest.json (format, embedding model and its
checksum) and index/chroma/ (chromadb's files). Refreshing is incremental: a passage whose
content hash is unchanged is not embedded again. A directory that cannot be opened is
reported with the command that recovers it (`ask index --rebuild`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.datadir import data_dir
from corpus.embedding import MODEL_NAME, WEIGHTS_SHA256, ChromaEmbeddingFunction, Embedder
from corpus.lexical import BM25
from corpus.passages import Passage

COLLECTION = "plumb-corpus"
FORMAT_VERSION = 1
MAX_QUERY_CHARS = 4000
MODES = ("hybrid", "dense", "lexical")
KINDS = ("doc", "example", "help")
_CANDIDATES = 50  # per ranking, before fusion
_RRF_K = 5  # chosen on the dev half of the retrieval benchmark (evals/retrieval)
_BATCH = 32


class CorpusIndexError(RuntimeError):
    """The index is missing, unreadable or from another format; the message says what to run."""


class QueryError(ValueError):
    """The query itself is unusable (empty, too long, unknown filter)."""


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    dense_rank: int | None
    lexical_rank: int | None

    def to_dict(self) -> dict[str, Any]:
        p = self.passage
        return {
            "id": p.id,
            "kind": p.kind,
            "title": p.title,
            "node_type": p.node_type,
            "types": list(p.types),
            "package": p.package,
            "source": p.source,
            "score": round(self.score, 5),
            "dense_rank": self.dense_rank,
            "lexical_rank": self.lexical_rank,
            "text": p.text,
        }


@dataclass(frozen=True)
class RefreshStats:
    added: int
    updated: int
    removed: int
    unchanged: int


def _silence_chroma_telemetry() -> None:
    import os

    os.environ["ANONYMIZED_TELEMETRY"] = "False"


class CorpusIndex:
    """One index directory. Thread-safe: a lock serialises access to chroma and the caches."""

    def __init__(self, directory: Path | None = None, embedder: Embedder | None = None):
        self.directory = directory or data_dir() / "index"
        self.embedder = embedder or Embedder()
        self._lock = threading.RLock()
        self._client: Any = None
        self._collection: Any = None
        self._passages: dict[str, Passage] | None = None
        self._bm25: BM25 | None = None
        self._bm25_documents: BM25 | None = None

    # -- opening -----------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def _expected_manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "embedding_model": MODEL_NAME,
            "embedding_sha256": WEIGHTS_SHA256,
            "collection": COLLECTION,
        }

    def _open(self, create: bool) -> Any:
        if self._collection is not None:
            return self._collection
        try:
            import chromadb
        except ImportError:
            raise CorpusIndexError(
                "the retrieval libraries are not installed: pip install 'plumb[retrieval]'"
            ) from None
        if not self.exists():
            if self.directory.exists() and any(self.directory.iterdir()):
                raise CorpusIndexError(
                    f"{self.directory} holds files but no index manifest; "
                    "rebuild it with `ask index --rebuild`"
                )
            if not create:
                raise CorpusIndexError(f"no index at {self.directory}; build it with `ask index`")
            self.directory.mkdir(parents=True, exist_ok=True)
        else:
            try:
                manifest = json.loads(self.manifest_path.read_text())
            except (OSError, ValueError) as exc:
                raise CorpusIndexError(
                    f"the index manifest {self.manifest_path} is unreadable ({exc}); "
                    "rebuild it with `ask index --rebuild`"
                ) from None
            if manifest != self._expected_manifest():
                raise CorpusIndexError(
                    f"the index at {self.directory} was built by another version or embedding "
                    "model; rebuild it with `ask index --rebuild`"
                )
        _silence_chroma_telemetry()
        try:
            import chromadb
            from chromadb.config import Settings

            self._client = chromadb.PersistentClient(
                path=str(self.directory / "chroma"),
                settings=Settings(anonymized_telemetry=False, allow_reset=False),
            )
            collection = self._client.get_or_create_collection(
                COLLECTION,
                embedding_function=ChromaEmbeddingFunction(self.embedder),
                configuration={"hnsw": {"space": "cosine"}},
            )
            collection.count()
        except Exception as exc:
            self._release_client()
            _forget_chroma_engine(self.directory / "chroma")
            raise CorpusIndexError(
                f"the index at {self.directory} cannot be opened ({type(exc).__name__}: {exc}); "
                "rebuild it with `ask index --rebuild`"
            ) from None
        if not self.exists():
            self.manifest_path.write_text(json.dumps(self._expected_manifest(), indent=2))
        self._collection = collection
        return collection

    def close(self) -> None:
        with self._lock:
            self._collection = None
            self._release_client()
            self._forget_caches()

    def _release_client(self) -> None:
        # chromadb shares one engine per path inside a process; closing the client releases
        # it, so that a deleted and rebuilt directory is not served from a stale handle.
        client, self._client = self._client, None
        if client is not None:
            # closing a broken client must not hide the error being reported
            with contextlib.suppress(Exception):
                client.close()

    def _forget_caches(self) -> None:
        self._passages = None
        self._bm25 = None
        self._bm25_documents = None

    def delete(self) -> None:
        """Remove the whole index directory (used by --rebuild)."""
        with self._lock:
            self.close()
            if self.directory.exists():
                shutil.rmtree(self.directory)

    # -- writing -----------------------------------------------------------------------
    def refresh(
        self,
        passages: Sequence[Passage],
        origin: str,
        progress: Callable[[int, int], Callable[[int], None] | None] | None = None,
    ) -> RefreshStats:
        """Make the passages of `origin` exactly `passages`, embedding only what changed.

        `progress(total, to_embed)` is called once the work is known and may return a
        callback that receives the size of each embedded batch.
        """
        with self._lock:
            collection = self._open(create=True)
            known = self._known_hashes(collection, origin)
            wanted = {p.id: p for p in passages}
            if len(wanted) != len(passages):
                raise ValueError(f"duplicate passage ids in {origin}")
            changed = [p for p in passages if known.get(p.id) != p.content_hash]
            stale = [pid for pid in known if pid not in wanted]
            advance = progress(len(passages), len(changed)) if progress else None
            for start in range(0, len(changed), _BATCH):
                batch = changed[start : start + _BATCH]
                vectors = self.embedder.embed([p.text for p in batch])
                collection.upsert(
                    ids=[p.id for p in batch],
                    documents=[p.text for p in batch],
                    metadatas=[p.metadata() for p in batch],
                    embeddings=vectors,
                )
                if advance:
                    advance(len(batch))
            if stale:
                collection.delete(ids=stale)
            self._forget_caches()
            added = sum(1 for p in changed if p.id not in known)
            return RefreshStats(
                added=added,
                updated=len(changed) - added,
                removed=len(stale),
                unchanged=len(passages) - len(changed),
            )

    def _known_hashes(self, collection: Any, origin: str) -> dict[str, Any]:
        try:
            existing = collection.get(where={"origin": origin}, include=["metadatas"])
        except Exception as exc:
            raise CorpusIndexError(
                f"the index at {self.directory} cannot be read ({exc}); "
                "rebuild it with `ask index --rebuild`"
            ) from None
        return {
            pid: (meta or {}).get("hash")
            for pid, meta in zip(existing["ids"], existing["metadatas"] or [], strict=False)
        }

    # -- reading -----------------------------------------------------------------------
    def passages(self) -> dict[str, Passage]:
        with self._lock:
            if self._passages is None:
                collection = self._open(create=False)
                try:
                    data = collection.get(include=["documents", "metadatas"])
                except Exception as exc:
                    raise CorpusIndexError(
                        f"the index at {self.directory} cannot be read ({exc}); "
                        "rebuild it with `ask index --rebuild`"
                    ) from None
                self._passages = {
                    pid: Passage.from_metadata(pid, doc or "", meta or {})
                    for pid, doc, meta in zip(
                        data["ids"], data["documents"] or [], data["metadatas"] or [], strict=False
                    )
                }
            return self._passages

    def _lexical(self) -> tuple[BM25, BM25]:
        """BM25 over passages, and over whole documents (all passages of a node's document
        together), so that words spread across a document's sections add up."""
        with self._lock:
            if self._bm25 is None or self._bm25_documents is None:
                passages = self.passages().values()
                self._bm25 = BM25((p.id, _lexical_text(p)) for p in passages)
                documents: dict[str, list[str]] = {}
                for p in passages:
                    documents.setdefault(document_key(p), []).append(_lexical_text(p))
                self._bm25_documents = BM25(
                    (key, "\n".join(texts)) for key, texts in documents.items()
                )
            return self._bm25, self._bm25_documents

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        kind: str | None = None,
        node_type: str | None = None,
        package: str | None = None,
        mode: str = "hybrid",
        per_document: int = 1,
    ) -> list[Hit]:
        """The k best passages for `query`; filters narrow by kind, node type and package."""
        text = _check_query(query)
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if kind is not None and kind not in KINDS:
            raise QueryError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if k < 1:
            raise QueryError("k must be at least 1")
        with self._lock:
            passages = self.passages()
            allowed = {pid for pid, p in passages.items() if _matches(p, kind, node_type, package)}
            if not allowed:
                return []
            dense: list[str] = []
            lexical: list[str] = []
            lexical_documents: list[str] = []
            if mode in ("hybrid", "dense"):
                dense = self._dense(text, allowed, len(passages))
            if mode in ("hybrid", "lexical"):
                by_passage, by_document = self._lexical()
                scores = by_passage.scores(text)
                lexical = _top(scores, allowed)
                allowed_documents = {document_key(passages[pid]) for pid in allowed}
                lexical_documents = _top(by_document.scores(text), allowed_documents)
            return _fuse(passages, allowed, dense, lexical, lexical_documents, k, per_document)

    def _dense(self, text: str, allowed: set[str], total: int) -> list[str]:
        vector = self.embedder.embed_query(text)
        collection = self._open(create=False)
        ids = None if len(allowed) == total else sorted(allowed)
        result = collection.query(
            query_embeddings=[vector], ids=ids, n_results=min(_CANDIDATES, len(allowed)), include=[]
        )
        return list(result["ids"][0])


def _forget_chroma_engine(path: Path) -> None:
    """Drop chromadb's per-process engine for `path` after a failed open.

    chromadb 1.x caches one engine per directory for the life of the process; when opening
    fails half-way the broken engine stays cached and every later open of the same path
    (after `ask index --rebuild`, say) fails with it. There is no public call for this.
    """
    with contextlib.suppress(Exception):  # a chromadb without this cache has nothing to forget
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(str(path), None)
        SharedSystemClient._identifier_to_refcount.pop(str(path), None)


def _check_query(query: str) -> str:
    text = " ".join(query.split()) if isinstance(query, str) else ""
    if not text:
        raise QueryError('the query is empty; ask something like "read a coil over modbus"')
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text):,} characters; keep it under "
            f"{MAX_QUERY_CHARS:,} (ask about one thing at a time)"
        )
    return text


def _matches(p: Passage, kind: str | None, node_type: str | None, package: str | None) -> bool:
    if kind is not None and p.kind != kind:
        return False
    if node_type is not None and p.node_type != node_type and node_type not in p.types:
        return False
    return package is None or p.package == package


def document_key(p: Passage) -> str:
    """Which document a passage belongs to: a node's doc, one package's help for a node,
    or an example flow."""
    return p.id if p.kind == "example" else f"{p.kind}:{p.node_type}:{p.source}"


def _lexical_text(p: Passage) -> str:
    return f"{p.title}\n{p.node_type}\n{p.text}"


def _top(scores: dict[str, float], allowed: set[str]) -> list[str]:
    return sorted((key for key in scores if key in allowed), key=lambda key: -scores[key])[
        :_CANDIDATES
    ]


def _rrf(rankings: list[list[str]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (_RRF_K + rank)
    return scores


def _fuse(
    passages: dict[str, Passage],
    allowed: set[str],
    dense: list[str],
    lexical: list[str],
    lexical_documents: list[str],
    k: int,
    per_document: int,
) -> list[Hit]:
    """Reciprocal-rank fusion at the document level, then each document's best passages.

    Documents are ranked by their best passage in the dense and in the lexical ranking and
    by the whole-document lexical ranking; within a document, passages are ordered by their
    own fused score (a document found only as a whole leads with its first passage).
    """
    passage_scores = _rrf([dense, lexical])
    dense_rank = {pid: rank for rank, pid in enumerate(dense, start=1)}
    lexical_rank = {pid: rank for rank, pid in enumerate(lexical, start=1)}

    def documents_of(ranking: list[str]) -> list[str]:
        return list(dict.fromkeys(document_key(passages[pid]) for pid in ranking))

    document_scores = _rrf([documents_of(dense), documents_of(lexical), lexical_documents])
    members: dict[str, list[str]] = {}
    for pid in sorted(allowed):
        members.setdefault(document_key(passages[pid]), []).append(pid)
    hits: list[Hit] = []
    for key in sorted(document_scores, key=lambda d: (-document_scores[d], d)):
        ranked = sorted(members.get(key, []), key=lambda pid: (-passage_scores.get(pid, 0.0), pid))
        for pid in ranked[:per_document]:
            hits.append(
                Hit(passages[pid], document_scores[key], dense_rank.get(pid), lexical_rank.get(pid))
            )
            if len(hits) == k:
                return hits
    return hits
