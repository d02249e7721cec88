"""Reward functions for RL trainers, each a thin call onto a running service.

**verl**: point ``custom_reward_function.path`` at this file and pick a name::

    custom_reward_function.path=$(python -c "import sandbox_service.integrations as m; print(m.__file__)")
    custom_reward_function.name=compute_score          # or compute_score_async, compute_score_batch

Rows are verl's own (``data_source``, ``reward_model.ground_truth``): a ground truth holding tests
(``inputs``/``outputs`` or ``test_cases``, as an object or a JSON string) is scored as code, anything
else as a math answer. Each call returns ``{"score": reward, "acc", "passed", "total",
"sandbox_error"}`` (numbers only, the same keys every time, so verl can log them).

**TRL** (``GRPOTrainer(reward_funcs=[code_reward, math_reward])``): async functions of
``(prompts, completions, **dataset_columns) -> list[float | None]``. ``code_reward`` finds the tests
in the dataset's columns (``verification_info``, ``input_output``, ``test``+``entry_point``,
``test_list``, ``public_test_cases``, ``official_tests``, ``reward_model``); ``math_reward`` the gold
answer in ``gold``/``answer``/``solution``/``ground_truth``. ``None`` marks a sample the sandbox could
not judge: TRL leaves it out instead of punishing it.

**OpenRLHF** (``--remote_rm_url http://HOST:PORT/get_reward``): ``openrlhf_rewards`` is the body of
that endpoint, served by ``sandbox-service serve --http-port PORT`` (see ``http_front``).

**verl tools** (multi-turn agent loops): ``SandboxSessionTool`` is a verl ``BaseTool`` (load it by
class name from a tool-config YAML; see README) giving the policy a live Python interpreter: one
session per trajectory, keyed by the agent loop's ``request_id``, so the per-call ``create``/``release``
verl does keep the state; the service's idle timeout ends sessions of finished trajectories.

Where the service is: ``SANDBOX_ADDRESS`` (default ``127.0.0.1:50051``), ``SANDBOX_TOKEN``,
``SANDBOX_TLS_CA`` (a PEM file; turns TLS on), or a ``Rewards(...)`` of your own.

Failures are never scored as the model's: a sample the sandbox failed on (``SANDBOX_ERROR``, after
the service's own retries) is ``None`` for TRL and, for verl, raises ``SandboxUnavailable`` unless
``on_sandbox_error="zero"`` is passed (verl: ``+custom_reward_function.reward_kwargs.on_sandbox_error=zero``;
then the dict says ``sandbox_error: 1``). A response too large for the service scores 0; a dataset
row that cannot become a request raises ``AdapterError`` naming the field.

This module imports the package by absolute name, so verl can load it by file path.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox_service.adapters import AdapterError, to_request
from sandbox_service.client import AsyncClient, Client
from sandbox_service.errors import SandboxServiceError
from sandbox_service.v1 import sandbox_pb2 as pb

__all__ = [
    "Rewards",
    "SandboxUnavailable",
    "code_reward",
    "compute_score",
    "compute_score_async",
    "compute_score_batch",
    "math_reward",
    "openrlhf_rewards",
]

DEFAULT_ADDRESS = "127.0.0.1:50051"
MODEL_FIELDS = frozenset({"code.source", "math.response"})
"""Request fields the model's output fills: refusing them (too large) is the model's failure, 0."""


class SandboxUnavailable(SandboxServiceError):
    """The service could not judge some samples (``SANDBOX_ERROR`` or a refused call)."""


class Rewards:
    """Scores batches on a running service, from sync or async code (any event loop or thread).

    Args:
        address: ``host:port`` (default ``SANDBOX_ADDRESS`` or ``127.0.0.1:50051``).
        token: the service's shared token (default ``SANDBOX_TOKEN``).
        tls_ca: PEM file of the CA to trust; turns TLS on (default ``SANDBOX_TLS_CA``).
        window: samples in flight per batch.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        tls_ca: str | None = None,
        window: int = 256,
    ) -> None:
        self.address = address or os.environ.get("SANDBOX_ADDRESS") or DEFAULT_ADDRESS
        token = token or os.environ.get("SANDBOX_TOKEN") or None
        ca_path = tls_ca or os.environ.get("SANDBOX_TLS_CA") or None
        ca = Path(ca_path).read_bytes() if ca_path else None
        self._kwargs: dict[str, Any] = {"token": token, "root_certificates": ca}
        self.window = window
        # a gRPC aio channel belongs to the loop that made it: one client per loop
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: Client | None = None
        self._lock = threading.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    def _async_client(self) -> AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = AsyncClient(self.address, **self._kwargs)
            return client

    async def ascore(self, requests: Sequence[pb.ScoreRequest]) -> list[pb.ScoreResponse]:
        """Score a batch concurrently; answers in request order."""
        numbered = _numbered(requests)
        answers = {r.id: r async for r in self._async_client().score_many(numbered, window=self.window)}
        return [answers[r.id] for r in numbered]

    def score(self, requests: Sequence[pb.ScoreRequest]) -> list[pb.ScoreResponse]:
        """Blocking ``ascore``: runs on the client's own thread, so it is safe inside a running loop."""
        with self._lock:
            if self._sync is None:
                self._sync = Client(self.address, **self._kwargs)
        numbered = _numbered(requests)
        answers = {r.id: r for r in self._sync.score_many(numbered, window=self.window)}
        return [answers[r.id] for r in numbered]

    def close(self) -> None:
        """Close every connection: the blocking client's and each event loop's.

        A loop's channel is closed on that loop: at once if the loop is idle, through it if it runs
        on another thread, and as a task if it is the caller's own running loop (``aclose`` awaits it).
        """
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        with self._lock:
            clients = list(self._clients.items())
            self._clients.clear()
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, client in clients:
            if loop.is_closed():
                continue
            if loop is current:
                task = loop.create_task(client.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout=30)
            else:
                loop.run_until_complete(client.close())

    async def aclose(self) -> None:
        """``close`` from async code: this loop's channel is closed before it returns."""
        with self._lock:
            client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()
        await asyncio.to_thread(self.close)


