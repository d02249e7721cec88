"""The HTTP door: real HTTP requests onto the real service (Ray workers, containers), both shapes.

OpenRLHF's side is driven through OpenRLHF's own client code (``SingleTurnAgentExecutor``), installed
without its GPU-only dependencies (deepspeed, flash-attn, vllm do not install on CPU).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox_service import pb
from sandbox_service.errors import InvalidRequest
from sandbox_service.http_front import RunCodeBody, run_code_request
from sandbox_service.integrations import SandboxUnavailable, openrlhf_rewards

from .conftest import LoopThread, ServiceHarness, service_settings
from .language_table import ROWS

pytestmark = pytest.mark.docker

TOKEN = "http-s3cret"


@pytest.fixture(scope="module")
def door(loop_thread: LoopThread, service: ServiceHarness) -> Iterator[str]:
    """One more door onto the shared service's workers: gRPC plus HTTP, with a token."""
    harness = ServiceHarness(loop_thread, service_settings(http_port=0, token=TOKEN), service.dispatcher)
    assert harness.service.http is not None
    yield f"http://127.0.0.1:{harness.service.http.port}"
    harness.stop()


def post(url: str, body: Any, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def run_code(door: str, **body: Any) -> dict[str, Any]:
    status, answer = post(f"{door}/run_code", body)
    assert status == 200, answer
    return answer


def test_run_code_python_prints_and_reads_stdin(door: str) -> None:
    answer = run_code(door, code="import sys\nprint('hello', sys.stdin.read().strip())", stdin="world\n")
    assert answer["status"] == "Success" and answer["message"] == ""
    assert answer["compile_result"] is None
    run = answer["run_result"]
    assert run["status"] == "Finished" and run["return_code"] == 0
    assert run["stdout"] == "hello world\n" and run["stderr"] == ""
    assert 0 < run["execution_time"] < 10
    assert answer["executor_pod_name"]


def test_run_code_failures_keep_their_own_statuses(door: str) -> None:
    crash = run_code(door, code="import sys\nprint('partial')\nsys.exit(3)")
    assert crash["status"] == "Failed" and crash["run_result"]["return_code"] == 3
    assert crash["run_result"]["stdout"] == "partial\n"

    raised = run_code(door, code="raise ValueError('boom')")
    assert raised["status"] == "Failed" and raised["run_result"]["return_code"] == 1
    assert "ValueError: boom" in raised["run_result"]["stderr"]

    syntax = run_code(door, code="print('unclosed'")
    assert syntax["status"] == "Failed" and syntax["compile_result"] is None
    assert syntax["run_result"]["status"] == "Finished" and syntax["run_result"]["return_code"] == 1
    assert "SyntaxError" in syntax["run_result"]["stderr"]

    slow = run_code(door, code="while True:\n    pass", run_timeout=1)
    assert slow["status"] == "Failed" and slow["run_result"]["status"] == "TimeLimitExceeded"

    hog = run_code(door, code="x = bytearray(400 << 20)\nprint(len(x))", memory_limit_MB=64)
    assert hog["status"] == "Failed" and hog["message"] == "memory limit exceeded"


def test_run_code_cpp_compiles_once_and_reports_both_steps(door: str) -> None:
    ok = run_code(
        door,
        language="cpp",
        code="#include <iostream>\nint main(){int a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}",
        stdin="2 40",
    )
    assert ok["status"] == "Success", ok
    assert ok["compile_result"]["status"] == "Finished" and ok["compile_result"]["return_code"] == 0
    assert ok["run_result"]["stdout"] == "42\n"

    broken = run_code(door, language="cpp", code="int main() { return undeclared; }")
    assert broken["status"] == "Failed" and broken["run_result"] is None
    assert broken["compile_result"]["return_code"] == 1
    assert "undeclared" in broken["compile_result"]["stderr"]


# SandboxFusion's own names for the languages we run (its `Language` literal in sandbox/runners/types.py
# and its runner table in sandbox/runners/major.py), each with the row its program is written in.
SANDBOXFUSION_NAMES = {
    "python": "python",
    "cpp": "cpp",
    "nodejs": "javascript",
    "js": "javascript",
    "go": "go",
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
COMPILED = {"cpp", "go", "java", "rust", "csharp", "typescript"}  # rows whose build leaves an artifact
SLOW = {"compile_timeout": 60, "run_timeout": 30}  # javac and tsc take >10 s on a loaded 2-core host


@pytest.mark.parametrize("name", sorted(SANDBOXFUSION_NAMES))
def test_run_code_answers_sandboxfusions_language_names(door: str, name: str) -> None:
    row = SANDBOXFUSION_NAMES[name]
    if row == "python":
        hello, add = "print('hello')\n", "a, b = map(int, input().split())\nprint(a + b)\n"
    else:
        hello, add = ROWS[row].hello, ROWS[row].add
    answer = run_code(door, language=name, code=hello, **SLOW)
    assert answer["status"] == "Success", answer
    assert answer["run_result"]["stdout"] == "hello\n" and answer["run_result"]["return_code"] == 0
    assert (answer["compile_result"] is not None) == (row in COMPILED), answer["compile_result"]
    answer = run_code(door, language=name, code=add, stdin="40 2\n", **SLOW)
    assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "42\n", answer
    broken = run_code(
        door, language=name, code=ROWS[row].compile_error if row != "python" else "print(", **SLOW
    )
    assert broken["status"] == "Failed", broken
    if row in COMPILED:
        assert ROWS[row].diagnostic in broken["compile_result"]["stderr"], broken


def test_run_code_php_without_its_open_tag_runs_like_sandboxfusion(door: str) -> None:
    answer = run_code(door, language="php", code='echo "hello\\n";')
    assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "hello\n", answer
    tagged = run_code(door, language="php", code='  <?php\necho "x";')  # one tag, not two
    assert tagged["run_result"]["stdout"] == "x", tagged


GO_TEST = (
    'package main\n\nimport (\n\t"fmt"\n\t"testing"\n)\n\n'
    "func add(a, b int) int { return a + b }\n\n"
    'func TestAdd(t *testing.T) {\n\tfmt.Println("hello")\n\tif add(2, 3) != %d {\n\t\tt.Fatal("add")\n\t}\n}\n'
)


def test_run_code_go_test_runs_the_code_as_a_test_file(door: str) -> None:
    passed = run_code(door, language="go_test", code=GO_TEST % 5, **SLOW)
    assert passed["status"] == "Success", passed
    assert passed["run_result"]["stdout"].startswith("hello\n") and passed["run_result"]["return_code"] == 0
    failed = run_code(door, language="go_test", code=GO_TEST % 6, **SLOW)
    assert failed["status"] == "Failed" and failed["run_result"]["return_code"] != 0, failed
    assert "add" in failed["run_result"]["stdout"] + failed["run_result"]["stderr"]
    cheat = GO_TEST.replace('fmt.Println("hello")', "os.Exit(0)").replace('"fmt"', '"os"')
    early = run_code(door, language="go_test", code=cheat % 6, **SLOW)
    assert early["status"] == "Failed", early  # os.Exit(0) inside a test is no pass


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "python"}, "code"),
        ({"code": "print(1)", "language": "R"}, "language"),  # SandboxFusion's, not run here
        ({"code": "print(1)", "language": "pytest"}, "language"),
        ({"code": "package main", "language": "go_test", "stdin": "1"}, "stdin"),
        ({"code": "print(1)", "language": "cobol"}, "language"),
        ({"code": "print(1)", "files": {"a.txt": "aGk="}}, "files"),
        ({"code": "print(1)", "fetch_files": ["out.txt"]}, "fetch_files"),
        ({"code": "print(1)", "run_timeout": 100000}, "run_timeout"),
        ({"code": "print(1)", "run_timeout": -1}, "run_timeout"),
        ({"code": "print(1)", "memory_limit_MB": 1 << 20}, "memory_limit_MB"),
        ({"code": "x" * (300 << 10)}, "code"),
    ],
)
def test_run_code_bad_requests_name_the_field(door: str, body: dict[str, Any], field: str) -> None:
    status, answer = post(f"{door}/run_code", body)
    assert status == 400, answer
    assert answer["error"]["code"] == "INVALID_ARGUMENT"
    assert answer["error"]["field"] == field and answer["error"]["message"].startswith(field)


