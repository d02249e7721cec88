"""The gRPC options client and server share, on a real transport (no Docker, no Ray needed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# An idle channel between a server and a client both built from `grpc_options`, with every time
# option scaled down 100x so a few seconds stand for minutes. The server must accept the client's
# keepalive pings; if it enforces a longer interval than the client pings at, gRPC's ping-abuse
# policy answers GOAWAY "too_many_pings" and drops the connection.
SCENARIO = textwrap.dedent(
    """
    import asyncio
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from sandbox_service.client import grpc_options

    options = [(k, v // 100 if k.endswith("_ms") else v) for k, v in grpc_options(1)]

    async def main():
        server = grpc.aio.server(options=options)
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await stub.Check(health_pb2.HealthCheckRequest())
            await asyncio.sleep(3)  # ten keepalive pings with no call in flight
            await stub.Check(health_pb2.HealthCheckRequest())
        await server.stop(0)
        print("done")

    asyncio.run(main())
    """
)


def test_the_server_accepts_the_clients_keepalive_pings() -> None:
    proc = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr
    assert "too_many_pings" not in proc.stderr, proc.stderr