def _numbered(requests: Sequence[pb.ScoreRequest]) -> list[pb.ScoreRequest]:
    """Copies with positions as ids: answers come back in completion order and are put back in order."""
    numbered = []
    for i, request in enumerate(requests):
        r = pb.ScoreRequest()
        r.CopyFrom(request)
        r.id = str(i)
        numbered.append(r)
    return numbered


_default: Rewards | None = None
_default_lock = threading.Lock()


def default_rewards() -> Rewards:
    """The shared ``Rewards`` the module-level functions use (configured from the environment)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Rewards()
        return _default


def reward_of(response: pb.ScoreResponse) -> float | None:
    """The reward of an answer; None when the service could not judge it (never the model's fault)."""
    if response.HasField("error"):
        if response.error.field in MODEL_FIELDS:
            return 0.0  # the model's output itself is over the service's limits
        if response.error.code == "INVALID_ARGUMENT":
            raise AdapterError(response.error.field or "request", response.error.message)
        return None
    if response.verdict == pb.SANDBOX_ERROR:
        return None
    return float(response.reward)


# --- verl -------------------------------------------------------------------------------------------


def _verl_request(data_source: str, solution_str: str, ground_truth: Any, extra_info: Any) -> pb.ScoreRequest:
    row = {
        "data_source": data_source,
        "reward_model": {"style": "rule", "ground_truth": _plain(ground_truth)},
        "extra_info": _plain(extra_info) if isinstance(extra_info, dict) else None,
    }
    return to_request("verl", row, solution_str, "")


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (verl's parquet rows) as plain Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _verl_result(response: pb.ScoreResponse, on_sandbox_error: str) -> dict[str, float]:
    reward = reward_of(response)
    if reward is None:
        if on_sandbox_error != "zero":
            why = response.error.message or (response.tests[0].message if response.tests else "")
            raise SandboxUnavailable(f"the sandbox could not judge this sample: {why}")
        return {"score": 0.0, "acc": 0.0, "passed": 0.0, "total": 0.0, "sandbox_error": 1.0}
    return {
        "score": reward,
        "acc": 1.0 if response.accepted else 0.0,
        "passed": float(response.passed),
        "total": float(response.total),
        "sandbox_error": 0.0,
    }


def _check_policy(on_sandbox_error: str) -> None:
    if on_sandbox_error not in ("raise", "zero"):
        raise AdapterError("on_sandbox_error", f"must be 'raise' or 'zero', not {on_sandbox_error!r}")


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    *,
    on_sandbox_error: str = "raise",
    rewards: Rewards | None = None,
    **_: Any,
) -> dict[str, float]:
    """verl's single-sample reward: ``{"score": reward, "acc", "passed", "total", "sandbox_error"}``."""
    _check_policy(on_sandbox_error)
    request = _verl_request(data_source, solution_str, ground_truth, extra_info)
    [response] = (rewards or default_rewards()).score([request])
    return _verl_result(response, on_sandbox_error)


async def compute_score_async(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    *,
    on_sandbox_error: str = "raise",
    rewards: Rewards | None = None,
    **_: Any,
) -> dict[str, float]:
    """``compute_score`` for verl's async reward loop (many run concurrently on one stream)."""
    _check_policy(on_sandbox_error)
    request = _verl_request(data_source, solution_str, ground_truth, extra_info)
    [response] = await (rewards or default_rewards()).ascore([request])
    return _verl_result(response, on_sandbox_error)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    *,
    on_sandbox_error: str = "raise",
    rewards: Rewards | None = None,
    **_: Any,
) -> list[dict[str, float]]:
    """verl's batch reward manager signature: one dict per sample, the batch scored concurrently."""
    _check_policy(on_sandbox_error)
    n = len(solution_strs)
    if not len(data_sources) == len(ground_truths) == n:
        raise AdapterError(
            "solution_strs",
            f"{n} solutions, {len(data_sources)} data sources, {len(ground_truths)} ground truths",
        )
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    requests = [
        _verl_request(d, s, g, e)
        for d, s, g, e in zip(data_sources, solution_strs, ground_truths, infos, strict=True)
    ]
    responses = (rewards or default_rewards()).score(requests)
    return [_verl_result(r, on_sandbox_error) for r in responses]


