"""The gRPC front end: ``Grader`` (Score, ScoreStream, ListLanguages), ``Sessions`` (live
interpreters, see ``sessions/``), health, reflection, metrics.

::

    service = await Service.start(Settings(port=0))   # Ray must be initialised (see ``serve``)
    print(service.port)
    ...
    await service.stop()                               # drain, then UNAVAILABLE, then workers gone

A program's failure is a verdict in the response; RPC errors are for the request itself (see
``errors``). In a ``ScoreStream`` every request gets exactly one response: a refused one comes back
with ``error`` set, so one bad request never ends the stream. Only shutting down ends a stream early,
with ``UNAVAILABLE``, after every admitted request on it has been answered.

Requests are decoded here, not by gRPC (``_add_decoding_service``): bytes that are not the method's
request message are ``INVALID_ARGUMENT`` ("request: not a sandbox.v1.ScoreRequest: ..." naming the
broken field when the wire format shows it), and inside a ``ScoreStream`` they are answered in place
with ``error`` set, under the message's id when it can be read, else ``wire.UNDECODABLE_ID``
(``<undecodable:N>``, N the message's 0-based position in the stream); the stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from runners.languages import LANGUAGES

from .client import grpc_options
from .config import Settings
from .dispatch import Dispatcher, Job
from .errors import InfrastructureError, InvalidRequest, SandboxServiceError, ShuttingDown
from .http_front import HttpFront
from .metrics import ServiceMetrics
from .sessions import SessionRouter
from .v1 import sandbox_pb2 as pb
from .v1 import sandbox_pb2_grpc as pb_grpc
from .wire import Undecodable, decode_request, decode_stream_message, error_response

__all__ = ["Service", "serve"]

log = logging.getLogger(__name__)

SERVICE_NAME = "sandbox.v1.Grader"
SESSIONS_SERVICE_NAME = "sandbox.v1.Sessions"
_OPEN_METHODS = ("/grpc.health.v1.Health/",)  # load balancers probe health without a token


class _TokenAuth(grpc.aio.ServerInterceptor):
    """Rejects calls without ``authorization: Bearer <token>`` (constant-time compare)."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = details.method or ""
        if method.startswith(_OPEN_METHODS):
            return await continuation(details)
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        sent_b = sent.encode() if isinstance(sent, str) else bytes(sent)
        if hmac.compare_digest(sent_b, self._expected):
            return await continuation(details)
        handler = await continuation(details)
        why = "missing or wrong token: send metadata 'authorization: Bearer <token>'"

        async def deny(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, why)

        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(deny)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(deny)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(deny)
        return grpc.unary_unary_rpc_method_handler(deny)


_HANDLER_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _add_decoding_service(
    server: grpc.aio.Server,
    servicer: Any,
    service_name: str,
    on_undecodable: Callable[[InvalidRequest], None] = lambda exc: None,
) -> None:
    """Register ``servicer``'s methods for ``service_name`` (a service of our proto) with gRPC handing
    them raw bytes that ``wire`` decodes; otherwise the same as the generated
    ``add_<Service>Servicer_to_server`` (method paths, reflection and client stubs are unchanged).

    A unary-request method gets its decoded request message; undecodable bytes are answered
    ``INVALID_ARGUMENT`` before it runs. A request-streaming method gets the raw async iterator and
    ``decode=`` a function of (bytes, 0-based position) giving the request message, or an
    ``Undecodable`` to answer in place. ``on_undecodable`` sees every refusal (for metrics).
    """
    service = pb.DESCRIPTOR.services_by_name[service_name.rsplit(".", 1)[-1]]
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        request_type: type[Any] = getattr(pb, method.input_type.name)
        behaviour = getattr(servicer, method.name)

        async def decode(data: bytes, context: Any, request_type: type[Any] = request_type) -> Any:
            try:
                return decode_request(data, request_type)
            except InvalidRequest as exc:
                on_undecodable(exc)
                await context.abort(exc.grpc_status, str(exc))

        if method.client_streaming:
            # The behaviour decodes each message as it reads it (``decode``): a generator of ours
            # around the request stream, and another re-yielding its responses, cost every sample.
            decoder = functools.partial(_decode_in_stream, request_type, on_undecodable)
            handler: Any = functools.partial(behaviour, decode=decoder)
        elif method.server_streaming:
            handler = functools.partial(_unary_stream_handler, behaviour, decode)
        else:
            handler = functools.partial(_unary_handler, behaviour, decode)
        make = _HANDLER_KINDS[(method.client_streaming, method.server_streaming)]
        serialize = getattr(pb, method.output_type.name).SerializeToString
        handlers[method.name] = make(handler, request_deserializer=None, response_serializer=serialize)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service_name, handlers),))
    server.add_registered_method_handlers(service_name, handlers)


