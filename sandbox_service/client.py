"""Python client of the ``Grader`` service: an async core and a sync wrapper.

::

    from sandbox_service import Client

    with Client("127.0.0.1:50051") as client:
        print(client.score({"id": "a", "code": {"language": "python", "source": "print(1)",
                                                "tests": [{"stdio": {"expected_stdout": "1"}}]}}).reward)
        for response in client.score_many(requests, window=256):   # as each finishes
            ...

Requests are ``sandbox.v1.ScoreRequest`` messages or dicts in its JSON mapping. Only retryable
statuses (``UNAVAILABLE``, ``RESOURCE_EXHAUSTED``) are retried, with exponential backoff and jitter;
``score_many`` re-sends exactly the requests a broken stream left unanswered, so every request is
answered once. Keepalive pings keep long, quiet streams alive through proxies.
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

__all__ = ["AsyncClient", "Client", "RETRYABLE"]

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


async def _next(agen: AsyncGenerator[T, None]) -> T:
    return await anext(agen)


async def _make_async(address: str, kwargs: dict[str, Any]) -> AsyncClient:
    return AsyncClient(address, **kwargs)  # channels must be created on the loop that uses them
