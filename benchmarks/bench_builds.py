"""What the compile cache and fan-out buy: C++ through ``/run_code``, and one big sample.

    python benchmarks/bench_builds.py [--n 100] [--inflight 8] [--pool-size 2] [--rounds 3]

1. ``/run_code`` C++ (SandboxFusion's call, one per test, as verl sends it) through the HTTP door of
   ``sandbox-service serve`` (its own process, embedded Ray, one worker): ``--n`` requests of one
   source against ``--n`` distinct sources (a comment apart), ``--inflight`` at once. Reported:
   runs/s, the service's own CPU (serve, Ray and their children; psutil) and the containers' CPU
   (their cgroups), per run.
2. One sample of 64 tests, each ~50 ms of CPU (Python), on a pool of 4: fanned out over the idle
   containers against one test after another (``fanout_min_tests=0``), engines in this process,
   rounds alternating so the machine's drift hits both. Reported: wall time per sample (median),
   and the ratio. Its floor is 1 / min(4, cores): on a 2-core host, 0.5.

The load average is printed with each part: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
import docker
import psutil
from _shared import cpu_seconds, free_port

from sandbox_service import Engine, Settings, pb
from sandbox_service.admission import find_cpu_probe
from sandbox_service.pool import POOL_LABEL

CPP = (
    "#include <iostream>\n"
    'int main() {{ long long a; std::cin >> a; std::cout << a * 2 << "\\n"; }} // {tag}\n'
)
BUSY = (
    "import time\nn = int(input())\nt = time.process_time()\n"
    "while time.process_time() - t < 0.05:\n    pass\nprint(n * 2)\n"
)
PREFIX = "bench-builds"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f}"


def tree_cpu(proc: psutil.Process) -> float:
    """CPU seconds of a process and its live descendants."""
    return cpu_seconds([proc, *proc.children(recursive=True)])


def containers_cpu(client: docker.DockerClient, prefix: str = PREFIX) -> float:
    """CPU seconds the live containers of one of this benchmark's pools used so far (their cgroups)."""
    total = 0
    for c in client.containers.list(filters={"label": f"{POOL_LABEL}={prefix}"}):
        probe = find_cpu_probe(int(c.attrs["State"]["Pid"]))
        if probe is not None:
            total += probe.usage_ns()
    return total / 1e9


async def run_codes(url: str, sources: list[str], inflight: int) -> float:
    sem = asyncio.Semaphore(inflight)
    async with aiohttp.ClientSession() as http:

        async def one(i: int, src: str) -> None:
            async with sem:
                body = {
                    "code": src,
                    "language": "cpp",
                    "stdin": f"{i}\n",
                    "run_timeout": 5,
                    "compile_timeout": 30,
                }
                async with http.post(url, json=body) as r:
                    reply = await r.json()
            assert reply["status"] == "Success" and reply["run_result"]["stdout"] == f"{i * 2}\n", reply

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i, s) for i, s in enumerate(sources)))
        return time.perf_counter() - t0


