"""Prometheus metrics of the front end, on a registry of its own (several servers may share a process).

Front-end figures are updated as samples flow; per-worker pool figures are the latest snapshot each
worker reported (``Settings.stats_interval_s``), exported by a collector at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ServiceMetrics"]

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


#: Per-worker figures of the CPU admission (``admission.CpuAdmission.stats``), as gauges.
_TEST_GAUGES = {
    "running": "Process runs (tests, compiles, checkers) in progress per worker",
    "cpu_bound": "Runs holding a CPU slot (counted against the cores)",
    "sleeping": "Runs whose CPU slot is lent (using under cpu_idle_fraction of a core)",
    "woken": "Lent runs that want CPU again, waiting for a slot",
    "waiting": "New runs waiting for a CPU slot",
    "cells": "Session cells in progress per worker (counted in running, cpu_bound, sleeping too)",
    "cells_cpu_bound": "Session cells holding a CPU slot",
    "cells_sleeping": "Session cells whose CPU slot is lent",
}


#: Per-worker figures of the compile cache (``compile_cache.CompileCache.stats``): counters, then gauges.
_BUILD_COUNTERS = {
    "hits": "Builds copied in from the compile cache",
    "misses": "Builds compiled (not in the compile cache, or not usable)",
    "waits": "Builds that waited for an identical one under way",
    "evictions": "Compile cache entries removed for its bounds",
}
_BUILD_GAUGES = {"entries": "Builds in the compile cache", "bytes": "Bytes of the compile cache"}


class _WorkerCollector(Collector):
    def __init__(self) -> None:
        self.snapshots: dict[str, dict[str, Any]] = {}

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("sandbox_pool_containers", "Live containers per worker", labels=["worker"])
        idle = GaugeMetricFamily("sandbox_pool_idle", "Idle warm containers per worker", labels=["worker"])
        recycles = CounterMetricFamily(
            "sandbox_pool_recycles", "Containers replaced, by reason", labels=["worker", "reason"]
        )
        live = GaugeMetricFamily("sandbox_sessions_live", "Live sessions per worker", labels=["worker"])
        closed = CounterMetricFamily(
            "sandbox_sessions_closed", "Sessions ended, by reason", labels=["worker", "reason"]
        )
        tests = {
            key: GaugeMetricFamily(f"sandbox_tests_{key}", doc, labels=["worker"])
            for key, doc in _TEST_GAUGES.items()
        }
        reruns = CounterMetricFamily(
            "sandbox_tests_reruns",
            "Runs re-run holding their CPU slot (wall limit hit after waiting for CPU while lent)",
            labels=["worker"],
        )
        builds = {
            key: CounterMetricFamily(f"sandbox_compile_cache_{key}", doc, labels=["worker"])
            for key, doc in _BUILD_COUNTERS.items()
        }
        build_gauges = {
            key: GaugeMetricFamily(f"sandbox_compile_cache_{key}", doc, labels=["worker"])
            for key, doc in _BUILD_GAUGES.items()
        }
        fanouts = CounterMetricFamily(
            "sandbox_fanouts", "Samples whose tests ran on more than one container", labels=["worker"]
        )
        for name, snap in sorted(self.snapshots.items()):
            cache = snap.get("compile_cache", {})
            for key, counter in builds.items():
                counter.add_metric([name], cache.get(key, 0))
            for key, gauge in build_gauges.items():
                gauge.add_metric([name], cache.get(key, 0))
            fanouts.add_metric([name], snap.get("fanouts", 0))
            size.add_metric([name], snap.get("size", 0))
            idle.add_metric([name], snap.get("idle", 0))
            for reason, n in sorted(snap.get("recycles", {}).items()):
                recycles.add_metric([name, reason], n)
            sessions = snap.get("sessions", {})
            live.add_metric([name], sessions.get("live", 0))
            for reason, n in sorted(sessions.get("closed", {}).items()):
                closed.add_metric([name, reason], n)
            cpu = snap.get("cpu", {})
            for key, family in tests.items():
                family.add_metric([name], cpu.get(key, 0))
            reruns.add_metric([name], cpu.get("reruns", 0))
        yield size
        yield idle
        yield recycles
        yield live
        yield closed
        yield from tests.values()
        yield reruns
        yield from builds.values()
        yield from build_gauges.values()
        yield fanouts


class _CacheCollector(Collector):
    """The result cache's counters, read at scrape time (nothing to update per sample)."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        c = self.cache
        for name, doc, value in (
            ("hits", "Requests answered from the result cache", c.hits),
            ("misses", "Requests the result cache did not hold", c.misses),
            ("evictions", "Answers evicted from the result cache (least recently used)", c.evictions),
            ("deduplicated", "Requests that waited for an identical one in flight", c.deduplicated),
            (
                "released",
                "Requests that stopped waiting for an identical one in flight (dedup_wait_ms)",
                c.released,
            ),
        ):
            yield CounterMetricFamily(f"sandbox_result_cache_{name}", doc, value=value)
        skipped = CounterMetricFamily(
            "sandbox_result_cache_uncacheable", "Answers not cached, by reason", labels=["reason"]
        )
        for reason, n in sorted(c.uncacheable.items()):
            skipped.add_metric([reason], n)
        yield skipped
        yield GaugeMetricFamily("sandbox_result_cache_entries", "Answers in the result cache", value=len(c))
        yield GaugeMetricFamily("sandbox_result_cache_bytes", "Bytes the result cache holds", value=c.bytes)


class ServiceMetrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # Read at scrape time from the dispatcher (see ``watch``): nothing to update per sample.
        self.queue_depth = Gauge("sandbox_queue_depth", "Admitted samples waiting for a worker", registry=r)
        self.in_flight = Gauge("sandbox_in_flight", "Samples sent to workers, not yet answered", registry=r)
        self.workers = Gauge("sandbox_workers", "Live sandbox workers", registry=r)
        self.samples = Counter(
            "sandbox_samples", "Answered samples by overall verdict", ["verdict", "language"], registry=r
        )
        self.rejected = Counter(
            "sandbox_rejected", "Requests refused, by gRPC status", ["status"], registry=r
        )
        self.requeued = Counter("sandbox_requeued", "Samples re-queued after their worker died", registry=r)
        self.worker_deaths = Counter("sandbox_worker_deaths", "Workers lost", registry=r)
        self.latency = Histogram(
            "sandbox_latency_seconds", "Admission to answer", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.queue_latency = Histogram(
            "sandbox_queue_seconds", "Admission to a container", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.sessions_opened = Counter("sandbox_sessions_opened", "Sessions opened", registry=r)
        self.session_cells = Counter("sandbox_session_cells", "Cells run, by status", ["status"], registry=r)
        self.session_cell_latency = Histogram(
            "sandbox_session_cell_seconds",
            "RunCell, front end to answer",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._children: dict[tuple[str, str], Any] = {}
        self._workers = _WorkerCollector()
        r.register(self._workers)

    def watch(
        self, queued: Callable[[], int], in_flight: Callable[[], int], workers: Callable[[], int]
    ) -> None:
        """Have the three gauges read the dispatcher's state whenever they are scraped."""
        self.queue_depth.set_function(queued)
        self.in_flight.set_function(in_flight)
        self.workers.set_function(workers)

    def watch_cache(self, cache: Any) -> None:
        """Export a ``result_cache.ResultCache``'s counters (read whenever scraped)."""
        self.registry.register(_CacheCollector(cache))

    def sample(self, verdict: str, language: str) -> Any:
        """The per-verdict counter child (cached: ``labels()`` costs a lock and a dict per call)."""
        key = (verdict, language)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.samples.labels(verdict, language)
        return child

    def worker_snapshot(self, name: str, stats: dict[str, Any] | None) -> None:
        """Record a worker's latest pool stats (``None`` forgets a worker that is gone)."""
        if stats is None:
            self._workers.snapshots.pop(name, None)
        else:
            self._workers.snapshots[name] = stats
