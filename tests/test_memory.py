"""Memory limits that mean what they say: the program's own peak (all its processes, from the kernel)
against its limit, whether or not the OOM killer fired; the agent's and fork server's memory is not the
program's."""

from __future__ import annotations

import pytest

from .conftest import EngineHarness, assertion, code_request, stdio, verdict

pytestmark = pytest.mark.docker

LIMIT_MB = 256
MB = 1 << 20

PY_ALLOC = "x = bytearray({n})\nx[::4096] = b'1' * len(x[::4096])\nprint('survived')\n"
PY_TWO_CHILDREN = (
    "import os, time\n"
    "kids = []\n"
    "for _ in range(2):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        x = bytearray({n})\n"
    "        x[::4096] = b'1' * len(x[::4096])\n"
    "        time.sleep(1.5)\n"
    "        os._exit(0)\n"
    "    kids.append(pid)\n"
    "for pid in kids:\n"
    "    os.waitpid(pid, 0)\n"
    "print('survived')\n"
)
CPP_ALLOC = (
    "#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n"
    "int main() { size_t n = {n}ULL; char* p = (char*)malloc(n); memset(p, 1, n);\n"
    '  long s = 0; for (size_t i = 0; i < n; i += 4096) s += p[i]; printf("survived %ld\\n", s > 0 ? 1L : 0L); }\n'
)


def run(engine: EngineHarness, language: str, source: str) -> object:
    test = stdio("", "survived\n" if language == "python" else "survived 1\n")
    return engine.score(code_request(language, source, [test], limits={"memory_limit_mb": LIMIT_MB}))


@pytest.mark.parametrize(
    ("fraction", "want"),
    [(0.8, "ACCEPTED"), (0.97, "ACCEPTED"), (1.05, "MEMORY_LIMIT_EXCEEDED"), (1.2, "MEMORY_LIMIT_EXCEEDED")],
)
@pytest.mark.parametrize("language", ["python", "cpp"])
def test_the_limit_is_the_programs_own_peak(
    solo_engine: EngineHarness, language: str, fraction: float, want: str
) -> None:
    # Python's own interpreter counts too (it is the program's process); 0.97 L leaves it ~7 MB.
    n = int(LIMIT_MB * MB * fraction) - (5 * MB if language == "python" and fraction < 1 else 0)
    source = (PY_ALLOC if language == "python" else CPP_ALLOC).replace("{n}", str(n))
    resp = run(solo_engine, language, source)
    assert verdict(resp) == want, (resp.tests[0].message, resp.tests[0].memory_kb)  # type: ignore[attr-defined]
    # and the next sample in the same pool is unharmed
    assert verdict(run(solo_engine, "python", PY_ALLOC.replace("{n}", str(MB)))) == "ACCEPTED"


def test_two_children_add_up(solo_engine: EngineHarness) -> None:
    resp = run(solo_engine, "python", PY_TWO_CHILDREN.replace("{n}", str(int(0.6 * LIMIT_MB * MB))))
    assert verdict(resp) == "MEMORY_LIMIT_EXCEEDED", resp.tests[0].message  # type: ignore[attr-defined]
    one = run(solo_engine, "python", PY_TWO_CHILDREN.replace("{n}", str(int(0.4 * LIMIT_MB * MB))))
    assert verdict(one) == "ACCEPTED", one.tests[0].message  # type: ignore[attr-defined]
    assert 0.8 * LIMIT_MB * 1024 <= one.tests[0].memory_kb <= (0.8 * LIMIT_MB + 12) * 1024  # type: ignore[attr-defined]


@pytest.mark.parametrize(("language", "mib"), [("python", 100), ("python", 200), ("cpp", 150)])
def test_memory_kb_is_what_the_program_allocated(engine: EngineHarness, language: str, mib: int) -> None:
    source = (PY_ALLOC if language == "python" else CPP_ALLOC).replace("{n}", str(mib * MB))
    resp = run(engine, language, source)
    assert verdict(resp) == "ACCEPTED"
    kb = resp.tests[0].memory_kb  # type: ignore[attr-defined]
    # the interpreter's own few MB on top (~2 MB idle); the kernel's own charges (slab freed during
    # the run) move the figure by a few hundred KiB either way
    assert (mib - 1) * 1024 <= kb <= (mib + 16) * 1024, kb


def test_assertion_tests_use_the_same_rule(engine: EngineHarness) -> None:
    src = "def grab(mib):\n    x = bytearray(mib << 20)\n    x[::4096] = b'1' * len(x[::4096])\n    return len(x) >> 20\n"
    ok = engine.score(
        code_request(
            "python", src, [assertion("assert grab(200) == 200")], limits={"memory_limit_mb": LIMIT_MB}
        )
    )
    assert verdict(ok) == "ACCEPTED", ok.tests[0].message
    over = engine.score(
        code_request(
            "python", src, [assertion("assert grab(262) == 262")], limits={"memory_limit_mb": LIMIT_MB}
        )
    )
    assert verdict(over) == "MEMORY_LIMIT_EXCEEDED", over.tests[0].message


def test_the_agent_and_fork_server_are_measured_not_guessed(engine: EngineHarness) -> None:
    for container in engine.engine.pool._live.values():
        assert container.run_cgroup is not None and container.run_cgroup.exists()
        assert 1 * MB < container.service_bytes < 64 * MB, container.service_bytes


def test_each_sample_gets_its_own_limit_in_one_container(solo_engine: EngineHarness) -> None:
    """The run cgroup's limit is written only when it changes: samples alternating between limits in
    the one container still each meet their own (a kept 256 MB would accept the 64 MB sample)."""
    source = PY_ALLOC.replace("{n}", str(100 * MB))
    test = stdio("", "survived\n")
    for limit, want in [(64, "MEMORY_LIMIT_EXCEEDED"), (256, "ACCEPTED"), (256, "ACCEPTED"),
                        (64, "MEMORY_LIMIT_EXCEEDED"), (64, "MEMORY_LIMIT_EXCEEDED"), (256, "ACCEPTED")]:  # fmt: skip
        resp = solo_engine.score(code_request("python", source, [test], limits={"memory_limit_mb": limit}))
        assert verdict(resp) == want, (limit, resp.tests[0].message)  # type: ignore[attr-defined]