# --- TRL --------------------------------------------------------------------------------------------

CODE_COLUMNS = (
    ("verification_info", "verification_info"),
    ("input_output", "apps"),
    ("entry_point", "humaneval"),
    ("test_list", "mbpp"),
    ("public_test_cases", "livecodebench"),
    ("official_tests", "codeforces"),
    ("reward_model", "verl"),
)
"""Which dataset column tells which adapter ``code_reward`` uses, first match wins."""
TRL_INTERNAL = frozenset({"trainer_state", "log_extra", "log_metric", "completion_ids", "environments"})


def _completion_text(completion: Any) -> str:
    """A TRL completion: text, or (conversational) the last assistant message's content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise AdapterError("completions", f"expected text or a list of messages, got {type(completion).__name__}")


def _rows(columns: dict[str, Any], n: int) -> list[dict[str, Any]]:
    data = {k: v for k, v in columns.items() if k not in TRL_INTERNAL}
    for key, values in data.items():
        if not isinstance(values, list) or len(values) != n:
            raise AdapterError(key, f"expected one value per completion ({n})")
    return [{k: _plain(v[i]) for k, v in data.items()} for i in range(n)]


async def _trl_rewards(
    fmt: str | None, completions: list[Any], columns: dict[str, Any]
) -> list[float | None]:
    rows = _rows(columns, len(completions))
    requests = []
    for row, completion in zip(rows, completions, strict=True):
        use = fmt or next((f for col, f in CODE_COLUMNS if col in row), None)
        if use is None:
            names = ", ".join(col for col, _ in CODE_COLUMNS)
            raise AdapterError("columns", f"no test column found; code_reward reads one of {names}")
        requests.append(to_request(use, row, _completion_text(completion), ""))
    responses = await default_rewards().ascore(requests)
    rewards = [reward_of(r) for r in responses]
    log_metric = columns.get("log_metric")
    if callable(log_metric) and rewards:
        log_metric("sandbox/unjudged_fraction", sum(r is None for r in rewards) / len(rewards))
    return rewards


async def code_reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
    """TRL reward: the fraction of the row's tests each completion passes (None: not judged)."""
    return await _trl_rewards(None, completions, columns)


