"""The Ray side: one ``SandboxWorker`` actor per sandbox node, owning that node's warm pool.

The front end sends it *chunks* of already-validated requests (one Ray call per chunk, never one per
test) and reads the answers back as a stream: ``run`` is an async generator that yields every
answer that finished since its last yield, so a fast sample never waits behind a slow one in the same
chunk and a busy worker answers in batches. ``cancel`` stops samples whose caller went away; their
containers are recycled (the pool's lease does that on cancellation).

The actor is a plain class here; ``remote_worker_class()`` wraps it with ``ray.remote`` when the
front end spawns it, so importing this module needs no running Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

from .config import Settings
from .engine import Engine
from .errors import SandboxServiceError
from .sessions.manager import SessionManager
from .v1 import sandbox_pb2 as pb
from .wire import sandbox_error_response

__all__ = ["SandboxWorker", "remote_worker_class"]

CANCELLED = b""  # the answer of a sample that was cancelled (never a valid serialized response here)


class SandboxWorker:
    """An async Ray actor: a warm pool on this node and the samples running on it.

    Args:
        settings: the deployment's settings (the front end's, so both validate alike).
        name: how responses name this worker (``ScoreResponse.worker``).
    """

    def __init__(self, settings: Settings, name: str) -> None:
        import ray

        self.settings = settings
        self.node_id = ray.get_runtime_context().get_node_id()  # hex
        self.name = f"{name}@{socket.gethostname()}:{self.node_id[:6]}"
        self.engine = Engine(settings)
        self._running: dict[int, asyncio.Task[bytes]] = {}
        self._wakes: set[asyncio.Event] = set()  # one per chunk being answered
        self._low_water = 2 * settings.pool_size  # fewer samples left than this: answer at once
        self.completed = 0
        self.sessions = SessionManager(settings, self.name)  # live interpreters (sessions/)

    async def start(self) -> dict[str, Any]:
        """Start the warm pool; returns where this worker lives (raises if Docker or the image fails)."""
        await self.engine.start()
        # Cells take the engine's CPU slots: a worker's cores are shared by its tests and cells.
        await self.sessions.start(self.engine.pool.image, self.engine.pool.client, self.engine.pool.cpu)
        return self.info()

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node_id": self.node_id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "pool_size": self.settings.pool_size,
            "image_labels": dict(self.engine.image_labels),
            "seccomp_profile": self.engine.pool.seccomp.version,
        }

    async def run(self, items: list[tuple[int, bytes]]) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Score a chunk of ``(key, serialized ScoreRequest)``; yields ``(key, serialized response)``
        batches as samples finish, every key exactly once (``CANCELLED`` for cancelled ones).

        Every yield is a Ray object, so answers are gathered while this worker still has plenty
        queued (up to ``worker_batch_ms``); they go at once when the chunk is complete or the
        worker's backlog runs low (the front end needs the credits back to refill it in time).
        """
        done: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        wake = asyncio.Event()
        remaining = len(items)

        def finished(key: int, task: asyncio.Task[bytes]) -> None:
            self._running.pop(key, None)
            done.put_nowait((key, CANCELLED if task.cancelled() else task.result()))
            if done.qsize() >= remaining:
                wake.set()
            if len(self._running) <= self._low_water:
                for event in self._wakes:
                    event.set()

        tasks = []
        for key, payload in items:
            task = asyncio.create_task(_score(self.engine, self.name, payload))
            self._running[key] = task
            task.add_done_callback(functools.partial(finished, key))
            tasks.append(task)
        window = self.settings.worker_batch_ms / 1000.0
        self._wakes.add(wake)
        try:
            while remaining:
                batch = [await done.get()]
                if window > 0 and done.qsize() < remaining - 1 and len(self._running) > self._low_water:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), window)
                while not done.empty():
                    batch.append(done.get_nowait())
                remaining -= len(batch)
                self.completed += len(batch)
                yield batch
        finally:  # the caller went away (or was cancelled): nothing of this chunk keeps running
            self._wakes.discard(wake)
            for task in tasks:
                task.cancel()

    async def cancel(self, keys: list[int]) -> int:
        """Cancel running samples by key; returns how many were still running."""
        hit = 0
        for key in keys:
            task = self._running.get(key)
            if task is not None and not task.done():
                task.cancel()
                hit += 1
        return hit

    async def stats(self) -> dict[str, Any]:
        pool = self.engine.pool.stats()
        return {
            **pool,
            "running": len(self._running),
            "completed": self.completed,
            "start_failures": self.engine.pool.start_failures,
            "sessions": self.sessions.stats(),
            **self.engine.build_stats(),
        }

    async def close(self) -> None:
        """Stop running samples and remove every container."""
        for task in list(self._running.values()):
            task.cancel()
        await self.sessions.close()
        await self.engine.close()

    # -- sessions (the front end routes by the name in the session id) ------------------------
    # Each answers (status, serialized message, field, text): "OK" and the message, or the gRPC
    # status name of a refusal; exceptions do not cross the Ray hop as errors of the call.
    async def session_open(self, payload: bytes) -> SessionReply:
        return await _session_call(self.sessions.open(pb.OpenSessionRequest.FromString(payload)))

    async def session_cell(self, payload: bytes) -> SessionReply:
        return await _session_call(self.sessions.run_cell(pb.RunCellRequest.FromString(payload)))

    async def session_close(self, session_id: str, key: str) -> bool:
        return await self.sessions.close_session(session_id, key)

    async def session_close_labels(self, labels: dict[str, str]) -> int:
        return await self.sessions.close_labels(labels)


SessionReply = tuple[str, bytes, str, str]


async def _session_call(call: Any) -> SessionReply:
    try:
        message = await call
    except SandboxServiceError as exc:
        return exc.grpc_status.name, b"", str(getattr(exc, "field", "")), str(exc)
    except Exception as exc:  # our failure, reported as such
        return "INTERNAL", b"", "", f"{type(exc).__name__}: {exc}"
    return "OK", message.SerializeToString(), "", ""


async def _score(engine: Engine, name: str, payload: bytes) -> bytes:
    """One sample (a module function: Ray wraps every actor method, even private ones, with tracing)."""
    request = pb.ScoreRequest.FromString(payload)
    try:
        response = await engine.score(request)
    except (
        Exception
    ) as exc:  # the front end validated it with the same settings: our fault, not the program's
        response = sandbox_error_response(request, f"worker {name}: {exc!r}")
    response.worker = name
    return response.SerializeToString()


def remote_worker_class() -> Any:
    """``SandboxWorker`` as a Ray actor class (imports Ray lazily)."""
    import ray

    # num_cpus=0: the actor only waits on containers; the pool's size comes from the node's resource.
    return ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(SandboxWorker)
