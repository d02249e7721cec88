"""Per language: samples/s of a 10-test stdio sample through the engine against the floor, in one run.

    python benchmarks/bench_languages.py [--samples 5] [--languages c,go,...]

The floor is the same program built and run with the same toolchain and commands (the row's own
argv), one sample after another, by a plain loop in a plain container of the runtime image: no fork
server, no per-run cgroup, no rlimits, no sweep, no agent round trips (the host itself has none of
these toolchains). The engine has one container, so both sides run one sample at a time. The ratio
is engine time per sample over floor time per sample (1.0 = no overhead). This machine is shared and
noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time

import docker

from runners.languages import LANGUAGES
from sandbox_service import Engine, Settings, pb
from sandbox_service.images import runtime_tag
from sandbox_service.runner import _memory_values, _source_values

TESTS = 10
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
import json, os, subprocess, sys, time
job = json.load(open("/bench/job.json"))
t0 = time.perf_counter()
for s in range(job["samples"]):
    for d in ("/box", "/work"):
        for f in os.listdir(d):
            p = os.path.join(d, f)
            if os.path.isfile(p): os.unlink(p)
    open("/box/" + job["source_file"], "w").write(job["source"])
    if job["compile"]:
        subprocess.run(job["compile"], cwd="/work", check=True, capture_output=True)
        if job["artifact"]:
            os.rename("/work/" + job["artifact"], "/box/" + job["artifact"])
    for i in range(job["tests"]):
        stdin = f"{i}\n".encode()
        out = subprocess.run(job["run"], cwd="/work", input=stdin, capture_output=True, check=True).stdout
        assert out == f"{i + 1}\n".encode(), out
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def floor(image: str, lang: str, samples: int) -> float:
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
            "--tmpfs",
            "/bench",
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
    return float(json.loads(out.strip().splitlines()[-1])["seconds"]) / samples


def request(lang: str, k: int) -> pb.ScoreRequest:
    req = pb.ScoreRequest(id=f"{lang}-{k}")
    req.code.language = lang
    req.code.source = PROGRAMS[lang]
    for i in range(TESTS):
        req.code.tests.append(pb.TestCase(stdio=pb.StdioTest(stdin=f"{i}\n", expected_stdout=f"{i + 1}\n")))
    return req


async def engine_time(engine: Engine, lang: str, samples: int) -> float:
    await engine.score(request(lang, -1))  # warm
    t0 = time.perf_counter()
    for k in range(samples):
        resp = await engine.score(request(lang, k))
        assert resp.reward == 1.0, (lang, resp)
    return (time.perf_counter() - t0) / samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--languages", default=",".join(PROGRAMS))
    args = parser.parse_args()
    settings = Settings(container_prefix="sandbox-bench-lang", pool_size=1)
    image = runtime_tag(settings.image)
    docker.from_env().images.get(image)
    engine = Engine(settings)
    await engine.start()
    try:
        print(
            f"{'language':<12} {'floor s/sample':>15} {'engine s/sample':>16} {'samples/s':>10} {'ratio':>6}"
        )
        for lang in args.languages.split(","):
            f = floor(image, lang, args.samples)
            e = await engine_time(engine, lang, args.samples)
            print(f"{lang:<12} {f:>15.3f} {e:>16.3f} {1 / e:>10.2f} {e / f:>6.2f}", flush=True)
    finally:
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
