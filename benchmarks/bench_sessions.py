"""Sessions: open latency, trivial cell latency through gRPC, throughput with 64 busy sessions, and a
20-cell notebook as a live session vs SandboxFusion-style replay on our own ``/run_code``.

    python benchmarks/bench_sessions.py [--cells 500] [--sessions 64] [--opens 20]

Starts ``sandbox-service serve`` as its own process (embedded Ray, one worker, HTTP door on) and
drives it from this process:
- ``OpenSession`` p50/p99: sequential opens (each closed right after), so the warm pool is drained
  and refilled as a burst of rollouts would;
- trivial ``RunCell`` (``1 + 1``) p50/p99 through gRPC, one session, sequential (goal: p50 <= 10 ms);
- cells/s with ``--sessions`` sessions each running cells back to back at once;
- the same 20-cell notebook run (a) as 20 cells of one live session and (b) as a replay: call k is
  one fresh ``/run_code`` program running cells 0..k (what ``/run_jupyter`` replays cost today).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

import aiohttp
from _shared import free_port, wait_serving

from sandbox_service import AsyncClient, pb

NOTEBOOK = [
    "import math, statistics, json",
    "data = [((i * 7919) % 1000) / 10 for i in range(5000)]",
    "mean = statistics.fmean(data)",
    "print(round(mean, 3))",
    "sq = [x * x for x in data]",
    "var = sum(sq) / len(sq) - mean ** 2",
    "print(round(var, 3))",
    "buckets = {}",
    "for x in data:\n    buckets[int(x // 10)] = buckets.get(int(x // 10), 0) + 1",
    "print(sorted(buckets.items())[:3])",
    "def norm(x):\n    return (x - mean) / math.sqrt(var)",
    "z = [norm(x) for x in data]",
    "print(round(max(z), 3), round(min(z), 3))",
    "primes = [n for n in range(2, 3000) if all(n % d for d in range(2, int(n ** 0.5) + 1))]",
    "print(len(primes))",
    "blob = json.dumps({'mean': mean, 'var': var, 'n': len(data)})",
    "print(blob)",
    "acc = 0\nfor p in primes[:100]:\n    acc += p",
    "print(acc)",
    "len(data) + len(primes)",
]


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def bench(address: str, http: str, args: argparse.Namespace) -> None:
    limits = {"memory_limit_mb": 256, "cell_wall_time_limit_ms": 20_000}
    async with AsyncClient(address, retries=0) as client:
        # OpenSession, sequential, each closed right after (the pool refills in the background).
        opens = []
        for _ in range(args.opens):
            t = time.perf_counter()
            s = await client.open_session(limits=limits)
            opens.append((time.perf_counter() - t) * 1000)
            await client.close_session(s.session_id)
        print(
            f"OpenSession          p50 {pct(opens, 0.5):7.1f} ms   p99 {pct(opens, 0.99):7.1f} ms"
            f"   (n={len(opens)})"
        )

        # Trivial RunCell latency through gRPC.
        async with client.session(limits=limits) as s:
            for _ in range(20):
                await s.run("1 + 1")
            lat = []
            for _ in range(args.cells):
                t = time.perf_counter()
                r = await s.run("1 + 1")
                lat.append((time.perf_counter() - t) * 1000)
                assert r.display == "2", r
        print(
            f"RunCell (1 + 1)      p50 {pct(lat, 0.5):7.2f} ms   p99 {pct(lat, 0.99):7.2f} ms"
            f"   (n={len(lat)})"
        )

        # Throughput with many sessions busy at once.
        opened = await asyncio.gather(
            *(client.open_session(limits=limits, labels={"bench": "1"}) for _ in range(args.sessions))
        )
        ids = [o.session_id for o in opened]
        await asyncio.gather(*(client.run_cell(sid, "x = 0") for sid in ids))

        async def busy(sid: str) -> None:
            for _ in range(args.per_session):
                r = await client.run_cell(sid, "x += 1; x")
                assert r.status == pb.CellResult.OK, r

        t0 = time.perf_counter()
        await asyncio.gather(*(busy(sid) for sid in ids))
        elapsed = time.perf_counter() - t0
        total = args.sessions * args.per_session
        print(
            f"{args.sessions} sessions busy      {total / elapsed:7.0f} cells/s"
            f" ({total} cells in {elapsed:.2f} s)"
        )
        closed = await client.close_sessions({"bench": "1"})
        assert closed == args.sessions, closed

        # The notebook: live session vs replay on /run_code.
        live: list[tuple[float, float, float]] = []
        replay = []
        async with aiohttp.ClientSession() as web:
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                s = await client.session(limits=limits).open()
                t1 = time.perf_counter()
                outs = [await s.run(cell) for cell in NOTEBOOK]
                t2 = time.perf_counter()
                await s.close()
                live.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
                assert all(o.status == pb.CellResult.OK for o in outs), outs
                t0 = time.perf_counter()
                for k in range(len(NOTEBOOK)):
                    body = {"code": "\n".join(NOTEBOOK[: k + 1]), "language": "python", "run_timeout": 20}
                    async with web.post(f"{http}/run_code", json=body) as resp:
                        answer = await resp.json()
                        assert answer["status"] == "Success", answer
                replay.append(time.perf_counter() - t0)
        op, cells, cl = min(live, key=sum)
        rp = min(replay)
        print(
            f"20-cell notebook     live session: open {op * 1000:.0f} + cells {cells * 1000:.0f} + close "
            f"{cl * 1000:.0f} ms; replay on /run_code {rp * 1000:.0f} ms (best of {args.rounds})"
        )
        print(
            f"                     replay / live cells = {rp / cells:.1f}x; "
            f"replay / live incl. open+close = {rp / (op + cells + cl):.1f}x"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cells", type=int, default=500, help="sequential trivial cells for latency")
    parser.add_argument("--opens", type=int, default=20, help="sequential OpenSession calls")
    parser.add_argument("--sessions", type=int, default=64, help="sessions busy at once")
    parser.add_argument("--per-session", type=int, default=20, help="cells each busy session runs")
    parser.add_argument("--rounds", type=int, default=3, help="notebook rounds (best is reported)")
    parser.add_argument("--pool-size", type=int, default=2, help="scoring containers (for /run_code)")
    args = parser.parse_args()
    port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "SANDBOX_MAX_USES": "100000",
        "SANDBOX_SESSION_MAX_PER_WORKER": str(args.sessions + 8),
        "SANDBOX_SESSION_WARM": "4",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox_service", "serve", "--port", str(port), "--metrics-port", "0",
         "--pool-size", str(args.pool_size), "--http-port", str(http_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        address = f"127.0.0.1:{port}"
        await wait_serving(address, server, timeout=180)
        await bench(address, f"http://127.0.0.1:{http_port}", args)
    finally:
        server.terminate()
        server.wait(120)


if __name__ == "__main__":
    asyncio.run(main())
