"""C++ programs through the real engine: compiled once per sample, every verdict."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox_service import pb
from sandbox_service.errors import AgentLost
from sandbox_service.runner import Runner

from .conftest import EngineHarness, code_request, stdio, verdict, verdicts

pytestmark = pytest.mark.docker

SUM = "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n"


def test_compiled_once_for_all_tests(engine: EngineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = Runner._compile

    async def counting(self: Runner, lease: Any, spec: Any, name: str, limit: int, **kw: Any) -> Any:
        calls.append(name)
        return await real(self, lease, spec, name, limit, **kw)

    monkeypatch.setattr(Runner, "_compile", counting)
    tests = [stdio(f"{i} {i}\n", f"{2 * i}\n") for i in range(10)]
    # a source no other test sends: the worker's compile cache would answer for that one
    resp = engine.score(code_request("cpp", SUM + "// compiled once\n", tests))
    assert verdicts(resp) == ["ACCEPTED"] * 10 and resp.reward == 1.0
    assert calls == ["prog"]


def test_wrong_answer(engine: EngineHarness) -> None:
    resp = engine.score(code_request("cpp", SUM, [stdio("1 2\n", "3\n"), stdio("1 2\n", "4\n")]))
    assert verdicts(resp) == ["ACCEPTED", "WRONG_ANSWER"]


def test_compile_error_carries_diagnostics(engine: EngineHarness) -> None:
    resp = engine.score(code_request("cpp", "int main() { return undefined_name; }\n", [stdio(), stdio()]))
    assert verdicts(resp) == ["COMPILE_ERROR", "COMPILE_ERROR"]
    assert "undefined_name" in resp.compile_output and "error" in resp.compile_output
    assert resp.reward == 0.0


def test_compile_time_limit(engine: EngineHarness) -> None:
    src = "#include <bits/stdc++.h>\nint main() { std::cout << 1; }\n"
    resp = engine.score(code_request("cpp", src, [stdio("", "1")], limits={"compile_time_limit_ms": 100}))
    assert verdict(resp) == "COMPILE_ERROR" and "exceeded" in resp.tests[0].message


def test_cpp17_by_default(engine: EngineHarness) -> None:
    src = "#include <iostream>\n#include <optional>\nint main() { std::optional<int> x = 4; if (auto [a, b] = std::pair{1, 2}; a < b) std::cout << *x; }\n"
    assert verdict(engine.score(code_request("cpp", src, [stdio("", "4")]))) == "ACCEPTED"


@pytest.mark.parametrize(
    ("body", "limits", "want"),
    [
        ("int *p = nullptr; *p = 1;", {}, "RUNTIME_ERROR"),
        ("abort();", {}, "RUNTIME_ERROR"),
        ("return 3;", {}, "RUNTIME_ERROR"),
        ("volatile unsigned long long x = 0; for (;;) x++;", {"time_limit_ms": 300}, "TIME_LIMIT_EXCEEDED"),
        ("sleep(30);", {"wall_time_limit_ms": 500}, "TIME_LIMIT_EXCEEDED"),
        (
            "std::vector<char*> v; for (;;) { char* p = (char*)malloc(1 << 20); memset(p, 1, 1 << 20); v.push_back(p); }",
            {"memory_limit_mb": 64},
            "MEMORY_LIMIT_EXCEEDED",
        ),
        (
            "for (;;) fwrite(buf, 1, sizeof buf, stdout);",
            {"max_output_bytes": 1 << 20},
            "OUTPUT_LIMIT_EXCEEDED",
        ),
    ],
)
def test_verdicts(engine: EngineHarness, body: str, limits: dict[str, int], want: str) -> None:
    src = f"#include <bits/stdc++.h>\n#include <unistd.h>\nstatic char buf[65536];\nint main() {{ {body} }}\n"
    resp = engine.score(code_request("cpp", src, [stdio()], limits=limits))
    assert verdict(resp) == want, resp.tests[0].message
    if want == "RUNTIME_ERROR" and "return" not in body:
        assert resp.tests[0].signal in (6, 11)


def test_stdin_binary_roundtrip(engine: EngineHarness) -> None:
    src = '#include <cstdio>\nint main() { int c; long n = 0; while ((c = getchar()) != EOF) n += c; printf("%ld\\n", n); }\n'
    t = stdio()
    t.stdio.stdin_bytes = bytes(range(256)) * 1000
    t.stdio.expected_stdout = f"{sum(range(256)) * 1000}\n"
    assert verdict(engine.score(code_request("cpp", src, [t]))) == "ACCEPTED"


#: Prints how the process was set up: what the fork server's launcher (runners/launch.c) must do.
SETUP = r"""
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
int main() {
    printf("ids %d %d %d %d\n", getuid(), geteuid(), getgid(), getegid());
    printf("groups %d\n", getgroups(0, nullptr));
    printf("session_leader %d\n", getsid(0) == getpid());
    DIR *d = opendir("/proc/self/fd");
    printf("fds");
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) printf(" %s", e->d_name);
    printf("\n");
    closedir(d);
    int res[] = {RLIMIT_CPU, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE, RLIMIT_STACK};
    const char *names[] = {"CPU", "NPROC", "FSIZE", "NOFILE", "CORE", "STACK"};
    for (int i = 0; i < 6; i++) {
        struct rlimit r;
        getrlimit(res[i], &r);
        printf("%s %llu %llu\n", names[i], (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max);
    }
    char line[256];
    FILE *f = fopen("/proc/self/oom_score_adj", "r");
    fgets(line, sizeof line, f);
    printf("oom_score_adj %s", line);
    fclose(f);
    f = fopen("/proc/self/status", "r");
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7)) printf("%s", line);
    fclose(f);
    printf("cwd %s\n", getcwd(line, sizeof line));
    printf("umask %o\n", umask(0));
    struct sigaction sa;
    sigaction(SIGPIPE, nullptr, &sa);
    printf("SIGPIPE default %d\n", sa.sa_handler == SIG_DFL);
    sigaction(SIGXFSZ, nullptr, &sa);
    printf("SIGXFSZ default %d\n", sa.sa_handler == SIG_DFL);
}
"""


def test_an_exec_run_is_set_up_as_the_limits_say(engine: EngineHarness) -> None:
    """The launcher's work, seen from the program: its own uid (not root, no groups, no capabilities),
    a session of its own, fds 0-2 only, the run's rlimits, first pick of the OOM killer, /work, umask
    022, default SIGPIPE/SIGXFSZ (the fork server's interpreter ignores both)."""
    limits = {"time_limit_ms": 2000, "memory_limit_mb": 128}
    resp = engine.score(code_request("cpp", SETUP, [stdio()], limits=limits))
    assert resp.tests[0].verdict == pb.Verdict.WRONG_ANSWER, resp.tests[0].message  # ran, printed
    lines = dict(line.replace("\t", " ").split(" ", 1) for line in resp.tests[0].stdout_head.splitlines())
    uid = int(lines["ids"].split()[0])
    s = engine.engine.settings
    assert uid != 0 and lines["ids"] == f"{uid} {uid} {uid} {uid}"
    assert lines["groups"] == "0" and lines["session_leader"] == "1" and lines["fds"] == "0 1 2"
    assert lines["CapEff:"].strip() == lines["CapPrm:"].strip() == "0000000000000000"
    nproc = max(8, s.pids_limit - 16)
    assert [lines[k] for k in ("CPU", "NPROC", "FSIZE", "NOFILE", "CORE", "STACK")] == [
        "2 3",
        f"{nproc} {nproc}",
        f"{s.tmpfs_mb << 20} {s.tmpfs_mb << 20}",
        "256 256",
        "0 0",
        f"{128 << 20} {128 << 20}",
    ]
    assert lines["oom_score_adj"] == "1000" and lines["cwd"] == "/work" and lines["umask"] == "22"
    assert lines["SIGPIPE"] == lines["SIGXFSZ"] == "default 1"


def test_a_launch_setup_failure_is_the_sandboxs_not_the_programs(solo_engine: EngineHarness) -> None:
    """launch failing before the exec (here: a cwd that does not exist) is reported by the fork
    server as its own failure, so the sample is SANDBOX_ERROR material (AgentLost, container
    recycled), never a runtime error of a program that did not run."""
    eng = solo_engine.engine

    async def run() -> None:
        async with eng.pool.lease() as lease:
            with pytest.raises(AgentLost, match="launch: chdir: No such file or directory"):
                await eng.runner._exec(
                    lease, cpu_ms=1000, wall_ms=2000, memory_mb=64, max_output=1024,
                    mode="exec", argv=["/bin/true"], cwd="/no/such/dir",
                )  # fmt: skip
            assert lease.container.conn.lost

    solo_engine.loop.run(run())
    assert eng.pool.recycles.get("agent_lost", 0) == 1  # replaced, not reused
