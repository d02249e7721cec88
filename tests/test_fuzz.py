"""Malformed input at every door, fuzzed (hypothesis): gRPC (unary and stream), HTTP, the JSONL reader
of ``score`` and every dataset adapter.

Properties: nothing escapes as ``UNKNOWN``/500/a traceback, a bad request is a clear error naming the
field, every stream answers every message exactly once (the undecodable ones in place), the service
stays healthy and nothing is left behind. Oversized and deeply nested inputs get a clear error or a
verdict within limits, with memory bounded.

The decoding properties run against a real grpc.aio server (and the real HTTP door) on free ports
whose dispatcher validates for real but answers at once without running anything
(``InstantDispatcher``); one test sends garbage through the real service (Ray, Docker).

Scale with ``FUZZ_EXAMPLES`` (examples per property; default small, for CI)::

    FUZZ_EXAMPLES=100000 PYTHONPATH=$PWD python3 -m pytest tests/test_fuzz.py -q -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import copy
import http.client
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sandbox_service.adapters import FORMATS, to_request
from sandbox_service.dispatch import Dispatcher, Job
from sandbox_service.errors import InvalidRequest, ShuttingDown
from sandbox_service.rescore import read_samples
from sandbox_service.v1 import sandbox_pb2 as pb
from sandbox_service.wire import (
    UNDECODABLE_ID,
    Undecodable,
    decode_request,
    decode_stream_message,
    task_from_proto,
)

from .conftest import LoopThread, ServiceHarness, code_request, service_settings, stdio, wait_until

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
"""Examples per property (the streams carry up to 16 messages each)."""

FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # a shared 2-core machine: timings are noise
    database=None,  # no .hypothesis/ left in the work tree; a failure prints its reproduction blob
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
SCORE = "/sandbox.v1.Grader/Score"
STREAM = "/sandbox.v1.Grader/ScoreStream"
LANGUAGES = "/sandbox.v1.Grader/ListLanguages"
# What each door may answer to anything at all; the rest (UNKNOWN, INTERNAL, 500) is a bug.
GRPC_REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT}
HTTP_STATUSES = {200, 400}


# --- a door onto a dispatcher that validates for real and answers at once -------------------------
class InstantDispatcher(Dispatcher):
    """``Dispatcher`` admission (the real validation of every field) without workers: each admitted
    request is answered ACCEPTED at once, under its id. Counts what it admitted."""

    admitted: Counter[str]

    def admit(self, request: pb.ScoreRequest) -> Job:
        if self.draining:
            raise ShuttingDown("shutting down")
        task = task_from_proto(request, self.settings)
        self.admitted = getattr(self, "admitted", Counter())
        self.admitted[request.id] += 1
        future: asyncio.Future[pb.ScoreResponse] = asyncio.get_running_loop().create_future()
        future.set_result(pb.ScoreResponse(id=request.id, verdict=pb.ACCEPTED, reward=1.0, accepted=True))
        return Job(0, request, b"", task.language, future, time.monotonic())


class Door:
    """A started service (gRPC + HTTP) on an ``InstantDispatcher``, with raw-bytes callables. It runs
    on an event loop of its own, so what is left on that loop is this door's alone."""

    def __init__(self, **overrides: Any) -> None:
        self.loop = loop = LoopThread()
        s = service_settings(http_port=0, **overrides)
        self.harness = ServiceHarness(loop, s, InstantDispatcher(s))
        self.channel = grpc.insecure_channel(
            self.harness.address,
            options=[
                ("grpc.max_send_message_length", -1),  # let oversized messages reach the server
                ("grpc.max_receive_message_length", -1),
            ],
        )
        # No serializer: bytes go on the wire exactly as given.
        self.score = self.channel.unary_unary(SCORE, response_deserializer=pb.ScoreResponse.FromString)
        self.stream = self.channel.stream_stream(STREAM, response_deserializer=pb.ScoreResponse.FromString)
        self.languages = self.channel.unary_unary(
            LANGUAGES, response_deserializer=pb.ListLanguagesResponse.FromString
        )
        assert self.harness.service.http is not None
        self.http_port = self.harness.service.http.port

    def post(self, path: str, body: bytes) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data

    def healthy(self) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        for name in ("", "sandbox.v1.Grader"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        good = code_request("python", "print(1)", [stdio("", "1")], rid="alive")
        assert self.score(good.SerializeToString(), timeout=10).id == "alive"

    def tasks(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())

        return self.loop.run(count())

    def close(self) -> None:
        self.channel.close()
        self.harness.stop(drain_timeout=1)
        self.loop.stop()


@pytest.fixture(scope="module")
def door() -> Iterator[Door]:
    d = Door()
    tasks = d.tasks()
    yield d
    d.healthy()
    # Nothing a malformed call started outlives it on the door's loop (calls end a little after
    # their last message, so allow them a moment).
    wait_until(lambda: d.tasks() <= tasks, timeout=10, what=f"tasks on the door's loop back to {tasks}")
    d.close()


# --- strategies -----------------------------------------------------------------------------------
ids = st.text(max_size=12)
texts = st.text(max_size=40)
u32 = st.integers(0, 2**32 - 1)
doubles = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def any_test_case(draw: st.DrawFn) -> pb.TestCase:
    t = pb.TestCase()
    kind = draw(st.sampled_from(["stdio", "call", "assertion", "none"]))
    if kind == "stdio":
        t.stdio.CopyFrom(
            pb.StdioTest(
                stdin=draw(texts),
                expected_stdout=draw(texts),
                stdin_bytes=draw(st.binary(max_size=8)),
                expected_stdout_bytes=draw(st.binary(max_size=8)),
            )
        )
    elif kind == "call":
        json_ish = st.one_of(texts, st.sampled_from(["[]", "[1, 2]", "{}", "null", "[" * 3000, "1e999"]))
        t.call.CopyFrom(
            pb.CallTest(function=draw(texts), args_json=draw(json_ish), expected_json=draw(json_ish))
        )
    elif kind == "assertion":
        t.assertion.code = draw(texts)
    if draw(st.booleans()):
        t.checker.CopyFrom(
            pb.Checker(
                kind=draw(st.integers(-3, 8)),  # open enum: numbers the proto does not name decode too
                abs_tol=draw(doubles),
                rel_tol=draw(doubles),
                checker_source=draw(texts),
                checker_language=draw(st.sampled_from(["python", "cpp", "", "cobol"])),
            )
        )
    if draw(st.booleans()):
        t.weight = draw(doubles)
    return t


@st.composite
def requests(draw: st.DrawFn, rid: str | None = None) -> pb.ScoreRequest:
    """Structured ScoreRequests, valid or not field by field (every field, odd values included)."""
    req = pb.ScoreRequest(id=draw(ids) if rid is None else rid)
    kind = draw(st.sampled_from(["code", "code", "math", "none"]))
    if kind == "code":
        req.code.language = draw(st.sampled_from(["python", "cpp", "", "ruby"]))
        req.code.source = draw(st.one_of(st.just("print(1)"), texts))
        req.code.tests.extend(draw(st.lists(any_test_case(), max_size=4)))
        if draw(st.booleans()):
            req.code.limits.CopyFrom(
                pb.Limits(
                    time_limit_ms=draw(u32),
                    wall_time_limit_ms=draw(u32),
                    memory_limit_mb=draw(u32),
                    max_output_bytes=draw(u32),
                    compile_time_limit_ms=draw(u32),
                )
            )
        req.code.stop_on_first_failure = draw(st.booleans())
    elif kind == "math":
        req.math.CopyFrom(
            pb.MathTask(response=draw(texts), gold=draw(texts), choices=draw(st.lists(texts, max_size=30)))
        )
    return req


def valid_request(rid: str) -> pb.ScoreRequest:
    return code_request("python", "print(input())", [stdio("1", "1"), stdio("2", "2")], rid=rid)


@st.composite
def mutated(draw: st.DrawFn, message: bytes) -> bytes:
    """``message`` after a few byte-level mutations: flips, truncation, padding, insertions, cuts."""
    data = bytearray(message)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "pad", "insert", "cut", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "pad":
            data += draw(st.binary(min_size=1, max_size=16))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def raw_messages() -> st.SearchStrategy[bytes]:
    """Anything a client might put in a frame: random bytes, broken and unbroken requests."""
    serialized = requests().map(lambda r: r.SerializeToString())
    return st.one_of(
        st.binary(max_size=256),
        serialized,
        serialized.flatmap(mutated),
        st.builds(lambda r: r.SerializeToString(), st.builds(valid_request, ids)).flatmap(mutated),
    )


OUTCOMES: Counter[tuple[str, str]] = Counter()
"""(door, kind of outcome) -> examples, over the module; with FUZZ_REPORT=<file> written there as JSON."""


def tally(door: str, outcome: str) -> None:
    """Count an outcome by kind (the field, not its index or values), also for hypothesis' statistics."""
    kind = re.sub(r"\[\d+\]", "[]", outcome.split(": ", 1)[0])
    kind = re.sub(r" \(\d+ bytes\)", "", kind)
    OUTCOMES[door, kind] += 1
    event(kind)


@pytest.fixture(scope="module", autouse=True)
def report_outcomes() -> Iterator[None]:
    yield
    if os.environ.get("FUZZ_REPORT"):
        rows = [{"door": d, "outcome": k, "n": n} for (d, k), n in sorted(OUTCOMES.items())]
        Path(os.environ["FUZZ_REPORT"]).write_text(json.dumps(rows, indent=1))


def decodes(data: bytes) -> pb.ScoreRequest | None:
    try:
        return pb.ScoreRequest.FromString(data)
    except Exception:
        return None


# --- the gRPC door ------------------------------------------------------------------------------
@FUZZ
@given(raw_messages())
def test_unary_score_refuses_anything_malformed_with_invalid_argument(door: Door, data: bytes) -> None:
    decoded = decodes(data)
    try:
        response = door.score(data, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() in GRPC_REFUSALS, (exc.code(), exc.details())
        details = exc.details() or ""
        if decoded is None:
            assert details.startswith("request: not a sandbox.v1.ScoreRequest: "), details
        else:  # it decoded: the validation names the field
            assert not details.startswith("request:") and ": " in details, details
        what = details.split("ScoreRequest: ", 1)[1] if decoded is None else details
        tally("grpc Score", f"{exc.code().name} {'undecodable, ' if decoded is None else ''}{what}")
        return
    assert decoded is not None, "an undecodable request was answered"
    tally("grpc Score", "OK")
    assert response.id == decoded.id and response.verdict == pb.ACCEPTED


@FUZZ
@given(st.binary(max_size=64))
def test_unary_list_languages_refuses_undecodable_bytes(door: Door, data: bytes) -> None:
    try:
        door.languages(data, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (exc.code(), exc.details())
        assert (exc.details() or "").startswith("request: not a sandbox.v1.ListLanguagesRequest: ")
        with pytest.raises(Exception):  # noqa: B017 - any decoding error: it really was garbage
            pb.ListLanguagesRequest.FromString(data)
        tally(
            "grpc ListLanguages",
            f"INVALID_ARGUMENT undecodable, {(exc.details() or '').split('Request: ', 1)[1]}",
        )
        return
    tally("grpc ListLanguages", "OK")


@FUZZ
@given(st.lists(st.one_of(st.builds(lambda: None), raw_messages()), min_size=1, max_size=16))
def test_stream_answers_every_message_once_in_place(door: Door, frames: list[bytes | None]) -> None:
    """None in ``frames`` is a good request; the rest are whatever the strategy made."""
    messages = [
        valid_request(f"good{i}").SerializeToString() if f is None else f for i, f in enumerate(frames)
    ]
    responses = list(door.stream(iter(messages), timeout=60))
    assert len(responses) == len(messages), "one answer per message, no more, no less"
    tally("grpc ScoreStream", "streams")
    for r in responses:
        if not r.HasField("error"):
            tally("grpc ScoreStream", "message answered OK")
        elif r.error.message.startswith("request: not a sandbox.v1.ScoreRequest"):
            tally(
                "grpc ScoreStream", f"message undecodable, in place, {r.error.message.split('from 0): ')[1]}"
            )
        else:
            tally("grpc ScoreStream", f"message refused in place {r.error.code} {r.error.message}")
    expected: Counter[str] = Counter()
    undecodable: dict[str, list[int]] = {}
    for i, data in enumerate(messages):
        item = decode_stream_message(data, pb.ScoreRequest, i)
        if isinstance(item, Undecodable):
            undecodable.setdefault(item.id, []).append(i)
            assert decodes(data) is None
        expected[item.id] += 1
    assert Counter(r.id for r in responses) == expected
    for r in responses:
        if r.id in undecodable and r.error.message.startswith("request: not a sandbox.v1.ScoreRequest"):
            assert r.error.code == "INVALID_ARGUMENT" and r.error.field == "request"
            assert any(f"(message {i} of the stream" in r.error.message for i in undecodable[r.id])
            if r.id.startswith("<undecodable:"):
                assert r.id in {UNDECODABLE_ID.format(position=i) for i in undecodable[r.id]}
        elif r.HasField("error"):
            assert r.error.code == "INVALID_ARGUMENT" and r.error.field, r.error
        else:
            assert r.verdict == pb.ACCEPTED
    for i, f in enumerate(frames):
        if f is None:
            good = [r for r in responses if r.id == f"good{i}"]
            assert len(good) == 1 and good[0].verdict == pb.ACCEPTED, "a good request among garbage"


def test_undecodable_stream_message_keeps_its_id_when_its_top_level_is_intact(door: Door) -> None:
    broken = (
        valid_request("keep-me")
        .SerializeToString()
        .replace(b"print(input())", b"print(\xff\xfe\xfd\xfc\xfb\xfa\xf9)")
    )
    assert decodes(broken) is None
    garbage = b"\xff\xff\xff"
    messages = [
        valid_request("a").SerializeToString(),
        broken,
        garbage,
        valid_request("b").SerializeToString(),
    ]
    responses = {r.id: r for r in door.stream(iter(messages), timeout=30)}
    assert set(responses) == {"a", "keep-me", "<undecodable:2>", "b"}
    assert responses["a"].verdict == responses["b"].verdict == pb.ACCEPTED
    kept = responses["keep-me"].error
    assert kept.code == "INVALID_ARGUMENT" and kept.field == "request"
    assert kept.message == (
        "request: not a sandbox.v1.ScoreRequest (message 1 of the stream, from 0): "
        "code.source: not valid UTF-8"
    )
    placeholder = responses["<undecodable:2>"].error
    assert "(message 2 of the stream, from 0)" in placeholder.message and placeholder.field == "request"
    with pytest.raises(grpc.RpcError) as refused:
        door.score(broken, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "request: not a sandbox.v1.ScoreRequest: code.source: not valid UTF-8"


def test_decoding_names_the_broken_field() -> None:
    good = valid_request("x").SerializeToString()
    cases = {
        good[:-1]: "code: length",  # the last test cut short: its enclosing message overruns
        b"\x0a\x02\xc3\x28": "id: not valid UTF-8",
        b"\x0a\x05ab": "id: length 5 at byte 0 runs past the end of the message",
        b"\x80": "the message: truncated varint at byte 0",
        b"\x00\x01": "the message: field number 0 at byte 0",
        b"\x13": "code: wire type 3 at byte 0",  # a group begun and never ended
    }
    for data, want in cases.items():
        with pytest.raises(InvalidRequest) as bad:
            decode_request(data, pb.ScoreRequest)
        assert bad.value.field == "request" and bad.value.problem.startswith(
            "not a sandbox.v1.ScoreRequest: "
        )
        assert want in bad.value.problem, (data, bad.value.problem)


# --- oversized and deep -----------------------------------------------------------------------------
def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def sized_request(size: int) -> bytes:
    """A code request whose serialized form is exactly ``size`` bytes (its source padded)."""
    req = valid_request("big")
    pad = size - req.ByteSize()
    while True:
        req.code.source = "#" * pad + "\nprint(input())"
        got = req.ByteSize()
        if got == size:
            return req.SerializeToString()
        pad -= got - size


def test_a_request_at_the_message_size_cap_is_judged_and_one_past_it_refused() -> None:
    door = Door(max_message_mb=1, max_source_bytes=2 << 20, max_tests_bytes=1 << 20)
    try:
        cap = 1 << 20
        answer = door.score(sized_request(cap), timeout=60)
        assert answer.id == "big" and answer.verdict == pb.ACCEPTED  # a verdict: within the limits
        [streamed] = list(door.stream(iter([sized_request(cap)]), timeout=60))
        assert streamed.id == "big" and streamed.verdict == pb.ACCEPTED
        with pytest.raises(grpc.RpcError) as over:
            door.score(sized_request(cap + 1), timeout=60)
        # gRPC refuses it before any handler of ours sees it; its words say why
        assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (over.value.details() or ""), over.value.details()
        door.healthy()
    finally:
        door.close()


def test_100000_tests_and_1mib_of_test_names_are_refused_naming_the_field(door: Door) -> None:
    start = rss_mb()
    many = code_request("python", "print(1)", [stdio("", "1")] * 100_000, rid="many")
    with pytest.raises(grpc.RpcError) as refused:
        door.score(many.SerializeToString(), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "code.tests: 100000 tests exceed the maximum of 1000"
    # 1 MiB of function names over 1000 call tests: over this deployment's 1 MiB of test data
    names = code_request(
        "python",
        "def f(): pass",
        [pb.TestCase(call=pb.CallTest(function="f" * 1049, expected_json="1"))] * 1000,
    )
    with pytest.raises(grpc.RpcError) as refused:
        door.score(names.SerializeToString(), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("code.tests: ")
    assert "bytes of tests exceed the maximum of 1048576" in (refused.value.details() or "")
    # in a stream: answered in place, the stream goes on
    answers = list(door.stream(iter([many.SerializeToString(), valid_request("after").SerializeToString()])))
    assert sorted((a.id, a.error.field) for a in answers) == [("after", ""), ("many", "code.tests")]
    assert rss_mb() - start < 300, "memory stayed bounded"
    door.healthy()


def test_one_mib_function_name_within_the_limits_gets_a_verdict(door: Door) -> None:
    big = code_request(
        "python",
        "def f(): pass",
        [pb.TestCase(call=pb.CallTest(function="f" * 1_000_000, expected_json="1"))],
    )
    assert door.score(big.SerializeToString(), timeout=60).verdict == pb.ACCEPTED  # admitted as valid


DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"code": "print(1)", "files": {"a": ' + DEEP + b"}}", b'{"query": ' + DEEP + b"}"],
    ids=["array", "in-a-field", "in-get_reward"],
)
@pytest.mark.parametrize("path", ["/run_code", "/get_reward"])
def test_http_json_nested_10000_deep_is_a_400(door: Door, path: str, body: bytes) -> None:
    status, answer = door.post(path, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "INVALID_ARGUMENT" and answer["error"]["field"] == "body"
    assert "nested too deeply" in answer["error"]["message"]


def test_http_label_holding_json_nested_10000_deep_is_a_math_answer(door: Door) -> None:
    label = DEEP.decode()  # verl's ground truth is often JSON in a string; this one does not parse
    status, answer = door.post(
        "/get_reward", json.dumps({"query": ["x"], "prompts": [""], "labels": [label]}).encode()
    )
    assert status == 200 and answer["rewards"] == [1.0], answer  # so it is a gold answer (instantly "right")


# --- what the fuzzers found, pinned -------------------------------------------------------------------
def test_found_unknown_checker_kind_is_invalid_argument_not_unknown(door: Door) -> None:
    req = code_request("python", "print(1)", [stdio("", "1", kind=99)], rid="k")
    with pytest.raises(grpc.RpcError) as refused:
        door.score(req.SerializeToString(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "code.tests[0].checker.kind: unknown checker kind 99"
    [answer] = list(door.stream(iter([req.SerializeToString()]), timeout=30))
    assert answer.id == "k" and answer.error.field == "code.tests[0].checker.kind"


def test_found_run_timeout_too_large_for_the_wire_is_a_400(door: Door) -> None:
    for value in (1e300, 5e6):
        status, answer = door.post(
            "/run_code", json.dumps({"code": "print(1)", "run_timeout": value}).encode()
        )
        assert status == 400 and answer["error"]["field"] == "run_timeout", answer
        assert answer["error"]["message"] == f"run_timeout: {value} s is out of range"
    status, answer = door.post(
        "/run_code", json.dumps({"code": "print(1)", "memory_limit_MB": 2**40}).encode()
    )
    assert status == 400 and answer["error"]["field"] == "memory_limit_MB", answer


def test_found_math_choices_not_a_list_is_an_adapter_error() -> None:
    with pytest.raises(InvalidRequest) as bad:
        to_request("math", {"gold": "42", "choices": -1}, "42", "m")
    assert bad.value.field == "choices" and bad.value.problem == "must be a list of strings"
    assert list(to_request("math", {"gold": "1", "options": [1, 2.5]}, "", "m").math.choices) == ["1", "2.5"]


def test_found_codeforces_limits_too_large_for_the_wire_are_an_adapter_error() -> None:
    for field, value in (("time_limit", 1e300), ("time_limit", float("inf")), ("memory_limit", 2.0**40)):
        with pytest.raises(InvalidRequest) as bad:
            to_request("codeforces", {**VALID_ROWS["codeforces"], field: value}, "print(1)", "cf")
        assert bad.value.field == field and bad.value.problem == f"{value} is out of range"


def test_found_jsonl_line_of_bad_utf8_is_that_rows_problem(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"id": "a", "math": {"gold": "1"}}\n\x80\xff\n{"id": "b", "math": {"gold": "1"}}\n')
    samples = list(read_samples(path))
    assert [s.id for s in samples if s.request is not None] == ["a", "b"]
    [bad] = [s for s in samples if s.error is not None]
    assert bad.where == "mixed.jsonl:2" and bad.error is not None and bad.error.field == "line"
    assert bad.error.problem.startswith("not JSON: 'utf-8' codec can't decode")


def test_jsonl_line_nested_10000_deep_is_reported_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    good = json.dumps({"id": "ok", "math": {"response": "1", "gold": "1"}})
    path.write_bytes(
        good.encode() + b"\n" + DEEP + b"\n" + b'{"id": {"a": ' + DEEP + b"}}\n" + good.encode() + b"\n"
    )
    samples = list(read_samples(path))
    assert [s.where for s in samples] == ["deep.jsonl:1", "deep.jsonl:2", "deep.jsonl:3", "deep.jsonl:4"]
    for s in samples[1:3]:
        assert s.error is not None and s.error.field == "line" and "nested too deeply" in s.error.problem
    assert samples[0].request is not None and samples[3].request is not None  # repeats are the run's to catch


# --- the HTTP door --------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
RUN_CODE = {"code": "print(1)", "language": "python", "stdin": "", "run_timeout": 5, "compile_timeout": 5}
GET_REWARD = {"query": ["q 1"], "prompts": ["q "], "labels": ["1"]}


@st.composite
def bodies(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """Arbitrary bytes, arbitrary JSON, or ``valid`` with fields replaced, dropped or added."""
    kind = draw(st.sampled_from(["bytes", "json", "fields", "fields", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=128))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    body = dict(valid)
    for key in draw(
        st.lists(st.sampled_from([*valid, "files", "fetch_files", "memory_limit_MB", "x"]), max_size=3)
    ):
        if draw(st.booleans()):
            body[key] = draw(
                json_values
                | st.sampled_from([1e300, -1, 0, 2**64, float("inf"), float("nan"), "c++", "py", "cobol"])
            )
        else:
            body.pop(key, None)
    raw = json.dumps(body).encode()
    return draw(mutated(raw)) if kind == "mutated" else raw


def check_http(door: str, status: int, answer: Any) -> None:
    assert status in HTTP_STATUSES, (status, answer)
    if status == 400:
        error = answer["error"]
        assert error["code"] == "INVALID_ARGUMENT" and error["field"], error
        assert error["message"].startswith(error["field"] + ": ") or error["field"] == "body", error
        tally(door, f"400 {error['field']}: ")
    else:
        tally(door, "200")


@FUZZ
@given(bodies(RUN_CODE))
def test_http_run_code_answers_anything_with_200_or_400_naming_the_field(door: Door, body: bytes) -> None:
    check_http("http /run_code", *door.post("/run_code", body))


@FUZZ
@given(bodies(GET_REWARD))
def test_http_get_reward_answers_anything_with_200_or_400_naming_the_field(door: Door, body: bytes) -> None:
    check_http("http /get_reward", *door.post("/get_reward", body))


# --- the JSONL reader and the adapters ----------------------------------------------------------------
VALID_ROWS: dict[str, dict[str, Any]] = {
    "humaneval": {
        "task_id": "H/0",
        "prompt": "def f(x):\n",
        "test": "def check(f): assert f(1)",
        "entry_point": "f",
    },
    "mbpp": {"task_id": 1, "test_list": ["assert f(1) == 1"], "test_setup_code": ""},
    "livecodebench": {
        "question_id": "q",
        "public_test_cases": json.dumps([{"input": "1", "output": "1", "testtype": "stdin"}]),
        "private_test_cases": "[]",
        "metadata": "{}",
    },
    "apps": {"input_output": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})},
    "codeforces": {
        "id": "cf",
        "time_limit": 1.0,
        "memory_limit": 256,
        "official_tests": [{"input": "1", "output": "1"}],
    },
    "verification_info": {
        "verification_info": {"language": "python", "test_cases": [{"input": "1", "output": "1"}]}
    },
    "verl": {"data_source": "x", "reward_model": {"style": "rule", "ground_truth": "42"}},
    "math": {"gold": "42", "choices": ["A", "B"]},
    "request": {"id": "r", "code": {"language": "python", "source": "print(1)", "tests": [{"stdio": {}}]}},
    "multipl-e": {
        "name": "HumanEval_0_add",
        "language": "js",
        "prompt": "function add(a, b) {\n",
        "tests": "const assert = require('node:assert');\nassert.deepEqual(add(1, 2), 3);\n",
    },
    "humaneval-x": {
        "task_id": "JavaScript/0",
        "prompt": "const add = (a, b) => {\n",
        "test": "const testAdd = () => { console.assert(add(1, 2) === 3) }\ntestAdd()\n",
    },
}
for _alias, _adapter in FORMATS.items():
    if _alias not in VALID_ROWS:
        VALID_ROWS[_alias] = next(
            VALID_ROWS[k] for k, a in FORMATS.items() if a is _adapter and k in VALID_ROWS
        )
ODD_VALUES = st.sampled_from(
    [
        "",
        "[",
        "{}",
        "[]",
        "null",
        0,
        -1,
        1e300,
        float("inf"),
        float("nan"),
        2**70,
        [],
        {},
        [None],
        "gAAAA",
        "eJw=",
    ]
)


@st.composite
def rows(draw: st.DrawFn, fmt: str) -> dict[str, Any]:
    """The format's valid row with values replaced (top level or one down) or keys dropped, or any dict."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
    row = json.loads(json.dumps(VALID_ROWS[fmt]))
    for _ in range(draw(st.integers(1, 3))):
        target = row
        nested = [k for k, v in row.items() if isinstance(v, dict)]
        if nested and draw(st.booleans()):
            target = row[draw(st.sampled_from(nested))]
        keys = [*target, "choices", "options", "answer", "generated_checker", "input_mode", "fn_name"]
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(draw(ODD_VALUES | json_values))  # ODD_VALUES' {} is shared
    return row


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_adapter_turns_any_row_into_a_request_or_an_error_naming_the_field(fmt: str) -> None:
    @settings(FUZZ, max_examples=max(10, FUZZ_EXAMPLES // 2))
    @given(rows(fmt), st.text(max_size=60))
    def check(row: dict[str, Any], response: str) -> None:
        try:
            request = to_request(fmt, row, response, "id-1")
        except InvalidRequest as exc:
            assert exc.field and exc.problem, exc
            tally(f"adapter {fmt}", f"AdapterError {exc.field}: ")
            return
        assert isinstance(request, pb.ScoreRequest)
        try:  # what the adapter made, the service validates without surprise
            task_from_proto(request, service_settings())
        except InvalidRequest as exc:
            assert exc.field
            tally(f"adapter {fmt}", f"request, refused at {exc.field}: ")
            return
        tally(f"adapter {fmt}", "request, valid")

    check()


jsonl_lines = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(sorted(VALID_ROWS))
    .flatmap(rows)
    .map(lambda r: json.dumps({"response": "print(1)", **r}).encode()),  # the model's output column too
)


@FUZZ
@given(st.lists(jsonl_lines, min_size=1, max_size=8), st.sampled_from(sorted(FORMATS)))
def test_jsonl_reader_reports_every_bad_row_naming_line_and_field(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], fmt: str
) -> None:
    path = tmp_path_factory.mktemp("jsonl", numbered=True) / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    samples = list(read_samples(path, fmt))
    blank = {n for n, line in enumerate(lines, 1) if not line.strip()}
    for s in samples:
        assert s.where.startswith("in.jsonl:") and int(s.where.split(":")[1]) not in blank
        assert (s.request is None) != (s.error is None)
        if s.error is not None:
            assert s.error.field and s.error.problem
            tally("jsonl reader", f"row error {s.error.field}: ")
        else:
            tally("jsonl reader", "row ok")


# --- the real service ----------------------------------------------------------------------------
@pytest.mark.docker
def test_real_service_stream_with_garbage_every_third_message_answers_every_good_one(
    service: ServiceHarness,
) -> None:
    rng = random.Random(17)
    messages: list[bytes] = []
    good: dict[str, str] = {}
    for i in range(30):
        if i % 3 == 2:
            valid = code_request("python", "print(1)", [stdio("", "1")], rid=f"bad{i}").SerializeToString()
            messages.append(
                rng.choice(
                    [bytes(rng.randrange(256) for _ in range(40)), valid[: len(valid) // 2], b"\xff" * 7]
                )
            )
        else:
            rid = f"good{i}"
            good[rid] = str(i)
            messages.append(
                code_request("python", f"print({i})", [stdio("", str(i))], rid=rid).SerializeToString()
            )
    with grpc.insecure_channel(service.address) as channel:
        stream = channel.stream_stream(STREAM, response_deserializer=pb.ScoreResponse.FromString)
        responses = list(stream(iter(messages), timeout=180))
        unary = channel.unary_unary(SCORE, response_deserializer=pb.ScoreResponse.FromString)
        with pytest.raises(grpc.RpcError) as refused:
            unary(b"\xff" * 7, timeout=30)
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
    assert len(responses) == 30
    answered = {r.id: r for r in responses}
    for rid in good:
        assert answered[rid].verdict == pb.ACCEPTED and not answered[rid].HasField("error"), answered[rid]
    refusals = [r for r in responses if r.id not in good]
    assert len(refusals) == 10
    for r in refusals:
        assert r.error.code == "INVALID_ARGUMENT" and r.error.field == "request", r
        assert r.error.message.startswith("request: not a sandbox.v1.ScoreRequest (message ")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("request: not a sandbox.v1.ScoreRequest: ")
    assert health.status == health_pb2.HealthCheckResponse.SERVING
