"""The worker side of sessions: live interpreters in containers of their own, and their lifecycle.

A ``SessionManager`` lives in each Ray worker beside its scoring engine, with a warm pool of its own
(``Settings.session_warm`` idle containers; taken ones are replaced at once, so ``OpenSession`` does
not wait for Docker). A session takes one container for its whole life: the agent starts the
interpreter (``runners/session.py``) as the program uid and keeps it between cells. Closing a session,
for whatever reason (asked, idle, lifetime, lost, shutdown), removes its container: nothing of it is
ever reused, so nothing leaks into a later session.

Cells of one session run one at a time, in order (a lock per session); cells of different sessions
run in parallel. Memory follows the scoring rule (``Container.begin_run``/``end_run``): the program's
kernel-measured peak, all its processes together, counted from before the interpreter started; over
the limit is ``MEMORY_LIMIT_EXCEEDED``; when what it still holds after the cell is over the limit too,
the interpreter is replaced (``state_preserved=false``).

CPU: a cell takes one of the worker's CPU slots (the scoring engine's ``CpuAdmission``, shared with
its tests) for as long as it runs, under the same rules: a cell that sleeps (waits on I/O, a
``time.sleep``) lends its slot after about a window, and gets one back, before any new run, when it
wants CPU again. Between cells a session holds no slot. Unlike a test, a cell is never run again: a
cell that wanted CPU while its slot was lent and then reached its wall limit is ``TIMEOUT`` (its
effects on the state cannot be undone); its CPU limit is exact either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from ..admission import CpuAdmission
from ..config import Settings
from ..errors import InfrastructureError, InvalidRequest, NotFound, Overloaded, SandboxServiceError
from ..pool import Container, ContainerPool, RunMemory
from ..v1 import sandbox_pb2 as pb
from .spec import OpenSpec, open_spec

__all__ = ["LiveSession", "SessionManager"]

log = logging.getLogger(__name__)

_MB = 1 << 20
CS = pb.CellResult
_STATUS_NAMES = {v: k for k, v in CS.CellStatus.items()}


@dataclass(eq=False)
class LiveSession:
    id: str
    spec: OpenSpec
    container: Container
    base: RunMemory | None
    opened: float  # monotonic
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    execution_count: int = 0
    closed: bool = False

    @property
    def expires(self) -> float:
        """Monotonic time at which the session ends unless used again."""
        return min(self.opened + self.spec.max_lifetime_s, self.last_used + self.spec.idle_timeout_s)

    def message(self, worker: str) -> pb.Session:
        left_ms = max(0.0, self.expires - time.monotonic()) * 1000.0
        return pb.Session(
            session_id=self.id,
            key=self.spec.key,
            expires_at_ms=int(time.time() * 1000 + left_ms),
            worker=worker,
        )


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


class SessionManager:
    """Sessions of one worker. Async; use from one event loop (the worker actor's).

    Args:
        settings: the deployment's settings.
        worker: the worker's name; it prefixes every session id, so the front end routes by id.
    """

    def __init__(self, settings: Settings, worker: str) -> None:
        self.settings = settings
        self.worker = worker
        self.pool: ContainerPool | None = None
        self.admission: CpuAdmission | None = None  # the CPU slots cells take (see the module doc)
        self._own_admission = False
        self.sessions: dict[str, LiveSession] = {}
        self.by_key: dict[str, LiveSession] = {}
        self._opening: dict[str, asyncio.Future[LiveSession]] = {}
        self._pending = 0  # opens past the cap check, not yet registered
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False
        self.opened = 0
        self.closed: Counter[str] = Counter()
        self.cells: Counter[str] = Counter()

    async def start(
        self, image: str, client: docker.DockerClient | None = None, admission: CpuAdmission | None = None
    ) -> None:
        """Start the warm session pool (``image``: the runtime image tag) and the reaper.

        ``admission``: the worker's CPU slots, shared with its scoring engine (default: slots of
        this manager's own, ``pool_size`` of them).
        """
        warm = self.settings.model_copy(update={"pool_size": self.settings.session_warm})
        pool = ContainerPool(warm, image, client)
        await pool.start()
        self.pool = pool
        if admission is None:
            s = self.settings
            admission = CpuAdmission(
                s.pool_size,
                window_s=s.cpu_window_ms / 1000.0,
                idle_fraction=s.cpu_idle_fraction,
                lending=s.cpu_admission,
            )
            self._own_admission = True
        self.admission = admission
        self._reaper = asyncio.create_task(self._reap())

    async def close(self) -> None:
        """Close every session and remove every container of the session pool. Idempotent."""
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await asyncio.gather(*(self._end(s, "shutdown") for s in list(self.sessions.values())))
        if self.pool is not None:
            await self.pool.close()
        if self.admission is not None and self._own_admission:
            await self.admission.close()

    def stats(self) -> dict[str, Any]:
        return {
            "live": len(self.sessions),
            "opened": self.opened,
            "closed": dict(self.closed),
            "cells": dict(self.cells),
            "warm": self.pool.idle if self.pool is not None else 0,
        }

    # -- open --------------------------------------------------------------------------------
    async def open(self, req: pb.OpenSessionRequest) -> pb.Session:
        """Open a session (or return the live one of ``req.key``)."""
        if self._closing or self.pool is None:
            raise InfrastructureError(f"worker {self.worker} is not taking sessions")
        spec = open_spec(req, self.settings)
        if spec.key:
            live = self.by_key.get(spec.key)
            if live is not None and not live.closed:
                live.last_used = time.monotonic()
                return live.message(self.worker)
            opening = self._opening.get(spec.key)
            if opening is not None:  # the same key, opened concurrently: one session
                return (await asyncio.shield(opening)).message(self.worker)
        if len(self.sessions) + self._pending >= self.settings.session_max_per_worker:
            raise Overloaded(
                f"worker {self.worker} holds its maximum of {self.settings.session_max_per_worker} "
                "sessions; close some or retry later"
            )
        future: asyncio.Future[LiveSession] = asyncio.get_running_loop().create_future()
        if spec.key:
            self._opening[spec.key] = future
        self._pending += 1
        try:
            session = await self._start(spec)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else InfrastructureError("cancelled"))
            future.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            self._pending -= 1
            if spec.key:
                self._opening.pop(spec.key, None)
        future.set_result(session)
        return session.message(self.worker)

    async def _start(self, spec: OpenSpec) -> LiveSession:
        assert self.pool is not None
        s = self.settings
        container = await self.pool.take()
        try:
            base = await container.begin_run(
                spec.memory_bytes, spec.max_output_bytes, s.memory_overhead_mb * _MB
            )
            header = {
                "op": "session_open",
                "files": [{"path": path} for path, _ in spec.files],
                "rlimits": self._rlimits(spec),
            }
            await container.conn.call(header, [data for _, data in spec.files], 30.0)
            now = time.monotonic()
            session = LiveSession(
                id=f"{self.worker}/{secrets.token_hex(12)}",
                spec=spec,
                container=container,
                base=base,
                opened=now,
                last_used=now,
            )
            if spec.setup_code:
                result = await self._cell(session, spec.setup_code, 0, counted=False)
                if result.status != CS.OK:
                    why = _STATUS_NAMES[result.status]
                    if result.error.ename:
                        why += f": {result.error.ename}: {result.error.evalue}"
                    raise InvalidRequest("setup_code", f"failed ({why[:500]}); no session was opened")
        except BaseException:
            await self.pool.retire(container, "session_open_failed")
            raise
        self.sessions[session.id] = session
        if spec.key:
            self.by_key[spec.key] = session
        self.opened += 1
        return session

    def _rlimits(self, spec: OpenSpec) -> dict[str, Any]:
        s = self.settings
        mem = spec.memory_bytes
        return {  # no RLIMIT_CPU: it would count the whole session; cells are timed by the agent
            "NPROC": max(8, s.pids_limit - 16),
            "FSIZE": s.tmpfs_mb * _MB,
            "NOFILE": 256,
            "CORE": 0,
            "STACK": min(mem, 1 << 30),
        }

    # -- cells -------------------------------------------------------------------------------
    async def run_cell(self, req: pb.RunCellRequest) -> pb.CellResult:
        """Run one cell of a session of this worker (``NotFound`` for an unknown or closed one)."""
        session = self.sessions.get(req.session_id)
        if session is None or session.closed:
            raise NotFound(f"no live session {req.session_id!r} (never opened, closed or expired)")
        limit = session.spec.cell_time_limit_ms
        if req.time_limit_ms > limit:
            raise InvalidRequest(
                "time_limit_ms", f"{req.time_limit_ms} is over the session's limit of {limit}"
            )
        async with session.lock:
            if session.closed:
                raise NotFound(f"session {req.session_id!r} was closed")
            session.execution_count += 1
            try:
                result = await self._cell(session, req.code, req.time_limit_ms)
            finally:
                session.last_used = time.monotonic()
        self.cells[_STATUS_NAMES[result.status]] += 1
        return result

    async def _cell(
        self, session: LiveSession, code: str, time_limit_ms: int, counted: bool = True
    ) -> pb.CellResult:
        s = self.settings
        spec = session.spec
        c = session.container
        cpu_ms = time_limit_ms or spec.cell_time_limit_ms
        wall_ms = (
            min(spec.cell_wall_time_limit_ms, time_limit_ms)
            if time_limit_ms
            else spec.cell_wall_time_limit_ms
        )
        n = session.execution_count if counted else 0
        header = {
            "op": "session_cell",
            "name": f"<cell-{n}>" if counted else "<setup>",
            "wall_ms": wall_ms,
            "cpu_ms": cpu_ms,
            "max_output": spec.max_output_bytes,
            "grace_ms": s.session_interrupt_grace_ms,
        }
        timeout = (wall_ms + s.session_interrupt_grace_ms + s.agent_grace_ms) / 1000.0 + 15.0
        t0 = time.monotonic()
        try:
            memory = await c.begin_run(spec.memory_bytes, spec.max_output_bytes, s.memory_overhead_mb * _MB)
            async with self._cpu_slot(c, wall_ms):
                info, (out, err) = await c.conn.call(header, [code.encode("utf-8", "surrogatepass")], timeout)
            peak, ooms = c.end_run(memory)
        except (InfrastructureError, ValueError) as exc:
            log.warning("session %s lost: %s", session.id, exc)
            result = CS(status=CS.SESSION_LOST, execution_count=n, state_preserved=False)
            result.error.ename = "SessionLost"
            result.error.evalue = "the session's sandbox failed; open a new session"
            result.wall_ms = round((time.monotonic() - t0) * 1000.0)
            await self._end(session, "lost")
            return result
        result = CS(stdout=_text(out), stderr=_text(err), execution_count=n, wall_ms=round(info["wall_ms"]))
        reply = info["reply"] or {}
        restarted = bool(info["restarted"])
        if reply.get("ok"):
            if reply.get("display") is not None:
                result.display = str(reply["display"])
        elif reply:
            result.error.ename = str(reply.get("ename", ""))
            result.error.evalue = str(reply.get("evalue", ""))
            result.error.traceback.extend(str(line) for line in reply.get("traceback", []))
        result.truncated = bool(
            reply.get("truncated")
            or info["stdout_bytes"] > spec.max_output_bytes
            or info["stderr_bytes"] > spec.max_output_bytes
        )
        over_memory = ooms > 0
        if peak is not None and memory is not None and session.base is not None:
            over_memory = over_memory or peak + memory.baseline - session.base.baseline > spec.memory_bytes
        reason = info["reason"]
        if over_memory:
            result.status = CS.MEMORY_LIMIT_EXCEEDED
            if not restarted and self._holding(session) > spec.memory_bytes:
                await c.conn.call({"op": "session_restart"}, [], 30.0)  # it still holds too much
                restarted = True
        elif reason == "timeout":
            result.status = CS.TIMEOUT
        elif reason == "output":
            result.status = CS.OUTPUT_LIMIT_EXCEEDED
            result.truncated = True
        elif info["died"] or reason == "garbage":
            result.status = CS.ERROR
            status = info["exit_status"]
            result.error.ename = "KernelDied"
            how = ""
            if status is not None:
                how = f" (exit code {status >> 8})" if not status & 0x7F else f" (signal {status & 0x7F})"
            result.error.evalue = (
                f"the interpreter exited{how}; a fresh one was started and the state is lost"
            )
        else:
            result.status = CS.OK if reply.get("ok") else CS.ERROR
        if restarted and result.status in (CS.TIMEOUT, CS.MEMORY_LIMIT_EXCEEDED, CS.OUTPUT_LIMIT_EXCEEDED):
            if not result.error.ename:
                result.error.ename = "KernelRestarted"
                result.error.evalue = (
                    "the interpreter had to be killed; a fresh one was started and the state is lost"
                )
        result.state_preserved = not restarted
        return result

    @contextlib.asynccontextmanager
    async def _cpu_slot(self, container: Container, wall_ms: int) -> AsyncIterator[None]:
        """One of the worker's CPU slots for as long as a cell runs (see the module doc)."""
        if self.admission is None:
            yield
            return
        async with self.admission.slot(container.cpu, wall_ms=wall_ms, kind="cell"):
            yield

    def _holding(self, session: LiveSession) -> int:
        """What the session's processes hold now, counted as its peak is."""
        run = session.container.run_cgroup
        if run is None or session.base is None:
            return 0
        try:
            return int(Path(run, "memory.usage_in_bytes").read_text()) - session.base.baseline
        except (OSError, ValueError):
            return 0

    # -- close -------------------------------------------------------------------------------
    async def close_session(self, session_id: str = "", key: str = "") -> bool:
        """Close by id or key; False when nothing by that name is open here (closing is idempotent)."""
        session = self.sessions.get(session_id) if session_id else self.by_key.get(key)
        if session is None or session.closed:
            return False
        if session_id and key and session.spec.key != key:
            return False
        await self._end(session, "closed")
        return True

    async def close_labels(self, labels: dict[str, str]) -> int:
        """Close every session carrying all of ``labels``; returns how many."""
        hit = [
            s
            for s in self.sessions.values()
            if not s.closed and all(s.spec.labels.get(k) == v for k, v in labels.items())
        ]
        await asyncio.gather(*(self._end(s, "closed_by_labels") for s in hit))
        return len(hit)

    async def _end(self, session: LiveSession, reason: str) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        if session.spec.key and self.by_key.get(session.spec.key) is session:
            del self.by_key[session.spec.key]
        self.closed[reason] += 1
        session.container.conn.close()  # a running cell ends now (SESSION_LOST to its caller)
        if self.pool is not None:
            try:
                await self.pool.retire(session.container, f"session_{reason}")
            except Exception as exc:  # Docker hiccup: the pool's close removes it at the latest
                log.warning("removing the container of session %s: %s", session.id, exc)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(self.settings.session_reap_interval_s)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if session.lock.locked() or now < session.expires:
                    continue
                lifetime_over = now >= session.opened + session.spec.max_lifetime_s
                with contextlib.suppress(Exception):
                    await self._end(session, "lifetime" if lifetime_over else "idle")


def error_tuple(exc: SandboxServiceError) -> tuple[str, str, str]:
    """How a refused session call crosses the Ray hop: (gRPC status name, field, message)."""
    return exc.grpc_status.name, getattr(exc, "field", ""), str(exc)
