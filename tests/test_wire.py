"""Request validation (every bad-input class names its field) and the JSONL mapping."""

from __future__ import annotations

import json

import pytest

from sandbox_service.config import Settings
from sandbox_service.errors import InvalidRequest
from sandbox_service.models import AssertionTest, CallTest, CheckerKind, StdioTest
from sandbox_service.v1 import sandbox_pb2 as pb
from sandbox_service.wire import code_task_from_proto, request_from_json, response_to_json, task_from_proto

from .conftest import assertion, call, code_request, stdio

SETTINGS = Settings(max_source_bytes=1000, max_tests=5, max_tests_bytes=10_000, max_math_bytes=2048)


def reject(req: pb.ScoreRequest) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        task_from_proto(req, SETTINGS)
    return info.value


BAD = [
    (pb.ScoreRequest(id="x"), "task"),
    (pb.ScoreRequest(id="x", math=pb.MathTask(response="1" * 3000, gold="1")), "math.response"),
    (pb.ScoreRequest(id="x", math=pb.MathTask(response="1", gold="1" * 200)), "math.gold"),
    (pb.ScoreRequest(id="x", math=pb.MathTask(response="1", gold="A", choices=["x"] * 27)), "math.choices"),
    (
        pb.ScoreRequest(id="x", math=pb.MathTask(response="1", gold="A", choices=["x", "y" * 200])),
        "math.choices[1]",
    ),
    (pb.ScoreRequest(id="x" * 2000, code=pb.CodeTask(language="python", source="p")), "id"),
    (code_request("cobol", "x", [stdio()]), "code.language"),
    (code_request("python", "   \n", [stdio()]), "code.source"),
    (code_request("python", "x" * 1001, [stdio()]), "code.source"),
    (code_request("python", "x", []), "code.tests"),
    (code_request("python", "x", [stdio()] * 6), "code.tests"),
    (code_request("python", "x", [stdio("a" * 20_000)]), "code.tests"),
    (code_request("python", "x", [pb.TestCase()]), "code.tests[0]"),
    (code_request("cpp", "x", [stdio(), call("f", "[]", "1")]), "code.tests[1].call"),
    (code_request("go", "x", [call("f", "[]", "1")]), "code.tests[0].call"),
    (code_request("python", "x", [call("", "[]", "1")]), "code.tests[0].call.function"),
    (code_request("python", "x", [call("f", "{bad", "1")]), "code.tests[0].call.args_json"),
    (code_request("python", "x", [call("f", '{"a": 1}', "1")]), "code.tests[0].call.args_json"),
    (code_request("python", "x", [call("f", "[]", "")]), "code.tests[0].call.expected_json"),
    (code_request("python", "x", [assertion("  ")]), "code.tests[0].assertion.code"),
    (code_request("python", "x", [stdio(kind=5)]), "code.tests[0].checker.checker_source"),
    (
        code_request("python", "x", [stdio(kind=5, checker_source="x", checker_language="cobol")]),
        "code.tests[0].checker.checker_language",
    ),
    (
        code_request(
            "python", "x", [call("f", "[]", "1", kind=5, checker_source="x", checker_language="python")]
        ),
        "code.tests[0].checker.kind",
    ),
    (code_request("python", "x", [stdio(kind=4, abs_tol=-1)]), "code.tests[0].checker.abs_tol"),
    (code_request("python", "x", [stdio(kind=4, rel_tol=float("nan"))]), "code.tests[0].checker.rel_tol"),
    (code_request("python", "x", [stdio()], limits={"time_limit_ms": 10**6}), "code.limits.time_limit_ms"),
    (
        code_request("python", "x", [stdio()], limits={"wall_time_limit_ms": 10**7}),
        "code.limits.wall_time_limit_ms",
    ),
    (
        code_request("python", "x", [stdio()], limits={"memory_limit_mb": 10**6}),
        "code.limits.memory_limit_mb",
    ),
    (code_request("python", "x", [stdio()], limits={"memory_limit_mb": 1}), "code.limits.memory_limit_mb"),
    (
        code_request("python", "x", [stdio()], limits={"max_output_bytes": 1 << 31}),
        "code.limits.max_output_bytes",
    ),
    (
        code_request("python", "x", [stdio()], limits={"compile_time_limit_ms": 10**7}),
        "code.limits.compile_time_limit_ms",
    ),
]


