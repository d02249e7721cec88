"""Finishing a Parquet re-scoring output: time and peak memory, against reading it all at once.

    python benchmarks/bench_parquet_output.py [--rows 1000000] [--resume]

``sandbox-service score -o out.parquet`` journals results to ``out.parquet.partial.jsonl`` and, when
the run ends, writes ``out.parquet`` anew from the old file plus the journal. This times that last
step (``ResultsFile.close``) on ``--rows`` synthetic result lines shaped like real ones (three tests
each); peak memory is the whole process's, so ours includes the set of ids ``open()`` reads. With
``--resume`` the output already holds ``--rows`` results from an earlier run: twice as many rows.

Baseline, in the same run on the same files: the obvious way (read the whole journal, build one
table, concatenate the old file, ``pq.write_table``). Each side runs in its own process so peak RSS
(``ru_maxrss``) is its own. Both outputs must hold the same ids.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT = {
    "reward": 1.0,
    "accepted": True,
    "verdict": "ACCEPTED",
    "passed": 3,
    "total": 3,
    "tests": [{"verdict": "ACCEPTED", "wall_ms": 12.5, "stdout_head": "x" * 40}] * 3,
    "worker": "w1@node",
    "run_ms": 40.1,
}


def write_journal(path: Path, rows: int, prefix: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(json.dumps({"id": f"{prefix}{i}/0", **RESULT}) + "\n")


def streamed(out: Path) -> float:
    from sandbox_service.rescore import ResultsFile

    results = ResultsFile(out)
    results.open()  # at the start of a run: reads the ids already done (not timed)
    t0 = time.perf_counter()
    results.close()
    return time.perf_counter() - t0


def all_at_once(out: Path) -> float:
    t0 = time.perf_counter()
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sandbox_service.rescore import _row, _schema

    journal = out.with_name(out.name + ".partial.jsonl")
    table = pa.Table.from_pylist([_row(line) for line in journal.read_text().splitlines()], schema=_schema())
    if out.exists():
        table = pa.concat_tables([pq.read_table(out, schema=_schema()), table])
    pq.write_table(table, out)
    journal.unlink()
    return time.perf_counter() - t0


def child(kind: str, out: Path) -> None:
    seconds = (streamed if kind == "streamed" else all_at_once)(out)
    print(
        json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    )


def measure(kind: str, root: Path, rows: int, resume: bool) -> dict[str, float]:
    import pyarrow.parquet as pq

    work = root / kind
    work.mkdir()
    out = work / "out.parquet"
    if resume:
        write_journal(work / "out.parquet.partial.jsonl", rows, "old")
        subprocess.run(
            [sys.executable, __file__, "--child", "streamed", str(out)], check=True, capture_output=True
        )
    write_journal(work / "out.parquet.partial.jsonl", rows, "new")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(out)], check=True, capture_output=True
    )
    figures: dict[str, float] = json.loads(proc.stdout)
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == rows * (2 if resume else 1), f"{kind}: {len(ids)} rows"
    figures["rows"] = len(ids)
    shutil.rmtree(work)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resume", action="store_true", help="the output already holds --rows results")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
        base = measure("all-at-once", Path(tmp), args.rows, args.resume)
        ours = measure("streamed", Path(tmp), args.rows, args.resume)
    print(f"{'':<26}{'rows written':>14}{'seconds':>10}{'peak MB':>10}")
    for name, f in (("baseline: all at once", base), ("ResultsFile.close", ours)):
        print(f"{name:<26}{f['rows']:>14,.0f}{f['seconds']:>10.2f}{f['peak_mb']:>10.0f}")
    print(
        f"time ratio (baseline / ours): {base['seconds'] / ours['seconds']:.2f}x   "
        f"peak memory ratio: {base['peak_mb'] / ours['peak_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
