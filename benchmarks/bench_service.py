"""The service's overhead: the same trivial Python samples through gRPC + Ray and through the engine.

    python benchmarks/bench_service.py [--n 1000] [--pool-size 2] [--rounds 2]

Each round measures, with the same pool size and the same warm containers' settings:
- engine direct: ``Engine.score`` in this process, 2 x pool-size samples in flight;
- service: ``sandbox-service serve`` as its own process (embedded Ray, one worker), fed by
  ``AsyncClient.score_many`` from this process with a window of 256;
and single-sample latency (sequential calls, p50/p99) both ways. Rounds alternate engine and service
so drift on this shared, noisy machine hits both; the ratio is service / engine within each round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from _shared import free_port, wait_serving

from sandbox_service import AsyncClient, Engine, Settings, pb

SRC = "print(int(input()) + 1)"


def request(i: int) -> pb.ScoreRequest:
    req = pb.ScoreRequest(id=f"b{i}")
    req.code.language = "python"
    req.code.source = SRC
    req.code.tests.append(pb.TestCase(stdio=pb.StdioTest(stdin=f"{i}\n", expected_stdout=f"{i + 1}\n")))
    return req


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def warm_then_latencies(score: Callable[[pb.ScoreRequest], Awaitable[object]], n: int) -> list[float]:
    """10 warm-up samples, then ``n`` sequential ones; their latencies in ms."""
    for i in range(10):
        await score(request(i))
    lat = []
    for i in range(n):
        t = time.perf_counter()
        await score(request(i))
        lat.append((time.perf_counter() - t) * 1000)
    return lat


async def engine_round(settings: Settings, n: int, latency_n: int) -> tuple[float, list[float]]:
    async with Engine(settings) as engine:
        lat = await warm_then_latencies(engine.score, latency_n)
        sem = asyncio.Semaphore(2 * settings.pool_size)

        async def one(i: int) -> None:
            async with sem:
                resp = await engine.score(request(i))
                assert resp.accepted, resp

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0), lat


async def service_round(pool_size: int, n: int, latency_n: int) -> tuple[float, list[float]]:
    port = free_port()
    env = {**os.environ, "SANDBOX_MAX_USES": "100000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox_service", "serve", "--port", str(port), "--metrics-port", "0",
         "--pool-size", str(pool_size)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        address = f"127.0.0.1:{port}"
        await wait_serving(address, server, timeout=120)
        async with AsyncClient(address) as client:
            lat = await warm_then_latencies(client.score, latency_n)
            t0 = time.perf_counter()
            count = 0
            async for resp in client.score_many((request(i) for i in range(n)), window=256):
                assert resp.accepted, resp
                count += 1
            assert count == n
            return n / (time.perf_counter() - t0), lat
    finally:
        server.terminate()
        server.wait(60)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="samples per throughput row")
    parser.add_argument("--latency-n", type=int, default=200, help="sequential samples for latency")
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings(pool_size=args.pool_size, max_uses=100_000)
    print(f"{'round':<6} {'path':<16} {'samples/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs engine':>10}")
    ratios = []
    for r in range(1, args.rounds + 1):
        e_tps, e_lat = await engine_round(settings, args.n, args.latency_n)
        s_tps, s_lat = await service_round(args.pool_size, args.n, args.latency_n)
        ratios.append(s_tps / e_tps)
        e_p50, e_p99 = p(e_lat, 0.5), p(e_lat, 0.99)
        print(f"{r:<6} {'engine direct':<16} {e_tps:>10.1f} {e_p50:>8.1f} {e_p99:>8.1f} {'1.00x':>10}")
        print(
            f"{r:<6} {'gRPC + Ray':<16} {s_tps:>10.1f} {p(s_lat, 0.5):>8.1f} {p(s_lat, 0.99):>8.1f} "
            f"{s_tps / e_tps:>9.2f}x"
        )
    mean = statistics.mean(ratios)
    print(f"\nservice keeps {mean:.0%} of the engine's throughput (mean of {len(ratios)} rounds)")


if __name__ == "__main__":
    asyncio.run(main())