@pytest.mark.parametrize(("req", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_input_names_the_field(req: pb.ScoreRequest, field: str) -> None:
    err = reject(req)
    assert err.field == field
    assert str(err).startswith(field + ":")


def test_negative_and_zero_weights() -> None:
    t = stdio()
    t.weight = -1
    assert reject(code_request("python", "x", [t])).field == "code.tests[0].weight"
    t.weight = 0
    assert reject(code_request("python", "x", [t])).field == "code.tests"


def test_defaults_and_bytes_twins() -> None:
    t = stdio("text-in", "text-out")
    t.stdio.stdin_bytes = b"\x00bin"
    task = code_task_from_proto(
        code_request("python", "x", [t, call("f", "", "1"), assertion("assert 1")]), SETTINGS
    )
    first = task.tests[0].kind
    assert isinstance(first, StdioTest) and first.stdin == b"\x00bin" and first.expected_stdout == b"text-out"
    assert task.tests[0].checker.kind is CheckerKind.LINES and task.tests[0].weight == 1.0
    assert isinstance(task.tests[1].kind, CallTest) and task.tests[1].kind.args_json == "[]"
    assert isinstance(task.tests[2].kind, AssertionTest)
    lim = task.limits
    assert lim.time_limit_ms == SETTINGS.default_time_limit_ms
    assert lim.wall_time_limit_ms == 2 * lim.time_limit_ms + 1000
    assert lim.memory_limit_mb == SETTINGS.default_memory_limit_mb


def test_jsonl_accepts_snake_and_camel_case() -> None:
    snake = '{"id": "a", "code": {"language": "python", "source": "x", "stop_on_first_failure": true, "tests": [{"call": {"function": "f", "args_json": "[1]", "expected_json": "2"}}]}}'
    camel = '{"id": "a", "code": {"language": "python", "source": "x", "stopOnFirstFailure": true, "tests": [{"call": {"function": "f", "argsJson": "[1]", "expectedJson": "2"}}]}}'
    assert request_from_json(snake) == request_from_json(camel)
    assert request_from_json(snake).code.stop_on_first_failure


def test_jsonl_checker_shape_from_api_md() -> None:
    line = '{"id": "f", "code": {"language": "python", "source": "x", "tests": [{"stdio": {"stdin": "1"}, "checker": {"kind": "FLOAT", "abs_tol": 1e-6}}]}}'
    req = request_from_json(line)
    assert req.code.tests[0].checker.kind == pb.FLOAT


def test_jsonl_bad_line_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        request_from_json('{"id": "a", "code": {"langauge": "python"}}', where="in.jsonl:3")
    assert info.value.field == "in.jsonl:3" and "langauge" in str(info.value)


def test_result_line_has_snake_case_keys_and_every_field() -> None:
    line = json.loads(
        response_to_json(pb.ScoreResponse(id="a", verdict=pb.WRONG_ANSWER, tests=[pb.TestResult()]))
    )
    assert line["verdict"] == "WRONG_ANSWER" and line["accepted"] is False and line["reward"] == 0
    assert "compile_output" in line and "stdout_head" in line["tests"][0]


def test_sandbox_error_response_marks_every_test() -> None:
    from sandbox_service.wire import sandbox_error_response

    req = pb.ScoreRequest(id="r")
    req.code.tests.add(stdio=pb.StdioTest(expected_stdout="1"))
    req.code.tests.add(stdio=pb.StdioTest(expected_stdout="2"), weight=3.0)
    resp = sandbox_error_response(req, "worker lost")
    assert resp.id == "r" and resp.verdict == pb.SANDBOX_ERROR and resp.reward == 0.0 and not resp.accepted
    assert resp.total == 2 and resp.passed == 0
    assert [(t.verdict, t.message) for t in resp.tests] == [(pb.SANDBOX_ERROR, "worker lost")] * 2
    math = sandbox_error_response(pb.ScoreRequest(id="m", math=pb.MathTask(response="4", gold="4")), "x")
    assert math.verdict == pb.SANDBOX_ERROR and math.total == 1


def test_remembered_limits_follow_their_settings() -> None:
    """Resolved limits are remembered per settings object: another deployment's defaults and maxima
    apply to the same message, and a refusal is never remembered as a success."""
    wide = Settings(max_time_limit_ms=60_000, default_memory_limit_mb=512)
    narrow = Settings(max_time_limit_ms=5_000, default_memory_limit_mb=128)
    req = code_request("python", "x", [stdio()], limits={"time_limit_ms": 10_000})
    for _ in range(2):  # the second round is answered from what the first resolved
        assert code_task_from_proto(req, wide).limits.time_limit_ms == 10_000
        assert code_task_from_proto(req, wide).limits.memory_limit_mb == 512
        with pytest.raises(InvalidRequest) as info:
            task_from_proto(req, narrow)
        assert info.value.field == "code.limits.time_limit_ms"
    empty = code_request("python", "x", [stdio()])
    assert code_task_from_proto(empty, wide).limits.memory_limit_mb == 512
    assert code_task_from_proto(empty, narrow).limits.memory_limit_mb == 128


def test_tests_bound_counts_the_tests_not_the_source() -> None:
    """A message over ``max_tests_bytes`` whose tests are under it (a long source) is accepted."""
    settings = Settings(max_source_bytes=50_000, max_tests_bytes=10_000)
    req = code_request("python", "x" * 20_000, [stdio("a" * 2_000)])
    assert len(code_task_from_proto(req, settings).tests) == 1
    req = code_request("python", "x", [stdio("a" * 6_000), stdio("b" * 6_000)])
    with pytest.raises(InvalidRequest) as info:
        task_from_proto(req, settings)
    assert info.value.field == "code.tests" and "bytes of tests exceed" in str(info.value)


def test_remembered_tests_are_judged_per_language_and_refusals_kept_out() -> None:
    """Validated tests are looked up by their bytes and language: a call test validated for Python
    is still refused for Go, and a refused test is refused every time."""
    tests = [stdio("1", "2"), call("f", "[1]", "1")]
    for _ in range(2):
        first = code_task_from_proto(code_request("python", "x", tests), SETTINGS).tests
        again = code_task_from_proto(code_request("python", "y", tests, rid="other"), SETTINGS).tests
        assert again == first and isinstance(first[1].kind, CallTest) and first[1].kind.args_json == "[1]"
        assert reject(code_request("go", "x", tests)).field == "code.tests[1].call"
        assert (
            reject(code_request("python", "x", [call("", "[]", "1")])).field == "code.tests[0].call.function"
        )


def test_remembered_tests_stay_right_when_the_memo_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox_service.wire as wire

    monkeypatch.setattr(wire, "TESTS_MEMO_BYTES", 2_000)
    for i in range(50):
        task = code_task_from_proto(code_request("python", "x", [stdio(str(i), str(i + 1))]), SETTINGS)
        first = task.tests[0].kind
        assert isinstance(first, StdioTest) and first.stdin == str(i).encode()
    assert wire._tests_memo_bytes <= 2_000
