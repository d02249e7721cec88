"""A ``serve`` for benchmarks: the real front end (gRPC + HTTP doors, dispatcher) over a local Ray, with
real workers or with a test double that answers every sample at once (the front end's own ceiling).

    python benchmarks/frontend_server.py --port P --http-port H [--instant] [--pool-size 2]

Prints ``ready <grpc port> <http port>`` on stdout once serving; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import ray

from sandbox_service import Settings, pb
from sandbox_service.dispatch import Dispatcher
from sandbox_service.metrics import ServiceMetrics
from sandbox_service.server import Service, init_ray


class InstantWorker:
    """The ``SandboxWorker`` interface, answering every sample ACCEPTED at once (no containers)."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.name = f"{name}@instant"
        self.pool_size = settings.pool_size
        self.answer = pb.ScoreResponse(
            reward=1.0,
            accepted=True,
            verdict=pb.ACCEPTED,
            passed=1,
            total=1,
            tests=[pb.TestResult(verdict=pb.ACCEPTED, time_ms=1, wall_ms=1)],
            worker=self.name,
        ).SerializeToString()

    async def start(self) -> dict[str, Any]:
        return self.info()

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node_id": ray.get_runtime_context().get_node_id(),
            "hostname": "instant",
            "pid": os.getpid(),
            "pool_size": self.pool_size,
            "image_labels": {},
            "seccomp_profile": "",
        }

    async def run(self, items: list[tuple[int, bytes]]) -> AsyncIterator[list[tuple[int, bytes]]]:
        yield [(key, self.answer) for key, _ in items]

    async def cancel(self, keys: list[int]) -> int:
        return 0

    async def stats(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        return None


def instant_class() -> Any:
    return ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(InstantWorker)


async def run(settings: Settings, instant: bool) -> None:
    dispatcher = Dispatcher(settings, ServiceMetrics())
    if instant:
        if hasattr(dispatcher, "worker_class"):
            dispatcher.worker_class = instant_class
        else:  # a checkout from before the hook (a baseline run): the module's factory
            import sandbox_service.dispatch

            sandbox_service.dispatch.remote_worker_class = instant_class  # type: ignore[assignment]
    await dispatcher.start()
    service = await Service.start(settings, dispatcher)
    others = []
    if (
        getattr(settings, "front_ends", 1) > 1
    ):  # the others attach to these (test-double or real) workers by name
        from sandbox_service.server import _start_front_ends

        others = await _start_front_ends(service)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    http = service.http.port if service.http else 0
    print(f"ready {service.port} {http}", flush=True)
    try:
        await stop.wait()
    finally:
        from sandbox_service.server import _stop_front_ends

        await _stop_front_ends(others)
        await service.stop(5)
        await dispatcher.drain(5)
        await dispatcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--instant", action="store_true", help="workers that answer at once")
    parser.add_argument("--front-ends", type=int, default=1)
    args = parser.parse_args()
    settings = Settings(
        port=args.port,
        http_port=args.http_port,
        metrics_port=0,
        pool_size=args.pool_size,
        max_uses=100_000,
        **({"front_ends": args.front_ends} if args.front_ends > 1 else {}),  # a baseline may lack it
    )
    ray_dir = tempfile.mkdtemp(prefix="sandbox-bench-ray-")
    try:
        init_ray(settings, temp_dir=ray_dir)
        asyncio.run(run(settings, args.instant))
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
