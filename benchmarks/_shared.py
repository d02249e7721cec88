"""Pieces the benchmark scripts share: a free port, waiting for a served endpoint, CPU of processes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterable

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_serving(address: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for the gRPC health check at ``address`` to say SERVING; exit if ``server`` dies or
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the service did not come up")
            await asyncio.sleep(0.2)


def cpu_seconds(procs: Iterable[psutil.Process]) -> float:
    """User + system CPU seconds of ``procs`` (those gone meanwhile count nothing)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total
