"""The HTTP door, for drop-in use by tools that speak HTTP today: same workers, limits and token.

``sandbox-service serve --http-port 8080`` adds, beside the gRPC port and on the same host:

``POST /get_reward``
    OpenRLHF's remote reward model (``--remote_rm_url http://HOST:8080/get_reward``):
    ``{"query": [...], "prompts": [...], "labels": [...]}`` → ``{"rewards", "scores", "extra_logs"}``.
    A label holding tests (a JSON object as verl's ``ground_truth``) is scored as code, any other label
    as a gold math answer (see ``integrations.openrlhf_rewards``).
``POST /run_code``
    SandboxFusion's request and response shape (``code``, ``language``, ``stdin``, ``run_timeout``,
    ``compile_timeout``, ``memory_limit_MB`` → ``status``, ``message``, ``compile_result``,
    ``run_result``), so a verl or SandboxFusion user switches by changing the URL. The program runs
    in the same hardened container as every other sample; ``stdout`` holds what it printed, up to
    the deployment's output cap. ``files``/``fetch_files`` are refused: programs get no extra files.
``POST /run_jupyter``
    SandboxFusion's notebook call (``cells``, ``cell_timeout``, ``total_timeout``, ``memory_limit_MB``,
    ``files`` as base64 → ``status``, ``message``, ``driver``, per-cell ``stdout``/``stderr``/
    ``display`` (``[{"text/plain": repr}]``)/``error`` (``[{"ename", "evalue", "traceback"}]``)), run
    in one fresh live session (service ``Sessions``) that is closed at the end: each cell once, in
    order, instead of SandboxFusion's replay. A cell's exception is that cell's ``error``; a cell over
    its limits, or cells past ``total_timeout`` (left out), make the status ``Failed``.
``GET /health``
    200 while serving (open without a token, for probes).

Errors: a bad request is 400 with ``{"error": {"code", "field", "message"}}`` naming the field; a full
queue is 429; shutting down, or a sample the sandbox could not judge on ``/get_reward``, is 503, so
OpenRLHF's client retries instead of recording a wrong reward. With a token configured, requests need
``Authorization: Bearer <token>`` or ``?token=<token>`` (for clients that cannot set headers; a URL can
end up in logs, so prefer the header).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ssl
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runners.languages import LANGUAGES, resolve

from .config import Settings
from .dispatch import Dispatcher, Job
from .errors import InvalidRequest, Overloaded, SandboxServiceError, ShuttingDown
from .integrations import SandboxUnavailable, openrlhf_rewards
from .sessions.router import SessionRouter
from .v1 import sandbox_pb2 as pb
from .wire import loads_json

__all__ = ["HttpFront"]

SANDBOXFUSION_LANGUAGES = {
    "python": "python",
    "cpp": "cpp",
    "nodejs": "javascript",
    "js": "javascript",
    "go": "go",
    "go_test": "go",
    "java": "java",
    "php": "php",
    "csharp": "csharp",
    "bash": "bash",
    "typescript": "typescript",
    "ts": "typescript",
    "rust": "rust",
    "lua": "lua",
    "perl": "perl",
    "ruby": "ruby",
}
"""SandboxFusion's ``/run_code`` language names (its ``Language`` literal and runner table) we answer,
and our row for each. Any other name goes through ``runners.languages.resolve`` (our own names and
aliases: ``c``, ``javascript``, ``c++``, ...); SandboxFusion's others (``R``, ``scala``, ``pytest``,
``junit``, ``jest``, ``kotlin_script``, ...) are refused naming ``language``."""
GO_TEST_MARKER = "// go_test: the program is the test file\n"
"""``go_test`` (SandboxFusion writes the code to a ``_test.go`` file and runs ``go test``): the code
is the program of one Go assertion test whose test code is only this comment, so it is built with
``go test -c`` and passes when its tests do (our ``TestMain`` is added, so the code must have none)."""
RUN_CODE_FIELDS = {
    "code.source": "code",
    "code.language": "language",
    "code.limits.time_limit_ms": "run_timeout",
    "code.limits.wall_time_limit_ms": "run_timeout",
    "code.limits.compile_time_limit_ms": "compile_timeout",
    "code.limits.memory_limit_mb": "memory_limit_MB",
    "code.tests[0].stdio.stdin": "stdin",
}
"""Our request fields under the names a SandboxFusion user sent, for error messages."""


class GetRewardBody(BaseModel):
    query: list[str]
    prompts: list[str]
    labels: list[Any]


class RunCodeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # SandboxFusion fields we have no use for

    code: str
    language: str = "python"
    compile_timeout: float = Field(default=10.0, gt=0)
    run_timeout: float = Field(default=10.0, gt=0)
    memory_limit_MB: int = -1  # noqa: N815 - SandboxFusion's name
    stdin: str | None = ""
    files: dict[str, Any] = {}
    fetch_files: list[str] = []


class RunJupyterBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cells: list[str] = Field(min_length=1, max_length=1024)
    cell_timeout: float = Field(default=0, ge=0)  # 0: only total_timeout bounds a cell
    total_timeout: float = Field(default=45, gt=0)
    memory_limit_MB: int = -1  # noqa: N815 - SandboxFusion's name
    kernel: str = "python3"
    files: dict[str, str] = {}
    fetch_files: list[str] = []


def _error(status: int, code: str, message: str, field: str = "") -> web.Response:
    return web.json_response({"error": {"code": code, "field": field, "message": message}}, status=status)


def _body_error(exc: ValidationError) -> web.Response:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return _error(400, "INVALID_ARGUMENT", f"{field}: {err['msg']}", field)


def _service_error(exc: SandboxServiceError, rename: dict[str, str] | None = None) -> web.Response:
    if isinstance(exc, InvalidRequest):
        field = (rename or {}).get(exc.field, exc.field)
        return _error(400, "INVALID_ARGUMENT", f"{field}: {exc.problem}", field)
    if isinstance(exc, Overloaded):
        return _error(429, "RESOURCE_EXHAUSTED", str(exc))
    if isinstance(exc, (ShuttingDown, SandboxUnavailable)):
        return _error(503, "UNAVAILABLE", str(exc))
    return _error(500, exc.grpc_status.name, str(exc))


def _uint32(field: str, value: float, given: float, unit: str) -> int:
    """``value`` rounded, if a limit field can hold it (else the deployment's maximum cannot be met)."""
    if not value < 2**32:  # also inf, which pydantic lets through a gt=0 float
        raise InvalidRequest(field, f"{given} {unit} is out of range")
    return round(value)


def run_code_request(body: RunCodeBody) -> pb.ScoreRequest:
    """A SandboxFusion ``/run_code`` body as one stdio test whose output is reported, not judged."""
    if body.files:
        raise InvalidRequest("files", "not supported: programs run with no extra files")
    if body.fetch_files:
        raise InvalidRequest("fetch_files", "not supported: programs leave no files behind")
    run_ms = _uint32("code.limits.time_limit_ms", body.run_timeout * 1000, body.run_timeout, "s")
    limits = pb.Limits(
        time_limit_ms=run_ms,
        wall_time_limit_ms=run_ms,
        compile_time_limit_ms=_uint32(
            "code.limits.compile_time_limit_ms", body.compile_timeout * 1000, body.compile_timeout, "s"
        ),
        memory_limit_mb=_uint32(  # -1: the deployment's default
            "code.limits.memory_limit_mb", max(body.memory_limit_MB, 0), body.memory_limit_MB, "MB"
        ),
    )
    test = pb.TestCase(stdio=pb.StdioTest(stdin=body.stdin or ""))
    language = SANDBOXFUSION_LANGUAGES.get(body.language, body.language)
    spec = resolve(language)
    language = spec.name if spec is not None else language  # unknown: the contract names it
    code = body.code
    if body.language == "go_test":
        if body.stdin:
            raise InvalidRequest("stdin", "go_test runs the code's tests, which read no stdin here")
        test = pb.TestCase(assertion=pb.AssertionTest(code=GO_TEST_MARKER))
    elif language == "php":  # as SandboxFusion runs PHP: stripped, and the open tag optional
        code = code.lstrip()
        code = code if code.startswith("<?php") else "<?php\n" + code
    return pb.ScoreRequest(
        id="run_code", code=pb.CodeTask(language=language, source=code, tests=[test], limits=limits)
    )


def run_code_response(response: pb.ScoreResponse, compiled: bool) -> dict[str, Any]:
    """Our answer in SandboxFusion's ``RunCodeResponse`` shape (``compiled``: the language has a build)."""
    t = response.tests[0] if response.tests else pb.TestResult()
    verdict = response.verdict
    if verdict == pb.SANDBOX_ERROR:
        return {"status": "SandboxError", "message": t.message, "compile_result": None, "run_result": None}
    compile_result = None
    if compiled:
        compile_result = {
            "status": "Finished",
            "execution_time": None,
            "return_code": 1 if verdict == pb.COMPILE_ERROR else 0,
            "stdout": "",
            "stderr": response.compile_output,
        }
    if compiled and verdict == pb.COMPILE_ERROR:
        return {
            "status": "Failed",
            "message": "compile error",
            "compile_result": compile_result,
            "run_result": None,
        }
    timed_out = verdict == pb.TIME_LIMIT_EXCEEDED
    return_code = None if timed_out else (-t.signal if t.signal else t.exit_code)
    run_result = {
        "status": "TimeLimitExceeded" if timed_out else "Finished",
        "execution_time": t.wall_ms / 1000.0,
        "return_code": return_code,
        "stdout": t.stdout_head,
        "stderr": t.stderr_head,
    }
    # A Python syntax error ran (and failed) like SandboxFusion's: exit code 1 and the traceback.
    # The expected output is empty and means nothing here: ACCEPTED and WRONG_ANSWER both "ran".
    ok = return_code == 0 and verdict in (pb.ACCEPTED, pb.WRONG_ANSWER)
    message = "" if ok else pb.Verdict.Name(verdict).lower().replace("_", " ")
    return {
        "status": "Success" if ok else "Failed",
        "message": message,
        "compile_result": compile_result,
        "run_result": run_result,
        "executor_pod_name": response.worker,
        "files": {},
    }


def _jupyter_open(body: RunJupyterBody, settings: Settings) -> pb.OpenSessionRequest:
    """The session a ``/run_jupyter`` body runs in (its limits in SandboxFusion's units)."""
    if body.kernel not in ("python3", "python"):
        raise InvalidRequest("kernel", f"only python3 is offered, not {body.kernel!r}")
    if body.fetch_files:
        raise InvalidRequest("fetch_files", "not supported: sessions leave no files behind")
    files = []
    for path, data in body.files.items():
        try:
            files.append(pb.File(path=path, content=base64.b64decode(data, validate=True)))
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"files[{path!r}]", "not base64") from None
    total_ms = round(body.total_timeout * 1000)
    wall_ms = min(total_ms, settings.max_wall_time_limit_ms)
    limits = pb.SessionLimits(
        memory_limit_mb=max(body.memory_limit_MB, 0),
        cell_wall_time_limit_ms=wall_ms,
        cell_time_limit_ms=min(wall_ms, settings.max_time_limit_ms),
    )
    return pb.OpenSessionRequest(
        language="python",
        limits=limits,
        files=files,
        max_lifetime_s=max(1, round(body.total_timeout) + 60),
        labels={"door": "run_jupyter"},
    )


