"""The front end side of sessions: each call goes to the worker its session lives on.

A session id is ``<worker name>/<random>``: the worker part picks the worker among the dispatcher's
live ones, so no table of sessions is kept here. A worker that is gone makes its sessions ``NOT_FOUND``
(and a cell that was running when it died ``SESSION_LOST``): never a silent fresh state. Keyed opens
go to the worker of the key's last session when it is still alive, else the first worker by
rendezvous hashing of the key that has room, so a retried ``OpenSession`` of a rollout finds its
session again. The hint table only speeds that up and is bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..errors import (
    InfrastructureError,
    InvalidRequest,
    NotFound,
    Overloaded,
    SandboxServiceError,
    ShuttingDown,
)
from ..v1 import sandbox_pb2 as pb
from .spec import check_cell, open_spec

if TYPE_CHECKING:
    from ..dispatch import Dispatcher, WorkerHandle

__all__ = ["SessionRouter"]

KEY_HINTS = 100_000
CS = pb.CellResult
_STATUS_NAMES = {v: k for k, v in CS.CellStatus.items()}
_ERRORS: dict[str, type[SandboxServiceError]] = {
    "NOT_FOUND": NotFound,
    "RESOURCE_EXHAUSTED": Overloaded,
    "UNAVAILABLE": ShuttingDown,
}


def _raise(code: str, field: str, message: str) -> None:
    if code == "INVALID_ARGUMENT":
        problem = message.split(": ", 1)[1] if message.startswith(f"{field}: ") else message
        raise InvalidRequest(field, problem)
    raise _ERRORS.get(code, InfrastructureError)(message)


def _weight(key: str, worker: str) -> bytes:
    return hashlib.blake2b(f"{key}\0{worker}".encode(), digest_size=8).digest()


class SessionRouter:
    """Session calls over a started ``Dispatcher``'s workers."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.settings = dispatcher.settings
        self.metrics = dispatcher.metrics
        self._hints: OrderedDict[str, str] = OrderedDict()  # key -> worker of its last session

    def _workers(self) -> dict[str, WorkerHandle]:
        return {name: w for name, w in self.dispatcher.workers.items() if w.alive}

    def _order(self, key: str) -> list[WorkerHandle]:
        workers = self._workers()
        if not workers:
            raise ShuttingDown("no sandbox worker is up")
        if not key:
            order = list(workers.values())
            random.shuffle(order)
            return order
        ranked = sorted(workers, key=lambda name: _weight(key, name), reverse=True)
        hint = self._hints.get(key)
        if hint in workers:
            ranked.remove(hint)
            ranked.insert(0, hint)
        return [workers[name] for name in ranked]

    async def open(self, request: pb.OpenSessionRequest) -> pb.Session:
        if self.dispatcher.draining:
            raise ShuttingDown("the service is shutting down; open sessions elsewhere")
        open_spec(request, self.settings)  # INVALID_ARGUMENT here, before any worker is bothered
        payload = request.SerializeToString()
        full: list[str] = []
        for worker in self._order(request.key):
            try:
                code, data, field, message = await worker.actor.session_open.remote(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # that worker died: try the next one
                full.append(f"{worker.name}: {type(exc).__name__}")
                continue
            if code == "RESOURCE_EXHAUSTED":
                full.append(worker.name)
                continue
            if code != "OK":
                _raise(code, field, message)
            session = pb.Session.FromString(data)
            if request.key:
                self._hints[request.key] = worker.name
                self._hints.move_to_end(request.key)
                while len(self._hints) > KEY_HINTS:
                    self._hints.popitem(last=False)
            self.metrics.sessions_opened.inc()
            return session
        raise Overloaded(f"every worker is at its session cap ({', '.join(full)}); retry later")

    def _owner(self, session_id: str) -> WorkerHandle:
        name, sep, _ = session_id.rpartition("/")
        worker = self._workers().get(name) if sep else None
        if worker is None:
            raise NotFound(f"no live session {session_id!r} (unknown, or its worker is gone)")
        return worker

    async def run_cell(self, request: pb.RunCellRequest) -> pb.CellResult:
        check_cell(request, self.settings)
        worker = self._owner(request.session_id)
        t0 = time.monotonic()
        try:
            code, data, field, message = await worker.actor.session_cell.remote(request.SerializeToString())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker died holding the session: it is gone, and says so
            result = CS(status=CS.SESSION_LOST, state_preserved=False)
            result.error.ename = "SessionLost"
            result.error.evalue = f"the worker holding the session was lost ({type(exc).__name__})"
        else:
            if code != "OK":
                _raise(code, field, message)
            result = CS.FromString(data)
        self.metrics.session_cells.labels(_STATUS_NAMES[result.status]).inc()
        self.metrics.session_cell_latency.observe(time.monotonic() - t0)
        return result

    async def close(self, request: pb.CloseSessionRequest) -> pb.CloseSessionResponse:
        if not request.session_id and not request.key:
            raise InvalidRequest("session_id", "give session_id or key")
        if request.session_id:
            try:
                workers = [self._owner(request.session_id)]
            except NotFound:
                return pb.CloseSessionResponse(closed=False)
        else:
            workers = self._order(request.key)  # the hinted worker first; a key lives on one at most
        for worker in workers:
            try:
                closed = await worker.actor.session_close.remote(request.session_id, request.key)
            except asyncio.CancelledError:
                raise
            except Exception:
                continue  # a dead worker's sessions are gone already
            if closed:
                self._hints.pop(request.key, None)
                return pb.CloseSessionResponse(closed=True)
        return pb.CloseSessionResponse(closed=False)

    async def close_labels(self, request: pb.CloseSessionsRequest) -> pb.CloseSessionsResponse:
        if not request.labels:
            raise InvalidRequest("labels", "give at least one label (closing every session needs a label)")
        labels = dict(request.labels)
        answers: list[Any] = await asyncio.gather(
            *(w.actor.session_close_labels.remote(labels) for w in self._workers().values()),
            return_exceptions=True,
        )
        closed = sum(a for a in answers if isinstance(a, int))
        return pb.CloseSessionsResponse(closed=closed)
