"""The wire edge: validate protobuf requests into internal models, and results back into protobuf.

Also the JSONL mapping of the same contract (canonical protobuf JSON; snake_case or lowerCamelCase
keys in, snake_case keys out). Every rejection is an ``InvalidRequest`` naming the offending field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf import message as pb_message
from google.protobuf.descriptor import FieldDescriptor

from runners.checkers import load_json
from runners.languages import LANGUAGES, resolve

from .config import Settings
from .errors import InvalidRequest, SandboxServiceError
from .mathcheck import MathGrade
from .models import (
    AssertionTest,
    CallTest,
    Checker,
    CheckerKind,
    CodeResult,
    CodeTask,
    Limits,
    MathTask,
    StdioTest,
    Test,
)
from .v1 import sandbox_pb2 as pb

__all__ = [
    "UNDECODABLE_ID",
    "Undecodable",
    "code_task_from_proto",
    "decode_request",
    "decode_stream_message",
    "error_response",
    "loads_json",
    "math_response",
    "task_from_proto",
    "request_from_json",
    "response_from_result",
    "response_to_json",
    "sandbox_error_response",
]

MAX_ID_BYTES = 1024
MIN_MEMORY_MB = 16
UNDECODABLE_ID = "<undecodable:{position}>"
"""The id a stream's answer to an undecodable message carries when no id could be read from it:
``position`` is the message's 0-based place in the stream (the error message says it too)."""

M = TypeVar("M", bound=pb_message.Message)


# --- decoding ------------------------------------------------------------------------------------
# Requests arrive as bytes and are decoded here, not by gRPC: a message that is not valid protobuf
# is then a bad request naming what is wrong (INVALID_ARGUMENT; in a stream, an answer in place),
# rather than an exception gRPC reports as UNKNOWN and that ends a whole stream.


