"""The command line, run as a user would: real subprocesses, real engine, real images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.docker


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox_service", *args], capture_output=True, text=True, timeout=300
    )


def test_build_images_is_idempotent() -> None:
    proc = run("build-images")
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout and "runtime image" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("sandbox-runtime:")


def test_score_examples(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    proc = run("score", str(ROOT / "examples/requests.jsonl"), "-o", str(out), "--pool-size", "2")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    got = {line["id"]: line["verdict"] for line in lines}
    assert got == {
        "py-stdio": "ACCEPTED",
        "he/0": "ACCEPTED",
        "cpp-sum": "ACCEPTED",
        "py-wrong": "WRONG_ANSWER",
        "py-tle": "TIME_LIMIT_EXCEEDED",
    }
    assert next(line for line in lines if line["id"] == "py-wrong")["reward"] == 0.5
    assert "5 scored" in proc.stderr


def test_score_reports_bad_lines_and_keeps_the_good(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good = '{"id": "ok", "code": {"language": "python", "source": "print(1)", "tests": [{"stdio": {"expected_stdout": "1"}}]}}'
    src.write_text(
        good
        + "\n"
        + "{not json\n"
        + '{"id": "bad-lang", "code": {"language": "cobol", "source": "x", "tests": [{"stdio": {}}]}}\n'
    )
    out = tmp_path / "out.jsonl"
    proc = run("score", str(src), "-o", str(out), "--pool-size", "1")
    assert proc.returncode == 2
    assert "in.jsonl:2" in proc.stderr and "code.language" in proc.stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["ok"]
