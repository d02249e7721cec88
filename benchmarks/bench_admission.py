"""CPU-aware admission (issue 21): a batch with sleepers, and a CPU-bound TLE-heavy one, both ways.

    python benchmarks/bench_admission.py [--samples 200] [--spinners 24] [--pool-size 2] [--only after]
        [--repeat 1] [--against DIR]

Batches, each through ``sandbox-service score`` as a user runs it (a subprocess). ``wall`` is the
whole command (interpreter, engine and warm pool start-up, scoring, shutdown); ``scoring`` runs from
the first result line the command writes to the last (so it leaves out start-up and shutdown, and
the first sample's own ~0.1 s); ``start`` is launch to the first result.
- ``sleepers``: ``--samples`` trivial Python samples (read a number, print its double), every tenth
  of which first calls ``time.sleep(30)``; 5 s wall limit, so those are TIME_LIMIT_EXCEEDED.
- ``cpu-bound``: ``--spinners`` samples, a third ``while True: pass`` (1 s CPU limit: TLE), a third
  spinning 0.6 s of CPU then answering (near the limit: ACCEPTED), a third trivial.

Modes: ``before`` is ``SANDBOX_CPU_ADMISSION=0`` (every run holds its CPU slot to the end and the
pool stays at ``pool_size``: the behaviour before issue 21); ``after`` is the default (the pool
starts at ``pool_size`` and grows while tests sleep); ``warm`` is ``after`` with
``SANDBOX_WARM_CONTAINERS=--warm`` (default: one per sleeper plus 2 x pool size), started before
scoring begins: the wall figure includes their start-up, the scoring figure does not. Every
sample's verdict must be the expected one in every mode (the script exits 1 otherwise). The
machine may be shared: compare the modes within one run.

``--against DIR`` also runs each mode with the package of another checkout (``DIR``, e.g. a
``git archive`` of an earlier commit, its runtime image built), rows marked ``*``, interleaved with
this checkout's; ``--repeat`` runs every row that many times, interleaved too. CPU columns: ``cpu s``
is the command's own CPU (user + system, with its children); ``dockerd s`` the Docker daemons'
(dockerd and containerd; not the per-container shims, which exit with their containers);
``boxes s`` every Docker container's on the host (the ``docker`` cpuacct cgroup: other users'
containers too on a shared machine). ``load`` is the 1-minute load average as the row starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _shared import cpu_seconds

DOCKER_CGROUP = Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage")

TRIVIAL = "print(int(input()) * 2)\n"
SLEEPER = "import time\ntime.sleep(30)\n" + TRIVIAL
SPINNER = "while True:\n    pass\n"
NEAR_LIMIT = "import time\nwhile time.process_time() < 0.6:\n    pass\n" + TRIVIAL


def sample(sid: str, source: str, time_ms: int, wall_ms: int) -> dict[str, object]:
    return {
        "id": sid,
        "code": {
            "language": "python",
            "source": source,
            "tests": [{"stdio": {"stdin": "21\n", "expected_stdout": "42\n"}}],
            "limits": {"time_limit_ms": time_ms, "wall_time_limit_ms": wall_ms},
        },
    }


def sleepers_batch(n: int) -> tuple[list[dict[str, object]], dict[str, str]]:
    rows, expected = [], {}
    for i in range(n):
        sleeps = i % 10 == 9
        rows.append(sample(f"s{i}", SLEEPER if sleeps else TRIVIAL, 2_000, 5_000))
        expected[f"s{i}"] = "TIME_LIMIT_EXCEEDED" if sleeps else "ACCEPTED"
    return rows, expected


def cpu_batch(n: int) -> tuple[list[dict[str, object]], dict[str, str]]:
    rows, expected = [], {}
    kinds = [(SPINNER, "TIME_LIMIT_EXCEEDED"), (NEAR_LIMIT, "ACCEPTED"), (TRIVIAL, "ACCEPTED")]
    for i in range(n):
        source, verdict = kinds[i % 3]
        rows.append(sample(f"c{i}", source, 1_000, 3_000))
        expected[f"c{i}"] = verdict
    return rows, expected


def _daemons_cpu() -> float:
    return cpu_seconds(
        p for p in psutil.process_iter(["name"]) if p.info["name"] in ("dockerd", "containerd")
    )


def _boxes_cpu() -> float:
    try:
        return int(DOCKER_CGROUP.read_text()) / 1e9
    except (OSError, ValueError):
        return float("nan")


def score(
    rows: list[dict[str, object]], mode: str, pool_size: int, warm: int, tmp: Path, package: str | None
) -> tuple[float, float, float, dict[str, float], dict[str, str]]:
    """(command wall s, start-up s, scoring s, CPU figures, verdict per id)."""
    inp, out = tmp / f"{mode}-in.jsonl", tmp / f"{mode}-out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out.unlink(missing_ok=True)
    env = {**os.environ, "SANDBOX_CPU_ADMISSION": "0" if mode == "before" else "1"}
    if package is not None:
        env["PYTHONPATH"] = package
    if mode == "warm":
        env["SANDBOX_WARM_CONTAINERS"] = str(warm)
    cmd = [
        sys.executable,
        "-m",
        "sandbox_service",
        "score",
        str(inp),
        "-o",
        str(out),
        "--pool-size",
        str(pool_size),
    ]
    daemons0, boxes0 = _daemons_cpu(), _boxes_cpu()
    t0 = time.monotonic()
    first = last = 0.0
    seen = 0
    with tempfile.TemporaryFile("w+") as err:
        # From the package's own root: ``python -m`` puts the working directory ahead of PYTHONPATH,
        # so run from another checkout it would import that checkout's package, not this one's.
        proc = subprocess.Popen(cmd, env=env, cwd=package, stdout=subprocess.DEVNULL, stderr=err, text=True)
        status = None
        while status is None:  # timestamp result lines as they are appended
            time.sleep(0.02)
            pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(code)
            n = out.read_bytes().count(b"\n") if out.exists() else 0
            if n and not first:
                first = time.monotonic()
            if n > seen:
                seen, last = n, time.monotonic()
        proc.returncode = status
        wall = time.monotonic() - t0
        if status != 0:
            err.seek(0)
            sys.exit(f"score failed ({status}):\n{err.read()[-3000:]}")
    cpu = {
        "cpu": usage.ru_utime + usage.ru_stime,
        "dockerd": _daemons_cpu() - daemons0,
        "boxes": _boxes_cpu() - boxes0,
    }
    verdicts = {r["id"]: r["verdict"] for r in map(json.loads, out.read_text().splitlines())}
    return wall, first - t0, last - first, cpu, verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--spinners", type=int, default=24)
    ap.add_argument("--pool-size", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--warm", type=int, default=0)
    ap.add_argument("--only", choices=["before", "after", "warm"], action="append", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--against", type=Path, default=None, help="another checkout's root, rows marked *")
    args = ap.parse_args()
    modes = args.only or ["before", "after", "warm"]
    warm = args.warm or args.samples // 10 + 2 * args.pool_size
    batches = {"sleepers": sleepers_batch(args.samples), "cpu-bound": cpu_batch(args.spinners)}
    here = str(Path(__file__).resolve().parent.parent)
    packages = [(here, "")] + ([(str(args.against.resolve()), "*")] if args.against else [])
    bad = 0
    print(
        f"{'batch':<10} {'mode':<8} {'samples':>7} {'wall s':>7} {'start s':>7} {'scoring s':>9} "
        f"{'cpu s':>6} {'dockerd s':>9} {'boxes s':>7} {'load':>5}  verdicts"
    )
    with tempfile.TemporaryDirectory(prefix="bench-admission-") as d:
        for name, (rows, expected) in batches.items():
            runs = [(m, p, mark) for m in modes for _ in range(args.repeat) for p, mark in packages]
            for mode, package, mark in runs:
                load = os.getloadavg()[0]
                wall, start, scoring, cpu, verdicts = score(
                    rows, mode, args.pool_size, warm, Path(d), package
                )
                wrong = {k: v for k, v in verdicts.items() if expected.get(k) != v}
                missing = set(expected) - set(verdicts)
                bad += len(wrong) + len(missing)
                counts: dict[str, int] = {}
                for v in verdicts.values():
                    counts[v] = counts.get(v, 0) + 1
                note = " ".join(f"{k}={n}" for k, n in sorted(counts.items()))
                if wrong or missing:
                    note += f"  UNEXPECTED {dict(list(wrong.items())[:5])} missing={len(missing)}"
                print(
                    f"{name:<10} {mode + mark:<8} {len(rows):>7} {wall:>7.1f} {start:>7.1f} {scoring:>9.1f} "
                    f"{cpu['cpu']:>6.1f} {cpu['dockerd']:>9.1f} {cpu['boxes']:>7.1f} {load:>5.1f}  {note}",
                    flush=True,
                )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