def test_not_json_is_a_400(door: str) -> None:
    status, answer = post(f"{door}/run_code", b"{not json")
    assert status == 400 and answer["error"]["field"] == "body"


def test_token_is_required_like_on_grpc(door: str) -> None:
    body = {"code": "print(1)"}
    assert post(f"{door}/run_code", body, token=None)[0] == 401
    assert post(f"{door}/run_code", body, token="wrong")[0] == 401
    assert post(f"{door}/get_reward", {"query": [], "prompts": [], "labels": []}, token=None)[0] == 401
    status, answer = post(f"{door}/run_code?token={TOKEN}", body, token=None)  # for header-less clients
    assert status == 200 and answer["run_result"]["stdout"] == "1\n"
    with urllib.request.urlopen(f"{door}/health", timeout=30) as resp:  # probes need no token
        assert resp.status == 200


def test_get_reward_through_openrlhfs_own_client(door: str) -> None:
    from openrlhf.utils import agent  # OpenRLHF's rollout-side reward client

    executor = agent.SingleTurnAgentExecutor(remote_rm_url=f"{door}/get_reward?token={TOKEN}")
    prompt = "<|user|>What is 6/8?<|assistant|>"
    code_prompt = "<|user|>Add two numbers from stdin.<|assistant|>"
    tests = json.dumps({"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10\n"]})
    cases = [
        (prompt + "It is \\boxed{\\frac{3}{4}}", prompt, "0.75", 1.0),
        (prompt + "It is \\boxed{3/8}", prompt, "0.75", 0.0),
        (
            code_prompt + "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
            code_prompt,
            tests,
            1.0,
        ),
        (code_prompt + "```python\nprint(3)\n```", code_prompt, tests, 0.5),
    ]

    async def ask() -> list[dict[str, Any]]:
        # as OpenRLHF's rollout does: one query per request, many requests at once
        return list(
            await asyncio.gather(
                *(executor._fetch_rewards_via_http([q], [p], [label]) for q, p, label, _ in cases)
            )
        )

    answers = asyncio.run(ask())
    for (_, _, _, want), [info] in zip(cases, answers, strict=True):
        assert info["rewards"] == [want] and info["scores"] == [want]
        assert info["extra_logs"]["acc"] == [1.0 if want == 1.0 else 0.0]
    assert answers[3][0]["extra_logs"]["tests_passed"] == [1.0]


