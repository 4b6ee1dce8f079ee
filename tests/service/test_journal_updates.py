"""Updates read the store's change journal: an update looks only at what changed since the
version it starts from, and ends where a comparison of every article would."""

from __future__ import annotations

from pathlib import Path

from corpus.article import Article
from corpus.store import ArticleStore, Position
from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.ops.engine import Engine
from service.settings import Settings
from tests.corpus.test_dedup import REWRITE, WIRE

ARTICLES = [
    Article("harbour", "Harbour", "The harbour reopened on Monday after repairs.", "Wire"),
    Article("maps", "Maps", "The library scanned 12,000 historical maps last year.", "Daily"),
    Article("wire-1", "Floods", WIRE, "Wire", None, "2024-05-01"),
]


def _engine(data: Path, encoder: Encoder, reranker: Reader) -> Engine:
    return Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)


def test_an_update_reads_the_journal_and_matches_the_store(
    tmp_path: Path, encoder: Encoder, reranker: Reader
) -> None:
    engine = _engine(tmp_path / "data", encoder, reranker)
    engine.ingest_articles(ARTICLES)
    engine.rebuild()
    live = engine.live
    assert live is not None
    recorded = live.index.manifest["store"]
    assert recorded == {"id": engine.store.store_id, "seq": engine.store.position().seq}
    assert engine.store.changed_since(Position(recorded["id"], 0)) is None  # journal dropped
    assert engine.update_index() is None and not engine.index_is_stale()

    engine.ingest_articles(
        [
            Article("bridge", "Bridge", "The old bridge closed for repairs on Friday.", "Wire"),
            Article("harbour", "Harbour", "The harbour reopened on Tuesday, a day late.", "Wire"),
            # A newer copy of the flood story: it becomes canonical, wire-1 its duplicate.
            Article("wire-2", "Floods, update", REWRITE, "Wire", None, "2024-05-02"),
        ]
    )
    engine.withdraw(["maps"])
    assert engine.index_is_stale()
    stats = engine.update_index()
    live = engine.live
    assert stats is not None and live is not None
    assert live.index.manifest["kind"] == "incremental"
    assert live.index.manifest["corpus_digest"] is None  # the archive was not compared
    assert live.index.live_fingerprints() == engine.store.fingerprints()
    assert set(engine.store.fingerprints()) == {"harbour", "bridge", "wire-2"}
    answer = engine.ask("When did the old bridge close?").answer
    assert answer.quotes and answer.quotes[0].article_id == "bridge"

    # Changes that cancel out leave nothing to do and publish nothing.
    version = live.index.version
    engine.ingest_articles([Article("brief", "Brief", "A short item came and went.", "Wire")])
    engine.withdraw(["brief"])
    assert not engine.index_is_stale()
    assert engine.update_index() is None
    assert engine.snapshots.current_version() == version
    engine.close()


def test_a_replaced_store_is_compared_article_by_article(
    tmp_path: Path, encoder: Encoder, reranker: Reader
) -> None:
    data = tmp_path / "data"
    engine = _engine(data, encoder, reranker)
    engine.ingest_articles(ARTICLES)
    engine.rebuild()
    engine.close()
    # The database is replaced by another one (restored from elsewhere): its journal says
    # nothing about the positions the index recorded.
    store_path = engine.data.store_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    other = ArticleStore(store_path)
    other.upsert_many([ARTICLES[0], ARTICLES[2]])
    other.close()

    engine = _engine(data, encoder, reranker)
    engine.load_live()
    assert engine.index_is_stale()
    engine.update_index()
    live = engine.live
    assert live is not None
    assert live.index.live_fingerprints() == engine.store.fingerprints()
    assert set(live.index.live_fingerprints()) == {"harbour", "wire-1"}
    assert live.index.manifest["corpus_digest"] == engine.store.state_digest()
    assert live.index.manifest["store"]["id"] == engine.store.store_id
    engine.close()