class _Malformed(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


class _GaveUp(Exception):
    """The walk took more steps than a diagnosis is worth (the event loop must not stall)."""


WALK_STEPS = 100_000
"""Most fields a diagnosis of an undecodable message looks at (a 64 MiB message of tiny fields
would otherwise hold the event loop for seconds)."""


class _Walker:
    """Walks a message's fields as the wire format lays them out, naming the first that is broken."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.steps = 0

    def varint(self, pos: int, field: str) -> tuple[int, int]:
        data, start, value, shift = self.data, pos, 0, 0
        while True:
            if pos >= len(data):
                raise _Malformed(field, f"truncated varint at byte {start}")
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value, pos
            shift += 7
            if shift >= 70:
                raise _Malformed(field, f"varint longer than 10 bytes at byte {start}")

    def walk(self, descriptor: Any, start: int, end: int, path: str, deep: bool) -> str | None:
        """Walk ``data[start:end]``, a message of ``descriptor`` at field ``path`` ("" at the top);
        raises ``_Malformed`` naming the first field that does not decode. Returns the last top-level
        ``id`` seen (valid UTF-8), the one a parser keeps. ``deep``: walk nested messages too."""
        pos, seen, found = start, dict[str, int](), None
        where_msg = path or "the message"
        while pos < end:
            self.steps += 1
            if self.steps > WALK_STEPS:
                raise _GaveUp
            at = pos
            tag, pos = self.varint(pos, where_msg)
            number, wire_type = tag >> 3, tag & 7
            field = descriptor.fields_by_number.get(number)
            name = path
            if field is not None:
                name = f"{path}.{field.name}" if path else field.name
                if field.is_repeated:
                    seen[name] = seen.get(name, -1) + 1
                    name = f"{name}[{seen[name]}]"
            where = name or "the message"
            if number == 0:
                raise _Malformed(where_msg, f"field number 0 at byte {at}")
            if wire_type == 0:
                _, pos = self.varint(pos, where)
            elif wire_type in (1, 5):
                pos += 8 if wire_type == 1 else 4
                if pos > end:
                    raise _Malformed(where, f"truncated at byte {at}")
            elif wire_type == 2:
                size, pos = self.varint(pos, where)
                if pos + size > end:
                    raise _Malformed(where, f"length {size} at byte {at} runs past the end of {where_msg}")
                payload_start, pos = pos, pos + size
                if field is None:
                    continue
                if field.type == FieldDescriptor.TYPE_STRING:
                    try:
                        text = self.data[payload_start:pos].decode()
                    except UnicodeDecodeError:
                        raise _Malformed(where, "not valid UTF-8") from None
                    if field.name == "id" and not path:
                        found = text
                elif field.type == FieldDescriptor.TYPE_MESSAGE and deep:
                    self.walk(field.message_type, payload_start, pos, name, deep)
            else:  # groups (3, 4) are long deprecated and nothing we define; 6, 7 do not exist
                raise _Malformed(where, f"wire type {wire_type} at byte {at}")
        return found


def _problem(data: bytes, descriptor: Any, exc: Exception) -> str:
    """What is wrong with bytes protobuf refused, naming the field when the wire format shows it."""
    try:
        _Walker(data).walk(descriptor, 0, len(data), "", deep=True)
    except _Malformed as bad:
        return f"{bad.field}: {bad.problem}"
    except (_GaveUp, RecursionError):
        pass
    reason = str(exc).rsplit(": ", 1)[-1] or "does not parse"  # protobuf's own words, less the type
    return f"{reason} ({len(data)} bytes)"


def _salvage_id(data: bytes, descriptor: Any) -> str | None:
    """The message's ``id`` if its top level is intact (the damage is deeper), else None."""
    try:
        found = _Walker(data).walk(descriptor, 0, len(data), "", deep=False)
    except (_Malformed, _GaveUp):
        return None
    return found if found is not None and len(found.encode()) <= MAX_ID_BYTES else None


def decode_request(data: bytes, message_type: type[M]) -> M:
    """Decode one request; raises ``InvalidRequest("request", "not a <type>: ...")`` if it is not one."""
    message = message_type()
    try:
        message.ParseFromString(data)
    except (pb_message.DecodeError, RecursionError, ValueError) as exc:
        name = message.DESCRIPTOR.full_name
        raise InvalidRequest("request", f"not a {name}: {_problem(data, message.DESCRIPTOR, exc)}") from None
    return message


@dataclass(frozen=True)
class Undecodable:
    """A stream message that did not decode: answered in place with ``error``, under ``id``."""

    position: int
    id: str
    error: InvalidRequest


def decode_stream_message(data: bytes, message_type: type[M], position: int) -> M | Undecodable:
    """Decode the message at 0-based ``position`` of a stream, or say why it cannot be.

    Its answer's id is the message's own ``id`` when the top level of the message is intact and
    the id readable (the damage is deeper), else ``UNDECODABLE_ID`` with the position.
    """
    try:
        return decode_request(data, message_type)
    except InvalidRequest as exc:
        salvaged = _salvage_id(data, message_type.DESCRIPTOR)
        rid = UNDECODABLE_ID.format(position=position) if salvaged is None else salvaged
        problem = exc.problem.replace(": ", f" (message {position} of the stream, from 0): ", 1)
        return Undecodable(position, rid, InvalidRequest(exc.field, problem))


def bounded_limit(field: str, value: int, default: int, maximum: int) -> int:
    """A limit as a request gives it: 0 means ``default``; over the deployment's ``maximum`` is
    refused, naming ``field``. (Samples' limits here, sessions' in ``sessions.spec``.)"""
    if value > maximum:
        raise InvalidRequest(field, f"{value} exceeds the deployment's maximum of {maximum}")
    return value or default


# --- validation -----------------------------------------------------------------------------------
# Validation runs twice per sample (the front end refuses bad requests naming the field; the worker
# builds the task it runs) and is the largest piece of Python either spends on one: the parts that
# repeat from sample to sample (limits, the default checker) are resolved once and looked up.

MEMO_ENTRIES = 1024
"""Distinct limits messages remembered per settings object (then forgotten all at once)."""


@dataclass(eq=False)
class _Memo:
    settings: Settings  # held, so no other object takes its id() while the memo lives
    limits: dict[bytes, Limits]


_MEMOS: dict[int, _Memo] = {}


def _memo(settings: Settings) -> _Memo:
    memo = _MEMOS.get(id(settings))
    if memo is None or memo.settings is not settings:
        if len(_MEMOS) >= 64:  # tests and tools make many settings; a deployment has one or two
            _MEMOS.clear()
        memo = _MEMOS[id(settings)] = _Memo(settings, {})
    return memo


def _limits(msg: pb.Limits, s: Settings) -> Limits:
    """The resolved limits of a request's ``limits`` (a refusal names the field). Only what
    resolved is remembered, keyed by the message's bytes: a refused one is judged again."""
    known = _memo(s).limits
    key = msg.SerializeToString()
    limits = known.get(key)
    if limits is None:
        limits = _resolve_limits(msg, s)
        if len(known) >= MEMO_ENTRIES:
            known.clear()
        known[key] = limits
    return limits


def _resolve_limits(msg: pb.Limits, s: Settings) -> Limits:
    def pick(name: str, value: int, default: int, maximum: int) -> int:
        return bounded_limit(f"code.limits.{name}", value, default, maximum)

    time_ms = pick("time_limit_ms", msg.time_limit_ms, s.default_time_limit_ms, s.max_time_limit_ms)
    wall_default = min(s.max_wall_time_limit_ms, max(2 * time_ms + 1000, time_ms + 1000))
    wall = pick("wall_time_limit_ms", msg.wall_time_limit_ms, wall_default, s.max_wall_time_limit_ms)
    memory = pick("memory_limit_mb", msg.memory_limit_mb, s.default_memory_limit_mb, s.max_memory_limit_mb)
    if memory < MIN_MEMORY_MB:
        raise InvalidRequest(
            "code.limits.memory_limit_mb", f"{memory} is below the minimum of {MIN_MEMORY_MB}"
        )
    output = pick(
        "max_output_bytes", msg.max_output_bytes, s.default_max_output_bytes, s.max_max_output_bytes
    )
    compile_ms = pick(
        "compile_time_limit_ms",
        msg.compile_time_limit_ms,
        s.default_compile_time_limit_ms,
        s.max_compile_time_limit_ms,
    )
    return Limits(time_ms, wall, memory, output, compile_ms)


def _tolerance(field: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise InvalidRequest(field, f"must be a finite number >= 0, got {value}")
    return value


def loads_json(text: str | bytes) -> Any:
    """``json.loads``, but JSON nested deeper than Python recurses is a ``ValueError`` like any other
    malformed JSON (the decoder raises ``RecursionError``, which callers catching ``ValueError`` miss)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


_CHECKER_KINDS = {k.value for k in CheckerKind}


_DEFAULT_CHECKER = Checker()


def _checker(msg: pb.Checker, field: str, kind_name: str) -> Checker:
    if not msg.ByteSize():  # no checker given (most tests): line comparison, nothing to check
        return _DEFAULT_CHECKER
    if msg.kind and msg.kind not in _CHECKER_KINDS:  # an open enum: any number decodes
        raise InvalidRequest(f"{field}.kind", f"unknown checker kind {msg.kind}")
    kind = CheckerKind(msg.kind) if msg.kind else CheckerKind.LINES
    abs_tol = _tolerance(f"{field}.abs_tol", msg.abs_tol)
    rel_tol = _tolerance(f"{field}.rel_tol", msg.rel_tol)
    if kind is CheckerKind.CUSTOM:
        if kind_name != "stdio":
            raise InvalidRequest(f"{field}.kind", "CUSTOM checkers apply to stdio tests only")
        if not msg.checker_source.strip():
            raise InvalidRequest(f"{field}.checker_source", "a CUSTOM checker needs its source")
        spec = resolve(msg.checker_language)
        if spec is None:
            raise InvalidRequest(
                f"{field}.checker_language",
                f"unknown language {msg.checker_language!r}; available: {', '.join(LANGUAGES)}",
            )
        return Checker(kind, abs_tol, rel_tol, msg.checker_source, spec.name)
    return Checker(kind, abs_tol, rel_tol, msg.checker_source, msg.checker_language)


def _test(msg: pb.TestCase, i: int, language: str) -> Test:
    field = f"code.tests[{i}]"
    which = msg.WhichOneof("kind")
    if which is None:
        raise InvalidRequest(field, "set one of stdio, call, assertion")
    if which not in LANGUAGES[language].test_kinds:
        raise InvalidRequest(f"{field}.{which}", f"language {language!r} does not support {which} tests")
    kind: StdioTest | CallTest | AssertionTest
    if which == "stdio":
        s = msg.stdio
        kind = StdioTest(
            stdin=s.stdin_bytes or s.stdin.encode(),
            expected_stdout=s.expected_stdout_bytes or s.expected_stdout.encode(),
        )
    elif which == "call":
        c = msg.call
        if not c.function.strip():
            raise InvalidRequest(f"{field}.call.function", "is empty")
        try:
            args = load_json(c.args_json or "[]")  # integers of any length (a call's big-int answer)
        except ValueError as exc:
            raise InvalidRequest(f"{field}.call.args_json", f"is not JSON: {exc}") from None
        if not isinstance(args, list):
            raise InvalidRequest(f"{field}.call.args_json", "must be a JSON list of arguments")
        try:
            load_json(c.expected_json)
        except ValueError as exc:
            raise InvalidRequest(f"{field}.call.expected_json", f"is not JSON: {exc}") from None
        kind = CallTest(c.function.strip(), c.args_json or "[]", c.expected_json)
    else:
        if not msg.assertion.code.strip():
            raise InvalidRequest(f"{field}.assertion.code", "is empty")
        kind = AssertionTest(msg.assertion.code)
    weight = msg.weight if msg.HasField("weight") else 1.0
    if not math.isfinite(weight) or weight < 0:
        raise InvalidRequest(f"{field}.weight", f"must be a finite number >= 0, got {weight}")
    return Test(kind, _checker(msg.checker, f"{field}.checker", which), weight)


TESTS_MEMO_BYTES = 32 << 20
TESTS_MEMO_ENTRIES = 1024
"""Bytes of tests, and sets of tests, whose validated form is remembered (then all forgotten): the
samples of a GRPO group, a re-scored dataset's rows, every ``/run_code`` call of one problem share
their tests. Few entries: the garbage collector walks every object they hold."""

_tests_memo: dict[tuple[str, tuple[bytes, ...]], tuple[Test, ...]] = {}
_tests_memo_bytes = 0


def _tests(given: Any, language: str) -> tuple[Test, ...]:
    """The validated tests (a refusal names the test's field); tests already validated for this
    language are looked up by their bytes. Only what validated is remembered."""
    global _tests_memo_bytes
    raw = tuple([t.SerializeToString() for t in given])
    key = (language, raw)
    tests = _tests_memo.get(key)
    if tests is None:
        tests = tuple([_test(t, i, language) for i, t in enumerate(given)])
        size = sum(map(len, raw)) + 512 * len(raw)  # and the objects a test is made of
        if _tests_memo_bytes + size > TESTS_MEMO_BYTES or len(_tests_memo) >= TESTS_MEMO_ENTRIES:
            _tests_memo.clear()
            _tests_memo_bytes = 0
        if size <= TESTS_MEMO_BYTES // 4:
            _tests_memo[key] = tests
            _tests_memo_bytes += size
    return tests


MAX_CHOICES = 26


def task_from_proto(request: pb.ScoreRequest, settings: Settings) -> CodeTask | MathTask:
    """Validate a request of either kind; raises ``InvalidRequest`` naming the first bad field."""
    if len(request.id.encode()) > MAX_ID_BYTES:
        raise InvalidRequest("id", f"longer than {MAX_ID_BYTES} bytes")
    which = request.WhichOneof("task")
    if which is None:
        raise InvalidRequest("task", "empty request: set `code` or `math`")
    if which == "math":
        return math_task_from_proto(request.math, settings)
    return _code_task(request.code, settings)


def math_task_from_proto(msg: pb.MathTask, settings: Settings) -> MathTask:
    """An empty response or gold is not an error: the conventions grade it false, with a reason."""
    if len(msg.response.encode()) > settings.max_math_bytes:
        raise InvalidRequest("math.response", f"larger than the maximum of {settings.max_math_bytes} bytes")
    if len(msg.gold.encode()) > settings.max_math_bytes // 16:
        raise InvalidRequest("math.gold", f"larger than the maximum of {settings.max_math_bytes // 16} bytes")
    if len(msg.choices) > MAX_CHOICES:
        raise InvalidRequest(
            "math.choices", f"{len(msg.choices)} choices exceed the maximum of {MAX_CHOICES}"
        )
    for i, choice in enumerate(msg.choices):
        if len(choice.encode()) > settings.max_math_bytes // 16:
            raise InvalidRequest(f"math.choices[{i}]", "too large")
    return MathTask(msg.response, msg.gold, tuple(msg.choices))


def code_task_from_proto(request: pb.ScoreRequest, settings: Settings) -> CodeTask:
    """Validate a request that must be a code task; raises ``InvalidRequest`` naming the bad field."""
    task = task_from_proto(request, settings)
    if not isinstance(task, CodeTask):
        raise InvalidRequest("code", "not a code task")
    return task


def _code_task(code: pb.CodeTask, settings: Settings) -> CodeTask:
    spec = resolve(code.language)
    if spec is None:
        raise InvalidRequest(
            "code.language", f"unknown language {code.language!r}; available: {', '.join(LANGUAGES)}"
        )
    language = spec.name  # an alias (js, c++, golang, ...) names the same row
    if not code.source.strip():
        raise InvalidRequest("code.source", "is empty")
    if len(code.source.encode()) > settings.max_source_bytes:
        raise InvalidRequest("code.source", f"larger than the maximum of {settings.max_source_bytes} bytes")
    given = code.tests
    if not given:
        raise InvalidRequest("code.tests", "no tests given")
    if len(given) > settings.max_tests:
        raise InvalidRequest("code.tests", f"{len(given)} tests exceed the maximum of {settings.max_tests}")
    # The tests are a part of the whole message: when it is within the bound, so are they (one call
    # instead of one per test); else they are measured for the error.
    if code.ByteSize() > settings.max_tests_bytes:
        size = sum(t.ByteSize() for t in given)
        if size > settings.max_tests_bytes:
            raise InvalidRequest(
                "code.tests", f"{size} bytes of tests exceed the maximum of {settings.max_tests_bytes}"
            )
    tests = _tests(given, language)
    if sum(t.weight for t in tests) <= 0:
        raise InvalidRequest("code.tests", "the weights of the tests add up to 0")
    return CodeTask(language, code.source, tests, _limits(code.limits, settings), code.stop_on_first_failure)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def response_from_result(
    request_id: str, result: CodeResult, queue_ms: float = 0.0, total_ms: float = 0.0
) -> pb.ScoreResponse:
    resp = pb.ScoreResponse(
        id=request_id,
        reward=result.reward,
        accepted=result.accepted,
        verdict=result.verdict.name,
        passed=result.passed,
        total=result.total,
        compile_output=result.compile_output,
        worker=result.worker,
        timing=pb.Timing(queue_ms=round(queue_ms), run_ms=round(result.run_ms), total_ms=round(total_ms)),
    )
    for t in result.tests:
        resp.tests.append(
            pb.TestResult(
                verdict=t.verdict.name,
                time_ms=t.time_ms,
                wall_ms=t.wall_ms,
                memory_kb=t.memory_kb,
                exit_code=t.exit_code,
                signal=t.signal,
                stdout_head=_text(t.stdout),
                stderr_head=_text(t.stderr),
                message=t.message,
            )
        )
    return resp


def math_response(
    request_id: str, grade: MathGrade, run_ms: float = 0.0, queue_ms: float = 0.0, total_ms: float = 0.0
) -> pb.ScoreResponse:
    """A graded math answer: reward 1 or 0, one test entry carrying the reason, and ``MathDetail``."""
    verdict = "ACCEPTED" if grade.correct else "WRONG_ANSWER"
    return pb.ScoreResponse(
        id=request_id,
        reward=1.0 if grade.correct else 0.0,
        accepted=grade.correct,
        verdict=verdict,
        passed=int(grade.correct),
        total=1,
        tests=[
            pb.TestResult(verdict=verdict, time_ms=round(run_ms), wall_ms=round(run_ms), message=grade.reason)
        ],
        math=pb.MathDetail(
            extracted_answer=grade.extracted_answer,
            normalized_answer=grade.normalized_answer,
            normalized_gold=grade.normalized_gold,
            reason=grade.reason,
        ),
        timing=pb.Timing(queue_ms=round(queue_ms), run_ms=round(run_ms), total_ms=round(total_ms)),
    )


def sandbox_error_response(request: pb.ScoreRequest, message: str) -> pb.ScoreResponse:
    """The answer for a request the infrastructure could not judge: every test ``SANDBOX_ERROR``."""
    tests = request.code.tests if request.HasField("code") else []
    weights = [t.weight if t.HasField("weight") else 1.0 for t in tests] or [1.0]
    return response_from_result(request.id, CodeResult.sandbox_error(weights, message))


def error_response(request_id: str, exc: SandboxServiceError) -> pb.ScoreResponse:
    """The answer for a request that was refused rather than judged (``error`` names the field)."""
    return pb.ScoreResponse(
        id=request_id,
        error=pb.RequestError(
            code=exc.grpc_status.name,
            field=exc.field if isinstance(exc, InvalidRequest) else "",
            message=str(exc),
        ),
    )


def request_from_json(line: str, where: str = "request") -> pb.ScoreRequest:
    """Parse one JSONL request line (canonical protobuf JSON mapping)."""
    try:
        return json_format.Parse(line, pb.ScoreRequest())
    except json_format.ParseError as exc:
        raise InvalidRequest(where, f"not a valid ScoreRequest: {exc}") from None


def response_to_json(resp: pb.ScoreResponse) -> str:
    """One JSONL result line: snake_case keys, zero values included so every line has every field."""
    return json.dumps(
        json_format.MessageToDict(
            resp, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        ),
        ensure_ascii=False,
    )
