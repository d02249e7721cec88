"""The result cache: a sample scored once is answered from memory when it comes again.

A trainer sends the same program many times: identical completions within a GRPO group, the same
row re-scored, verl's one ``/run_code`` per test of a sample. The front end (``dispatch``, so both
the gRPC and the HTTP door) and the embedded engine of ``sandbox-service score`` keep the answers::

    cache = ResultCache(max_entries=65_536, max_bytes=256 << 20)
    key = cache_key(payload, request.id, image_version)    # payload: the serialized ScoreRequest
    data = cache.get(key)                                   # a serialized ScoreResponse, or None
    ...
    if why_uncacheable(response, task.limits) is None:
        cache.put(key, stored_form(response))

**The key** is a BLAKE2b-256 hash of the runtime image version and the request's bytes without its
``id`` (the only field of a request that is echoed back rather than scored): language, source,
tests, checkers, limits, ``stop_on_first_failure`` or the math task, byte for byte. Two requests that
mean the same but are spelled differently (an alias of the language, a default limit written out)
miss each other; they never wrongly meet. Everything else that decides a verdict is a setting of the
process holding the cache, so the cache lives and dies with them.

**What is never cached** (``why_uncacheable``): a verdict a re-run could decide differently.

- ``SANDBOX_ERROR`` anywhere: the infrastructure failed; the next run may not.
- ``TIME_LIMIT_EXCEEDED``, wall-clock or CPU: wall time depends on the machine's load, and CPU time
  varies by some percent from run to run (frequency, caches, neighbours); a program stopped at its
  limit carries no margin that would tell a hopeless loop from one a quieter machine would accept.
- ``MEMORY_LIMIT_EXCEEDED``: the peak a program reaches depends on allocator and garbage-collector
  timing (Java, JS, Go runtimes size their heaps from the limit); the run was stopped at the limit,
  so again no margin tells how far over it was.
- ``COMPILE_ERROR`` because the compiler hit its time or memory limit (other compile errors are
  deterministic and cached with their diagnostics).
- ``RUNTIME_ERROR`` by ``SIGKILL``: nothing in a clean run sends it but a kill from outside.
- A math grade that ran out of its time budget (reason ``timeout: ...``).
- Any answer with a test *near* a limit, even if it passed: CPU time over ``NEAR_CPU`` of its
  limit, wall time over ``NEAR_WALL`` of its limit, memory over ``NEAR_MEMORY`` of its limit. A
  re-run could land on the other side, so neither side is remembered.
- A refused request (``error`` set) is not an answer at all.

Output truncation (``OUTPUT_LIMIT_EXCEEDED``) counts bytes, not time, and is cached; so are
``WRONG_ANSWER``, other ``RUNTIME_ERROR``\\ s, ``COMPILE_ERROR`` and ``SKIPPED`` (which follows from
the first failing test, cached on the same terms).

**Programs that use randomness or the clock** (``random``, ``time.time()``) may pass one run and
fail the next. The cache does not guess which programs do: the first run's verdict stands for the
cache's lifetime. That keeps the trainer's view consistent (the same sample is scored the same, and
identical completions of a group get the same reward); over many distinct programs the reward's
expectation is unchanged, since the first run is as good a draw as any later one. A deployment that
wants every copy drawn afresh turns the cache off (``SANDBOX_RESULT_CACHE=0``).

Single-threaded: one asyncio loop owns a cache.
"""

from __future__ import annotations

import collections
import hashlib
import signal

from .models import Limits
from .v1 import sandbox_pb2 as pb

__all__ = [
    "NEAR_CPU",
    "NEAR_MEMORY",
    "NEAR_WALL",
    "ResultCache",
    "cache_key",
    "from_cache",
    "stored_form",
    "why_uncacheable",
]

NEAR_CPU = 0.8
"""A test that used more than this fraction of its CPU limit is near it: not cached."""
NEAR_WALL = 0.5
"""A test that used more than this fraction of its wall limit is near it (wall time swings with
load far more than CPU time does): not cached."""
NEAR_MEMORY = 0.8
"""A test whose peak memory was above this fraction of its limit is near it: not cached."""
ENTRY_OVERHEAD = 200
"""Bytes an entry costs beyond its key and value (dict slot, bytes headers): counted in the bound."""

_SIGKILL = int(signal.SIGKILL)
_ALWAYS_RERUN = {
    pb.SANDBOX_ERROR: "sandbox_error",
    pb.TIME_LIMIT_EXCEEDED: "time_limit",
    pb.MEMORY_LIMIT_EXCEEDED: "memory_limit",
    pb.VERDICT_UNSPECIFIED: "unspecified",
}