async def run_code_part(n: int, inflight: int, pool_size: int) -> None:
    port, http_port = free_port(), free_port()
    ray_tmp = tempfile.mkdtemp(prefix="bench-builds-ray-")
    env = {
        **os.environ,
        "SANDBOX_MAX_USES": "100000",
        "SANDBOX_CONTAINER_PREFIX": PREFIX,
        "RAY_TMPDIR": ray_tmp,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox_service", "serve", "--port", str(port), "--metrics-port", "0",
         "--pool-size", str(pool_size), "--http-port", str(http_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = docker.from_env()
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 180
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{base}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the service did not come up")
                await asyncio.sleep(0.3)
        url = f"{base}/run_code"
        await run_codes(url, [CPP.format(tag="warm")] * 4, 4)  # containers and the path warm
        proc = psutil.Process(server.pid)
        print(f"/run_code C++, {n} requests, {inflight} in flight, pool {pool_size} ({load()})")
        rows: dict[str, tuple[float, float, float]] = {}
        for label, sources in (
            ("distinct sources", [CPP.format(tag=f"d{i}") for i in range(n)]),
            ("same source", [CPP.format(tag="same")] * n),
        ):
            cpu0, box0 = tree_cpu(proc), containers_cpu(client)
            wall = await run_codes(url, sources, inflight)
            cpu, box = tree_cpu(proc) - cpu0, containers_cpu(client) - box0
            rows[label] = (n / wall, cpu * 1000 / n, box * 1000 / n)
            print(f"  {label:17s} {n / wall:7.1f} runs/s   service CPU {cpu * 1000 / n:6.1f} ms/run   "
                  f"containers' CPU {box * 1000 / n:6.1f} ms/run")  # fmt: skip
        same, distinct = rows["same source"], rows["distinct sources"]
        print(f"  same / distinct: {same[0] / distinct[0]:.1f}x the runs/s, "
              f"{distinct[2] / max(same[2], 1e-9):.1f}x less container CPU per run")  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def big_sample(i: int) -> pb.ScoreRequest:
    req = pb.ScoreRequest(id=f"big{i}")
    req.code.language = "python"
    req.code.source = BUSY
    for k in range(64):
        req.code.tests.append(pb.TestCase(stdio=pb.StdioTest(stdin=f"{k}\n", expected_stdout=f"{k * 2}\n")))
    return req


async def fanout_part(rounds: int) -> None:
    common: dict[str, Any] = {"pool_size": 4, "max_uses": 100000}
    prefixes = {"fanned out": f"{PREFIX}-fan", "sequential": f"{PREFIX}-seq"}
    fan = Engine(Settings(**common, container_prefix=prefixes["fanned out"]))
    seq = Engine(Settings(**common, container_prefix=prefixes["sequential"], fanout_min_tests=0))
    client = docker.from_env()
    await fan.start()
    try:
        await seq.start()
        try:
            print(f"one sample of 64 tests x ~50 ms CPU, pool of 4, {os.cpu_count()} cores ({load()})")
            times: dict[str, list[float]] = {"fanned out": [], "sequential": []}
            cpu: dict[str, list[float]] = {"fanned out": [], "sequential": []}
            for r in range(rounds + 1):  # round 0 warms both
                for label, engine in (("sequential", seq), ("fanned out", fan)):
                    box0, t0 = containers_cpu(client, prefixes[label]), time.perf_counter()
                    resp = await engine.score(big_sample(r))
                    wall = time.perf_counter() - t0
                    box = containers_cpu(client, prefixes[label]) - box0  # recycles would lose some
                    bad = [
                        (k, t.message, t.time_ms, t.wall_ms)
                        for k, t in enumerate(resp.tests)
                        if t.verdict != pb.ACCEPTED
                    ]
                    if bad:  # reported, not hidden: on a shared machine a run may starve
                        print(f"  !! {label} round {r}: {len(bad)} tests not accepted: {bad[:3]}")
                    if r:
                        times[label].append(wall)
                        cpu[label].append(box)
            med = {k: statistics.median(v) for k, v in times.items()}
            for label, t in med.items():
                each = ", ".join(f"{x:.2f}" for x in times[label])
                box = statistics.median(cpu[label])
                print(
                    f"  {label:11s} {t:6.2f} s per sample (median of {rounds}: {each}); "
                    f"containers' CPU {box:.2f} s"
                )
            print(f"  fanned out / sequential: {med['fanned out'] / med['sequential']:.2f}x the time "
                  f"({fan.runner.fanouts} samples fanned out; {load()})")  # fmt: skip
        finally:
            await seq.close()
    finally:
        await fan.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100, help="/run_code requests per row")
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--pool-size", type=int, default=2, help="the service's pool for part 1")
    parser.add_argument("--rounds", type=int, default=3, help="big samples per engine in part 2")
    parser.add_argument("--part", choices=("all", "run_code", "fanout"), default="all")
    args = parser.parse_args()
    if args.part in ("all", "run_code"):
        await run_code_part(args.n, args.inflight, args.pool_size)
    if args.part in ("all", "fanout"):
        await fanout_part(args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