async def math_reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
    """TRL reward: 1.0 when the completion's final answer equals the row's gold answer, else 0.0."""
    return await _trl_rewards("math", completions, columns)


# --- OpenRLHF ---------------------------------------------------------------------------------------


async def openrlhf_rewards(
    query: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], score: Any
) -> dict[str, Any]:
    """OpenRLHF's ``/get_reward`` body: ``{"rewards", "scores", "extra_logs"}`` for query/prompts/labels.

    ``query`` is prompt plus response (the prompt prefix is cut off when it is there). ``score`` is an
    async function of a list of requests (the HTTP front's engine). Raises ``SandboxUnavailable``
    when some sample could not be judged, so the endpoint answers 503 and OpenRLHF retries.
    """
    if not len(query) == len(prompts) == len(labels):
        raise AdapterError("query", f"{len(query)} queries, {len(prompts)} prompts, {len(labels)} labels")
    requests = []
    for i, (q, p, label) in enumerate(zip(query, prompts, labels, strict=True)):
        if not isinstance(q, str) or not isinstance(p, str):
            raise AdapterError(f"query[{i}]", "query and prompts must be strings")
        response = q[len(p) :] if p and q.startswith(p) else q
        # a label is what verl calls the ground truth: tests (an object or its JSON) or a gold answer
        requests.append(to_request("verl", {"reward_model": {"ground_truth": label}}, response, str(i)))
    responses: list[pb.ScoreResponse] = await score(requests)
    rewards = [reward_of(r) for r in responses]
    failed = [i for i, r in enumerate(rewards) if r is None]
    if failed:
        raise SandboxUnavailable(f"the sandbox could not judge samples {failed}; retry")
    values = [float(r) for r in rewards if r is not None]
    return {
        "rewards": values,
        "scores": values,
        "extra_logs": {
            "acc": [1.0 if r.accepted else 0.0 for r in responses],
            "tests_passed": [float(r.passed) for r in responses],
        },
    }


# -- verl tool: a live interpreter per trajectory ------------------------------------------------
DEFAULT_TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "code_interpreter",
        "description": (
            "Run Python code in a stateful interpreter (variables, imports and files persist between "
            "calls). The value of a last bare expression is shown, as in a notebook."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    },
}


def cell_text(result: pb.CellResult) -> str:
    """A cell's result as the text a policy reads: output, display, error, and what a limit did."""
    parts = [p for p in (result.stdout, result.stderr) if p]
    if result.display:
        parts.append(result.display)
    if result.error.ename:
        parts.append("".join(result.error.traceback) or f"{result.error.ename}: {result.error.evalue}")
    status = result.status
    if status == pb.CellResult.TIMEOUT:
        parts.append("[the cell was stopped: time limit]")
    elif status == pb.CellResult.MEMORY_LIMIT_EXCEEDED:
        parts.append("[the cell was stopped: memory limit]")
    elif status == pb.CellResult.OUTPUT_LIMIT_EXCEEDED:
        parts.append("[the cell was stopped: output limit]")
    elif result.truncated:
        parts.append("[output truncated]")
    if not result.state_preserved:
        parts.append("[the interpreter was restarted: earlier variables are gone]")
    return "\n".join(p.rstrip("\n") for p in parts)


