"""The engine: one data directory's store, encoder and live index, and the operations on them.

The HTTP app and the CLI are thin layers over this class.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import faiss
from threadpoolctl import threadpool_limits

from corpus.article import Article
from corpus.store import ArticleStore, Position, digest_of
from embeddings import bm25_search
from embeddings.build import BuildStats, build_index, update_index
from embeddings.cache import VectorCache
from embeddings.encoder import Encoder
from embeddings.errors import (
    IndexIntegrityError,
    ModelChangedError,
    NoIndexError,
    OldIndexFormatError,
)
from embeddings.index import SearchIndex
from embeddings.reader import Reader
from embeddings.snapshots import Snapshots, new_version_id
from service.answering.asking import (
    READING_MARGIN,
    AskResult,
    Exchange,
    answer_question,
    converse,
)
from service.answering.briefing import Briefing, BriefingRequest, brief
from service.answering.conversation import ConversationStore, MemoryConversationStore
from service.answering.live import Live
from service.answering.retrieve import RerankPolicy, Retriever, Weights
from service.answering.search import Filters
from service.ops import cluster, ingest, shared
from service.ops.datadir import DataDir
from service.ops.ingest import Executor, IngestReport, OnArticle
from service.ops.shards import ShardPool
from service.ops.shared import RedisConversationStore
from service.settings import Settings

log = logging.getLogger(__name__)

# Up to this many changed articles an update looks each one up; past it (a bulk ingest),
# comparing every article's fingerprint is cheaper.
JOURNAL_DIFF_MAX = 10_000

State = Literal["starting", "ready", "failed"]


class Engine:
    """Store, encoder and live index of one data directory."""

    def __init__(
        self,
        settings: Settings,
        encoder: Encoder | None = None,
        reranker: Reader | None = None,
    ) -> None:
        self.settings = settings
        self.data = DataDir(settings.data_dir)
        self.store = ArticleStore(self.data.store_path)
        # Sharded, this process reads versions and its shards search them: the (large) ANN
        # indexes are loaded by the shards only.
        self.snapshots = Snapshots(self.data.index_root, ann=not settings.shards)
        self._shards: ShardPool | None = None
        if settings.shards:
            cluster.connect(settings.ray_address or "local")
            self._shards = ShardPool(
                self.data.index_root, settings.shards, settings.shard_timeout_s
            )
        self.conversations: ConversationStore = (
            RedisConversationStore(
                shared.client(settings.redis_url),
                settings.max_conversations,
                settings.conversation_ttl_s,
                settings.max_turns,
            )
            if settings.redis_url
            else MemoryConversationStore(
                settings.max_conversations, settings.conversation_ttl_s, settings.max_turns
            )
        )
        self.state: State = "starting"
        self.error: str | None = None
        self._encoder = encoder
        self._reranker = reranker
        self.rerank_policy = RerankPolicy(
            depth=settings.rerank_depth, margin=settings.rerank_margin
        )
        self.use_reranker = settings.rerank
        self.weights = Weights()
        self.reading_margin = READING_MARGIN
        self._models_lock = threading.Lock()
        self._live: Live | None = None
        self._swap_lock = threading.Lock()
        # numpy's BLAS and FAISS's OpenMP would each start threads per query and fight
        # torch for the cores; one query is small enough for one thread.
        threadpool_limits(1, user_api="blas")
        faiss.omp_set_num_threads(1)

    @property
    def encoder(self) -> Encoder:
        """The sentence encoder, loaded on first use."""
        with self._models_lock:
            if self._encoder is None:
                self._encoder = Encoder.load(
                    self.settings.model_path,
                    self.settings.encoder,
                    self.settings.model_cache_dir,
                )
            return self._encoder

    @property
    def reranker(self) -> Reader | None:
        """The reader that re-orders the best candidates, loaded on first use; None when
        it is switched off."""
        return self.load_reader() if self.use_reranker else None

    def load_reader(self) -> Reader:
        """The reader, loaded now if it is not yet (whether or not it is switched on)."""
        with self._models_lock:
            if self._reranker is None:
                self._reranker = Reader.load(self.settings.reranker_path)
            return self._reranker

    @property
    def shards(self) -> ShardPool | None:
        """The index shards searching for this engine, if it searches in shards."""
        return self._shards

    @property
    def live(self) -> Live | None:
        """The live index, if one is loaded."""
        return self._live

    def close(self) -> None:
        """Release the database (and stop the shards)."""
        self.store.close()
        if self._shards is not None:
            self._shards.close()
            self._shards = None

    def ingest(
        self,
        paths: Iterable[Path],
        *,
        on_file: Callable[[Path], None] | None = None,
        on_article: OnArticle | None = None,
        workers: int = 1,
        executor: Executor | None = None,
    ) -> IngestReport:
        """Read and store the articles under ``paths`` (one writer at a time).

        ``on_article(outcome, id)`` is called once each article is durably stored;
        ``workers`` > 1 segments a large ingest in worker processes
        (``service.ops.ingest.ingest_articles`` says when that is safe), ``executor`` on
        a Ray cluster (``service.ops.cluster``).
        """
        with self.data.writer_lock():
            return ingest.ingest_files(
                self.store,
                paths,
                max_chars=self.settings.max_article_chars,
                on_file=on_file,
                on_article=on_article,
                workers=workers,
                executor=executor,
            )

    def ingest_articles(
        self,
        articles: Iterable[Article],
        *,
        on_article: OnArticle | None = None,
        workers: int = 1,
        executor: Executor | None = None,
    ) -> IngestReport:
        """Store already-parsed articles (``workers``, ``executor``: as ``ingest``)."""
        with self.data.writer_lock():
            return ingest.ingest_articles(
                self.store,
                articles,
                max_chars=self.settings.max_article_chars,
                on_article=on_article,
                workers=workers,
                executor=executor,
            )

    def withdraw(self, article_ids: Iterable[str]) -> list[str]:
        """Delete articles from the store; return the ids that were there."""
        with self.data.writer_lock():
            return [a for a in article_ids if self.store.delete(a)]

    def rebuild(self, *, progress: bool = False) -> BuildStats:
        """Build a new index version from the whole store, publish it and make it live."""
        with self.data.writer_lock():
            self.snapshots.clean()
            position = self.store.position()
            index, stats = self._build_full(progress)
            self._publish(index, stats, position)
        return stats

    def _build_full(self, progress: bool = False) -> tuple[SearchIndex, BuildStats]:
        return build_index(
            self.store.iter_stored(),
            self.encoder,
            VectorCache(self.data.cache_path),
            version=new_version_id(),
            corpus_digest=self.store.state_digest(),
            progress=progress,
            sink=self.snapshots.write_segment,
        )

    def update_index(self) -> BuildStats | None:
        """Bring the index up to date with the store, incrementally; None if it already is.

        The new version starts from the newest published one (which another process may
        have written), drops the articles withdrawn, replaced or now duplicates, and adds
        the new and changed ones, embedding only their text. It is published beside the
        live version and swapped in atomically; readers never see it half-built.

        What changed is read from the store's change journal since the position the base
        version records, so an update costs what changed, not the archive; a base without
        a usable position (an older version, another store, a forgotten stretch of the
        journal, or very many changes) is compared article by article instead.
        """
        with self.data.writer_lock():
            self.snapshots.clean()
            position = self.store.position()  # first: any later change is journaled after it
            base = self._published_base()
            if base is not None and base.model_id == self.encoder.model_id:
                base = self._upgraded(base)
            if base is None or base.model_id != self.encoder.model_id:
                index, stats = self._build_full()
                self._publish(index, stats, position)
                return stats
            diff = self._diff(base)
            if diff is None:
                if self._live is None or self._live.index.version != base.version:
                    self._swap(base)
                return None
            added, removed, digest = diff
            if not self.store.has_canonical():
                raise NoIndexError("every article was withdrawn; nothing is left to index")
            index, stats = update_index(
                base,
                self.store.iter_stored(added),
                removed,
                self.encoder,
                VectorCache(self.data.cache_path),
                version=new_version_id(),
                corpus_digest=digest,
            )
            self._publish(index, stats, position)
        return stats

    def upgrade_index(self) -> bool:
        """Write again, as a new version, the segments of the published version that an
        older version wrote (without block-max metadata, with an older kind of ANN index,
        unpacked postings, or float32 vectors beside an ANN index); True when one was
        published."""
        with self.data.writer_lock():
            base = self._published_base()
            return base is not None and self._upgraded(base) is not base

    def _upgraded(self, base: SearchIndex) -> SearchIndex:
        """``base``, or the version that upgrades its segments, published (writer lock held).

        The upgraded version holds what ``base`` holds, so it keeps its store position."""
        index = self.snapshots.upgraded(base, new_version_id())
        if index is None:
            return base
        log.info(
            "index %s: segments an older version wrote (before block-max metadata existed, "
            "with 8-bit ANN codes alone, with unpacked postings, or with float32 vectors beside "
            "an ANN index) are "
            "written again as this one writes them (files hard-linked, nothing re-embedded) "
            "as version %s",
            base.version,
            index.version,
        )
        return self._go_live(index)

    def _go_live(self, index: SearchIndex) -> SearchIndex:
        """Publish ``index`` and make the version read back from disk live (writer lock
        held): its new segments memory-mapped and verified, not a build's arrays."""
        self.snapshots.publish(index)
        self.snapshots.clean()
        published = self.snapshots.load(index.version)
        self._swap(published)
        return published

    def _diff(self, base: SearchIndex) -> tuple[list[str], list[str], str | None] | None:
        """(ids to add, ids to remove, the store's digest when it was computed) to bring
        ``base`` up to date; None when nothing differs."""
        changed = None
        recorded = base.manifest.get("store")
        if isinstance(recorded, dict):
            changed = self.store.changed_since(Position(recorded["id"], int(recorded["seq"])))
        if changed is not None and len(changed) <= JOURNAL_DIFF_MAX:
            wanted = self.store.hashes_of(changed, canonical=True)
            have = base.live_fingerprints(changed)
            digest = None
        else:
            wanted = self.store.fingerprints()
            digest = digest_of(wanted)
            if base.manifest.get("corpus_digest") == digest:
                return None
            have = base.live_fingerprints()
        removed = [a for a, h in have.items() if wanted.get(a) != h]
        added = [a for a, h in wanted.items() if have.get(a) != h]
        if not added and not removed:
            return None
        return added, removed, digest

    def _publish(self, index: SearchIndex, stats: BuildStats, position: Position) -> None:
        """Write ``index`` as the newest version and make it live (under the writer lock).

        What goes live is the version read back from disk: its new segments memory-mapped
        (and verified), not the arrays the build left in memory, so a server that builds or
        merges holds no more than one that only follows. The version records the store's
        journal ``position`` it holds every change up to; the journal before it is dropped.
        """
        index.manifest["store"] = {"id": position.store, "seq": position.seq}
        self._go_live(index)
        self.store.forget_changes(position.seq)
        log.info(
            "index %s (%s): %d sentences, %d texts embedded, %.2fs",
            index.version,
            index.manifest["kind"],
            stats.sentences,
            stats.embedded,
            stats.seconds,
        )

    def _published_base(self) -> SearchIndex | None:
        """The newest published version: the live one if it is, else loaded and verified."""
        current = self.snapshots.current_version()
        if current is None:
            return None
        live = self._live
        if live is not None and live.index.version == current:
            return live.index
        try:
            return self.snapshots.load(current)
        except OldIndexFormatError:
            return None  # said once by bootstrap; rebuilt from the store
        except IndexIntegrityError as exc:
            log.error("refusing index %s: %s; building a full one", current, exc)
            return None

    def follow_published(self) -> bool:
        """Make the newest published version live if it is not (another process wrote it).

        Returns whether a new version went live. A version that fails verification is
        refused and the live one keeps serving.
        """
        current = self.snapshots.current_version()
        live = self._live
        if current is None or (live is not None and live.index.version == current):
            return False
        try:
            index = self._load(current)
        except (IndexIntegrityError, NoIndexError) as exc:
            log.error("not switching to index %s: %s", current, exc)
            return False
        self._swap(index)
        log.info("now serving index %s", current)
        return True

    def index_is_stale(self) -> bool:
        """Whether the live (or saved) index misses changes in the store (read from the
        journal since the position it records, else by comparing every article)."""
        live = self._live
        if live is None:
            return True
        return self._diff(live.index) is not None

    def load_live(self) -> SearchIndex:
        """Load the current saved version and make it live."""
        index = self._load(self.snapshots.current_version())
        self._swap(index)
        return index

    def _load(self, version: str | None) -> SearchIndex:
        """A published version, verified, and built with the configured model."""
        index = self.snapshots.load_current() if version is None else self.snapshots.load(version)
        if index.model_id != self.encoder.model_id:
            raise ModelChangedError(
                f"index {index.version} was built with {index.model_id}, but the configured "
                f"model is {self.encoder.model_id}; run `briefing rebuild`"
            )
        return index

    def configure(
        self,
        *,
        weights: Weights | None = None,
        rerank: bool | None = None,
        reading_margin: float | None = None,
    ) -> None:
        """Change the fusion weights, the reader or the follow-up reading margin (used by
        ablations)."""
        if reading_margin is not None:
            self.reading_margin = reading_margin
        if weights is not None:
            self.weights = weights
            if self._live is not None:
                self._swap(self._live.index, force=True)
        if rerank is not None:
            self.use_reranker = rerank

    def _swap(self, index: SearchIndex, *, force: bool = False) -> None:
        """Make ``index`` live in one assignment: a request holds either version, whole.

        Versions only move forward (their ids sort by creation time), so a slow load of
        an older version can never replace a newer one.
        """
        detailed = max(16, self.rerank_policy.depth)
        searcher = None if self._shards is None else self._shards.open(index)
        live = Live(index, Retriever(index, self.weights, detailed=detailed, searcher=searcher))
        with self._swap_lock:
            current = self._live
            if force or current is None or index.version >= current.index.version:
                self._live = live

    def bootstrap(self, corpus_dir: Path | None) -> None:
        """Get ready to serve: ingest the default corpus into an empty store, load or build."""
        try:
            started = time.perf_counter()
            _ = self.reranker  # load models before going live, not on the first question
            bm25_search.warm()
            if self.store.count() == 0 and corpus_dir is not None:
                self.ingest([corpus_dir])
            if self.snapshots.current_version() is not None:
                try:
                    self.load_live()
                except OldIndexFormatError as exc:
                    log.warning(
                        "index %s; rebuilding it as segments from the store (no article is "
                        "lost; cached vectors of the same model are reused)",
                        exc,
                    )
                except ModelChangedError:
                    log.warning(
                        "the saved index was embedded with another model than the configured "
                        "%s (BRIEFING_ENCODER, BRIEFING_MODEL_PATH); embedding the %d stored "
                        "articles again (no article is lost; vectors of this model cached "
                        "earlier are reused)",
                        self.encoder.model_id,
                        self.store.count(),
                    )
                except IndexIntegrityError as exc:
                    log.error("refusing the saved index: %s; rebuilding", exc)
            if self.live is not None:  # a saved index was loaded: bring its segments up to date
                self.upgrade_index()
            if self.index_is_stale():
                self.update_index()
            self.state = "ready"
            log.info("ready in %.1fs", time.perf_counter() - started)
        except Exception as exc:
            self.state, self.error = "failed", str(exc)
            log.exception("start-up failed")

    def converse(
        self,
        question: str,
        *,
        conversation_id: str | None = None,
        top_k: int = 3,
        filters: Filters | None = None,
        resolve_follow_ups: bool = True,
    ) -> Exchange:
        """Answer ``question`` as the next turn of a conversation (a new one without an id).

        A request to be briefed is answered with a briefing (at least ``top_k`` points) and
        a follow-up to one narrows it; any other follow-up is resolved against the earlier
        turns before it is asked. Raises ``ConversationNotFoundError`` for an unknown or
        expired id.
        """

        def briefed(request: BriefingRequest) -> AskResult:
            b = self.brief(replace(request, max_points=max(top_k, request.max_points)), filters)
            return AskResult(b.as_answer(), b.index_version)

        return converse(
            self.conversations,
            lambda reading, prefer, before: self.ask(
                reading,
                top_k=top_k,
                filters=filters,
                prefer_articles=prefer,
                answered_before=before,
            ),
            question,
            brief=briefed,
            conversation_id=conversation_id,
            resolve_follow_ups=resolve_follow_ups,
            reading_margin=self.reading_margin,
        )

    def brief(self, request: BriefingRequest, filters: Filters | None = None) -> Briefing:
        """A digest of distinct, dated, verbatim quotes about ``request.topic``."""
        live = self._live
        if live is None:
            raise RuntimeError("no index is loaded")
        vector = self.encoder.encode_query(request.topic)
        return brief(live, request, vector, self.store.get_if_current, filters)

    def ask(
        self,
        question: str,
        *,
        top_k: int = 3,
        filters: Filters | None = None,
        prefer_articles: Sequence[str] = (),
        answered_before: Sequence[tuple[str, int]] = (),
    ) -> AskResult:
        """Answer ``question`` from the live index with verbatim quotes.

        ``prefer_articles`` and ``answered_before`` carry a conversation's context (see
        ``Retriever.retrieve``).
        """
        live = self._live
        if live is None:
            raise RuntimeError("no index is loaded")
        return answer_question(
            live,
            question,
            self.encoder.encode_query(question),
            self.store.get_if_current,
            reranker=self.reranker,
            policy=self.rerank_policy,
            top_k=top_k,
            filters=filters,
            prefer_articles=prefer_articles,
            answered_before=answered_before,
        )
