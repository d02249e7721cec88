"""Internal value types: what a validated request and a decided result look like inside the service.

Protobuf stays at the wire and the JSONL edge (``wire.py``); everything between works on these frozen
dataclasses and enums, whose values mirror the proto enums' numbers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "AssertionTest",
    "CallTest",
    "Checker",
    "CheckerKind",
    "CodeResult",
    "CodeTask",
    "Limits",
    "StdioTest",
    "Test",
    "TestResult",
    "Verdict",
]


class Verdict(enum.Enum):
    """Per-test and per-sample verdicts (numbers as in ``sandbox.v1.Verdict``)."""

    ACCEPTED = 1
    WRONG_ANSWER = 2
    TIME_LIMIT_EXCEEDED = 3
    MEMORY_LIMIT_EXCEEDED = 4
    OUTPUT_LIMIT_EXCEEDED = 5
    RUNTIME_ERROR = 6
    COMPILE_ERROR = 7
    SKIPPED = 8
    SANDBOX_ERROR = 9


class CheckerKind(enum.Enum):
    """How a stdio test's output is compared (numbers as in ``sandbox.v1.Kind``)."""

    EXACT = 1
    LINES = 2
    TOKENS = 3
    FLOAT = 4
    CUSTOM = 5


@dataclass(frozen=True)
class Limits:
    """Resolved limits of one sample (every field set)."""

    time_limit_ms: int
    wall_time_limit_ms: int
    memory_limit_mb: int
    max_output_bytes: int
    compile_time_limit_ms: int


@dataclass(frozen=True)
class Checker:
    kind: CheckerKind = CheckerKind.LINES
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    source: str = ""
    language: str = ""


@dataclass(frozen=True)
class StdioTest:
    stdin: bytes
    expected_stdout: bytes


@dataclass(frozen=True)
class CallTest:
    function: str
    args_json: str
    expected_json: str


@dataclass(frozen=True)
class AssertionTest:
    code: str


@dataclass(frozen=True)
class Test:
    kind: StdioTest | CallTest | AssertionTest
    checker: Checker = field(default_factory=Checker)
    weight: float = 1.0


@dataclass(frozen=True)
class CodeTask:
    language: str
    source: str
    tests: tuple[Test, ...]
    limits: Limits
    stop_on_first_failure: bool = False


@dataclass(frozen=True)
class MathTask:
    """A math answer to grade (``design/math-conventions.md``)."""

    response: str
    gold: str
    choices: tuple[str, ...] = ()
    language: str = "math"  # the label metrics and logs use for this kind of task


@dataclass
class TestResult:
    verdict: Verdict
    time_ms: int = 0
    wall_ms: int = 0
    memory_kb: int = 0
    exit_code: int = 0
    signal: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    message: str = ""


@dataclass
class CodeResult:
    """Outcome of one code sample; reward and verdict are derived from the per-test results."""

    tests: list[TestResult]
    weights: list[float]
    compile_output: str = ""
    worker: str = ""
    run_ms: float = 0.0

    @classmethod
    def sandbox_error(cls, weights: list[float], message: str) -> CodeResult:
        """Every test ``SANDBOX_ERROR``: the infrastructure failed, not the program."""
        return cls(
            tests=[TestResult(Verdict.SANDBOX_ERROR, message=message) for _ in weights], weights=weights
        )

    @property
    def total(self) -> int:
        return len(self.tests)

    @property
    def passed(self) -> int:
        return sum(t.verdict is Verdict.ACCEPTED for t in self.tests)

    @property
    def reward(self) -> float:
        total = sum(self.weights)
        if total <= 0:
            return 0.0
        won = sum(w for t, w in zip(self.tests, self.weights, strict=True) if t.verdict is Verdict.ACCEPTED)
        return won / total

    @property
    def verdict(self) -> Verdict:
        for t in self.tests:
            if t.verdict is not Verdict.ACCEPTED:
                return t.verdict
        return Verdict.ACCEPTED

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED
