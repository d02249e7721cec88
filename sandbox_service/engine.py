"""The local engine: a warm container pool plus the generic runner, with retries on sandbox failure.

This is the execution core everything else (CLI, gRPC service, Ray workers) sits on::

    async with Engine(Settings(pool_size=2)) as engine:
        response = await engine.score(request)   # sandbox.v1.ScoreRequest -> ScoreResponse

A program's failure comes back as a verdict; a bad request raises ``InvalidRequest``; a sample the
sandbox could not judge, even after ``settings.retries`` fresh containers, comes back as
``SANDBOX_ERROR``. All methods run on one asyncio event loop.

``Engine(settings, result_cache=True)`` (what ``sandbox-service score`` runs) answers a request
identical to one it scored before from memory, and identical requests in flight wait for the first
(``result_cache``; off with ``SANDBOX_RESULT_CACHE=0``) until it has had a container for
``Settings.dedup_wait_ms`` and is seen sleeping, then run on their own (a duplicated sleeper must
not cost twice its wall limit). Ray workers run without one: the front end
caches before a request reaches them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import docker
import docker.errors

from .compile_cache import CompileCache
from .config import Settings
from .errors import DockerUnavailable, InfrastructureError
from .images import ensure_image
from .mathcheck import MathVerifier, VerifierError
from .models import CodeResult, CodeTask, MathTask
from .pool import ContainerPool, Lease
from .result_cache import ResultCache, cache_key, from_cache, stored_form, why_uncacheable
from .runner import Runner
from .v1 import sandbox_pb2 as pb
from .wire import math_response, response_from_result, sandbox_error_response, task_from_proto

__all__ = ["Engine"]


class Engine:
    """Scores code samples on this machine's Docker engine.

    Args:
        settings: deployment settings; defaults read ``SANDBOX_*`` from the environment.
        result_cache: keep a result cache (if ``settings.result_cache_on``).
    """

    def __init__(self, settings: Settings | None = None, result_cache: bool = False) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self.cache = (
            ResultCache(s.result_cache_entries, s.result_cache_mb << 20)
            if result_cache and s.result_cache_on
            else None
        )
        self._leaders: dict[bytes, _Lead] = {}
        self.runner = Runner(self.settings)
        self._pool: ContainerPool | None = None
        self._math: MathVerifier | None = None
        self._math_starting = asyncio.Lock()
        self.image_labels: dict[str, str] = {}

    @property
    def pool(self) -> ContainerPool:
        if self._pool is None:
            raise InfrastructureError("engine is not started")
        return self._pool

    async def _math_verifier(self) -> MathVerifier:
        """The math worker processes, started by the first math task (code-only users never pay)."""
        async with self._math_starting:
            if self._math is None:
                s = self.settings
                self._math = await asyncio.to_thread(
                    MathVerifier,
                    processes=s.math_processes or max(1, os.cpu_count() or 1),
                    time_limit_s=s.math_time_limit_ms / 1000.0,
                    memory_limit_mb=s.math_memory_limit_mb,
                )
            return self._math

    async def start(self) -> None:
        """Check the runtime image and start the warm pool (math workers start on first use)."""
        try:
            client = await asyncio.to_thread(docker.from_env)
            await asyncio.to_thread(client.ping)
        except docker.errors.DockerException as exc:
            raise DockerUnavailable(f"cannot reach the Docker engine: {exc}") from exc
        tag, self.image_labels = await asyncio.to_thread(ensure_image, client, self.settings.image)
        pool = ContainerPool(self.settings, tag, client)
        await pool.start()
        self._pool = pool
        s = self.settings
        if s.compile_cache:  # keyed by the image version: a new toolchain never sees old builds
            self.runner.compile_cache = CompileCache(
                tag, s.compile_cache_entries, s.compile_cache_mb << 20, s.compile_cache_dir
            )

    async def close(self) -> None:
        """Remove every container and math worker; safe to call twice."""
        if self._math is not None:
            self._math.close()
            self._math = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self.runner.compile_cache is not None:
            self.runner.compile_cache.close()
            self.runner.compile_cache = None

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def run_code(
        self, task: CodeTask, on_lease: Callable[[Lease], bool] | None = None
    ) -> tuple[CodeResult, float]:
        """Run a validated task; returns the result and the time spent waiting for a container (ms).

        ``on_lease`` is called each time it gets one, before anything runs there; if it returns
        False the container goes back untouched and ``_Superseded`` is raised."""
        last: InfrastructureError | None = None
        queue_ms = 0.0
        for _attempt in range(self.settings.retries + 1):
            t0 = time.monotonic()
            superseded = False
            async with self.pool.lease() as lease:
                queue_ms += (time.monotonic() - t0) * 1000.0
                if on_lease is not None and not on_lease(lease):
                    superseded = True
                else:
                    try:
                        return await self.runner.run(lease, task, self.pool), queue_ms
                    except InfrastructureError as exc:
                        lease.recycle("sandbox_error")
                        last = exc
            if superseded:
                raise _Superseded
        message = f"sandbox failure, not the program's: {last}"
        return CodeResult.sandbox_error([t.weight for t in task.tests], message), queue_ms

    def build_stats(self) -> dict[str, Any]:
        """The compile cache's figures (hits, misses, waits, evictions, entries, bytes) and fan-outs."""
        cache = self.runner.compile_cache
        return {"compile_cache": cache.stats() if cache is not None else {}, "fanouts": self.runner.fanouts}

    async def run_math(self, request: pb.ScoreRequest, task: MathTask, t0: float) -> pb.ScoreResponse:
        """Grade a math answer on the bounded verifier; its own failure is SANDBOX_ERROR."""
        try:
            verifier = await self._math_verifier()
            grade = await verifier.averify(task.response, task.gold, task.choices)
        except (VerifierError, OSError) as exc:
            return sandbox_error_response(request, f"math verifier failure, not the answer's: {exc}")
        elapsed = (time.monotonic() - t0) * 1000.0
        return math_response(request.id, grade, run_ms=elapsed, total_ms=elapsed)

    async def score(self, request: pb.ScoreRequest) -> pb.ScoreResponse:
        """Validate and score one request (raises ``InvalidRequest`` for a bad one)."""
        t0 = time.monotonic()
        task = task_from_proto(request, self.settings)
        if self.cache is None:
            return await self._score(request, task, t0)
        key = cache_key(request.SerializeToString(), request.id, self.pool.image)
        data = self.cache.get(key)
        if data is None and (lead := self._leaders.get(key)) is not None:
            self.cache.deduplicated += 1
            return await self._follow(lead, request, task, t0)
        if data is not None:
            return from_cache(data, request.id, (time.monotonic() - t0) * 1000.0)
        lead = _Lead(asyncio.get_running_loop().create_future())
        self._leaders[key] = lead
        stored = None
        try:
            response = await self._score(request, task, t0, lead.start)
            reason = why_uncacheable(response, getattr(task, "limits", None))
            if reason is None:
                stored = stored_form(response)
                self.cache.put(key, stored)
            else:
                self.cache.skipped(reason)
            return response
        finally:
            del self._leaders[key]
            lead.done.set_result(stored)

    async def _follow(
        self, lead: _Lead, request: pb.ScoreRequest, task: CodeTask | MathTask, t0: float
    ) -> pb.ScoreResponse:
        """A follower of ``lead``: its answer if cacheable and in time, else a run of its own.

        It waits until the leader has had a container for ``dedup_wait_ms`` and is sleeping (its
        CPU slot lent; checked each ``cpu_window_ms``): a CPU-bound leader, and a math one, which
        takes no container, are waited for to their end. Then it runs on its own; should the
        leader end cacheably while this one still waits for a container, the leader's answer is
        taken and the wait dropped (a container it was handed meanwhile goes back unused). One
        that started its run finishes it.
        """
        wait_s = self.settings.dedup_wait_ms / 1000.0
        window_s = self.settings.cpu_window_ms / 1000.0

        async def released() -> None:
            await lead.started.wait()
            await asyncio.sleep(lead.started_at + wait_s - time.monotonic())
            # Only while it sleeps: a copy then costs a container, not a core. A leader using CPU
            # ends by its CPU limit, and copies would take cores from other samples meanwhile.
            while lead.lease is not None and lead.lease.admission is not None and not lead.lease.sleeping:
                await asyncio.sleep(window_s)

        timer = asyncio.ensure_future(released())
        try:
            first: set[asyncio.Future[Any]] = {lead.done, timer}
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if lead.done.done():
            data = lead.done.result()
            if data is not None:
                return from_cache(data, request.id, (time.monotonic() - t0) * 1000.0)
            return await self._score(request, task, t0)  # not cacheable, or the leader gave up
        assert self.cache is not None
        self.cache.released += 1
        leased = False

        def go_on(_lease: Lease) -> bool:  # called with a container in hand, before anything runs
            nonlocal leased
            if lead.done.done() and lead.done.result() is not None:
                return False
            leased = True
            return True

        own = asyncio.ensure_future(self._score(request, task, t0, go_on))
        try:
            either: set[asyncio.Future[Any]] = {lead.done, own}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not own.done() and not leased and lead.done.result() is not None:
                own.cancel()  # still waiting for a container (or handed one it will give back unused)
                await asyncio.wait({own})
            if not (own.done() and own.cancelled()):
                try:
                    return await own
                except _Superseded:  # a retry (sandbox failure) found the leader's answer there
                    pass
            data = lead.done.result()
            assert data is not None
            return from_cache(data, request.id, (time.monotonic() - t0) * 1000.0)
        except BaseException:
            own.cancel()
            raise

    async def _score(
        self,
        request: pb.ScoreRequest,
        task: CodeTask | MathTask,
        t0: float,
        on_lease: Callable[[Lease], bool] | None = None,
    ) -> pb.ScoreResponse:
        if isinstance(task, MathTask):
            return await self.run_math(request, task, t0)
        result, queue_ms = await self.run_code(task, on_lease)
        return response_from_result(request.id, result, queue_ms, (time.monotonic() - t0) * 1000.0)


@dataclass(eq=False)
class _Lead:
    """A request in flight that identical ones wait for: ``done`` is its stored answer (None: not
    cacheable, or it gave up); ``started`` is set once it has a container."""

    done: asyncio.Future[bytes | None]
    started: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = 0.0  # when it first got a container (monotonic)
    lease: Lease | None = None  # its container now (while it runs)

    def start(self, lease: Lease) -> bool:
        self.lease = lease
        if not self.started.is_set():
            self.started_at = time.monotonic()
            self.started.set()
        return True


class _Superseded(Exception):
    """A released follower's own run was not started: its leader's cacheable answer came first."""