class ResultCache:
    """An LRU map of key -> serialized ``ScoreResponse``, bounded by entries and by bytes.

    Args:
        max_entries: most answers kept.
        max_bytes: most bytes kept (keys, values and ``ENTRY_OVERHEAD`` each).

    The counters (``hits``, ``misses``, ``evictions``, ``deduplicated``, ``released``, ``uncacheable`` by
    reason) are plain integers, exported by ``ServiceMetrics.watch_cache`` at scrape time.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.deduplicated = 0  # requests that waited for an identical one already running
        self.released = 0  # of those, the ones that stopped waiting (dedup_wait_ms) to run on their own
        self.uncacheable: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> bytes | None:
        """The stored answer (and it becomes the most recently used), or None (a miss)."""
        data = self._entries.get(key)
        if data is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return data

    def put(self, key: bytes, data: bytes) -> None:
        """Keep ``data`` under ``key``, evicting the least recently used past either bound. An
        answer larger than the whole byte bound is not kept."""
        size = len(key) + len(data) + ENTRY_OVERHEAD
        if size > self.max_bytes or self.max_entries <= 0:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(key) + len(old) + ENTRY_OVERHEAD
        self._entries[key] = data
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            gone_key, gone = self._entries.popitem(last=False)
            self.bytes -= len(gone_key) + len(gone) + ENTRY_OVERHEAD
            self.evictions += 1

    def skipped(self, reason: str) -> None:
        """Count an answer not kept, by ``why_uncacheable``'s reason."""
        self.uncacheable[reason] = self.uncacheable.get(reason, 0) + 1


def _scored_bytes(payload: bytes, request_id: str) -> bytes | memoryview:
    """``payload`` (a serialized ``ScoreRequest``) without its ``id`` field.

    Protobuf writes fields in number order, so ``id`` (field 1) leads, serialized exactly as a
    request holding only that id is. Should it not lead (a serializer that orders otherwise), the
    message is re-serialized without it.
    """
    if not request_id:
        return payload  # proto3 leaves an empty string out
    prefix = pb.ScoreRequest(id=request_id).SerializeToString()
    if payload.startswith(prefix):
        return memoryview(payload)[len(prefix) :]
    request = pb.ScoreRequest.FromString(payload)
    request.id = ""
    return request.SerializeToString()


def cache_key(payload: bytes, request_id: str, image_version: str) -> bytes:
    """The cache key of a serialized ``ScoreRequest`` whose ``id`` is ``request_id``, scored on
    runtime image ``image_version``."""
    version = image_version.encode()
    h = hashlib.blake2b(len(version).to_bytes(4, "big") + version, digest_size=32)
    h.update(_scored_bytes(payload, request_id))
    return h.digest()


def why_uncacheable(response: pb.ScoreResponse, limits: Limits | None) -> str | None:
    """Why ``response`` must not be cached (a metric label), or None if it may be (see module doc).

    Args:
        response: the answer.
        limits: the sample's resolved limits (None for a math task).
    """
    if response.error.code:
        return "refused"
    if response.verdict in _ALWAYS_RERUN:
        return _ALWAYS_RERUN[response.verdict]
    if response.HasField("math"):
        return "math_timeout" if response.math.reason.startswith("timeout") else None
    if limits is not None:
        cpu = NEAR_CPU * limits.time_limit_ms
        wall = NEAR_WALL * limits.wall_time_limit_ms
        memory_kb = NEAR_MEMORY * limits.memory_limit_mb * 1024
    for t in response.tests:
        v = t.verdict
        if v in _ALWAYS_RERUN:
            return _ALWAYS_RERUN[v]
        if v == pb.COMPILE_ERROR and t.message.startswith("compilation exceeded"):
            return "compile_limit"
        if v == pb.RUNTIME_ERROR and t.signal == _SIGKILL:
            return "killed"
        if limits is not None and (t.time_ms > cpu or t.wall_ms > wall or t.memory_kb > memory_kb):
            return "near_limit"
    return None


def stored_form(response: pb.ScoreResponse) -> bytes:
    """``response`` serialized as the cache keeps it: without the id of the request that ran it."""
    rid = response.id
    response.id = ""
    try:
        return response.SerializeToString()
    finally:
        response.id = rid


def from_cache(data: bytes, request_id: str, total_ms: float) -> pb.ScoreResponse:
    """A stored answer for the request ``request_id``: ``cached`` set, the id echoed, no queue time,
    ``total_ms`` this request's own; ``run_ms`` and ``worker`` stay those of the run that decided it."""
    response = pb.ScoreResponse.FromString(data)
    response.id = request_id
    response.cached = True
    response.timing.queue_ms = 0
    response.timing.total_ms = round(total_ms)
    return response