def _session_tool_class() -> type:
    """Build ``SandboxSessionTool`` on first use, so this module imports without verl."""
    import grpc
    from verl.tools.base_tool import BaseTool
    from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

    class SandboxSessionTool(BaseTool):
        """verl ``BaseTool``: a live interpreter per trajectory on a running service.

        ``config`` keys (all optional): ``address``, ``token``, ``tls_ca`` (as ``Rewards``),
        ``limits`` (``SessionLimits`` fields), ``idle_timeout_s``, ``max_lifetime_s``, ``labels``
        (e.g. the training run, for ``CloseSessions`` after a crash).
        """

        def __init__(self, config: dict[str, Any], tool_schema: Any = None) -> None:
            self.config = dict(config or {})
            super().__init__(self.config, tool_schema)
            self.address = self.config.get("address") or os.environ.get("SANDBOX_ADDRESS", DEFAULT_ADDRESS)
            self.token = self.config.get("token") or os.environ.get("SANDBOX_TOKEN") or None
            ca = self.config.get("tls_ca") or os.environ.get("SANDBOX_TLS_CA")
            self.root_certificates = Path(ca).read_bytes() if ca else None
            self._clients: dict[int, AsyncClient] = {}  # per event loop (verl runs one per worker)
            self._sessions: dict[str, str] = {}  # trajectory key -> session id

        def get_openai_tool_schema(self) -> Any:
            schema = getattr(self, "tool_schema", None)
            return schema or OpenAIFunctionToolSchema.model_validate(DEFAULT_TOOL_SCHEMA)

        def _client(self) -> AsyncClient:
            loop = asyncio.get_running_loop()
            client = self._clients.get(id(loop))
            if client is None:
                client = AsyncClient(self.address, token=self.token, root_certificates=self.root_certificates)
                self._clients[id(loop)] = client
            return client

        async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, Any]:
            from uuid import uuid4

            return instance_id or str(uuid4()), ToolResponse()

        async def _session(self, key: str) -> str:
            sid = self._sessions.get(key)
            if sid is None:
                request: dict[str, Any] = {
                    "key": f"verl:{key}",
                    "labels": dict(self.config.get("labels", {})),
                }
                for name in ("limits", "idle_timeout_s", "max_lifetime_s"):
                    if self.config.get(name):
                        request[name] = self.config[name]
                sid = (await self._client().open_session(request)).session_id
                self._sessions[key] = sid
            return sid

        async def execute(
            self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
        ) -> tuple[Any, float, dict[str, Any]]:
            code = parameters.get("code") if isinstance(parameters, dict) else None
            if not isinstance(code, str):
                return ToolResponse(text="Error: the tool needs a string argument 'code'."), 0.0, {}
            agent_data = kwargs.get("agent_data")
            key = str(getattr(agent_data, "request_id", "") or instance_id)
            note = ""
            for _attempt in range(2):
                sid = await self._session(key)
                try:
                    result = await self._client().run_cell(sid, code)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                    self._sessions.pop(key, None)  # expired or lost: a new one, and the policy is told
                    note = "[a new interpreter was started: earlier variables are gone]\n"
                    continue
                if result.status == pb.CellResult.SESSION_LOST:
                    self._sessions.pop(key, None)
                metrics = {"status": pb.CellResult.CellStatus.Name(result.status), "wall_ms": result.wall_ms}
                return ToolResponse(text=note + cell_text(result)), 0.0, metrics
            raise SandboxUnavailable("the interpreter session could not be (re)opened")

        async def release(self, instance_id: str, **kwargs: Any) -> None:
            """Nothing to do per call: the trajectory's session lives on; its idle timeout ends it."""

        async def close_trajectory(self, request_id: str) -> bool:
            """End a trajectory's session now (optional: the idle timeout does it otherwise)."""
            sid = self._sessions.pop(str(request_id), None)
            return await self._client().close_session(sid) if sid else False

    SandboxSessionTool.__module__ = __name__
    return SandboxSessionTool


_LAZY: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    if name == "SandboxSessionTool":
        if name not in _LAZY:
            _LAZY[name] = _session_tool_class()
        return _LAZY[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