async def _unary_handler(behaviour: Any, decode: Any, data: bytes, context: Any) -> Any:
    return await behaviour(await decode(data, context), context)


async def _unary_stream_handler(behaviour: Any, decode: Any, data: bytes, context: Any) -> AsyncIterator[Any]:
    async for item in behaviour(await decode(data, context), context):
        yield item


def _decode_in_stream(
    request_type: type[Any], on_undecodable: Callable[[InvalidRequest], None], data: bytes, position: int
) -> Any:
    """The message at ``position`` of a request stream, or the ``Undecodable`` to answer in place."""
    item = decode_stream_message(data, request_type, position)
    if isinstance(item, Undecodable):
        on_undecodable(item.error)
    return item


def _as_service_error(exc: Exception, request: pb.ScoreRequest) -> SandboxServiceError:
    """``exc`` as the error its caller is told: ours as it is; anything else is a bug of ours, not
    the request's, so INTERNAL (logged with its traceback) rather than gRPC's UNKNOWN or, in a
    stream, the end of it."""
    if isinstance(exc, SandboxServiceError):
        return exc
    log.error("request id=%r: unexpected %s", request.id, type(exc).__name__, exc_info=exc)
    return SandboxServiceError(f"internal error: {type(exc).__name__}: {exc}")


class GraderService(pb_grpc.GraderServicer):
    def __init__(self, service: Service) -> None:
        self.service = service
        self.dispatcher = service.dispatcher

    async def Score(
        self, request: pb.ScoreRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ScoreResponse:
        try:
            return await self.dispatcher.score(request)
        except Exception as exc:
            error = _as_service_error(exc, request)
            self.dispatcher.metrics.rejected.labels(error.grpc_status.name).inc()
            await context.abort(error.grpc_status, str(error))
            raise  # unreachable: abort raises

    async def ScoreStream(
        self,
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext[Any, Any],
        decode: Callable[[bytes, int], pb.ScoreRequest | Undecodable] | None = None,
    ) -> AsyncIterator[pb.ScoreResponse]:
        """``requests`` are bytes that ``decode`` turns into messages (see ``_add_decoding_service``),
        or without it messages already."""
        out: asyncio.Queue[pb.ScoreResponse | None] = asyncio.Queue()
        jobs: set[Job] = set()
        stopped: list[ShuttingDown] = []
        dispatcher = self.dispatcher

        def deliver(job: Job, fut: asyncio.Future[pb.ScoreResponse]) -> None:
            jobs.discard(job)
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is None:
                out.put_nowait(fut.result())
            elif isinstance(exc, SandboxServiceError):
                if isinstance(exc, ShuttingDown):
                    stopped.append(exc)
                out.put_nowait(error_response(job.request.id, exc))

        async def read() -> None:
            try:
                position = 0
                async for data in requests:
                    request = data if decode is None else decode(data, position)
                    position += 1
                    if isinstance(request, Undecodable):  # counted as rejected by the decoder
                        out.put_nowait(error_response(request.id, request.error))
                        continue
                    try:
                        job = await dispatcher.admit_when_room(request)
                    except ShuttingDown as exc:
                        stopped.append(exc)
                        return  # unread requests stay unanswered: the stream ends UNAVAILABLE
                    except Exception as exc:
                        error = _as_service_error(exc, request)
                        dispatcher.metrics.rejected.labels(error.grpc_status.name).inc()
                        out.put_nowait(error_response(request.id, error))
                        continue
                    jobs.add(job)
                    job.future.add_done_callback(functools.partial(deliver, job))
            finally:
                out.put_nowait(None)  # end of input (the answers still pending follow)

        await context.send_initial_metadata(())  # clients wait for it before writing (see Client)
        reader = asyncio.create_task(read())
        reading = True
        try:
            while reading or jobs:
                item = await out.get()
                if item is None:
                    reading = False
                    continue
                yield item
            while not out.empty():  # answers queued in the same tick as the last job finished
                item = out.get_nowait()
                if item is not None:
                    yield item
            if stopped:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(stopped[0]))
            await reader  # surfaces a broken request stream
        finally:
            reader.cancel()
            for job in list(jobs):
                dispatcher.cancel(job)

    async def ListLanguages(
        self, request: pb.ListLanguagesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListLanguagesResponse:
        return self.service.languages()


class SessionsService(pb_grpc.SessionsServicer):
    """``Sessions``: every refusal is an RPC status naming the problem; a cell's failure is a result."""

    def __init__(self, service: Service) -> None:
        self.router = service.sessions
        self.metrics = service.metrics

    async def _guard(self, call: Awaitable[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await call
        except SandboxServiceError as exc:
            self.metrics.rejected.labels(exc.grpc_status.name).inc()
            await context.abort(exc.grpc_status, str(exc))
            raise  # unreachable: abort raises

    async def OpenSession(
        self, request: pb.OpenSessionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Session:
        result: pb.Session = await self._guard(self.router.open(request), context)
        return result

    async def RunCell(
        self, request: pb.RunCellRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CellResult:
        result: pb.CellResult = await self._guard(self.router.run_cell(request), context)
        return result

    async def CloseSession(
        self, request: pb.CloseSessionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CloseSessionResponse:
        result: pb.CloseSessionResponse = await self._guard(self.router.close(request), context)
        return result

    async def CloseSessions(
        self, request: pb.CloseSessionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CloseSessionsResponse:
        result: pb.CloseSessionsResponse = await self._guard(self.router.close_labels(request), context)
        return result


class Service:
    """A running front end: gRPC server, dispatcher and workers, metrics endpoint."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher | None = None) -> None:
        self.settings = settings
        self._owns_dispatcher = dispatcher is None
        self.dispatcher = dispatcher or Dispatcher(settings, ServiceMetrics())
        self.metrics = self.dispatcher.metrics
        self.sessions = SessionRouter(self.dispatcher)
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port = 0
        self.http: HttpFront | None = None  # the HTTP door, when settings.http_port is set
        self._metrics_server: Any = None
        self._stopped = asyncio.Event()

    @classmethod
    async def start(cls, settings: Settings, dispatcher: Dispatcher | None = None) -> Service:
        """Spawn the workers, then open the gRPC port (and the metrics port). Ray must be up.

        With ``dispatcher`` (already started) this is one more door onto the same workers, e.g. a
        TLS port beside a plaintext one; stopping it leaves the dispatcher running.
        """
        self = cls(settings, dispatcher)
        if self._owns_dispatcher:
            await self.dispatcher.start()
        try:
            await self._start_server()
        except BaseException:
            if self._owns_dispatcher:
                await self.dispatcher.close()
            raise
        return self

    async def _start_server(self) -> None:
        s = self.settings
        interceptors = [_TokenAuth(s.token)] if s.token else []
        options = grpc_options(s.max_message_mb)
        if s.front_ends > 1 or s.front_end_namespace:  # several front ends, one port
            options.append(("grpc.so_reuseport", 1))
        server = grpc.aio.server(interceptors=interceptors, options=options)
        rejected = self.metrics.rejected

        def count(exc: InvalidRequest) -> None:
            rejected.labels(exc.grpc_status.name).inc()

        _add_decoding_service(server, GraderService(self), SERVICE_NAME, count)
        _add_decoding_service(server, SessionsService(self), SESSIONS_SERVICE_NAME, count)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, SESSIONS_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = f"{s.host}:{s.port}"
        if s.tls_cert or s.tls_key:
            if not (s.tls_cert and s.tls_key):
                raise InvalidRequest(
                    "tls_cert" if not s.tls_cert else "tls_key", "TLS needs both a cert and a key"
                )
            creds = grpc.ssl_server_credentials(
                [(Path(s.tls_key).read_bytes(), Path(s.tls_cert).read_bytes())]
            )
            self.port = server.add_secure_port(address, creds)
        else:
            self.port = server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot bind the gRPC port {address}")
        await server.start()
        self.server = server
        for name in ("", SERVICE_NAME, SESSIONS_SERVICE_NAME):
            await self._set_health(name, serving=True)
        if s.metrics_port:
            port = s.metrics_port + s.front_end_index  # each front end its own
            self._metrics_server, _thread = start_http_server(port, s.host, self.metrics.registry)
            self.metrics_port = self._metrics_server.server_port
        if s.http_port is not None:
            self.http = HttpFront(s, self.dispatcher)
            await self.http.start()

    async def _set_health(self, name: str, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.health.set(name, status)

    def languages(self) -> pb.ListLanguagesResponse:
        s = self.settings
        labels: dict[str, str] = {}
        seccomp = ""
        for w in self.dispatcher.workers.values():
            labels = w.info.get("image_labels", {})
            seccomp = w.info.get("seccomp_profile", "")
            break
        defaults = pb.Limits(
            time_limit_ms=s.default_time_limit_ms,
            memory_limit_mb=s.default_memory_limit_mb,
            max_output_bytes=s.default_max_output_bytes,
            compile_time_limit_ms=s.default_compile_time_limit_ms,
        )
        maxima = pb.Limits(
            time_limit_ms=s.max_time_limit_ms,
            wall_time_limit_ms=s.max_wall_time_limit_ms,
            memory_limit_mb=s.max_memory_limit_mb,
            max_output_bytes=s.max_max_output_bytes,
            compile_time_limit_ms=s.max_compile_time_limit_ms,
        )
        return pb.ListLanguagesResponse(
            languages=[
                pb.Language(
                    name=spec.name,
                    version=labels.get(spec.version_label, ""),
                    test_kinds=sorted(spec.test_kinds),
                    default_limits=defaults,
                    max_limits=maxima,
                    aliases=spec.aliases,
                )
                for spec in LANGUAGES.values()
            ],
            seccomp_profile=seccomp,
        )

    async def stop(self, drain_timeout: float | None = None) -> None:
        """Graceful shutdown: refuse new work, finish admitted work, then close. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        timeout = self.settings.drain_timeout_s if drain_timeout is None else drain_timeout
        for name in ("", SERVICE_NAME, SESSIONS_SERVICE_NAME):
            with contextlib.suppress(Exception):
                await self._set_health(name, serving=False)
        t0 = time.monotonic()
        if self._owns_dispatcher:
            drained = await self.dispatcher.drain(timeout)
            if not drained:
                log.warning("drain timed out after %.0fs; answering the rest UNAVAILABLE", timeout)
            await self.dispatcher.close()
        if self.server is not None:
            await self.server.stop(grace=max(1.0, timeout - (time.monotonic() - t0)))
        if self.http is not None:
            await self.http.stop()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()


def init_ray(settings: Settings, num_cpus: int | None = None, temp_dir: str | None = None) -> str:
    """Join ``settings.ray_address``, or start a local Ray offering ``pool_size`` sandbox slots.

    A local Ray keeps its files under ``temp_dir`` (the caller removes it after ``ray.shutdown()``).

    Raises:
        RayUnavailable: the cluster does not answer within ``ray_join_timeout_s``, or refuses this
            process's Ray token; checked before ``ray.init``, which would retry for long.
    """
    import ray

    from .rayjoin import check_cluster

    if ray.is_initialized():
        return "Ray already initialised"
    if settings.ray_address:
        gcs = check_cluster(settings.ray_address, settings.ray_join_timeout_s)
        ray.init(address=settings.ray_address, include_dashboard=False, log_to_driver=True)
        return f"joined Ray at {settings.ray_address} (GCS {gcs})"
    kwargs: dict[str, Any] = {"_temp_dir": temp_dir} if temp_dir else {}
    ray.init(
        address="local",  # a new local instance, never some cluster found on this host
        num_cpus=num_cpus,
        resources={settings.worker_resource: settings.pool_size},
        include_dashboard=False,
        **kwargs,
    )
    return f"started a local Ray with {settings.pool_size} {settings.worker_resource!r} slots"


async def serve(settings: Settings, ready: Callable[[Service], None] | None = None) -> None:
    """Run the service until SIGINT/SIGTERM, then shut down gracefully. Ray must be initialised.

    With ``settings.front_ends`` N > 1 this process is the first front end: it spawns the workers,
    then starts N - 1 more front-end processes (``_start_front_ends``) on the same port(s), which
    attach to those workers; on shutdown they drain and stop first, then this one.
    """
    service = await Service.start(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    others: list[asyncio.subprocess.Process] = []
    orphaned: asyncio.Task[None] | None = None
    try:
        if settings.front_ends > 1 and not settings.front_end_namespace:
            others = await _start_front_ends(service)
        if settings.front_end_namespace:
            orphaned = asyncio.create_task(_stop_when_orphaned(stop))
            sys.stdout.write(f"front end {settings.front_end_index} ready\n")  # read by the first
            sys.stdout.flush()
        if ready is not None:
            ready(service)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if orphaned is not None:
            orphaned.cancel()
        await _stop_front_ends(others)
        await service.stop()


async def _start_front_ends(service: Service) -> list[asyncio.subprocess.Process]:
    """Start front ends 1..N-1: ``serve`` processes with this one's settings, its ports (shared by
    ``SO_REUSEPORT``), joined to its Ray cluster and attached to its workers' namespace."""
    import os

    import ray

    s = service.settings
    fixed = {
        "port": service.port,
        "http_port": service.http.port if service.http is not None else None,
        "ray_address": s.ray_address or ray.get_runtime_context().gcs_address,
        "front_end_namespace": service.dispatcher.namespace,
        "metrics_port": s.metrics_port and service.metrics_port,
    }
    values = {**s.model_dump(), **fixed}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update({f"SANDBOX_{k.upper()}": str(v) for k, v in values.items() if v is not None})
    started = []
    try:
        for index in range(1, s.front_ends):
            env["SANDBOX_FRONT_END_INDEX"] = str(index)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sandbox_service", "serve", env=env, stdout=asyncio.subprocess.PIPE
            )
            started.append(proc)
        for index, proc in enumerate(started, 1):
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), s.worker_start_timeout_s)
            if b"ready" not in line:
                raise InfrastructureError(f"front end {index} did not start (exit status {proc.returncode})")
            log.info("front end %d (pid %d) serving on port %d", index, proc.pid, service.port)
            _DRAINS.add(asyncio.ensure_future(_drain(proc.stdout)))  # a full pipe would block it
    except BaseException:
        await _stop_front_ends(started)
        raise
    return started


_DRAINS: set[asyncio.Future[None]] = set()


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    """An extra front end stops when the first is gone (killed outright, it could not say so):
    its workers and, with a local Ray, its Ray went with it."""
    import os

    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.error("the first front end (pid %d) is gone; stopping", parent)
    stop.set()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(1 << 16):
        pass


async def _stop_front_ends(procs: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM each (it drains its own samples), then wait; kill what is still there after a while."""
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
