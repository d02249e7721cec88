"""The worker's compile cache: unit tests of its bounds and dedup, then real builds in real containers."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox_service.compile_cache import Build, CompileCache
from sandbox_service.runner import Runner
from sandbox_service.v1 import sandbox_pb2 as pb

from .conftest import (
    EngineHarness,
    LoopThread,
    ServiceHarness,
    assertion,
    code_request,
    make_settings,
    stdio,
    verdict,
    verdicts,
    wait_until,
)

ADD = "#include <iostream>\nint main() {{ long long a, b; std::cin >> a >> b; std::cout << a + b + {k} << '\\n'; }}\n"


def ok_build(data: bytes, cpu_ms: float = 10.0, output: str = "") -> Build:
    return Build(True, output, "", cpu_ms, True, artifact=data)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[CompileCache]:
    c = CompileCache("image:1", max_entries=3, max_bytes=1000, directory=str(tmp_path))
    yield c
    c.close()


def build(c: CompileCache, key: str, made: Build, limit: float = 1e9) -> tuple[Build, bool]:
    async def make() -> Build:
        return made

    return asyncio.run(c.build(key, limit, make))


# -- the cache alone ---------------------------------------------------------------------------
def test_key_covers_every_part_and_the_image() -> None:
    a = CompileCache("image:1", 1, 1)
    b = CompileCache("image:2", 1, 1)
    try:
        assert a.key("cpp", "x") != b.key("cpp", "x")  # a new image never sees old builds
        assert a.key("cpp", "ab", "c") != a.key("cpp", "a", "bc")  # parts are length-prefixed
        assert a.key("cpp", "x") == a.key("cpp", "x")
    finally:
        a.close()
        b.close()


def test_hit_returns_the_stored_bytes_from_disk(cache: CompileCache) -> None:
    first, made = build(cache, "k", ok_build(b"\x7fELF-1", output="warning: x"))
    assert made and first.artifact == b"\x7fELF-1"
    again, made = build(cache, "k", ok_build(b"other"))
    assert not made and again.artifact == b"\x7fELF-1" and again.output == "warning: x"
    assert (cache.root / "k").read_bytes() == b"\x7fELF-1"
    assert (cache.hits, cache.misses, len(cache._entries)) == (1, 1, 1)


def test_lru_bounds_by_entries_and_bytes(cache: CompileCache) -> None:
    for key in "abc":
        build(cache, key, ok_build(b"x" * 100))
    build(cache, "a", ok_build(b"unused"))  # a is now the most recently used
    build(cache, "d", ok_build(b"x" * 100))  # 4 entries > 3: b (least recent) goes
    assert sorted(cache._entries) == ["a", "c", "d"] and not (cache.root / "b").exists()
    build(cache, "e", ok_build(b"y" * 750))  # 100 * 3 + 750 > 1000 bytes: c (least recent) goes
    assert list(cache._entries) == ["a", "d", "e"] and cache.bytes == 950
    build(cache, "f", ok_build(b"y" * 200))  # 1150 bytes: a and d go, in that order
    assert list(cache._entries) == ["e", "f"] and cache.bytes == 950
    assert cache.evictions == 4
    assert sorted(p.name for p in cache.root.iterdir()) == ["e", "f"]  # the disk holds what is counted
    build(cache, "huge", ok_build(b"z" * 1001))  # larger than the whole cache: not kept
    assert "huge" not in cache._entries and cache.bytes == 950


def test_compile_errors_are_kept_with_diagnostics_but_not_timeouts(cache: CompileCache) -> None:
    error = Build(False, "prog.cpp:1: error: x was not declared", "compilation failed", 50.0, True)
    build(cache, "bad", error)
    got, made = build(cache, "bad", ok_build(b"never"))
    assert not made and not got.ok and got.output == error.output and got.message == "compilation failed"
    timeout = Build(False, "", "compilation exceeded 100 ms", 100.0, cacheable=False)
    build(cache, "slow", timeout)
    _, made = build(cache, "slow", timeout)
    assert made, "a build that ran out of time must be tried again"


def test_an_entry_serves_only_requests_whose_compile_limit_it_fits(cache: CompileCache) -> None:
    build(cache, "k", ok_build(b"bin", cpu_ms=800.0))
    _, made = build(cache, "k", ok_build(b"bin2", cpu_ms=90.0), limit=100.0)
    assert made and cache.stale == 1  # built again under the tighter limit
    got, made = build(cache, "k", ok_build(b"bin3"), limit=100.0)
    assert not made and got.artifact == b"bin2"


def test_identical_builds_under_way_are_waited_for(cache: CompileCache) -> None:
    calls = 0

    async def make() -> Build:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return ok_build(b"bin")

    async def many() -> list[tuple[Build, bool]]:
        return await asyncio.gather(*(cache.build("k", 1e9, make) for _ in range(5)))

    out = asyncio.run(many())
    assert calls == 1 and [made for _, made in out].count(True) == 1
    assert all(b.artifact == b"bin" for b, _ in out) and cache.waits == 4


def test_a_failed_builder_leaves_nothing_and_its_waiters_build(cache: CompileCache) -> None:
    calls = 0

    async def make() -> Build:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        if calls == 1:
            raise RuntimeError("agent lost")
        return ok_build(b"bin")

    async def two() -> list[Any]:
        return await asyncio.gather(*(cache.build("k", 1e9, make) for _ in range(2)), return_exceptions=True)

    first, second = asyncio.run(two())
    assert isinstance(first, RuntimeError) and second == (ok_build(b"bin"), True) and calls == 2


def test_close_removes_the_directory(tmp_path: Path) -> None:
    c = CompileCache("i", 10, 1000, directory=str(tmp_path))
    build(c, "k", ok_build(b"bin"))
    c.close()
    assert list(tmp_path.iterdir()) == []


def test_dirs_of_owners_killed_without_closing_are_removed(tmp_path: Path) -> None:
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is now free
    stale = tmp_path / f"sandbox-ccache-{gone.pid}-abc"
    stale.mkdir()
    (stale / "k").write_bytes(b"old build")
    live = tmp_path / f"sandbox-ccache-{os.getpid()}-other"  # a live owner's (this process's)
    live.mkdir()
    c = CompileCache("i", 10, 1000, directory=str(tmp_path))
    try:
        assert not stale.exists() and live.exists()
    finally:
        c.close()


# -- real builds ---------------------------------------------------------------------------------
@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the builds that really ran a compiler."""
    calls: list[str] = []
    real = Runner._compile

    async def counting(self: Runner, lease: Any, spec: Any, name: str, limit: int, **kw: Any) -> Any:
        calls.append(name)
        return await real(self, lease, spec, name, limit, **kw)

    monkeypatch.setattr(Runner, "_compile", counting)
    return calls


