"""The math verifier against HuggingFace's math-verify on the conventions' table, side by side.

    pip install -e '.[bench]'
    python benchmarks/bench_math.py [--budget-ms 1000] [--processes 1] [--rounds 3]

For each verifier: agreement with the table's labels (``tests/math_table.py``, every rule of
``design/math-conventions.md``), the rows each gets wrong by section, and time per case (p50, p99, max).
Ours runs bounded, the way the service runs it: a ``MathVerifier`` worker process per slot, each case
under a hard budget (the time includes the process round trip). math-verify runs in-process with its
own default timeouts (``parse(gold)``, ``parse(response)``, ``verify(gold, answer)``); a case it
raises on counts as false. Rounds repeat the timing of ours (the fastest round is quoted, since this
machine is shared and noisy); accuracy does not change between rounds.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox_service.mathcheck import MathVerifier  # noqa: E402
from tests.math_table import ROWS  # noqa: E402


def percentiles(times: list[float]) -> str:
    ts = sorted(times)
    p = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]  # noqa: E731
    return f"p50 {p(0.50):7.2f} ms   p99 {p(0.99):7.2f} ms   max {ts[-1]:8.2f} ms"


def run_ours(budget_ms: int, processes: int) -> tuple[list[bool], list[float], int]:
    with MathVerifier(processes=processes, time_limit_s=budget_ms / 1000) as verifier:
        verifier.verify("$\\boxed{1}$", "1")  # warm
        results, times = [], []
        for _rule, response, gold, _expected, choices in ROWS:
            t0 = time.perf_counter()
            results.append(verifier.verify(response, gold, choices).correct)
            times.append((time.perf_counter() - t0) * 1000)
        return results, times, verifier.timeouts


def run_math_verify() -> tuple[list[bool], list[float], int] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    logging.disable(logging.CRITICAL)  # math-verify logs every timeout with the whole input
    results, times, errors = [], [], 0
    for _rule, response, gold, _expected, _choices in ROWS:
        t0 = time.perf_counter()
        try:
            ok = bool(verify(parse(gold), parse(response)))
        except Exception:  # noqa: BLE001 - a crash of the baseline is a false for it
            ok, errors = False, errors + 1
        times.append((time.perf_counter() - t0) * 1000)
        results.append(ok)
    return results, times, errors


def report(name: str, results: list[bool], times: list[float]) -> int:
    right = sum(r == row[3] for r, row in zip(results, ROWS, strict=True))
    print(f"{name:<12} agreement {right}/{len(ROWS)} = {right / len(ROWS):6.1%}   {percentiles(times)}")
    wrong = Counter(row[0].split(":")[0] for r, row in zip(results, ROWS, strict=True) if r != row[3])
    if wrong:
        print(f"{'':<12} wrong by rule: " + ", ".join(f"{k} ({v})" for k, v in wrong.most_common()))
    return right


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-ms", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"{len(ROWS)} cases; our budget {args.budget_ms} ms per case\n")
    best: tuple[list[bool], list[float], int] | None = None
    for _ in range(args.rounds):
        run = run_ours(args.budget_ms, args.processes)
        if best is None or statistics.median(run[1]) < statistics.median(best[1]):
            best = run
    assert best is not None
    ours_right = report("ours", best[0], best[1])
    over = sum(t > args.budget_ms for t in best[1])
    print(f"{'':<12} timeouts {best[2]}, cases past the budget {over}")
    baseline = run_math_verify()
    if baseline is None:
        print("math-verify   not installed: pip install -e '.[bench]'")
        return
    mv_right = report("math-verify", baseline[0], baseline[1])
    print(f"{'':<12} raised on {baseline[2]} cases")
    print(f"\nagreement: ours {ours_right / len(ROWS):.1%} vs math-verify {mv_right / len(ROWS):.1%}")


if __name__ == "__main__":
    main()
