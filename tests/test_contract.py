"""The wire contract of api.md: names and numbers are fixed, and the package's public names pinned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sandbox_service
from sandbox_service import pb
from sandbox_service.models import CheckerKind, Verdict

ROOT = Path(__file__).resolve().parent.parent


def fields(message: type) -> set[str]:
    return {f.name for f in message.DESCRIPTOR.fields}  # type: ignore[attr-defined]


def test_package_and_service() -> None:
    assert pb.DESCRIPTOR.package == "sandbox.v1"
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["Grader"].methods}
    assert methods == {"Score", "ScoreStream", "ListLanguages"}
    stream = pb.DESCRIPTOR.services_by_name["Grader"].methods_by_name["ScoreStream"]
    assert stream.client_streaming and stream.server_streaming


def test_message_fields_of_api_md() -> None:
    assert fields(pb.ScoreRequest) >= {"id", "code", "math"}
    assert fields(pb.CodeTask) >= {"language", "source", "tests", "limits", "stop_on_first_failure"}
    assert fields(pb.TestCase) >= {"stdio", "call", "assertion", "checker", "weight"}
    assert fields(pb.StdioTest) >= {"stdin", "expected_stdout", "stdin_bytes", "expected_stdout_bytes"}
    assert fields(pb.CallTest) >= {"function", "args_json", "expected_json"}
    assert fields(pb.AssertionTest) >= {"code"}
    assert fields(pb.Checker) >= {"kind", "abs_tol", "rel_tol", "checker_source", "checker_language"}
    assert fields(pb.Limits) >= {
        "time_limit_ms",
        "wall_time_limit_ms",
        "memory_limit_mb",
        "max_output_bytes",
        "compile_time_limit_ms",
    }
    assert fields(pb.ScoreResponse) >= {
        "id",
        "reward",
        "accepted",
        "verdict",
        "passed",
        "total",
        "tests",
        "compile_output",
        "math",
        "timing",
        "worker",
        "cached",
    }
    assert fields(pb.TestResult) >= {
        "verdict",
        "time_ms",
        "memory_kb",
        "exit_code",
        "signal",
        "stdout_head",
        "stderr_head",
        "message",
    }
    assert fields(pb.MathTask) >= {"response", "gold", "choices"}
    assert fields(pb.MathDetail) >= {"extracted_answer", "normalized_answer", "normalized_gold", "reason"}
    assert fields(pb.Timing) >= {"queue_ms", "run_ms", "total_ms"}


def test_enums_are_unprefixed_with_unspecified_zero() -> None:
    assert pb.Verdict.Name(0) == "VERDICT_UNSPECIFIED"
    assert pb.Kind.Name(0) == "KIND_UNSPECIFIED"
    assert [pb.Verdict.Name(v.value) for v in Verdict] == [v.name for v in Verdict]
    assert [pb.Kind.Name(k.value) for k in CheckerKind] == [k.name for k in CheckerKind]
    assert {v.name for v in Verdict} == {
        "ACCEPTED",
        "WRONG_ANSWER",
        "TIME_LIMIT_EXCEEDED",
        "MEMORY_LIMIT_EXCEEDED",
        "OUTPUT_LIMIT_EXCEEDED",
        "RUNTIME_ERROR",
        "COMPILE_ERROR",
        "SKIPPED",
        "SANDBOX_ERROR",
    }
    assert {k.name for k in CheckerKind} == {"EXACT", "LINES", "TOKENS", "FLOAT", "CUSTOM"}


def test_exported_members() -> None:
    assert sorted(sandbox_service.__all__) == [
        "AgentLost",
        "AsyncClient",
        "CheckerKind",
        "Client",
        "DockerUnavailable",
        "Engine",
        "ImageError",
        "InfrastructureError",
        "InvalidRequest",
        "Overloaded",
        "SandboxServiceError",
        "Settings",
        "ShuttingDown",
        "Verdict",
        "pb",
    ]
    for name in sandbox_service.__all__:
        assert hasattr(sandbox_service, name)


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    """scripts/gen-proto output must equal what is committed (CI fails on drift)."""
    out = tmp_path / "gen"
    out.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(ROOT / "proto"),
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(ROOT / "proto/sandbox_service/v1/sandbox.proto"),
        ],
        check=True,
    )
    for name in ("sandbox_pb2.py", "sandbox_pb2.pyi", "sandbox_pb2_grpc.py"):
        generated = (out / "sandbox_service/v1" / name).read_text()
        committed = (ROOT / "sandbox_service/v1" / name).read_text()
        assert generated == committed, f"{name} is stale: run scripts/gen-proto"
