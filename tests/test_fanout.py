"""Fan-out of big samples: the same results as one test after another, on several containers at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox_service.v1 import sandbox_pb2 as pb

from .conftest import (
    EngineHarness,
    LoopThread,
    assertion,
    call,
    code_request,
    make_settings,
    stdio,
    verdicts,
    wait_until,
)

pytestmark = pytest.mark.docker

# Judge-style: one program, many tests, each input picking a behaviour.
JUDGE_PY = """\
import sys
n = int(input())
if n % 7 == 3:
    print(n + 1)                      # wrong answer
elif n % 7 == 5:
    raise ValueError(f"bad {n}")      # runtime error
elif n == 11:
    while True: pass                  # time limit
elif n == 20:
    x = bytearray(200 << 20)          # memory limit
elif n == 13:
    sys.exit(3)
else:
    print(n * 2)
"""
JUDGE_CPP = """\
#include <bits/stdc++.h>
int main() {
    long long n; std::cin >> n;
    if (n % 5 == 2) { std::cout << n + 1 << "\\n"; return 0; }
    if (n == 9) { int *p = nullptr; *p = 1; }
    if (n == 14) return 4;
    std::cout << n * 2 << "\\n";
}
"""


def judge_tests(n: int) -> list[pb.TestCase]:
    return [stdio(f"{i}\n", f"{i * 2}\n") for i in range(n)]


@pytest.fixture(scope="module")
def engines(loop_thread: LoopThread) -> Iterator[tuple[EngineHarness, EngineHarness]]:
    """(fanning out over 4 containers, sequential) — the compile cache off in both, so each builds."""
    fan = EngineHarness(
        loop_thread,
        make_settings(pool_size=4, fanout_min_tests=4, fanout_tests_per_container=1, compile_cache=False),
    )
    seq = EngineHarness(loop_thread, make_settings(pool_size=2, fanout_min_tests=0, compile_cache=False))
    yield fan, seq
    fan.close()
    seq.close()


def facts(resp: pb.ScoreResponse) -> list[tuple[Any, ...]]:
    """Everything of a result that does not depend on timing (times, peaks and worker names do)."""
    out = []
    for t in resp.tests:
        message = t.message.split(" (peak")[0]
        out.append((pb.Verdict.Name(t.verdict), message, t.exit_code, t.signal, t.stdout_head, t.stderr_head))
    return out


def settled(h: EngineHarness, size: int = 4) -> None:
    """Wait until the pool is whole and idle (containers recycled by an earlier test are replaced)."""
    pool = h.engine.pool
    wait_until(lambda: pool.size == size and pool.idle == size, what="the pool whole and idle")


def same(fan: EngineHarness, seq: EngineHarness, request: pb.ScoreRequest) -> pb.ScoreResponse:
    settled(fan)
    before = fan.engine.runner.fanouts
    a, b = fan.score(request), seq.score(request)
    assert fan.engine.runner.fanouts == before + 1, "the sample was not fanned out"
    assert seq.engine.runner.fanouts == 0
    assert facts(a) == facts(b)
    assert (a.verdict, a.reward, a.passed, a.total, a.accepted) == (
        b.verdict,
        b.reward,
        b.passed,
        b.total,
        b.accepted,
    )
    assert a.compile_output == b.compile_output
    return a


@pytest.mark.parametrize("stop", [False, True])
def test_python_judge_cases_match_the_sequential_path(engines: Any, stop: bool) -> None:
    fan, seq = engines
    request = code_request(
        "python",
        JUDGE_PY,
        judge_tests(24),
        limits={"time_limit_ms": 500, "wall_time_limit_ms": 10_000, "memory_limit_mb": 64},
        stop_on_first_failure=stop,
    )
    resp = same(fan, seq, request)
    got = verdicts(resp)
    if stop:
        assert got == ["ACCEPTED"] * 3 + ["WRONG_ANSWER"] + ["SKIPPED"] * 20
    else:
        assert got[3] == got[10] == got[17] == "WRONG_ANSWER"
        assert got[5] == got[12] == got[19] == got[13] == "RUNTIME_ERROR"
        assert got[11] == "TIME_LIMIT_EXCEEDED" and got[20] == "MEMORY_LIMIT_EXCEEDED"
        assert got.count("ACCEPTED") == 15


def test_cpp_built_once_and_copied_in(engines: Any) -> None:
    fan, seq = engines
    resp = same(fan, seq, code_request("cpp", JUDGE_CPP, judge_tests(20)))
    got = verdicts(resp)
    assert got[2] == got[7] == "WRONG_ANSWER" and got[9] == "RUNTIME_ERROR" and got[14] == "RUNTIME_ERROR"
    assert got.count("ACCEPTED") == 14


def test_compile_error_and_syntax_error(engines: Any) -> None:
    fan, seq = engines
    bad_cpp = code_request("cpp", "int main() { return nope; }\n", judge_tests(8))
    before = fan.engine.runner.fanouts
    a, b = fan.score(bad_cpp), seq.score(bad_cpp)
    assert facts(a) == facts(b) and verdicts(a) == ["COMPILE_ERROR"] * 8
    assert fan.engine.runner.fanouts == before  # a build that failed runs no test anywhere
    resp = same(fan, seq, code_request("python", "def f(:\n  pass\n", judge_tests(12)))
    assert verdicts(resp) == ["COMPILE_ERROR"] * 12 and "SyntaxError" in resp.compile_output


def test_call_and_assertion_tests(engines: Any) -> None:
    fan, seq = engines
    calls = [call("f", f"[{i}]", str(i * i if i != 6 else -1)) for i in range(12)]
    resp = same(fan, seq, code_request("python", "def f(x):\n    return x * x\n", calls))
    assert verdicts(resp).count("WRONG_ANSWER") == 1
    src = "int sq(int x) { return x * x; }\n"
    tests = [
        assertion(f"int main() {{ assert(sq({i}) == {i * i if i % 4 else 0}); return 0; }}")
        for i in range(1, 9)
    ]
    resp = same(fan, seq, code_request("c", src, tests))
    assert verdicts(resp) == ["ACCEPTED", "ACCEPTED", "ACCEPTED", "RUNTIME_ERROR"] * 2


def test_custom_checker_on_every_container(engines: Any) -> None:
    fan, seq = engines
    checker = (
        "import sys\ne, a = (open(p).read().split() for p in sys.argv[2:4])\n"
        "sys.exit(0 if [int(x) for x in e] == [int(x) for x in a] else 1)\n"
    )
    custom = {"kind": pb.CUSTOM, "checker_language": "python", "checker_source": checker}
    tests = [stdio(f"{i}\n", f"  {i * 2 + (i == 4)}  \n", **custom) for i in range(10)]
    resp = same(fan, seq, code_request("python", "print(int(input()) * 2)\n", tests))
    assert verdicts(resp) == ["ACCEPTED"] * 4 + ["WRONG_ANSWER"] + ["ACCEPTED"] * 5


def test_a_failure_with_stop_on_first_failure_cancels_the_rest(engines: Any) -> None:
    """16 tests of 1 s each but test 5, which fails at once: 4 containers run 0-3, then 4-7; test 5
    ends the sample, 6 and 7 are cancelled mid-run (their containers recycled), 8-15 never start."""
    fan, _ = engines
    settled(fan)  # all 4 take part: tests 6 and 7 are running when 5 fails
    pool = fan.engine.pool
    recycled = pool.recycles.get("fanout_cancelled", 0)
    src = "import time\nn = int(input())\nif n != 5:\n    time.sleep(1.0)\nprint(n * 2)\n"
    tests = judge_tests(16)
    tests[5] = stdio("5\n", "11\n")
    t0 = time.monotonic()
    resp = fan.score(code_request("python", src, tests, stop_on_first_failure=True))
    elapsed = time.monotonic() - t0
    assert verdicts(resp) == ["ACCEPTED"] * 5 + ["WRONG_ANSWER"] + ["SKIPPED"] * 10
    assert elapsed < 4.0, f"{elapsed:.1f} s: one after another takes over 5 s"
    assert pool.recycles.get("fanout_cancelled", 0) >= recycled + 1
    # nothing leaks: the recycled containers are replaced, every container is back and idle
    settled(fan)


def test_no_fan_out_when_no_container_is_idle(loop_thread: LoopThread) -> None:
    h = EngineHarness(
        loop_thread, make_settings(pool_size=1, fanout_min_tests=2, fanout_tests_per_container=1)
    )
    try:
        resp = h.score(code_request("python", "print(int(input()) * 2)\n", judge_tests(8)))
        assert verdicts(resp) == ["ACCEPTED"] * 8 and h.engine.runner.fanouts == 0
    finally:
        h.close()


def test_extra_containers_go_back_when_another_sample_waits(loop_thread: LoopThread) -> None:
    """A big sample fanned over both containers of a 2-slot pool; a small sample that comes next gets
    the extra container after its current test, not after the whole big sample."""
    import asyncio

    h = EngineHarness(
        loop_thread, make_settings(pool_size=2, fanout_min_tests=4, fanout_tests_per_container=1)
    )
    spin = "import time\nn = int(input())\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\nprint(n * 2)\n"
    big = code_request("python", spin, judge_tests(16), rid="big")
    small = code_request("python", "print(int(input()) * 2)\n", judge_tests(1), rid="small")

    async def both() -> dict[str, float]:
        done: dict[str, float] = {}
        t0 = time.monotonic()

        async def one(req: pb.ScoreRequest, delay: float) -> None:
            await asyncio.sleep(delay)
            resp = await h.engine.score(req)
            assert resp.accepted, verdicts(resp)
            done[req.id] = time.monotonic() - t0

        await asyncio.gather(one(big, 0.0), one(small, 0.5))
        return done

    try:
        done = loop_thread.run(both())
        assert h.engine.runner.fanouts == 1
        assert done["small"] < done["big"] - 1.0, done  # it did not wait for the big sample's end
        assert h.engine.pool.grown == 0  # the container it got was the big sample's extra one
    finally:
        h.close()