@pytest.fixture
def cengine(loop_thread: LoopThread) -> Iterator[EngineHarness]:
    """An engine of its own: a fresh, small cache."""
    h = EngineHarness(loop_thread, make_settings(pool_size=2, compile_cache_entries=2, fanout_min_tests=0))
    yield h
    h.close()


def stats(h: EngineHarness) -> dict[str, int]:
    return dict(h.engine.build_stats()["compile_cache"])


@pytest.mark.docker
def test_a_later_sample_with_the_same_program_does_not_compile(
    cengine: EngineHarness, counted: list[str]
) -> None:
    src = ADD.format(k=0)
    first = cengine.score(code_request("cpp", src, [stdio("1 2\n", "3\n")], rid="a"))
    second = cengine.score(code_request("cpp", src, [stdio("2 2\n", "4\n"), stdio("2 2\n", "5\n")], rid="b"))
    assert verdicts(first) == ["ACCEPTED"] and verdicts(second) == ["ACCEPTED", "WRONG_ANSWER"]
    assert counted == ["prog"], "the second sample compiled again"
    assert stats(cengine)["hits"] == 1 and stats(cengine)["misses"] == 1
    assert first.compile_output == second.compile_output


@pytest.mark.docker
def test_compile_error_is_cached_with_its_diagnostics(cengine: EngineHarness, counted: list[str]) -> None:
    src = "int main() { return undefined_name_42; }\n"
    a, b = (cengine.score(code_request("cpp", src, [stdio(), stdio()])) for _ in range(2))
    assert verdicts(a) == verdicts(b) == ["COMPILE_ERROR", "COMPILE_ERROR"]
    assert "undefined_name_42" in b.compile_output and b.compile_output == a.compile_output
    assert b.tests[0].message == a.tests[0].message == "compilation failed"
    assert counted == ["prog"] and stats(cengine)["hits"] == 1


@pytest.mark.docker
def test_the_compile_limit_still_holds_for_a_cached_program(
    cengine: EngineHarness, counted: list[str]
) -> None:
    src = "#include <bits/stdc++.h>\nint main() { std::cout << 7; }\n"
    assert verdict(cengine.score(code_request("cpp", src, [stdio("", "7")]))) == "ACCEPTED"
    tight = cengine.score(code_request("cpp", src, [stdio("", "7")], limits={"compile_time_limit_ms": 100}))
    assert verdict(tight) == "COMPILE_ERROR" and "exceeded" in tight.tests[0].message
    again = cengine.score(code_request("cpp", src, [stdio("", "7")], limits={"compile_time_limit_ms": 100}))
    assert verdict(again) == "COMPILE_ERROR", "a timed-out build was cached"
    assert counted == ["prog"] * 3 and stats(cengine)["stale"] == 2


