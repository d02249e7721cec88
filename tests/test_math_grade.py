"""The math verifier against the conventions' table (``tests/math_table.py``), and its bounds: the
table through the killable worker processes, timeouts, the memory cap, crashes, and no side effects
from model text."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from sandbox_service.mathcheck import MathVerifier, VerifierError, grade, verify
from sandbox_service.mathcheck.verifier import shutdown

from .math_table import ROWS

PWNED = Path("/tmp/math-pwned")


@pytest.mark.parametrize(
    ("rule", "response", "gold", "expected", "choices"),
    ROWS,
    ids=[f"{i}:{r[0]}" for i, r in enumerate(ROWS)],
)
def test_table(rule: str, response: str, gold: str, expected: bool, choices: tuple[str, ...]) -> None:
    result = grade(response, gold, choices)
    assert result.correct is expected, f"{rule}: {result}"
    assert result.reason


def test_the_table_has_every_rule_on_both_sides() -> None:
    assert len(ROWS) >= 300
    sections = {r[0].split()[0] for r in ROWS}
    assert sections >= {"1.1", "1.2", "1.3", "1.4", "1.5", "2", "3", "4"}
    assert {r[3] for r in ROWS if r[0].startswith("2 ")} == {True, False}
    assert {r[3] for r in ROWS if r[0].startswith("4 ")} == {True, False}


def test_the_table_through_bounded_worker_processes() -> None:
    PWNED.unlink(missing_ok=True)
    with MathVerifier(processes=2, time_limit_s=5.0) as verifier:
        wrong = []
        for rule, response, gold, expected, choices in ROWS:
            result = verifier.verify(response, gold, choices)
            if result.correct is not expected or result.reason.startswith("timeout"):
                wrong.append((rule, gold, result))
        assert verifier.timeouts == 0
    assert not wrong, wrong[:5]
    assert not PWNED.exists(), "model text was executed"


def test_detail_fields() -> None:
    result = grade("so $\\boxed{\\dfrac{6}{8}}$.", "0.75")
    assert result.correct and result.extracted_answer == "\\dfrac{6}{8}"
    assert result.normalized_answer == "6/8" and result.normalized_gold == "0.75" and result.reason == "equal"
    unfinished = grade("<think>the answer is 3", "3")
    assert not unfinished.correct and "unfinished" in unfinished.reason


def _children(verifier: MathVerifier) -> list[int]:
    return [slot.proc.pid for slot in verifier._slots]


def test_timeout_kills_the_worker_and_a_fresh_one_takes_over() -> None:
    with MathVerifier(processes=1, time_limit_s=0.0) as verifier:
        (old,) = _children(verifier)
        t0 = time.monotonic()
        result = verifier.verify("$\\boxed{\\sin^2 x + \\cos^2 x}$", "1")
        assert time.monotonic() - t0 < 1.0
        assert not result.correct and result.reason.startswith("timeout")
        assert result.extracted_answer == "\\sin^2 x + \\cos^2 x"
        assert verifier.timeouts == 1
        assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
        verifier.time_limit_s = 5.0
        assert verifier.verify("$\\boxed{3}$", "3").correct  # waits for the replacement
        (new,) = _children(verifier)
        assert new != old


def test_worker_processes_run_under_the_memory_cap_and_die_with_close() -> None:
    verifier = MathVerifier(processes=2, memory_limit_mb=700)
    pids = _children(verifier)
    assert len(pids) == 2
    for pid in pids:
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert str(700 << 20) in line
    verifier.close()
    verifier.close()
    assert not any(psutil.pid_exists(p) for p in pids)
    with pytest.raises(VerifierError):
        verifier.verify("$\\boxed{1}$", "1")


def test_a_worker_that_dies_is_reported_and_replaced() -> None:
    with MathVerifier(processes=1, time_limit_s=5.0) as verifier:
        (pid,) = _children(verifier)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(VerifierError):
            verifier.verify("$\\boxed{1}$", "1")
        assert verifier.verify("$\\boxed{1}$", "1").correct


def test_library_verify_function() -> None:
    try:
        assert verify("Thus the answer is $\\boxed{\\frac{1}{2}}$.", "0.5").correct
        assert not verify("Thus the answer is $\\boxed{2}$.", "0.5").correct
    finally:
        shutdown()