def _jupyter_cell(result: pb.CellResult) -> dict[str, Any]:
    """One cell's result in SandboxFusion's ``CellRunResult`` shape."""
    error = []
    if result.error.ename:
        error.append(
            {
                "ename": result.error.ename,
                "evalue": result.error.evalue,
                "traceback": list(result.error.traceback),
            }
        )
    return {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "display": [{"text/plain": result.display}] if result.display else [],
        "error": error,
        "status": pb.CellResult.CellStatus.Name(result.status),
        "execution_time": result.wall_ms / 1000.0,
    }


class HttpFront:
    """The HTTP server: handlers over a started ``Dispatcher``; ``start()`` returns the bound port."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.port = 0
        self._runner: web.AppRunner | None = None
        self.sessions = SessionRouter(dispatcher)

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.settings.max_message_mb << 20, middlewares=[self._auth_middleware()]
        )
        app.add_routes(
            [
                web.post("/get_reward", self.get_reward),
                web.post("/run_code", self.run_code),
                web.post("/run_jupyter", self.run_jupyter),
                web.get("/health", self.health),
            ]
        )
        return app

    def _auth_middleware(self) -> Any:
        token = self.settings.token

        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            if token and request.path != "/health":
                header = request.headers.get("Authorization", "")
                given = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
                if not hmac.compare_digest(given.encode(), token.encode()):
                    return _error(401, "UNAUTHENTICATED", "a valid token is required")
            response: web.StreamResponse = await handler(request)
            return response

        return auth

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        s = self.settings
        tls = None
        if s.tls_cert and s.tls_key:  # the same certificate as the gRPC port (Service checks the pair)
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(s.tls_cert, s.tls_key)
        shared = s.front_ends > 1 or bool(s.front_end_namespace)  # several front ends, one port
        site = web.TCPSite(self._runner, s.host, s.http_port or 0, ssl_context=tls, reuse_port=shared or None)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def score_batch(self, requests: Sequence[pb.ScoreRequest]) -> list[pb.ScoreResponse]:
        """Admit all (waiting for queue room, like a stream), then wait for every answer."""
        jobs: list[Job] = []
        try:
            for request in requests:
                jobs.append(await self.dispatcher.admit_when_room(request))
            return list(await asyncio.gather(*(self.dispatcher.wait(job) for job in jobs)))
        except BaseException:
            for job in jobs:  # the client went away or one request was bad: free the rest
                self.dispatcher.cancel(job)
            raise

    async def _json(self, request: web.Request) -> Any:
        try:
            return loads_json(await request.read())
        except ValueError as exc:  # also bad UTF-8, and nesting deeper than Python recurses
            raise InvalidRequest("body", f"not JSON: {exc}") from None

    async def get_reward(self, request: web.Request) -> web.Response:
        try:
            body = GetRewardBody.model_validate(await self._json(request))
            result = await openrlhf_rewards(body.query, body.prompts, body.labels, self.score_batch)
        except ValidationError as exc:
            return _body_error(exc)
        except SandboxServiceError as exc:
            return _service_error(exc)
        return web.json_response(result)

    async def run_code(self, request: web.Request) -> web.Response:
        try:
            body = RunCodeBody.model_validate(await self._json(request))
            score_request = run_code_request(body)
            # One sample: waited for as it is (score_batch's gather would wrap it in a task).
            response = await self.dispatcher.wait(await self.dispatcher.admit_when_room(score_request))
        except ValidationError as exc:
            return _body_error(exc)
        except SandboxServiceError as exc:
            return _service_error(exc, RUN_CODE_FIELDS)
        spec = LANGUAGES.get(score_request.code.language)
        # compiled: a build with an artifact (an interpreter's syntax check is not SandboxFusion's compile)
        return web.json_response(run_code_response(response, bool(spec and spec.artifact)))

    async def run_jupyter(self, request: web.Request) -> web.Response:
        try:
            body = RunJupyterBody.model_validate(await self._json(request))
            open_request = _jupyter_open(body, self.settings)
            session = await self.sessions.open(open_request)
        except ValidationError as exc:
            return _body_error(exc)
        except SandboxServiceError as exc:
            return _service_error(exc, {"limits.memory_limit_mb": "memory_limit_MB"})
        cells: list[dict[str, Any]] = []
        failed = ""
        t0 = time.monotonic()
        try:
            for i, code in enumerate(body.cells):
                left_ms = round((body.total_timeout - (time.monotonic() - t0)) * 1000)
                if left_ms <= 0:
                    failed = f"total_timeout reached before cell {i}"
                    break
                limit = min(left_ms, round(body.cell_timeout * 1000) or left_ms)
                limit = min(limit, open_request.limits.cell_time_limit_ms)
                try:
                    result = await self.sessions.run_cell(
                        pb.RunCellRequest(session_id=session.session_id, code=code, time_limit_ms=limit)
                    )
                except SandboxServiceError as exc:
                    if isinstance(exc, InvalidRequest):
                        return _service_error(exc, {"code": f"cells[{i}]"})
                    failed = f"cell {i}: {exc}"
                    break
                cells.append(_jupyter_cell(result))
                if result.status not in (pb.CellResult.OK, pb.CellResult.ERROR):
                    failed = f"cell {i}: {pb.CellResult.CellStatus.Name(result.status)}"
                    if result.status == pb.CellResult.SESSION_LOST:
                        break
        finally:
            await self.sessions.close(pb.CloseSessionRequest(session_id=session.session_id))
        elapsed = time.monotonic() - t0
        return web.json_response(
            {
                "status": "Failed" if failed else "Success",
                "message": failed,
                "driver": {
                    "status": "TimeLimitExceeded" if "total_timeout" in failed else "Finished",
                    "execution_time": elapsed,
                    "return_code": 1 if failed else 0,
                    "stdout": "",
                    "stderr": "",
                },
                "cells": cells,
                "files": {},
            }
        )

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "SERVING"})
