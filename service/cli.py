"""The ``briefing`` command: ingest, rebuild, ask, serve."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from corpus.errors import CorpusError
from corpus.readers import SUPPORTED_SUFFIXES, iter_files
from embeddings.errors import EmbeddingsError, NoIndexError
from service.settings import Settings, is_ray_address

EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 1
_QUIET_LOGGERS = ("faiss.loader", "sentence_transformers", "bm25s", "httpx", "transformers")


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _ray_address(text: str) -> str:
    if not is_ray_address(text):
        raise argparse.ArgumentTypeError(
            f"expected a Ray head's host:port (as `ray start --head` prints) or 'local', "
            f"got {text!r}"
        )
    return text


def _add_ray_option(
    p: argparse.ArgumentParser, does: str = "segment and embed", dest: str = "ray"
) -> None:
    p.add_argument(
        "--ray",
        dest=dest,
        type=_ray_address,
        metavar="ADDRESS",
        help=f"{does} on the Ray cluster at ADDRESS (host:port), or 'local' to start one in "
        "this process",
    )


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data directory (env BRIEFING_DATA_DIR)")
    common.add_argument("--model-path", type=Path, help="sentence-transformers model folder")
    common.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="log level (env BRIEFING_LOG_LEVEL; default info)",
    )
    parser = argparse.ArgumentParser(
        prog="briefing",
        description="Cited answers from a news archive: every answer is verbatim quotes.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        parents=[common],
        help="add or update articles from files or folders, then update the index",
        description="Read articles (.txt, .md, .html, .json, .jsonl; folders recursively), "
        "store them and update the index incrementally (only new text is embedded); a "
        "running server picks up the new version. Unchanged articles are skipped; changed "
        "ones replace their old version; near-duplicates of stored articles are recorded "
        "and only the newest is indexed. A NAME.meta.json beside a file gives its metadata. "
        "Each line 'added/replaced/unchanged ID' is printed once that article is durably "
        "stored.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--no-index", action="store_true", help="store only; rebuild later")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="processes that segment a large ingest (default: one per core)",
    )
    _add_ray_option(p)

    p = sub.add_parser(
        "delete",
        parents=[common],
        help="withdraw articles by id, then update the index",
        description="Delete articles from the store and update the index, so they are no "
        "longer quoted. If a withdrawn article had near-duplicates, the newest of them "
        "becomes canonical and is indexed instead. A running server picks up the change.",
    )
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--no-index", action="store_true", help="delete only; update later")

    p = sub.add_parser(
        "watch",
        parents=[common],
        help="ingest new and changed files and RSS/Atom feed entries as they appear",
        description="Poll folders (and feeds) and ingest what is new or changed, updating "
        "the index incrementally after each pass; a running server picks up each new "
        "version. What was done is remembered in the data directory, so a restart resumes "
        "without reading again what was already stored. Stop with Ctrl-C.",
    )
    p.add_argument("folders", nargs="*", type=Path, metavar="DIR")
    p.add_argument("--feed", action="append", default=[], metavar="URL", help="RSS/Atom feed")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between folder scans")
    p.add_argument(
        "--feed-interval", type=float, default=300.0, help="seconds between feed fetches"
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit")

    p = sub.add_parser(
        "rebuild",
        parents=[common],
        help="build a new index version from all stored articles",
        description="Build a fresh index version beside the live one and make it live "
        "atomically. Cached vectors are reused, so unchanged text is not embedded again.",
    )
    _add_ray_option(p)

    p = sub.add_parser(
        "ask",
        parents=[common],
        help="ask a question and print the quotes with citations",
        description="Answer a question from the index with verbatim, cited quotes.",
    )
    p.add_argument("question")
    p.add_argument("--top-k", type=int, default=3, help="quotes wanted at most, 1-10 (default 3)")
    p.add_argument("--source", help="only quote articles from this source")
    p.add_argument("--after", help="only articles published on or after YYYY-MM-DD")
    p.add_argument("--before", help="only articles published on or before YYYY-MM-DD")
    p.add_argument("--json", action="store_true", help="print the raw /ask response JSON")

    p = sub.add_parser(
        "brief",
        parents=[common],
        help="be briefed on a topic: distinct, dated, cited quotes",
        description="Print a short digest of the topic: verbatim quotes that each say "
        "something the others do not, preferring recent reporting, in reading order (oldest "
        "article first, each article's points in its own order).",
    )
    p.add_argument("topic")
    p.add_argument("--since", help="only articles published on or after YYYY-MM-DD")
    p.add_argument("--until", help="only articles published on or before YYYY-MM-DD")
    p.add_argument("--max", type=int, default=5, help="points at most, 1-12 (default 5)")
    p.add_argument("--json", action="store_true", help="print the raw /brief response JSON")

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the HTTP API (builds the index from the default corpus on first start)",
        description="Serve the API. On first start with an empty data directory, the "
        "articles in the corpus directory (default: the bundled corpus) are ingested and "
        "indexed before /readyz turns ready.",
    )
    p.add_argument("--host", help="interface to bind (env BRIEFING_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env BRIEFING_PORT; default 8000)")
    p.add_argument("--corpus-dir", type=Path, help="articles to serve on first start")
    p.add_argument(
        "--shards",
        type=_positive_int,
        metavar="N",
        help="search the index as N shards on a Ray cluster (needs --ray; env BRIEFING_SHARDS)",
    )
    _add_ray_option(p, "run the shards", dest="ray_address")

    p = sub.add_parser(
        "eval",
        parents=[common],
        help="measure answer quality on SQuAD-format data (or the news set) beside three baselines",
        description="Ingest every paragraph of every article of the SQuAD file(s) (one "
        "article per title) into a fresh data directory, build the index, ask every question "
        "(or a seeded sample) through the same code path as POST /ask, and print Briefing's "
        "metrics beside BM25-only, dense-only and reciprocal-rank-fusion sentence retrieval. "
        "With --news DIR, the same for a news set instead (bench/news: invented articles and "
        "questions; see its README).",
    )
    p.add_argument("--squad", type=Path, action="append", metavar="FILE")
    p.add_argument(
        "--news",
        type=Path,
        metavar="DIR",
        help="instead, ask the news set in DIR (bench/news: invented articles and questions)",
    )
    p.add_argument("--limit", type=int, help="ask a seeded sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--ablation", action="store_true", help="also run Briefing with each part switched off"
    )
    p.add_argument(
        "--conversations",
        type=Path,
        metavar="FILE",
        help="instead, replay the multi-turn conversations of FILE (e.g. "
        "bench/conversations.json) over the default corpus plus the SQuAD articles, with "
        "follow-up resolution on and off",
    )
    p.add_argument(
        "--briefings",
        action="store_true",
        help="instead, brief on every article title (precision, coverage, redundancy beside "
        "/ask's top quotes) and on the dated set bench/briefings.jsonl (recency, since)",
    )
    p.add_argument("--max", type=int, default=5, help="points per briefing with --briefings")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in (
        "data_dir",
        "model_path",
        "log_level",
        "host",
        "port",
        "corpus_dir",
        "shards",
        "ray_address",
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if args.command != "serve":
        overrides["shards"] = 0  # only a server searches shards
    return Settings(**overrides)


def _setup_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        from service.api.middleware import RequestIdFilter

        # One object a line; request_id ties a request's lines to its X-Request-ID.
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level"},
            )
        )
        handler.addFilter(RequestIdFilter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``briefing`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"briefing: invalid settings: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _setup_logging(settings.log_level, settings.log_format)
    handlers = {
        "ingest": _ingest,
        "rebuild": _rebuild,
        "ask": _ask,
        "serve": _serve,
        "eval": _eval,
        "delete": _delete,
        "watch": _watch,
        "brief": _brief,
    }
    try:
        return handlers[args.command](args, settings)
    except CliError as exc:
        print(f"briefing: {exc}", file=sys.stderr)
        return exc.code
    except (CorpusError, EmbeddingsError) as exc:
        print(f"briefing: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


def _engine(settings: Settings) -> Any:
    from service.ops.engine import Engine  # heavy imports only for commands that need them

    return Engine(settings)


def _cluster(settings: Settings, address: str | None) -> tuple[Any, Any]:
    """An engine whose embedding runs on the Ray cluster at ``address``, and the executor
    that segments on it; a plain engine and None without an address."""
    if not address:
        return _engine(settings), None
    from embeddings.encoder import Encoder
    from service.ops import cluster
    from service.ops.engine import Engine

    try:
        cluster.connect(address)
        spec = cluster.EncoderSpec(settings.model_path, settings.encoder, settings.model_cache_dir)
        local = Encoder.load(spec.model_path, spec.backend, spec.cache_dir)
        encoder = cluster.cluster_encoder(local, spec)
    except cluster.ClusterError as exc:
        cluster.disconnect()
        raise CliError(str(exc), code=1) from None
    return Engine(settings, encoder=encoder), cluster.RayExecutor()


def _leave_cluster(address: str | None) -> None:
    if address:
        from service.ops import cluster

        cluster.disconnect()


def _serving_engine(settings: Settings) -> Any:
    """An engine with a live index (the default corpus is ingested into an empty store)."""
    engine = _engine(settings)
    engine.bootstrap(settings.corpus_dir)
    if engine.live is None:
        engine.close()
        raise CliError(f"no index could be loaded: {engine.error}")
    return engine


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise CliError(f"no such file or directory: {', '.join(missing)}")
    files = list(iter_files(args.paths))
    if not files:
        raise CliError(
            "no article files found; supported types: " + ", ".join(sorted(SUPPORTED_SUFFIXES))
        )
    engine, executor = _cluster(settings, args.ray)

    def acknowledge(outcome: str, article_id: str) -> None:
        # Printed only once the article is durably stored: a line here survives a crash.
        print(f"{outcome:9s} {article_id}", flush=True)

    try:
        with tqdm(total=len(files), unit="file", disable=len(files) < 20, file=sys.stderr) as bar:
            report = engine.ingest(
                files,
                on_file=lambda _: bar.update(),
                on_article=acknowledge,
                workers=args.workers,
                executor=executor,
            )
        for message in report.failed:
            print(f"failed    {message}", file=sys.stderr)
        for article_id, canonical in report.duplicates.items():
            print(f"duplicate {article_id} (of {canonical}; not indexed separately)")
        print(
            f"{len(report.added)} added, {len(report.replaced)} replaced, "
            f"{len(report.unchanged)} unchanged, {len(report.failed)} failed",
            flush=True,
        )
        if not args.no_index:
            # Also when nothing changed now: an earlier run may have stored articles and
            # died before indexing them.
            _print_update(engine.update_index(), engine)
        elif report.changed:
            print("index not updated (--no-index); run `briefing rebuild` to make them answerable")
    finally:
        engine.close()
        _leave_cluster(args.ray)
    if report.failed:
        print(
            "briefing: some files were not ingested (see above); fix them and run again",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return 0


def _print_update(stats: Any, engine: Any) -> None:
    if stats is None:
        print(f"index is up to date (version {engine.live.index.version})")
        return
    print(
        f"index updated: {stats.sentences} sentences from {stats.articles} articles "
        f"({stats.embedded} texts embedded) in {stats.seconds:.1f}s; "
        f"version {engine.live.index.version}",
        flush=True,
    )


def _delete(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    try:
        gone = engine.withdraw(args.ids)
        for article_id in gone:
            print(f"deleted   {article_id}", flush=True)
        missing = [a for a in args.ids if a not in gone]
        if gone and not args.no_index:
            try:
                _print_update(engine.update_index(), engine)
            except NoIndexError:
                # The last version stays live; it quotes nothing from withdrawn articles.
                print("briefing: no articles are left to index", file=sys.stderr)
    finally:
        engine.close()
    if missing:
        print(f"briefing: no such article: {', '.join(missing)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    from service.ops.watch import Event, Watcher

    if not args.folders and not args.feed:
        raise CliError("give at least one folder or --feed URL to watch")
    missing = [str(p) for p in args.folders if not p.is_dir()]
    if missing:
        raise CliError(f"not a folder: {', '.join(missing)}")
    bad = [u for u in args.feed if not u.startswith(("http://", "https://"))]
    if bad:
        raise CliError(f"feeds must be http(s) URLs: {', '.join(bad)}")
    if args.interval <= 0 or args.feed_interval <= 0:
        raise CliError("--interval and --feed-interval must be positive")

    def show(event: Event) -> None:
        if event.kind == "failed":
            print(f"failed    {event.where}: {event.subject}", file=sys.stderr, flush=True)
        elif event.kind == "indexed":
            print(f"indexed   {event.subject} ({event.where})", flush=True)
        else:
            print(f"{event.kind:9s} {event.subject} ({event.where})", flush=True)

    engine = _engine(settings)
    watcher = Watcher(engine, args.folders, args.feed, on_event=show)
    try:
        if args.once:
            watcher.run_once()
            return 0
        where = ", ".join([str(f) for f in args.folders] + args.feed)
        print(f"watching {where}; Ctrl-C to stop", file=sys.stderr, flush=True)
        watcher.run(args.interval, args.feed_interval, threading.Event())
    finally:
        watcher.close()
        engine.close()
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    engine, _ = _cluster(settings, args.ray)
    try:
        if engine.store.count() == 0:
            raise CliError(
                f"no articles in {settings.data_dir}; add some with `briefing ingest PATH`"
            )
        stats = engine.rebuild(progress=sys.stderr.isatty())
        live = engine.live
        assert live is not None
        print(
            f"index {live.index.version}: {stats.sentences} sentences, {stats.passages} passages "
            f"from {stats.articles} articles ({stats.embedded} texts embedded) "
            f"in {stats.seconds:.1f}s"
        )
    finally:
        engine.close()
        _leave_cluster(args.ray)
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from service.answering.search import Filters

    if not 1 <= args.top_k <= 10:
        raise CliError("--top-k must be between 1 and 10")
    question = args.question.strip()
    if not question or len(question) > 1000:
        raise CliError("the question must be 1 to 1000 characters")
    dates = _dates(args, ("after", "before"))
    engine = _serving_engine(settings)
    try:
        filters = Filters(
            source=args.source,
            published_after=dates.get("after"),
            published_before=dates.get("before"),
        )
        result = engine.ask(question, top_k=args.top_k, filters=filters)
    finally:
        engine.close()
    a = result.answer
    if args.json:
        import secrets

        from service.api.responses import to_response

        # Same shape as POST /ask; the CLI keeps no conversation, so the id is fresh.
        response = to_response(result, question, secrets.token_urlsafe(16))
        print(json.dumps(response.model_dump(), indent=2, ensure_ascii=False))
        return 0
    if not a.answered:
        print(f"{a.answer} (confidence {a.confidence:.2f})")
        return 0
    for q in a.quotes:
        print(textwrap.fill(f"“{q.text}” [{q.citation}]", width=100))
        print()
    _print_citations(a.citations)
    print(f"\nconfidence {a.confidence:.2f} · index {result.index_version}")
    return 0


def _brief(args: argparse.Namespace, settings: Settings) -> int:
    from service.answering.briefing import MAX_POINTS, BriefingRequest

    if not 1 <= args.max <= MAX_POINTS:
        raise CliError(f"--max must be between 1 and {MAX_POINTS}")
    topic = args.topic.strip()
    if not topic or len(topic) > 300:
        raise CliError("the topic must be 1 to 300 characters")
    dates = _dates(args, ("since", "until"))
    if dates.get("since") and dates.get("until") and dates["since"] > dates["until"]:
        raise CliError("--since is later than --until")
    engine = _serving_engine(settings)
    try:
        request = BriefingRequest(
            topic, max_points=args.max, since=dates.get("since"), until=dates.get("until")
        )
        briefing = engine.brief(request)
    finally:
        engine.close()
    if args.json:
        from service.api.responses import to_brief_response

        print(json.dumps(to_brief_response(briefing).model_dump(), indent=2, ensure_ascii=False))
        return 0
    if not briefing.points:
        print(briefing.message)
        return 0
    dates_of = {c.n: c.article.published for c in briefing.citations}
    for point in briefing.points:
        when = dates_of.get(point.citation) or "undated"
        print(textwrap.fill(f"{when}  “{point.text}” [{point.citation}]", width=100))
        print()
    _print_citations(briefing.citations)
    print(f"\nindex {briefing.index_version}")
    return 0


def _dates(args: argparse.Namespace, flags: tuple[str, ...]) -> dict[str, str]:
    from corpus.dates import parse_date

    dates = {}
    for flag in flags:
        value = getattr(args, flag)
        if value is not None:
            iso = parse_date(value)
            if iso is None:
                raise CliError(f"--{flag} {value!r} is not a date; use YYYY-MM-DD")
            dates[flag] = iso
    return dates


def _print_citations(citations: Any) -> None:
    for c in citations:
        ref = c.article
        meta = ", ".join(x for x in (ref.source, ref.published, ref.url) if x)
        print(f"[{c.n}] {ref.title}" + (f" — {meta}" if meta else "") + f"  (id: {ref.id})")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.api.app import create_app

    if not settings.corpus_dir.exists():
        raise CliError(f"corpus directory {settings.corpus_dir} does not exist")
    if settings.shards:
        from service.ops import cluster

        try:  # here, to fail before serving rather than in the background start-up
            cluster.connect(settings.ray_address or "local")
        except cluster.ClusterError as exc:
            cluster.disconnect()
            raise CliError(str(exc), code=1) from None
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # the app logs each request itself, with its request id
    )
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from service.evaluation.runner import format_table, run_eval
    from service.evaluation.squad import SquadError

    if args.news is not None:
        return _eval_news(args, settings)
    if not args.squad:
        raise CliError("give --squad FILE (SQuAD-format questions) or --news DIR")
    missing = [str(p) for p in args.squad if not p.is_file()]
    if missing:
        raise CliError(f"no such file: {', '.join(missing)}")
    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1")
    if args.data_dir is not None and args.data_dir.exists() and any(args.data_dir.iterdir()):
        raise CliError(f"{args.data_dir} is not empty; eval needs a fresh data directory")
    if args.conversations is not None:
        return _eval_conversations(args, settings)
    if args.briefings:
        return _eval_briefings(args, settings)
    with tempfile.TemporaryDirectory(prefix="briefing-eval-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        try:
            report = run_eval(
                args.squad,
                settings.model_copy(update={"data_dir": data_dir}),
                limit=args.limit,
                seed=args.seed,
                progress=sys.stderr.isatty(),
                ablation=args.ablation,
            )
        except SquadError as exc:
            raise CliError(str(exc)) from exc
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


def _eval_news(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from service.evaluation.news import NewsSetError, format_news_table, load_news, run_news_eval

    if not args.news.is_dir():
        raise CliError(f"no such folder: {args.news}")
    if args.data_dir is not None and args.data_dir.exists() and any(args.data_dir.iterdir()):
        raise CliError(f"{args.data_dir} is not empty; eval needs a fresh data directory")
    try:
        news = load_news(args.news)
    except NewsSetError as exc:
        raise CliError(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="briefing-eval-") as tmp:
        report = run_news_eval(
            news,
            settings.model_copy(update={"data_dir": args.data_dir or Path(tmp)}),
            progress=sys.stderr.isatty(),
            ablation=args.ablation,
        )
    print(json.dumps(report, indent=2) if args.json else format_news_table(report))
    return 0


def _eval_briefings(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from service.answering.briefing import MAX_POINTS
    from service.evaluation.briefings import format_briefing_table, run_briefing_eval
    from service.evaluation.squad import SquadError

    if not 1 <= args.max <= MAX_POINTS:
        raise CliError(f"--max must be between 1 and {MAX_POINTS}")
    with tempfile.TemporaryDirectory(prefix="briefing-eval-") as tmp:
        try:
            report = run_briefing_eval(
                args.squad,
                settings.model_copy(update={"data_dir": args.data_dir or Path(tmp)}),
                max_points=args.max,
                progress=sys.stderr.isatty(),
            )
        except SquadError as exc:
            raise CliError(str(exc)) from exc
    print(json.dumps(report, indent=2) if args.json else format_briefing_table(report))
    return 0


def _eval_conversations(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from corpus.readers import iter_files, read_path
    from service.evaluation.conversations import (
        ConversationSetError,
        format_conversation_table,
        load_scripts,
        run_conversation_eval,
    )
    from service.evaluation.squad import SquadError, load_squad

    if not args.conversations.is_file():
        raise CliError(f"no such file: {args.conversations}")
    try:
        scripts = load_scripts(args.conversations)
        articles = [a for f in iter_files([settings.corpus_dir]) for a in read_path(f)]
        articles += load_squad(args.squad).articles
        with tempfile.TemporaryDirectory(prefix="briefing-eval-") as tmp:
            report = run_conversation_eval(
                scripts,
                articles,
                settings.model_copy(update={"data_dir": args.data_dir or Path(tmp)}),
                progress=sys.stderr.isatty(),
                ablation=args.ablation,
            )
    except (ConversationSetError, SquadError) as exc:
        raise CliError(str(exc)) from exc
    print(json.dumps(report, indent=2) if args.json else format_conversation_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
