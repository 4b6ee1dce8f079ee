"""Prometheus metrics of one app, in their own registry (several apps may share a process).

Request counts and latencies are observed by ``RequestContextMiddleware``; answers by the
``/ask`` route; the index, job queue and conversations are read when scraped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.answering.conversation import ConversationsUnavailableError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    """The app's counters and histograms, and a collector over its live state."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "briefing_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "briefing_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.asks = Counter(
            "briefing_ask",
            "Questions asked through /ask, answered or abstained",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("answered", "abstained"):
            self.asks.labels(outcome)

    def watch(self, state: Any) -> None:
        """Report the engine and jobs of ``state`` (the app's state) when scraped."""
        self.registry.register(_StateCollector(state))

    def render(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        engine = getattr(self.state, "engine", None)
        jobs = getattr(self.state, "jobs", None)
        if engine is None or jobs is None:
            return
        live = engine.live
        manifest = live.index.manifest if live else {}
        counts = manifest.get("counts", {})
        age = GaugeMetricFamily(
            "briefing_index_age_seconds", "Seconds since the live index version was built"
        )
        if manifest.get("created_at"):
            built = dt.datetime.fromisoformat(manifest["created_at"])
            age.add_metric([], (dt.datetime.now(dt.UTC) - built).total_seconds())
        yield age
        for name in ("articles", "sentences"):
            gauge = GaugeMetricFamily(
                f"briefing_index_{name}", f"{name.capitalize()} in the live index"
            )
            gauge.add_metric([], float(counts.get(name, 0)))
            yield gauge
        ready = GaugeMetricFamily("briefing_ready", "1 once an index is live, else 0")
        ready.add_metric([], 1.0 if live else 0.0)
        yield ready
        pending = GaugeMetricFamily("briefing_jobs_pending", "Index jobs not yet in the index")
        pending.add_metric([], float(jobs.pending()))
        yield pending
        failed = GaugeMetricFamily(
            "briefing_jobs_failed", "Index jobs whose update failed since the server started"
        )
        failed.add_metric([], float(jobs.failures))
        yield failed
        conversations = GaugeMetricFamily(
            "briefing_conversations_live", "Conversations kept (in memory or in Redis)"
        )
        # Redis unreachable: no figure rather than a wrong one.
        with contextlib.suppress(ConversationsUnavailableError):
            conversations.add_metric([], float(len(engine.conversations)))
        yield conversations