def test_get_reward_batch_and_bad_bodies(door: str) -> None:
    status, answer = post(
        f"{door}/get_reward",
        {
            "query": ["Q: 2+2? A: \\boxed{4}", "Q: 2+2? A: \\boxed{5}"],
            "prompts": ["Q: 2+2? A:"] * 2,
            "labels": ["4", "4"],
        },
    )
    assert status == 200 and answer["rewards"] == [1.0, 0.0]
    status, answer = post(f"{door}/get_reward", {"query": ["x"], "prompts": ["x"]})
    assert status == 400 and answer["error"]["field"] == "labels"
    status, answer = post(f"{door}/get_reward", {"query": ["a", "b"], "prompts": ["a"], "labels": ["1"]})
    assert status == 400 and answer["error"]["field"] == "query"
    status, answer = post(
        f"{door}/get_reward", {"query": ["a"], "prompts": ["a"], "labels": ['{"inputs": [1]}']}
    )
    assert status == 400 and answer["error"]["field"].startswith("input_output")


def test_unjudged_samples_are_an_error_to_retry_not_a_zero() -> None:
    """The reward logic above the engine: a SANDBOX_ERROR answer must not become a reward."""

    async def score(requests: list[pb.ScoreRequest]) -> list[pb.ScoreResponse]:
        return [pb.ScoreResponse(id=r.id, verdict=pb.SANDBOX_ERROR) for r in requests]

    with pytest.raises(SandboxUnavailable, match="retry"):
        asyncio.run(openrlhf_rewards(["q"], ["q"], ["4"], score))


def test_run_code_request_shape() -> None:
    request = run_code_request(RunCodeBody(code="print(1)", language="python3", run_timeout=2.5, stdin="x"))
    assert request.code.language == "python"
    assert request.code.limits.time_limit_ms == request.code.limits.wall_time_limit_ms == 2500
    assert request.code.limits.memory_limit_mb == 0  # -1: the deployment's default
    assert request.code.tests[0].stdio.stdin == "x"
    with pytest.raises(InvalidRequest, match="files"):
        run_code_request(RunCodeBody(code="1", files={"a": None}))
