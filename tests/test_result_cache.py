"""The result cache: its key and bounds and what it refuses to keep (logic), then end to end on a
real service (gRPC and HTTP doors, Ray workers, containers) and on the embedded engine of ``score``:
hits, concurrent identical requests run once, excluded verdicts run again, metrics, the off switch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox_service import Client
from sandbox_service.client import AsyncClient
from sandbox_service.config import Settings
from sandbox_service.engine import Engine
from sandbox_service.models import Limits
from sandbox_service.result_cache import ResultCache, _scored_bytes, cache_key, why_uncacheable
from sandbox_service.v1 import sandbox_pb2 as pb

from .conftest import (
    LoopThread,
    RayCluster,
    ServiceHarness,
    code_request,
    free_port,
    make_settings,
    service_settings,
    stdio,
    verdict,
    verdicts,
)


def py(source: str, expected: str = "", rid: str = "t", **code: Any) -> pb.ScoreRequest:
    return code_request("python", source, [stdio("", expected)], rid=rid, **code)


# -- logic: key, bounds, policy -------------------------------------------------------------------
def key_of(request: pb.ScoreRequest, version: str = "v1") -> bytes:
    return cache_key(request.SerializeToString(), request.id, version)


def test_key_ignores_the_id_and_nothing_else() -> None:
    base = py("print(1)", "1", rid="a")
    assert key_of(base) == key_of(py("print(1)", "1", rid="another id, much longer" * 10))
    assert key_of(base) == key_of(py("print(1)", "1", rid=""))
    different = [
        py("print(2)", "1"),  # source
        py("print(1)", "2"),  # expected output
        py("print(1)", "1", limits={"time_limit_ms": 500}),
        py("print(1)", "1", stop_on_first_failure=True),
        code_request("python", "print(1)", [stdio("", "1", kind=pb.TOKENS)]),  # checker
        code_request("cpp", "print(1)", [stdio("", "1")]),  # language
        pb.ScoreRequest(math=pb.MathTask(response="1", gold="1")),
    ]
    keys = {key_of(r) for r in different}
    assert len(keys) == len(different) and key_of(base) not in keys
    assert key_of(base, "v1") != key_of(base, "v2"), "the image version is part of the key"


@pytest.mark.parametrize("length", [1, 127, 128, 16_383, 16_384, 20_000])
def test_key_ignores_ids_of_every_length(length: int) -> None:
    """The id's length is a varint of one, two or three bytes: each is cut off the front exactly
    (a view of the payload, not the re-serializing fallback)."""
    for rid in ("x" * length, "é" * (length // 2 or 1)):
        assert isinstance(_scored_bytes(py("print(1)", rid=rid).SerializeToString(), rid), memoryview)
        assert key_of(py("print(1)", "1", rid=rid)) == key_of(py("print(1)", "1", rid=""))
        assert key_of(py("print(1)", "1", rid=rid)) != key_of(py("print(2)", "1", rid=rid))


def test_key_strips_an_id_that_does_not_lead() -> None:
    """Serializers write fields in number order; bytes that put ``id`` last are still the same
    request (re-serialized rather than cut)."""
    request = py("print(1)", "1", rid="late")
    code_only = pb.ScoreRequest(code=request.code).SerializeToString()
    id_last = code_only + pb.ScoreRequest(id="late").SerializeToString()
    assert pb.ScoreRequest.FromString(id_last) == request
    assert cache_key(id_last, "late", "v") == key_of(request, "v")


def test_lru_bounds_entries_and_bytes_and_counts() -> None:
    cache = ResultCache(max_entries=3, max_bytes=10_000)
    for i in range(3):
        cache.put(bytes([i]), b"x" * 10)
    assert cache.get(bytes([0])) == b"x" * 10  # 0 is now the most recently used
    cache.put(b"\x03", b"y")
    assert cache.get(b"\x01") is None, "the least recently used went first"
    assert cache.get(bytes([0])) is not None and len(cache) == 3 and cache.evictions == 1
    assert (cache.hits, cache.misses) == (2, 1)

    small = ResultCache(max_entries=100, max_bytes=3 * (1 + 1000 + 200))
    for i in range(5):
        small.put(bytes([i]), b"z" * 1000)
    assert len(small) == 3 and small.evictions == 2 and small.bytes <= small.max_bytes
    small.put(b"big", b"z" * 10_000)  # larger than the whole bound: not kept, nothing evicted for it
    assert small.get(b"big") is None and len(small) == 3
    small.put(b"\x04", b"w")  # replacing an entry re-counts its bytes
    assert small.bytes == 2 * 1201 + 1 + 1 + 200


LIMITS = Limits(
    time_limit_ms=1000,
    wall_time_limit_ms=3000,
    memory_limit_mb=100,
    max_output_bytes=1 << 20,
    compile_time_limit_ms=10_000,
)


def answer(*tests: pb.TestResult, **fields: Any) -> pb.ScoreResponse:
    bad = [t.verdict for t in tests if t.verdict != pb.ACCEPTED]
    return pb.ScoreResponse(verdict=bad[0] if bad else pb.ACCEPTED, tests=tests, **fields)


def tr(v: int = pb.ACCEPTED, **fields: Any) -> pb.TestResult:
    """A test result well inside ``LIMITS`` unless ``fields`` say otherwise."""
    return pb.TestResult(**{"verdict": v, "time_ms": 10, "wall_ms": 20, "memory_kb": 5_000, **fields})


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (answer(tr(), tr()), None),
        (answer(tr(), tr(pb.WRONG_ANSWER)), None),
        (answer(tr(pb.RUNTIME_ERROR, exit_code=1)), None),
        (answer(tr(pb.OUTPUT_LIMIT_EXCEEDED)), None),  # bytes are counted, not timed
        (answer(tr(pb.COMPILE_ERROR, message="compilation failed")), None),
        (answer(tr(pb.WRONG_ANSWER), tr(pb.SKIPPED)), None),
        (answer(tr(), tr(pb.SANDBOX_ERROR)), "sandbox_error"),
        (answer(tr(pb.TIME_LIMIT_EXCEEDED, message="wall-clock limit exceeded")), "time_limit"),
        (answer(tr(pb.TIME_LIMIT_EXCEEDED, message="CPU time limit of 1000 ms exceeded")), "time_limit"),
        (answer(tr(pb.MEMORY_LIMIT_EXCEEDED)), "memory_limit"),
        (answer(tr(pb.COMPILE_ERROR, message="compilation exceeded 10000 ms")), "compile_limit"),
        (answer(tr(pb.COMPILE_ERROR, message="compilation exceeded 1024 MB")), "compile_limit"),
        (answer(tr(pb.RUNTIME_ERROR, signal=9, exit_code=-9)), "killed"),
        (answer(tr(pb.RUNTIME_ERROR, signal=11, exit_code=-11)), None),
        (answer(pb.TestResult(verdict=pb.ACCEPTED, time_ms=801)), "near_limit"),  # CPU
        (answer(pb.TestResult(verdict=pb.ACCEPTED, wall_ms=1501)), "near_limit"),  # wall
        (answer(pb.TestResult(verdict=pb.WRONG_ANSWER, memory_kb=82_000)), "near_limit"),  # memory
        (answer(pb.TestResult(verdict=pb.ACCEPTED, time_ms=799, wall_ms=1499, memory_kb=81_000)), None),
        (pb.ScoreResponse(error=pb.RequestError(code="INVALID_ARGUMENT")), "refused"),
        (pb.ScoreResponse(), "unspecified"),
    ],
)
def test_what_is_never_cached(response: pb.ScoreResponse, reason: str | None) -> None:
    assert why_uncacheable(response, LIMITS) == reason


def test_math_is_cached_unless_the_verifier_ran_out_of_time() -> None:
    graded = pb.ScoreResponse(
        verdict=pb.WRONG_ANSWER, tests=[tr(pb.WRONG_ANSWER, time_ms=5_000)], math=pb.MathDetail(reason="x")
    )
    assert why_uncacheable(graded, None) is None
    graded.math.reason = "timeout: verification exceeded its 1000 ms budget"
    assert why_uncacheable(graded, None) == "math_timeout"


def test_the_off_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().result_cache_on
    monkeypatch.setenv("SANDBOX_RESULT_CACHE", "0")
    assert not Settings().result_cache_on
    monkeypatch.delenv("SANDBOX_RESULT_CACHE")
    assert not Settings(result_cache_entries=0).result_cache_on
    assert not Settings(result_cache_mb=0).result_cache_on
    assert Engine(Settings(result_cache=False), result_cache=True).cache is None
    assert Engine(Settings(), result_cache=True).cache is not None
    assert Engine(Settings()).cache is None, "workers' engines never cache: the front end does"


# -- end to end: the service ---------------------------------------------------------------------


DEDUP_WAIT_MS = 2_000


@pytest.fixture(scope="module")
def cached(loop_thread: LoopThread, ray_cluster: RayCluster) -> Iterator[ServiceHarness]:
    """A service with the cache on: one one-container worker per node, gRPC and HTTP doors.
    Followers wait up to 2 s for their leader (``DEDUP_WAIT_MS``): these tests keep identical
    requests in flight with programs that sleep up to 1.5 s, short next to that wait."""
    harness = ServiceHarness(
        loop_thread,
        service_settings(
            result_cache=True,
            worker_resource="sandbox_small",
            http_port=0,
            metrics_port=free_port(),
            dedup_wait_ms=DEDUP_WAIT_MS,
        ),
    )
    yield harness
    harness.stop()


def completed(service: ServiceHarness) -> int:
    """Samples the workers ran (whatever the front end answered from its cache is not counted)."""
    return sum(s["completed"] for s in service.worker_stats().values())


def cache_of(service: ServiceHarness) -> ResultCache:
    cache = service.dispatcher.cache
    assert cache is not None
    return cache


@pytest.mark.docker
def test_a_repeat_is_a_hit_with_its_own_id(cached: ServiceHarness) -> None:
    cache = cache_of(cached)
    before, hits = completed(cached), cache.hits
    request = py("print(input() if False else 41 + 1)", "42", rid="first")
    with Client(cached.address) as client:
        first = client.score(request)
        request.id = "second"
        second = client.score(request)
    assert verdict(first) == verdict(second) == "ACCEPTED"
    assert (first.id, first.cached) == ("first", False)
    assert (second.id, second.cached) == ("second", True)
    assert second.tests == first.tests and second.worker == first.worker
    assert second.timing.queue_ms == 0
    assert cache.hits == hits + 1 and completed(cached) == before + 1, "the repeat never reached a worker"


@pytest.mark.docker
def test_identical_requests_in_flight_run_once(cached: ServiceHarness) -> None:
    cache = cache_of(cached)
    before, deduplicated = completed(cached), cache.deduplicated
    requests = [py("import time\ntime.sleep(0.8)\nprint(7)", "7", rid=f"g{i}") for i in range(8)]
    with Client(cached.address) as client:
        responses = list(client.score_many(requests, window=8))
    assert sorted(r.id for r in responses) == sorted(r.id for r in requests)
    assert [verdict(r) for r in responses] == ["ACCEPTED"] * 8
    assert sorted(r.cached for r in responses) == [False] + [True] * 7
    assert cache.deduplicated == deduplicated + 7
    assert completed(cached) == before + 1, "eight identical samples, one run"


@pytest.mark.docker
def test_followers_of_a_sleeper_stop_waiting_and_run_on_their_own(cached: ServiceHarness) -> None:
    """A leader that will end on its wall limit (not cacheable) holds its followers only
    ``dedup_wait_ms`` past its CPU limit: three copies of a 6 s sleeper (0.5 s CPU limit) are
    released at ~2.5 s and end by ~9 s, not 2 x 6 s, every one TIME_LIMIT_EXCEEDED from its own run."""
    cache = cache_of(cached)
    before, released = completed(cached), cache.released
    sleeper = py(
        f"import time\ntime.sleep(30)  # {uuid.uuid4()}",
        "",
        limits={"time_limit_ms": 500, "wall_time_limit_ms": 6000},
    )
    t0 = time.monotonic()
    with Client(cached.address) as client:
        responses = list(client.score_many([sleeper] * 3, window=3))
    elapsed = time.monotonic() - t0
    assert [verdict(r) for r in responses] == ["TIME_LIMIT_EXCEEDED"] * 3
    assert not any(r.cached for r in responses)
    assert cache.released == released + 2
    assert completed(cached) == before + 3
    assert elapsed < 2 * 6.0, f"the followers waited for the leader's wall limit: {elapsed:.1f}s"


@pytest.mark.docker
def test_excluded_verdicts_run_every_time(cached: ServiceHarness) -> None:
    cache = cache_of(cached)
    spin = py("while True: pass", "", limits={"time_limit_ms": 200, "wall_time_limit_ms": 1000})
    checker_fails = code_request(
        "python",
        "print(1)",
        [stdio("", "1", kind=pb.CUSTOM, checker_source="import sys\nsys.exit(3)", checker_language="python")],
    )
    near_wall = py(
        "import time\ntime.sleep(1.2)\nprint(1)",
        "1",
        limits={"time_limit_ms": 1000, "wall_time_limit_ms": 2000},
    )
    skipped = dict(cache.uncacheable)
    before = completed(cached)
    with Client(cached.address) as client:
        # Three identical in flight: the followers run on their own once the first proves uncacheable.
        spins = list(client.score_many([spin] * 3, window=3))
        again = client.score(spin)
        sandbox = [client.score(checker_fails), client.score(checker_fails)]
        near = [client.score(near_wall), client.score(near_wall)]
    assert [verdict(r) for r in [*spins, again]] == ["TIME_LIMIT_EXCEEDED"] * 4
    assert [verdict(r) for r in sandbox] == ["SANDBOX_ERROR"] * 2
    assert {verdict(r) for r in near} <= {"ACCEPTED", "TIME_LIMIT_EXCEEDED"}
    assert not any(r.cached for r in [*spins, again, *sandbox, *near])
    assert completed(cached) == before + 8, "every one of them ran"

    def grew(reason: str) -> int:
        return cache.uncacheable.get(reason, 0) - skipped.get(reason, 0)

    assert grew("time_limit") >= 4 and grew("sandbox_error") == 2
    assert grew("near_limit") + grew("time_limit") - 4 == 2


@pytest.mark.docker
def test_cacheable_failures_and_math_are_cached(cached: ServiceHarness) -> None:
    crash = py("raise SystemExit(3)", "")
    wrong = code_request("python", "print(1)", [stdio("", "1"), stdio("", "2")], stop_on_first_failure=False)
    math = pb.ScoreRequest(id="m", math=pb.MathTask(response="so $\\boxed{\\frac{1}{2}}$", gold="0.5"))
    with Client(cached.address) as client:
        pairs = [(client.score(r), client.score(r)) for r in (crash, wrong, math)]
    for first, second in pairs:
        assert not first.cached and second.cached
        assert verdicts(first) == verdicts(second)
    assert verdict(pairs[0][0]) == "RUNTIME_ERROR"
    assert verdicts(pairs[1][0]) == ["ACCEPTED", "WRONG_ANSWER"]
    assert verdict(pairs[2][1]) == "ACCEPTED" and pairs[2][1].math == pairs[2][0].math
    assert pairs[2][1].id == "m"


@pytest.mark.docker
def test_a_cancelled_leader_hands_over_to_its_follower(
    cached: ServiceHarness, loop_thread: LoopThread
) -> None:
    # A program of its own (a hit of an earlier run would answer at once).
    request = py(f"import time\ntime.sleep(1.5)\nprint(3)  # {uuid.uuid4()}", "3")

    async def scenario() -> tuple[grpc.StatusCode, pb.ScoreResponse]:
        async with AsyncClient(cached.address, retries=0) as client:
            leader = asyncio.ensure_future(client.score(request, timeout=0.5))
            await asyncio.sleep(0.2)
            follower = asyncio.ensure_future(client.score(request))
            try:
                await leader
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            return code, await follower

    code, answer_ = loop_thread.run(scenario())
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert verdict(answer_) == "ACCEPTED" and not answer_.cached, f"the follower ran in its place: {answer_}"
    assert cached.dispatcher._following == 0 and not cached.dispatcher._leaders


@pytest.mark.docker
def test_http_door_and_metrics(cached: ServiceHarness) -> None:
    assert cached.service.http is not None
    cache = cache_of(cached)
    hits = cache.hits
    url = f"http://127.0.0.1:{cached.service.http.port}/run_code"
    body = json.dumps({"code": "print('door')", "language": "python"}).encode()
    answers = []
    for _ in range(2):
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            answers.append(json.loads(resp.read()))
    assert [a["run_result"]["stdout"] for a in answers] == ["door\n"] * 2
    assert cache.hits == hits + 1
    text = urllib.request.urlopen(
        f"http://127.0.0.1:{cached.service.metrics_port}/metrics", timeout=10
    ).read()
    found = {s.name: s.value for f in text_string_to_metric_families(text.decode()) for s in f.samples}
    assert found["sandbox_result_cache_hits_total"] == cache.hits >= 1
    assert found["sandbox_result_cache_misses_total"] == cache.misses >= 1
    assert found["sandbox_result_cache_deduplicated_total"] == cache.deduplicated
    assert found["sandbox_result_cache_entries"] == len(cache) >= 1
    assert found["sandbox_result_cache_bytes"] == cache.bytes > 0
    assert "sandbox_result_cache_evictions_total" in found


@pytest.mark.docker
def test_off_the_service_runs_every_copy(service: ServiceHarness) -> None:
    assert service.dispatcher.cache is None  # the shared service runs with SANDBOX_RESULT_CACHE off
    with Client(service.address) as client:
        a = client.score(py("print(5)", "5", rid="a"))
        b = client.score(py("print(5)", "5", rid="b"))
    assert not a.cached and not b.cached and b.id == "b"


@contextlib.contextmanager
def _embedded(loop_thread: LoopThread, **settings: Any) -> Iterator[tuple[Engine, ResultCache]]:
    """A started embedded engine with its result cache, as ``score`` runs it; closed afterwards."""
    engine = Engine(make_settings(**settings), result_cache=True)
    loop_thread.run(engine.start())
    try:
        assert engine.cache is not None
        yield engine, engine.cache
    finally:
        loop_thread.run(engine.close())


async def _copies(engine: Engine, request: pb.ScoreRequest, n: int, prefix: str) -> list[pb.ScoreResponse]:
    """``n`` identical copies of ``request`` (ids ``<prefix>0``...) scored at once."""
    copies = [pb.ScoreRequest(id=f"{prefix}{i}", code=request.code) for i in range(n)]
    return list(await asyncio.gather(*(engine.score(r) for r in copies)))


# -- end to end: the embedded engine of `score` ----------------------------------------------------
@pytest.mark.docker
def test_embedded_engine_caches_and_deduplicates(loop_thread: LoopThread, docker_client: Any) -> None:
    with _embedded(loop_thread, pool_size=1, dedup_wait_ms=DEDUP_WAIT_MS) as (engine, cache):
        slow = py("import time\ntime.sleep(0.5)\nprint(1)", "1")

        t0 = time.monotonic()
        answers = loop_thread.run(_copies(engine, slow, 4, "c"))
        elapsed = time.monotonic() - t0
        assert [a.id for a in answers] == ["c0", "c1", "c2", "c3"]
        assert [a.cached for a in answers] == [False, True, True, True]
        assert cache.deduplicated == 3 and len(cache) == 1
        assert elapsed < 4 * 0.5, "one container, four copies: they did not run one after another"
        again = loop_thread.run(engine.score(pb.ScoreRequest(id="later", code=slow.code)))
        assert again.cached and again.id == "later" and cache.hits == 1
        spin = py("while True: pass", "", limits={"time_limit_ms": 200, "wall_time_limit_ms": 1000})
        tle = [loop_thread.run(engine.score(spin)) for _ in range(2)]
        assert [verdict(r) for r in tle] == ["TIME_LIMIT_EXCEEDED"] * 2 and not any(r.cached for r in tle)
        assert cache.uncacheable["time_limit"] == 2


@pytest.mark.docker
def test_embedded_engine_releases_followers_of_a_sleeper(loop_thread: LoopThread, docker_client: Any) -> None:
    """The rule in ``score``'s engine: followers of a leader that sleeps to its wall limit run on
    their own ``dedup_wait_ms`` after it got its container, once it is seen sleeping (the pool grows
    for them)."""
    with _embedded(loop_thread, pool_size=1, dedup_wait_ms=300) as (engine, cache):
        sleeper = py(
            "import time\ntime.sleep(30)", "", limits={"time_limit_ms": 1000, "wall_time_limit_ms": 2500}
        )

        t0 = time.monotonic()
        answers = loop_thread.run(_copies(engine, sleeper, 3, "s"))
        elapsed = time.monotonic() - t0
        assert [verdict(a) for a in answers] == ["TIME_LIMIT_EXCEEDED"] * 3
        assert not any(a.cached for a in answers)
        assert (cache.deduplicated, cache.released) == (2, 2)
        assert elapsed < 2 * 2.5, f"the followers waited for the leader's wall limit: {elapsed:.1f}s"


@pytest.mark.docker
def test_embedded_engine_released_follower_still_waiting_takes_the_leaders_answer(
    loop_thread: LoopThread, docker_client: Any
) -> None:
    """A released follower that has no container yet (one container, no growth) is answered by its
    leader when that ends cacheably: one run for three copies, the copies marked cached."""
    with _embedded(loop_thread, pool_size=1, max_containers=1, dedup_wait_ms=100) as (engine, cache):
        slow = py("import time\ntime.sleep(0.8)\nprint(1)", "1")

        answers = loop_thread.run(_copies(engine, slow, 3, "c"))
        assert [verdict(a) for a in answers] == ["ACCEPTED"] * 3
        assert [a.cached for a in answers] == [False, True, True]
        assert (cache.deduplicated, cache.released) == (2, 2)
        assert engine.pool.stats()["recycles"] == {}, "nothing was cancelled inside a container"


@pytest.mark.docker
def test_embedded_engine_keeps_followers_of_a_cpu_bound_leader(
    loop_thread: LoopThread, docker_client: Any
) -> None:
    """A leader using CPU past ``dedup_wait_ms`` is still waited for: copies would only take cores
    from other samples, and it ends by its CPU limit. One run for three copies."""
    with _embedded(loop_thread, pool_size=2, dedup_wait_ms=100) as (engine, cache):
        spin = py(
            "import time\nwhile time.process_time() < 0.6:\n    pass\nprint(1)",
            "1",
            limits={"time_limit_ms": 2000, "wall_time_limit_ms": 10_000},
        )

        answers = loop_thread.run(_copies(engine, spin, 3, "c"))
        assert [verdict(a) for a in answers] == ["ACCEPTED"] * 3
        assert [a.cached for a in answers] == [False, True, True]
        assert (cache.deduplicated, cache.released) == (2, 0)