@pytest.mark.docker
def test_bounded_by_entries_on_disk(cengine: EngineHarness) -> None:
    for k in range(3):
        resp = cengine.score(code_request("cpp", ADD.format(k=k), [stdio("1 1\n", f"{2 + k}\n")]))
        assert verdicts(resp) == ["ACCEPTED"]
    cache = cengine.engine.runner.compile_cache
    assert cache is not None
    assert stats(cengine)["entries"] == 2 and stats(cengine)["evictions"] == 1
    assert len(list(cache.root.iterdir())) == 2
    # the evicted one builds again and is right
    resp = cengine.score(code_request("cpp", ADD.format(k=0), [stdio("1 1\n", "2\n")]))
    assert verdicts(resp) == ["ACCEPTED"] and stats(cengine)["misses"] == 4


@pytest.mark.docker
def test_assertion_builds_are_cached_by_their_whole_source(
    cengine: EngineHarness, counted: list[str]
) -> None:
    src = "int add(int a, int b) { return a + b; }\n"
    tests = [
        assertion("int main() { assert(add(1, 2) == 3); return 0; }"),
        assertion("int main() { assert(add(1, 2) == 4); return 0; }"),
    ]
    a = cengine.score(code_request("c", src, tests))
    b = cengine.score(code_request("c", src, tests))
    c = cengine.score(code_request("c", src + "// another program\n", tests[:1]))
    assert verdicts(a) == verdicts(b) == ["ACCEPTED", "RUNTIME_ERROR"]  # the nonce came with the build
    assert verdicts(c) == ["ACCEPTED"]
    assert counted == ["prog"] * 3 and stats(cengine)["hits"] == 2


@pytest.mark.docker
def test_a_program_cannot_change_the_cached_build(cengine: EngineHarness) -> None:
    """A program that tries to overwrite its own binary (in /box, and as /proc/self/exe) fails to, and
    the cached bytes the next sample gets are the compiler's."""
    src = (
        "#include <cstdio>\n"
        "int main() {\n"
        "  int n = 0;\n"
        '  const char* paths[] = {"/box/prog", "/proc/self/exe"};\n'
        '  for (const char* p : paths) { FILE* f = fopen(p, "r+"); if (f) { fputs("x", f); fclose(f); n++; } }\n'
        '  printf("%d\\n", n);\n'
        "}\n"
    )
    for _ in range(3):
        resp = cengine.score(code_request("cpp", src, [stdio("", "0\n")]))
        assert verdicts(resp) == ["ACCEPTED"], resp.tests[0].stdout_head
    assert stats(cengine)["hits"] == 2


@pytest.mark.docker
def test_custom_checker_is_built_once(cengine: EngineHarness, counted: list[str]) -> None:
    checker = (
        "#include <fstream>\nint main(int, char** argv) { std::ifstream e(argv[2]), a(argv[3]);"
        " long x, y; e >> x; a >> y; return x == y ? 0 : 1; }\n"
    )
    custom = {"kind": pb.CUSTOM, "checker_language": "cpp", "checker_source": checker}
    for rid in ("a", "b"):
        resp = cengine.score(
            code_request("python", "print(int(input()) * 2)\n", [stdio("2\n", "4", **custom)], rid=rid)
        )
        assert verdicts(resp) == ["ACCEPTED"]
    assert counted == ["checker"]


@pytest.mark.docker
def test_cache_off_compiles_every_time(loop_thread: LoopThread, counted: list[str]) -> None:
    h = EngineHarness(loop_thread, make_settings(pool_size=1, compile_cache=False))
    try:
        for _ in range(2):
            assert verdicts(h.score(code_request("cpp", ADD.format(k=9), [stdio("1 1\n", "11\n")]))) == [
                "ACCEPTED"
            ]
        assert counted == ["prog", "prog"] and h.engine.runner.compile_cache is None
    finally:
        h.close()


@pytest.mark.docker
def test_the_cache_dir_goes_with_the_engine(loop_thread: LoopThread, tmp_path: Path) -> None:
    h = EngineHarness(loop_thread, make_settings(pool_size=1, compile_cache_dir=str(tmp_path)))
    assert verdicts(h.score(code_request("cpp", ADD.format(k=5), [stdio("1 1\n", "7\n")]))) == ["ACCEPTED"]
    assert len(list(tmp_path.iterdir())) == 1
    h.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.docker
def test_service_workers_report_the_cache_in_stats_and_metrics(service: ServiceHarness) -> None:
    """Through the real service (gRPC, Ray, two workers): 4 samples of one program compile at most once
    per worker, and the figures reach ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    from sandbox_service import Client

    src = ADD.format(k=4242)
    with Client(service.address) as client:
        for i in range(4):
            resp = client.score(code_request("cpp", src, [stdio("1 1\n", "4244\n")], rid=f"m{i}"))
            assert verdicts(resp) == ["ACCEPTED"]
    caches = [s["compile_cache"] for s in service.worker_stats().values()]
    assert sum(c["hits"] + c["waits"] for c in caches) >= 2  # each worker compiled it at most once

    def hits() -> float:
        url = f"http://127.0.0.1:{service.service.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        return sum(
            s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if s.name == "sandbox_compile_cache_hits_total"
        )

    wait_until(lambda: hits() >= sum(c["hits"] for c in caches), 15, "compile cache hits in /metrics")
