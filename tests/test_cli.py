"""The command line, run as a user would: real subprocesses, real engine, real images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest

from sandbox_service import Client, Settings, pb
from sandbox_service.images import VERSION_LABEL, runtime_tag

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


def test_build_images_prune_removes_other_versions_but_not_one_in_use(tmp_path: Path) -> None:
    client = docker.from_env()
    repo = Settings().image
    current = runtime_tag(repo)
    (tmp_path / "Dockerfile").write_text(f"FROM {current}\n")  # another version: its own image id
    in_use, _ = client.images.build(
        path=str(tmp_path),
        tag=f"{repo}:00000000000000aa",
        labels={VERSION_LABEL: "00000000000000aa"},
        rm=True,
        forcerm=True,
    )
    client.images.get(current).tag(repo, "00000000000000bb")  # an old tag of the same image
    holder = client.containers.create(f"{repo}:00000000000000aa", ["true"])
    try:
        proc = run("build-images", "--prune")
        assert proc.returncode == 0, proc.stderr
        assert f"{repo}:00000000000000bb" in proc.stdout
        assert f"kept {repo}:00000000000000aa" in proc.stdout
        tags = {t for image in client.images.list(name=repo) for t in image.tags}
        assert current in tags and f"{repo}:00000000000000aa" in tags
        assert f"{repo}:00000000000000bb" not in tags
    finally:
        holder.remove(force=True)
    proc = run("build-images", "--prune")
    assert f"pruned 1 old image tag(s): {repo}:00000000000000aa" in proc.stdout
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(in_use.id)
    assert client.images.get(current)  # this version's image is never touched


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
        "math-frac": "ACCEPTED",
        "math-x100": "WRONG_ANSWER",
    }
    assert next(line for line in lines if line["id"] == "py-wrong")["reward"] == 0.5
    frac = next(line for line in lines if line["id"] == "math-frac")
    assert frac["math"]["normalized_answer"] == "6/8" and frac["reward"] == 1.0
    assert "7 scored" in proc.stderr


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


def _serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start `sandbox-service serve` and wait until it prints its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox_service", "serve", "--port", "0", "--metrics-port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("serving sandbox.v1.Grader on "):
            return proc, line.split(" on ", 1)[1].split()[0]
    raise AssertionError("serve exited early:\n" + "".join(seen))


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def test_serve_embedded_default_answers_and_stops_cleanly() -> None:
    proc, address = _serve("--pool-size", "1", "--http-port", "0")
    try:
        with Client(address) as client:
            response = client.score(
                {"id": "s", "code": {"language": "python", "source": "print(input()[::-1])",
                                     "tests": [{"stdio": {"stdin": "abc", "expected_stdout": "cba"}}]}}
            )  # fmt: skip
        assert response.verdict == pb.ACCEPTED and response.worker.startswith("w1@")
        assert proc.stdout is not None
        http = next(line for line in proc.stdout if line.startswith("http: "))
        run_code = http.split()[3]  # "http: URL/get_reward (OpenRLHF), URL/run_code (SandboxFusion)"
        assert run_code.endswith("/run_code")
        body = json.dumps({"code": "print(input()[::-1])", "stdin": "abc"}).encode()
        with urllib.request.urlopen(urllib.request.Request(run_code, data=body), timeout=60) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "cba\n"
    finally:
        out = _stop(proc)
    assert "stopped" in out
    leftovers = [p for p in Path(tempfile.gettempdir()).glob("sandbox-ray-*")]
    assert not leftovers, "the embedded Ray's files are removed"


def test_serve_joins_an_existing_cluster(ray_cluster: Any) -> None:
    # its own resource: the session's shared service may already hold every `sandbox` slot
    proc, address = _serve(
        "--ray-address", ray_cluster.cluster.address, env={"SANDBOX_WORKER_RESOURCE": "sandbox_small"}
    )
    try:
        with Client(address) as client:
            responses = list(client.score_many(
                [{"id": f"j{i}", "code": {"language": "python", "source": f"print({i})",
                                          "tests": [{"stdio": {"expected_stdout": str(i)}}]}} for i in range(40)]
            ))  # fmt: skip
        assert sorted(r.id for r in responses) == sorted(f"j{i}" for i in range(40))
        assert {r.verdict for r in responses} == {pb.ACCEPTED}
        assert len({r.worker for r in responses}) == 2, "one worker per node of the cluster"
    finally:
        _stop(proc)
