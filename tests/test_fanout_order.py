"""Fan-out's ordering logic alone (no Docker): whatever order tests finish in on several containers,
the results read back are those of one test after another. The runner's test step is replaced by a
fake that answers a fixed verdict per test after a random delay; the real paths are in test_fanout.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runners.languages import LANGUAGES
from sandbox_service import models
from sandbox_service.config import Settings
from sandbox_service.models import CodeResult, CodeTask, Limits, StdioTest, Verdict
from sandbox_service.runner import Outcome, Runner, _assemble

VERDICTS = [Verdict.ACCEPTED, Verdict.ACCEPTED, Verdict.WRONG_ANSWER, Verdict.RUNTIME_ERROR]


@dataclass
class FakeConn:
    lost: bool = False

    def close(self) -> None:
        self.lost = True


@dataclass
class FakeContainer:
    name: str
    conn: FakeConn = field(default_factory=FakeConn)


@dataclass
class FakeLease:
    container: FakeContainer
    reason: str | None = None

    def recycle(self, reason: str) -> None:
        self.reason = self.reason or reason


class FakePool:
    def __init__(self, idle: int) -> None:
        self._idle = idle
        self.waiting = 0
        self.released: list[FakeLease] = []

    @property
    def idle(self) -> int:
        return self._idle

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[FakeLease]:
        self._idle -= 1
        lease = FakeLease(FakeContainer(f"extra{self._idle}"))
        try:
            yield lease
        finally:
            self.released.append(lease)
            self._idle += 1


class FakeRunner(Runner):
    def __init__(self, plan: list[tuple[Verdict, bool]], seed: int) -> None:
        super().__init__(Settings())
        self.plan = plan
        self.rng = random.Random(seed)
        self.started: list[int] = []
        self.cancelled: list[int] = []

    async def _call(
        self, lease: Any, header: dict[str, Any], blobs: list[bytes], timeout: float = 30.0
    ) -> Any:
        return {}

    async def _one(
        self, lease: Any, spec: Any, task: CodeTask, test: models.Test, ready: Any, values: Any
    ) -> Outcome:
        i = int(test.kind.stdin)  # type: ignore[union-attr]
        self.started.append(i)
        try:
            await asyncio.sleep(self.rng.random() * 0.004)
        except asyncio.CancelledError:
            self.cancelled.append(i)
            raise
        verdict, fatal = self.plan[i]
        return models.TestResult(verdict, message=f"test {i}"), ("diag" if fatal else None), fatal


def task_of(n: int, stop: bool) -> CodeTask:
    tests = [models.Test(kind=StdioTest(stdin=str(i).encode(), expected_stdout=b"")) for i in range(n)]
    limits = Limits(1000, 2000, 256, 1 << 20, 1000)
    return CodeTask(
        language="python", source="", tests=tuple(tests), limits=limits, stop_on_first_failure=stop
    )


def results(task: CodeTask, outcomes: list[Outcome | None]) -> list[tuple[str, str]]:
    result = CodeResult(tests=[], weights=[1.0] * len(task.tests))
    _assemble(result, task, outcomes)
    return [(t.verdict.name, t.message) for t in result.tests] + [("compile_output", result.compile_output)]


@settings(max_examples=150, deadline=None)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(VERDICTS), st.integers(0, 9).map(lambda k: k == 0)), min_size=1, max_size=24
    ),
    stop=st.booleans(),
    idle=st.integers(0, 5),
    seed=st.integers(0, 1 << 30),
)
def test_any_finishing_order_reads_back_as_the_sequential_path(
    plan: list[tuple[Verdict, bool]], stop: bool, idle: int, seed: int
) -> None:
    plan = [(Verdict.COMPILE_ERROR, True) if fatal else (verdict, False) for verdict, fatal in plan]
    task = task_of(len(plan), stop)
    spec = LANGUAGES["python"]

    async def both() -> tuple[Any, Any, FakeRunner, FakePool]:
        seq = FakeRunner(plan, seed)
        one = await seq._sequential(FakeLease(FakeContainer("main")), spec, task, {})  # type: ignore[arg-type]
        fan = FakeRunner(plan, seed)
        pool = FakePool(idle)
        lease = FakeLease(FakeContainer("main"))
        many = await fan._fan_out(lease, pool, 1 + idle, spec, task, {}, ("prog.py", None))  # type: ignore[arg-type]
        return results(task, one), results(task, many), fan, pool

    sequential, fanned, fan, pool = asyncio.run(both())
    assert fanned == sequential
    # every extra container came back; one whose test was cancelled mid-run is recycled
    assert pool.idle == idle and len(pool.released) == idle
    for lease in pool.released:
        assert (lease.reason == "fanout_cancelled") == lease.container.conn.lost
    assert len(fan.started) == len(set(fan.started))  # no test ran twice
