"""The floor under the front end's CPU per sample: servers that speak both doors and do nothing else.

    python benchmarks/frontend_floor.py

A gRPC ``Grader/ScoreStream`` that decodes each request and answers it ACCEPTED at once (grpc.aio,
protobuf, as the front end uses them) and an aiohttp ``/run_code`` that decodes the JSON body and
answers ``Success``: no validation, no cache, no admission, no Ray. What they cost per sample is
what any Python front end on these libraries pays before doing anything (``bench_frontend.py
--sections floor`` measures them beside the real one). Prints ``ready <grpc port> <http port>``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import web

from sandbox_service import pb
from sandbox_service.client import grpc_options


async def score_stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    await context.send_initial_metadata(())  # our client waits for it before writing
    async for data in requests:
        request = pb.ScoreRequest.FromString(data)
        yield pb.ScoreResponse(
            id=request.id,
            reward=1.0,
            accepted=True,
            verdict=pb.ACCEPTED,
            passed=1,
            total=1,
            tests=[pb.TestResult(verdict=pb.ACCEPTED)],
        ).SerializeToString()


async def run_code(request: web.Request) -> web.Response:
    body = await request.json()
    answer = {"status": "Success", "message": "", "run_result": {"stdout": str(body["code"])}}
    return web.json_response(answer)


async def main() -> None:
    server = grpc.aio.server(options=grpc_options(64))  # the front end's options
    handler = grpc.stream_stream_rpc_method_handler(score_stream)
    grader = grpc.method_handlers_generic_handler("sandbox.v1.Grader", {"ScoreStream": handler})
    server.add_generic_rpc_handlers((grader,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    app = web.Application()
    app.router.add_post("/run_code", run_code)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"ready {port} {http_port}", flush=True)
    await stop.wait()
    await server.stop(1)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
