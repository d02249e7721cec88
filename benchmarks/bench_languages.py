"""Per language: samples/s of a 10-test stdio sample through the engine against the floor, in one run.

    python benchmarks/bench_languages.py [--samples 5] [--rounds 3] [--languages c,go,...]

The floor is the same program built and run with the same toolchain and commands (the row's own
argv), one sample after another, by a plain loop in a plain container of the runtime image with the
engine's CPU quota (``--cpus``) and tmpfs ``/work``: no fork server, no per-run cgroup, no rlimits,
no sweep, no agent round trips (the host itself has none of these toolchains). The engine has one
container, so both sides run one sample at a time.

Every engine sample is a program of its own (a comment numbers it), so it is compiled like the
floor's: the worker's compile cache, which answers a repeated source, does not hide the compile.

Two ratios, engine over floor per sample (1.0 = no overhead): wall time, and CPU time. CPU time is
what the work costs and what a loaded shared host distorts least: the floor's is its container's
(the loop and every compile and run it starts, from ``getrusage``), the engine's is its container's
cpuacct usage (agent, compiles, runs, sweeps) plus this process's (the engine's host side). Floor and
engine alternate for ``--rounds`` rounds and each figure is the median round, so a burst of load from
elsewhere lands on both. This machine is shared and noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import docker
import psutil

from runners.languages import LANGUAGES
from sandbox_service import Engine, Settings, pb
from sandbox_service.images import runtime_tag
from sandbox_service.runner import _memory_values, _source_values

TESTS = 10
SAMPLE = itertools.count()  # numbers every engine sample of the run: no two share a source
PROGRAMS = {
    "python": "print(int(input()) + 1)\n",
    "cpp": '#include <cstdio>\nint main() { long long x; scanf("%lld", &x); printf("%lld\\n", x + 1); }\n',
    "c": '#include <stdio.h>\nint main(void) { long long x; scanf("%lld", &x);'
    ' printf("%lld\\n", x + 1); return 0; }\n',
    "java": "import java.util.*;\npublic class Main { public static void main(String[] a) {"
    " System.out.println(new Scanner(System.in).nextLong() + 1); } }\n",
    "javascript": "console.log(Number(require('fs').readFileSync(0, 'utf8')) + 1);\n",
    "typescript": "declare var require: any;\n"
    "console.log(Number(require('fs').readFileSync(0, 'utf8')) + 1);\n",
    "go": 'package main\n\nimport "fmt"\n\n'
    "func main() {\n\tvar x int64\n\tfmt.Scan(&x)\n\tfmt.Println(x + 1)\n}\n",
    "rust": "fn main() {\n    let mut s = String::new();\n    std::io::stdin().read_line(&mut s).unwrap();\n"
    '    println!("{}", s.trim().parse::<i64>().unwrap() + 1);\n}\n',
    "csharp": "class P { static void Main() {"
    " System.Console.WriteLine(long.Parse(System.Console.ReadLine()) + 1); } }\n",
    "php": '<?php\necho intval(trim(fgets(STDIN))) + 1, "\\n";\n',
    "ruby": "puts gets.to_i + 1\n",
    "bash": "read x\necho $((x + 1))\n",
    "perl": 'my $x = <STDIN>;\nprint $x + 1, "\\n";\n',
    "lua": 'print(io.read("n") + 1)\n',
}

# Runs inside the plain container: build once, then each test as a plain subprocess.
FLOOR = r"""
import json, os, resource, shutil, subprocess, sys, time
def cpu():
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))
job = json.load(open("/bench/job.json"))
t0, c0 = time.perf_counter(), cpu()
for s in range(job["samples"]):
    for d in ("/box", "/work"):
        for f in os.listdir(d):
            p = os.path.join(d, f)
            if os.path.isfile(p): os.unlink(p)
    open("/box/" + job["source_file"], "w").write(job["source"])
    if job["compile"]:
        subprocess.run(job["compile"], cwd="/work", check=True, capture_output=True)
        if job["artifact"]:
            shutil.move("/work/" + job["artifact"], "/box/" + job["artifact"])  # two tmpfs: a copy
    for i in range(job["tests"]):
        stdin = f"{i}\n".encode()
        out = subprocess.run(job["run"], cwd="/work", input=stdin, capture_output=True, check=True).stdout
        assert out == f"{i + 1}\n".encode(), out
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu() - c0}))
"""


def floor(image: str, lang: str, samples: int, cpus: float) -> tuple[float, float]:
    """(wall, CPU) seconds per sample of the plain loop."""
    spec = LANGUAGES[lang]
    source = PROGRAMS[lang]
    values: dict[str, object] = {**_memory_values(256), **_source_values(spec, source)}

    def fmt(argv: tuple[str, ...]) -> list[str]:
        return [a.format(name="prog", **values) for a in argv]

    job = {
        "samples": samples,
        "tests": TESTS,
        "source": source,
        "source_file": spec.source_file.format(name="prog", **values),
        "compile": fmt(spec.compile_argv) if spec.compile_argv else None,
        "artifact": spec.artifact.format(name="prog", **values) if spec.artifact else None,
        "run": fmt(spec.run_argv),
    }
    script = "import json,sys\nopen('/bench/job.json','w').write(sys.argv[1])\nexec(sys.argv[2])\n"
    out = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            # The engine's containers' CPU quota and tmpfs work dirs: the floor is what the same
            # commands cost on the same resources (rustc's parallel codegen threads, say, are
            # throttled by the quota in both), not on a whole unconfined host.
            "--cpus",
            str(cpus),
            "--tmpfs",
            "/bench",
            "--tmpfs",
            "/work:exec",
            "--tmpfs",
            "/box:exec",
            image,
            "/usr/bin/python3",
            "-c",
            script,
            json.dumps(job),
            FLOOR,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["seconds"]) / samples, float(result["cpu"]) / samples


def _container_cpu(prefix: str) -> float:
    """CPU seconds the engine's containers used so far (cgroup v1 cpuacct or v2 cpu.stat)."""
    total = 0.0
    for c in docker.from_env().containers.list(filters={"name": prefix}):
        pid = c.attrs["State"]["Pid"]
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "cpuacct" in controllers.split(","):
                total += int(Path(f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage").read_text()) / 1e9
                break
            if controllers == "":
                stat = Path(f"/sys/fs/cgroup{path}/cpu.stat").read_text().split()
                total += int(stat[stat.index("usage_usec") + 1]) / 1e6
                break
    return total


def _own_cpu() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


#: Line comment of each row whose default (``//``) would not be one, for ``request``'s sample mark.
COMMENTS = {"python": "#", "ruby": "#", "bash": "#", "perl": "#", "lua": "--"}


def request(lang: str, k: int) -> pb.ScoreRequest:
    """Sample ``k``: the row's program with a comment naming ``k`` appended, so that every sample is a
    different program, as a trainer's are, and is compiled (a repeated source would be answered by
    the worker's compile cache, which the floor does not have: the ratio would hide the compile)."""
    req = pb.ScoreRequest(id=f"{lang}-{k}")
    req.code.language = lang
    req.code.source = PROGRAMS[lang] + f"\n{COMMENTS.get(lang, '//')} sample {k}\n"
    for i in range(TESTS):
        req.code.tests.append(pb.TestCase(stdio=pb.StdioTest(stdin=f"{i}\n", expected_stdout=f"{i + 1}\n")))
    return req


async def engine_time(engine: Engine, prefix: str, lang: str, samples: int) -> tuple[float, float]:
    """(wall, CPU) seconds per sample through the engine."""
    await engine.score(request(lang, next(SAMPLE)))  # warm
    # The Docker API call that finds the containers costs this process ~10 ms of CPU: read this
    # process's CPU after it at the start and before it at the end, so that it is never counted.
    c0 = _container_cpu(prefix)
    c0 += _own_cpu()
    t0 = time.perf_counter()
    for _ in range(samples):
        k = next(SAMPLE)
        resp = await engine.score(request(lang, k))
        assert resp.reward == 1.0, (lang, resp)
    wall, own = time.perf_counter() - t0, _own_cpu()
    cpu = own + _container_cpu(prefix) - c0
    return wall / samples, cpu / samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--languages", default=",".join(PROGRAMS))
    args = parser.parse_args()
    settings = Settings(container_prefix="sandbox-bench-lang", pool_size=1)
    image = runtime_tag(settings.image)
    docker.from_env().images.get(image)
    engine = Engine(settings)
    await engine.start()
    try:
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load average {load}; {args.rounds} rounds of {args.samples} samples")
        print(
            f"{'language':<12} {'floor s':>8} {'engine s':>9} {'samples/s':>10} {'wall x':>7}"
            f" {'floor cpu':>10} {'engine cpu':>11} {'cpu x':>6}"
        )
        for lang in args.languages.split(","):
            rounds = []
            for _ in range(args.rounds):
                f = floor(image, lang, args.samples, settings.container_cpus)
                e = await engine_time(engine, settings.container_prefix, lang, args.samples)
                rounds.append((f, e))
            fw, ew = (statistics.median(r[i][0] for r in rounds) for i in (0, 1))
            fc, ec = (statistics.median(r[i][1] for r in rounds) for i in (0, 1))
            print(
                f"{lang:<12} {fw:>8.3f} {ew:>9.3f} {1 / ew:>10.2f} {ew / fw:>7.2f}"
                f" {fc:>10.3f} {ec:>11.3f} {ec / fc:>6.2f}",
                flush=True,
            )
    finally:
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
