"""The front end's cost and ceiling, and the result cache on a GRPO-shaped batch.

    python benchmarks/bench_frontend.py [--n 3000] [--pool-size 2] [--sections cpu,ceiling,http,grpo]

Every figure comes from a server process of its own (``benchmarks/frontend_server.py``) fed from
this process, so the client's CPU is never counted:

- ``cpu``: CPU per sample (psutil, user + system) of the front-end process alone and of front end
  + worker actor + raylet, at both doors: ``ScoreStream`` (window 256) and HTTP ``/run_code`` (32 in
  flight), real workers and containers, trivial distinct Python samples (no cache hits).
- ``ceiling``: samples/s one front end sustains against test-double workers that answer at once,
  and with ``--front-ends 2`` (several front ends on one port, if available).
- ``http``: ``/run_code`` Python at 32 in flight as a fraction of the engine's one-test-sample rate
  (``Engine.score`` in this process, 2 x pool size in flight).
- ``grpo``: 64 prompts x 16 samples, a quarter of each group duplicates of the others, on a service
  with the result cache on and one with it off.
- ``floor``: the same loads against ``benchmarks/frontend_floor.py``, servers on the same libraries
  (grpc.aio + protobuf, aiohttp) that decode each request and answer at once: what a Python front end
  pays per sample before it does anything, beside the test-double ceiling of the real one.

This machine is shared: compare figures of the same run, and read the load average printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from _shared import cpu_seconds

from sandbox_service import AsyncClient, Engine, Settings, pb

HERE = Path(__file__).resolve().parent


def request(i: int, source: str = "print(int(input()) + 1)") -> pb.ScoreRequest:
    req = pb.ScoreRequest(id=f"b{i}")
    req.code.language = "python"
    req.code.source = source
    req.code.tests.append(pb.TestCase(stdio=pb.StdioTest(stdin=f"{i}\n", expected_stdout=f"{i + 1}\n")))
    return req


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    http_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


CODE: dict[str, str] = {}  # label -> PYTHONPATH of the code a server runs ("this": this checkout)


def launch(argv: list[str], env: dict[str, str]) -> Server:
    """Start a server script that prints ``ready <grpc port> <http port>`` once serving."""
    proc = subprocess.Popen(
        [sys.executable, *argv],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        proc.kill()
        raise SystemExit(f"{argv[0]} did not come up: {line}")
    return Server(proc, int(line[1]), int(line[2]))


def start_floor() -> Server:
    return launch([str(HERE / "frontend_floor.py")], {"PYTHONPATH": CODE["this"]})


def start_server(
    instant: bool,
    pool_size: int,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
    code: str = "this",
) -> Server:
    argv = [str(HERE / "frontend_server.py"), "--pool-size", str(pool_size), *(extra or [])]
    if instant:
        argv.append("--instant")
    return launch(argv, {**(env or {}), "PYTHONPATH": CODE[code]})


def tree(pid: int) -> dict[str, list[psutil.Process]]:
    """The server's processes by role: front end, worker actors, raylet, the rest of Ray."""
    root = psutil.Process(pid)
    roles: dict[str, list[psutil.Process]] = {"front": [root], "worker": [], "raylet": [], "other": []}
    for child in root.children(recursive=True):
        try:
            name = child.name()
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "sandbox_service" in cmd and "serve" in cmd:  # another front end (--front-ends)
            roles["front"].append(child)
        elif "Worker" in name or "SandboxWorker" in cmd or "InstantWorker" in cmd:
            roles["worker"].append(child)
        elif name == "raylet" or "raylet" in cmd.split(" ")[0]:
            roles["raylet"].append(child)
        elif name.startswith("ray::") and "IDLE" in name:
            roles["other"].append(child)
        else:
            roles["other"].append(child)
    return roles


async def grpc_load(server: Server, n: int, offset: int, connections: int = 4) -> float:
    """``n`` samples over ``connections`` streams (connections spread over the front ends), 256 in flight."""

    async def one(c: int) -> int:
        async with AsyncClient(server.address) as client:
            count = 0
            ids = range(offset + c, offset + n, connections)
            async for resp in client.score_many((request(i) for i in ids), window=256 // connections):
                assert resp.accepted, resp
                count += 1
            return count

    t0 = time.perf_counter()
    assert sum(await asyncio.gather(*(one(c) for c in range(connections)))) == n
    return n / (time.perf_counter() - t0)


async def http_load(server: Server, n: int, offset: int, in_flight: int = 32) -> float:
    url = f"http://127.0.0.1:{server.http_port}/run_code"
    sem = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:

        async def one(i: int) -> None:
            async with (
                sem,
                session.post(url, json={"code": f"print({offset + i})", "language": "python"}) as r,
            ):
                body = await r.json()
                assert r.status == 200 and body["status"] == "Success", body

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0)


async def measured(server: Server, load: Any, n: int, offset: int) -> dict[str, float]:
    await load(server, min(200, n), offset + 10_000_000)  # warm-up (and spawns what a first call does)
    roles = tree(server.proc.pid)
    # What the processes burn with nothing to do (Ray's threads, the monitor, pool upkeep) is
    # measured first and subtracted: on a loaded machine few samples/s would spread it thin
    # over each and hide what a sample itself costs. Both figures are printed.
    idle0 = {k: cpu_seconds(v) for k, v in roles.items()}
    await asyncio.sleep(IDLE_S)
    idle = {k: (cpu_seconds(v) - idle0[k]) / IDLE_S for k, v in roles.items()}  # CPU-seconds per second
    before = {k: cpu_seconds(v) for k, v in roles.items()}
    t0 = time.perf_counter()
    rate = await load(server, n, offset)
    took = time.perf_counter() - t0
    after = {k: cpu_seconds(v) for k, v in roles.items()}
    ms = {k: (after[k] - before[k]) * 1000.0 / n for k in roles}
    net = {f"{k}_net": max(0.0, (after[k] - before[k] - idle[k] * took) * 1000.0 / n) for k in roles}
    return {"rate": rate, **ms, **net}


