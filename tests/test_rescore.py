"""Dataset re-scoring (``sandbox-service score``): formats, Parquet, resuming after kills, the summary.

The command runs as a user runs it: a real subprocess on the real engine (or a real service), killed
with real signals.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import docker
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sandbox_service.rescore as rescore_module
from sandbox_service import pb
from sandbox_service.rescore import ResultsFile, Summary, _Reporter, read_samples, rescore

from .conftest import ServiceHarness, pool_containers

pytestmark = pytest.mark.docker

SLEEPY = "import time\ntime.sleep({s})\nprint(input())\n"


def cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    # A shell starts a background job with SIGINT ignored, and an ignored signal stays ignored
    # across exec: the run would never see our Ctrl-C (CI launched in the background failed so).
    # A caught signal is reset to the default by exec, so catch it here while spawning.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "sandbox_service", "score", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a signal to the group reaches only this run
            **kwargs,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = cli(*args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def request_line(rid: str, sleep: float = 0.0, language: str = "python") -> str:
    return json.dumps(
        {
            "id": rid,
            "code": {
                "language": language,
                "source": SLEEPY.format(s=sleep),
                "tests": [{"stdio": {"stdin": rid + "\n", "expected_stdout": rid + "\n"}}],
            },
        }
    )


def write_requests(path: Path, n: int, sleep: float) -> list[str]:
    ids = [f"s{i:03d}" for i in range(n)]
    path.write_text("".join(request_line(i, sleep) + "\n" for i in ids))
    return ids


def result_ids(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        return list(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


def wait_containers_gone(pid: int, timeout: float = 60) -> None:
    """The killed run's containers remove themselves once their agents see the connection close."""
    client = docker.from_env()
    deadline = time.monotonic() + timeout
    left: list[Any] = []
    while time.monotonic() < deadline:
        left = pool_containers(client, pid)
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(f"containers of the killed run stayed: {[c.name for c in left]}")


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_killed_run_resumes_with_every_id_exactly_once(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / "in.jsonl"
    ids = write_requests(src, 48, sleep=0.25)
    out = tmp_path / f"out{suffix}"
    journal = out if suffix == ".jsonl" else tmp_path / "out.parquet.partial.jsonl"

    first = cli(str(src), "-o", str(out), "--pool-size", "2")
    wait_for_lines(journal, 12, first)
    os.killpg(first.pid, signal.SIGKILL)  # no chance to clean up or finish a line
    first.communicate(timeout=30)
    wait_containers_gone(first.pid)
    before = journal.read_text().count("\n")
    assert 12 <= before < len(ids)
    if suffix == ".parquet":
        assert not out.exists()  # only the journal: a kill never leaves a half-written Parquet file

    second = run(str(src), "-o", str(out), "--pool-size", "2")
    assert second.returncode == 0, second.stderr
    assert f"resuming: {before} results already" in second.stderr
    assert f"{len(ids) - before} scored" in second.stderr  # the rest, not everything again
    got = result_ids(out)
    assert Counter(got) == Counter(ids)  # every id exactly once
    assert not (tmp_path / "out.parquet.partial.jsonl").exists()
    if suffix == ".parquet":
        table = pq.read_table(out)
        assert set(table.column("verdict").to_pylist()) == {"ACCEPTED"}
        assert json.loads(table.column("result")[0].as_py())["verdict"] == "ACCEPTED"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "status", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_or_sigterm_saves_what_finished_and_the_rerun_completes(
    tmp_path: Path, sig: signal.Signals, status: int, said: str
) -> None:
    src = tmp_path / "in.jsonl"
    ids = write_requests(src, 40, sleep=0.25)
    out = tmp_path / "out.parquet"
    first = cli(str(src), "-o", str(out), "--pool-size", "2")
    wait_for_lines(tmp_path / "out.parquet.partial.jsonl", 8, first)
    os.killpg(first.pid, sig)
    _, err = first.communicate(timeout=60)
    assert first.returncode == status, err
    assert said in err and "rerun" in err and "re-scoring summary" in err
    partial = result_ids(out)  # the stop still writes a whole Parquet file of what finished
    assert 8 <= len(partial) < len(ids) and len(set(partial)) == len(partial)
    wait_containers_gone(first.pid, timeout=5)  # a graceful stop removes its containers itself

    second = run(str(src), "-o", str(out), "--pool-size", "2")
    assert second.returncode == 0, second.stderr
    assert Counter(result_ids(out)) == Counter(ids)


def test_a_line_cut_short_by_a_kill_is_dropped_and_scored_again(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    ids = write_requests(src, 4, sleep=0)
    out = tmp_path / "out.jsonl"
    assert run(str(src), "-o", str(out)).returncode == 0
    lines = out.read_text().splitlines(keepends=True)
    keep = [line for line in lines if json.loads(line)["id"] != "s002"]
    cut = next(line for line in lines if json.loads(line)["id"] == "s002")
    out.write_text("".join(keep) + cut[: len(cut) // 2])  # what a kill mid-write leaves

    again = run(str(src), "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert "dropped a partial last line" in again.stderr
    assert "1 scored" in again.stderr and "3 already in the output" in again.stderr
    assert Counter(result_ids(out)) == Counter(ids)


def test_output_that_is_not_results_is_refused_not_appended_to(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    write_requests(src, 1, sleep=0)
    out = tmp_path / "out.jsonl"
    out.write_text("this is somebody's notes\n")
    proc = run(str(src), "-o", str(out))
    assert proc.returncode == 1
    assert "is not a result line" in proc.stderr
    assert out.read_text() == "this is somebody's notes\n"


def test_dataset_rows_with_several_samples_and_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "he.jsonl"
    row = {
        "task_id": "HumanEval/0",
        "prompt": "def add(a, b):\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "entry_point": "add",
        "completion": [
            "    return a + b\n",
            "    return a - b\n",
            "```python\ndef add(a, b):\n    return b + a\n```",
        ],
    }
    no_response = {k: v for k, v in row.items() if k != "completion"} | {"task_id": "HumanEval/1"}
    no_test = {k: v for k, v in row.items() if k != "test"} | {"task_id": "HumanEval/2"}
    src.write_text("\n".join(json.dumps(r) for r in (row, no_response, no_test, row)) + "\nnot json\n")
    out = tmp_path / "out.jsonl"
    proc = run(str(src), "-f", "humaneval", "--response-column", "completion", "-o", str(out))
    assert proc.returncode == 2, proc.stderr  # some rows were invalid
    got = {json.loads(line)["id"]: json.loads(line)["verdict"] for line in out.read_text().splitlines()}
    # the same task id again continues the sample count instead of colliding
    assert got == {
        "HumanEval/0/0": "ACCEPTED",
        "HumanEval/0/1": "WRONG_ANSWER",
        "HumanEval/0/2": "ACCEPTED",
        "HumanEval/0/3": "ACCEPTED",
        "HumanEval/0/4": "WRONG_ANSWER",
        "HumanEval/0/5": "ACCEPTED",
    }
    err = " ".join(proc.stderr.split())
    assert "he.jsonl:2" in err and "completion: missing" in err
    assert "he.jsonl:3" in err and "test:" in err
    assert "he.jsonl:5" in err and "not JSON" in err
    assert "5 invalid" in err  # every sample of the three bad rows: one, three, one


def test_parquet_verl_rows_in_and_out(tmp_path: Path) -> None:
    tests = {"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10\n"]}
    rows = [
        {
            "data_source": "codecontests",
            "prompt": [{"role": "user", "content": "add two numbers"}],
            "reward_model": {"style": "rule", "ground_truth": json.dumps(tests)},
            "extra_info": {"index": 7},
            "response": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
        },
        {
            "data_source": "openai/gsm8k",
            "prompt": [{"role": "user", "content": "what is 6/8?"}],
            "reward_model": {"style": "rule", "ground_truth": "3/4"},
            "extra_info": {"index": 8},
            "response": "so the answer is \\boxed{0.75}",
        },
    ]
    src = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    out = tmp_path / "scored.parquet"
    proc = run(str(src), "-f", "verl", "--id-column", "extra_info.index", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out).to_pylist()
    assert {(r["id"], r["verdict"], r["reward"], r["total"]) for r in table} == {
        ("7/0", "ACCEPTED", 1.0, 2),
        ("8/0", "ACCEPTED", 1.0, 1),
    }
    err = " ".join(proc.stderr.split())
    assert "math" in err and "python" in err and "2 scored" in err  # the per-language summary
    # a rerun over a finished Parquet output does nothing and keeps it whole
    again = run(str(src), "-f", "verl", "--id-column", "extra_info.index", "-o", str(out))
    assert again.returncode == 0 and "2 already in the output" in again.stderr
    assert len(pq.read_table(out)) == 2


def test_duplicate_and_missing_request_ids_are_reported(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(request_line("a") + "\n" + request_line("a") + "\n" + request_line("") + "\n")
    out = tmp_path / "out.jsonl"
    proc = run(str(src), "-o", str(out))
    assert proc.returncode == 2
    assert result_ids(out) == ["a"]
    err = " ".join(proc.stderr.split())
    assert "in.jsonl:2" in err and "repeats an earlier one" in err
    assert "in.jsonl:3" in err and "id:" in err


def test_score_against_a_running_service(tmp_path: Path, service: ServiceHarness) -> None:
    src = tmp_path / "in.jsonl"
    ids = write_requests(src, 30, sleep=0)
    out = tmp_path / "out.jsonl"
    proc = run(str(src), "--server", service.address, "-j", "8", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert Counter(r["id"] for r in lines) == Counter(ids)
    assert {r["verdict"] for r in lines} == {"ACCEPTED"}
    assert {r["worker"] for r in lines} - {""}, "answered by the service's workers"


def test_unreachable_server_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    write_requests(src, 2, sleep=0)
    out = tmp_path / "out.jsonl"
    env = {**os.environ}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox_service",
            "score",
            str(src),
            "--server",
            "127.0.0.1:1",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert "error" in proc.stderr and "rerun to resume" in proc.stderr
    assert out.read_text() == ""


def test_sandbox_errors_are_reported_not_written(tmp_path: Path) -> None:
    """The reporting above any backend: a fake one answers SANDBOX_ERROR for one sample."""
    src = tmp_path / "in.jsonl"
    ids = write_requests(src, 3, sleep=0)

    async def backend(
        requests: AsyncIterator[pb.ScoreRequest], concurrency: int
    ) -> AsyncIterator[pb.ScoreResponse]:
        async for r in requests:
            verdict = pb.SANDBOX_ERROR if r.id == ids[1] else pb.ACCEPTED
            yield pb.ScoreResponse(
                id=r.id,
                verdict=verdict,
                reward=float(verdict == pb.ACCEPTED),
                accepted=verdict == pb.ACCEPTED,
            )

    out = ResultsFile(tmp_path / "out.jsonl")
    done = out.open()
    said: list[str] = []
    summary = Summary()
    reporter = _Reporter(out=out, stream=None, summary=summary, say=said.append, advance=lambda: None)
    asyncio.run(rescore(read_samples(src), backend, reporter, done, 2))
    out.close()
    assert result_ids(tmp_path / "out.jsonl") == [ids[0], ids[2]]
    assert summary.sandbox_errors == 1 and summary.scored == 2
    assert any(ids[1] in s and "sandbox error" in s for s in said)
    # the rerun retries exactly the sample the sandbox failed on
    out = ResultsFile(tmp_path / "out.jsonl")
    assert out.open() == {ids[0], ids[2]}
    out.close()


def test_parquet_output_is_rewritten_a_row_group_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old rows then new ones, streamed in groups (tiny here), so memory does not grow with the output."""
    monkeypatch.setattr(rescore_module, "_ROW_GROUP", 3)
    path = tmp_path / "out.parquet"

    def one_run(ids: list[str]) -> set[str]:
        out = ResultsFile(path)
        done = out.open()
        for i in ids:
            out.write(pb.ScoreResponse(id=i, verdict=pb.ACCEPTED, reward=1.0, accepted=True))
        out.close()
        return done

    first = [f"a{i}" for i in range(10)]
    assert one_run(first) == set()
    second = [f"b{i}" for i in range(7)]
    assert one_run(second) == set(first)
    assert not (tmp_path / "out.parquet.partial.jsonl").exists()
    parquet = pq.ParquetFile(path)
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)]
    assert max(groups) == 3 and sum(groups) == 17, groups
    table = parquet.read()
    assert table.column("id").to_pylist() == first + second
    assert set(table.column("verdict").to_pylist()) == {"ACCEPTED"}
    assert json.loads(table.column("result")[12].as_py())["id"] == "b2"
    assert one_run([]) == set(first + second)  # nothing new: the file is left as it is
    assert pq.ParquetFile(path).metadata.num_row_groups == len(groups)
