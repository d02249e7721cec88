"""Python client of the ``Grader`` service: an async core and a sync wrapper.

::

    from sandbox_service import Client

    with Client("127.0.0.1:50051") as client:
        print(client.score({"id": "a", "code": {"language": "python", "source": "print(1)",
                                                "tests": [{"stdio": {"expected_stdout": "1"}}]}}).reward)
        for response in client.score_many(requests, window=256):   # as each finishes
            ...

    with client.session(key="rollout-17") as s:          # a live interpreter (service Sessions)
        s.run("x = 41")
        print(s.run("x + 1").display)                    # '42'

Requests are ``sandbox.v1.ScoreRequest`` messages or dicts in its JSON mapping. Only retryable
statuses (``UNAVAILABLE``, ``RESOURCE_EXHAUSTED``) are retried, with exponential backoff and jitter;
``score_many`` re-sends exactly the requests a broken stream left unanswered, so every request is
answered once. ``RunCell`` is never retried (a cell is not idempotent); a session's context closes it
on exit, whatever happened inside. Keepalive pings keep long, quiet streams alive through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format

from .v1 import sandbox_pb2 as pb
from .v1 import sandbox_pb2_grpc as pb_grpc

__all__ = ["AsyncClient", "AsyncSession", "Client", "RETRYABLE", "SyncSession"]

T = TypeVar("T")
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
RequestLike = pb.ScoreRequest | Mapping[str, Any]


def as_request(item: RequestLike) -> pb.ScoreRequest:
    """A ``ScoreRequest`` from a message or a dict in the JSON mapping (snake or camel case)."""
    if isinstance(item, pb.ScoreRequest):
        return item
    if isinstance(item, Mapping):
        return json_format.ParseDict(dict(item), pb.ScoreRequest())
    raise TypeError(f"expected a ScoreRequest or a dict, got {type(item).__name__}")


def grpc_options(max_message_mb: int) -> list[tuple[str, int]]:
    """Channel/server options: the largest message either way, keepalive that suits long streams."""
    size = max_message_mb << 20
    return [
        ("grpc.max_receive_message_length", size),
        ("grpc.max_send_message_length", size),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]


class AsyncClient:
    """Async client; use on one event loop.

    Args:
        address: ``host:port`` of the service.
        token: shared secret, sent as ``authorization: Bearer <token>``.
        tls: use TLS; ``root_certificates`` (PEM bytes) to trust a private CA or self-signed cert.
        retries: attempts after the first for retryable statuses (and per broken stream).
        backoff: first and largest delay between attempts, in seconds.
        timeout: default deadline of a unary ``score`` call, in seconds (None: no deadline).
        max_message_mb: largest message either way (match the server's).
    """

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        retries: int = 5,
        backoff: tuple[float, float] = (0.1, 5.0),
        timeout: float | None = None,
        max_message_mb: int = 64,
    ) -> None:
        options = grpc_options(max_message_mb)
        if tls or root_certificates:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.aio.secure_channel(address, creds, options=options)
        else:
            self._channel = grpc.aio.insecure_channel(address, options=options)
        self._stub = pb_grpc.GraderStub(self._channel)  # type: ignore[no-untyped-call]
        self._sessions = pb_grpc.SessionsStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _delay(self, attempt: int) -> float:
        first, most = self.backoff
        return float(random.uniform(0.5, 1.0) * min(most, first * 2**attempt))

    async def score(self, request: RequestLike, *, timeout: float | None = None) -> pb.ScoreResponse:
        """Score one sample; raises ``grpc.aio.AioRpcError`` for a bad request or after retries."""
        message = as_request(request)
        for attempt in range(self.retries + 1):
            try:
                response: pb.ScoreResponse = await self._stub.Score(
                    message, timeout=timeout if timeout is not None else self.timeout, metadata=self._metadata
                )
                return response
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
                await asyncio.sleep(self._delay(attempt))
        raise AssertionError("unreachable")

    async def _retried(self, method: Any, request: Any, timeout: float | None) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return await method(request, timeout=timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
                await asyncio.sleep(self._delay(attempt))
        raise AssertionError("unreachable")

    # -- sessions ----------------------------------------------------------------------------
    async def open_session(
        self, request: pb.OpenSessionRequest | Mapping[str, Any] | None = None, **fields: Any
    ) -> pb.Session:
        """Open a session: an ``OpenSessionRequest``, a dict in its JSON mapping, or its fields
        as keywords (``key=``, ``limits={"memory_limit_mb": 512}``, ``labels={...}``, ...)."""
        if request is None:
            request = fields
        if not isinstance(request, pb.OpenSessionRequest):
            request = json_format.ParseDict(dict(request), pb.OpenSessionRequest())
        session: pb.Session = await self._retried(self._sessions.OpenSession, request, 120)
        return session

    async def run_cell(
        self, session_id: str, code: str, *, time_limit_ms: int = 0, timeout: float | None = None
    ) -> pb.CellResult:
        """Run one cell (never retried); a failure inside the cell is in the result."""
        result: pb.CellResult = await self._sessions.RunCell(
            pb.RunCellRequest(session_id=session_id, code=code, time_limit_ms=time_limit_ms),
            timeout=timeout,
            metadata=self._metadata,
        )
        return result

    async def close_session(self, session_id: str = "", *, key: str = "") -> bool:
        """End a session by id or key; False when none was open (closing is idempotent)."""
        request = pb.CloseSessionRequest(session_id=session_id, key=key)
        response: pb.CloseSessionResponse = await self._retried(self._sessions.CloseSession, request, 60)
        return response.closed

    async def close_sessions(self, labels: Mapping[str, str]) -> int:
        """End every session carrying all of ``labels`` (a training run's clean-up); returns how many."""
        request = pb.CloseSessionsRequest(labels=dict(labels))
        response: pb.CloseSessionsResponse = await self._retried(self._sessions.CloseSessions, request, 60)
        return response.closed

    def session(
        self, request: pb.OpenSessionRequest | Mapping[str, Any] | None = None, **fields: Any
    ) -> AsyncSession:
        """``async with client.session(key=...) as s: await s.run("x = 1")`` (closed on exit)."""
        return AsyncSession(self, request, fields)

    async def list_languages(self) -> pb.ListLanguagesResponse:
        response: pb.ListLanguagesResponse = await self._stub.ListLanguages(
            pb.ListLanguagesRequest(), timeout=30, metadata=self._metadata
        )
        return response

    async def score_many(
        self, requests: Iterable[RequestLike] | AsyncIterable[RequestLike], *, window: int = 256
    ) -> AsyncGenerator[pb.ScoreResponse, None]:
        """Stream requests with at most ``window`` unanswered; yield responses as they complete.

        Each response carries its request's ``id``. Requests a broken stream left unanswered (the
        server restarting, a dropped connection) are sent again on a new stream, so each request is
        answered exactly once; after ``retries`` consecutive failures the error is raised.
        """
        if window < 1:
            raise ValueError("window must be >= 1")
        source = _aiter(requests)
        slots = asyncio.Semaphore(window)
        pending: dict[str, tuple[str, pb.ScoreRequest]] = {}  # wire id -> (caller's id, request)
        counter = 0
        exhausted = False
        failures = 0
        while True:
            resend = [req for _, req in pending.values()]
            if exhausted and not pending:
                return
            call = self._stub.ScoreStream(metadata=self._metadata)
            write_failed = False

            async def write(call: Any = call, resend: list[pb.ScoreRequest] = resend) -> None:
                nonlocal counter, exhausted, write_failed
                try:
                    for req in resend:
                        await call.write(req)
                    while not exhausted:
                        await slots.acquire()
                        try:
                            item = await anext(source)
                        except StopAsyncIteration:
                            exhausted = True
                            slots.release()
                            break
                        req = pb.ScoreRequest()
                        req.CopyFrom(as_request(item))
                        wire_id = str(counter)
                        counter += 1
                        pending[wire_id] = (req.id, req)
                        req.id = wire_id
                        await call.write(req)
                    await call.done_writing()
                except grpc.aio.AioRpcError:
                    write_failed = True  # the call has ended; the reading side reports its status

            # The server speaks first (its initial metadata), so a refused stream (no token, shutting
            # down) is seen before anything is written into it.
            try:
                await call.initial_metadata()
                if call.done():
                    await _raise_status(call)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or failures >= self.retries:
                    raise
                await asyncio.sleep(self._delay(failures))
                failures += 1
                continue
            writer = asyncio.create_task(write())
            try:
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        break
                    entry = pending.pop(response.id, None)
                    if entry is None:
                        continue  # not ours (cannot happen with a correct server)
                    failures = 0
                    slots.release()
                    response.id = entry[0]
                    yield response
                await _raise_status(call)
                await writer
                if exhausted and not pending:
                    return
                raise grpc.aio.AioRpcError(
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.aio.Metadata(),
                    grpc.aio.Metadata(),
                    details=f"stream ended with {len(pending)} requests unanswered",
                )
            except grpc.aio.AioRpcError as exc:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
                # A write racing the server's end of the call can leave it INTERNAL locally; what
                # is unanswered is known exactly, so a new stream re-sends it safely.
                retryable = exc.code() in RETRYABLE or (
                    write_failed and exc.code() == grpc.StatusCode.INTERNAL
                )
                if not retryable or failures >= self.retries:
                    raise
                await asyncio.sleep(self._delay(failures))
                failures += 1
            finally:
                if not writer.done():
                    writer.cancel()
                call.cancel()


class AsyncSession:
    """A live session of an ``AsyncClient``; an async context manager that closes it on exit."""

    def __init__(self, client: AsyncClient, request: Any, fields: dict[str, Any]) -> None:
        self._client = client
        self._request = request
        self._fields = fields
        self.info = pb.Session()

    @property
    def id(self) -> str:
        return self.info.session_id

    async def open(self) -> AsyncSession:
        self.info = await self._client.open_session(self._request, **self._fields)
        return self

    async def run(self, code: str, *, time_limit_ms: int = 0, timeout: float | None = None) -> pb.CellResult:
        return await self._client.run_cell(self.id, code, time_limit_ms=time_limit_ms, timeout=timeout)

    async def close(self) -> bool:
        return await self._client.close_session(self.id) if self.id else False

    async def __aenter__(self) -> AsyncSession:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def _raise_status(call: Any) -> None:
    """Raise the call's final status as ``AioRpcError`` unless it is OK."""
    code = await call.code()
    if code != grpc.StatusCode.OK:
        raise grpc.aio.AioRpcError(
            code, await call.initial_metadata(), await call.trailing_metadata(), details=await call.details()
        )


async def _aiter(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


class Client:
    """Synchronous wrapper of ``AsyncClient`` (same arguments); runs its own event loop thread."""

    def __init__(self, address: str = "127.0.0.1:50051", **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox-client", daemon=True)
        self._thread.start()
        self._async = self._run(_make_async(address, kwargs))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def score(self, request: RequestLike, *, timeout: float | None = None) -> pb.ScoreResponse:
        return self._run(self._async.score(request, timeout=timeout))

    def list_languages(self) -> pb.ListLanguagesResponse:
        return self._run(self._async.list_languages())

    def score_many(self, requests: Iterable[RequestLike], *, window: int = 256) -> Iterator[pb.ScoreResponse]:
        """Like ``AsyncClient.score_many``; ``requests`` is read on the client's own thread."""
        agen = self._async.score_many(requests, window=window)
        try:
            while True:
                try:
                    yield self._run(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            self._run(agen.aclose())

    def open_session(self, request: Any = None, **fields: Any) -> pb.Session:
        return self._run(self._async.open_session(request, **fields))

    def run_cell(
        self, session_id: str, code: str, *, time_limit_ms: int = 0, timeout: float | None = None
    ) -> pb.CellResult:
        return self._run(self._async.run_cell(session_id, code, time_limit_ms=time_limit_ms, timeout=timeout))

    def close_session(self, session_id: str = "", *, key: str = "") -> bool:
        return self._run(self._async.close_session(session_id, key=key))

    def close_sessions(self, labels: Mapping[str, str]) -> int:
        return self._run(self._async.close_sessions(labels))

    def session(self, request: Any = None, **fields: Any) -> SyncSession:
        """``with client.session(key=...) as s: s.run("x = 1")`` (closed on exit)."""
        return SyncSession(self, self._async.session(request, **fields))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._async.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SyncSession:
    """A live session of a ``Client``; a context manager that closes it on exit."""

    def __init__(self, client: Client, inner: AsyncSession) -> None:
        self._client = client
        self._inner = inner

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def info(self) -> pb.Session:
        return self._inner.info

    def open(self) -> SyncSession:
        self._client._run(self._inner.open())
        return self

    def run(self, code: str, *, time_limit_ms: int = 0, timeout: float | None = None) -> pb.CellResult:
        return self._client._run(self._inner.run(code, time_limit_ms=time_limit_ms, timeout=timeout))

    def close(self) -> bool:
        return self._client._run(self._inner.close())

    def __enter__(self) -> SyncSession:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _next(agen: AsyncGenerator[T, None]) -> T:
    return await anext(agen)


async def _make_async(address: str, kwargs: dict[str, Any]) -> AsyncClient:
    return AsyncClient(address, **kwargs)  # channels must be created on the loop that uses them