IDLE_S = 5.0


def show(label: str, m: dict[str, float]) -> None:
    all3 = m["front"] + m["worker"] + m["raylet"]
    net3 = m["front_net"] + m["worker_net"] + m["raylet_net"]
    print(
        f"  {label:<34} {m['rate']:>6.0f}/s  front {m['front']:.3f} ms (less idle {m['front_net']:.3f})  "
        f"front+worker+raylet {all3:.3f} ms (less idle {net3:.3f})  "
        f"[worker {m['worker']:.3f}, raylet {m['raylet']:.3f}, rest of Ray {m['other']:.3f}]",
        flush=True,
    )


async def engine_rate(pool_size: int, n: int) -> float:
    settings = Settings(pool_size=pool_size, max_uses=100_000)
    async with Engine(settings) as engine:
        for i in range(20):
            await engine.score(request(i))
        sem = asyncio.Semaphore(2 * pool_size)

        async def one(i: int) -> None:
            async with sem:
                assert (await engine.score(request(i))).accepted

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0)


def grpo_batch(seed: int = 0) -> list[pb.ScoreRequest]:
    """64 prompts x 16 samples; in each group 4 samples repeat one of the group's 12 distinct ones."""
    rng = random.Random(seed)
    out = []
    for g in range(64):
        distinct = [f"x = int(input())\nprint(x + {g} - {g})  # p{g} s{s}" for s in range(12)]
        sources = distinct + [rng.choice(distinct) for _ in range(4)]
        rng.shuffle(sources)
        for s, src in enumerate(sources):
            req = request(g, src)
            req.id = f"g{g}s{s}"
            req.code.tests[0].stdio.expected_stdout = f"{g}\n"
            req.code.tests[0].stdio.stdin = f"{g}\n"
            out.append(req)
    return out


async def grpo(server: Server) -> tuple[float, int]:
    batch = grpo_batch()
    async with AsyncClient(server.address) as client:
        t0 = time.perf_counter()
        cached = 0
        async for resp in client.score_many(batch, window=256):
            assert resp.accepted, resp
            cached += resp.cached
        return time.perf_counter() - t0, cached


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=3000, help="samples per measured row")
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--sections", default="cpu,ceiling,http,grpo,floor")
    parser.add_argument("--front-ends", type=int, default=2, help="front ends of the last ceiling row")
    parser.add_argument(
        "--baseline",
        help="a checkout of the code to compare with (e.g. `git archive main | tar -x -C /tmp/base`): "
        "the cpu and ceiling rows are measured on it too, alternating, in the same run",
    )
    args = parser.parse_args()
    CODE["this"] = str(HERE.parent)
    codes = ["this"]
    if args.baseline:
        CODE["baseline"] = str(Path(args.baseline).resolve())
        codes = ["baseline", "this"]
    sections = set(args.sections.split(","))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    if "cpu" in sections or "http" in sections:
        print("real workers (containers):", flush=True)
        for code in codes:
            server = start_server(False, args.pool_size, code=code)
            try:
                g = await measured(server, grpc_load, args.n, 0)
                show(f"[{code}] gRPC ScoreStream, window 256", g)
                h = await measured(server, http_load, args.n // 2, 1_000_000)
                show(f"[{code}] HTTP /run_code, 32 in flight", h)
            finally:
                server.stop()
        if "http" in sections:
            e = await engine_rate(args.pool_size, args.n // 2)
            print(
                f"  engine direct, one-test samples: {e:.0f}/s; "
                f"/run_code at 32 in flight = {h['rate'] / e:.2f}x the engine's rate"
            )
    if "ceiling" in sections:
        print("test-double workers (answer at once):", flush=True)
        for code in codes:
            server = start_server(True, 64, code=code)
            try:
                show(
                    f"[{code}] gRPC ScoreStream, window 256", await measured(server, grpc_load, 4 * args.n, 0)
                )
                show(
                    f"[{code}] HTTP /run_code, 32 in flight",
                    await measured(server, http_load, args.n, 1_000_000),
                )
            finally:
                server.stop()
        fronts = args.front_ends
        server = start_server(True, 64, extra=["--front-ends", str(fronts)])
        try:
            show(f"[this] {fronts} front ends, gRPC", await measured(server, grpc_load, 4 * args.n, 0))
            show(f"[this] {fronts} front ends, HTTP", await measured(server, http_load, args.n, 1_000_000))
        finally:
            server.stop()
    if "floor" in sections:
        print("floor: the libraries alone (decode, answer at once; no validation, cache, admission, Ray):")
        server = start_floor()
        try:
            show("[floor] gRPC ScoreStream, window 256", await measured(server, grpc_load, 4 * args.n, 0))
            show("[floor] HTTP /run_code, 32 in flight", await measured(server, http_load, args.n, 1_000_000))
        finally:
            server.stop()
    if "grpo" in sections:
        for cache in ("1", "0"):
            server = start_server(False, args.pool_size, env={"SANDBOX_RESULT_CACHE": cache})
            try:
                await grpc_load(server, 100, 5_000_000)  # warm
                took, hits = await grpo(server)
                print(
                    f"  GRPO 64x16 (1/4 duplicates), cache {'on ' if cache == '1' else 'off'}: "
                    f"{took:.1f} s, {hits} answered from the cache",
                    flush=True,
                )
            finally:
                server.stop()
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
