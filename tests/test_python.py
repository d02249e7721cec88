"""Python programs through the real engine: every verdict, every test kind, every checker."""

from __future__ import annotations

import pytest

from .conftest import EngineHarness, assertion, call, code_request, stdio, verdict, verdicts

pytestmark = pytest.mark.docker

ECHO_SUM = "a, b = map(int, input().split())\nprint(a + b)\n"


def test_stdio_accepted_and_wrong_answer(engine: EngineHarness) -> None:
    resp = engine.score(
        code_request("python", ECHO_SUM, [stdio("1 2\n", "3\n"), stdio("2 2\n", "5\n")], rid="s1")
    )
    assert resp.id == "s1"
    assert verdicts(resp) == ["ACCEPTED", "WRONG_ANSWER"]
    assert resp.reward == 0.5 and not resp.accepted and verdict(resp) == "WRONG_ANSWER"
    assert (resp.passed, resp.total) == (1, 2)
    assert resp.tests[1].stdout_head == "4\n" and "line 1" in resp.tests[1].message


def test_weights_shape_the_reward(engine: EngineHarness) -> None:
    t1, t2 = stdio("1 1\n", "2\n"), stdio("1 1\n", "3\n")
    t1.weight, t2.weight = 3.0, 1.0
    resp = engine.score(code_request("python", ECHO_SUM, [t1, t2]))
    assert resp.reward == pytest.approx(0.75)


def test_runtime_error_has_stderr(engine: EngineHarness) -> None:
    resp = engine.score(code_request("python", "raise ValueError('boom')\n", [stdio("", "")]))
    assert verdict(resp) == "RUNTIME_ERROR"
    assert resp.tests[0].exit_code == 1 and "ValueError: boom" in resp.tests[0].stderr_head


@pytest.mark.parametrize("harness", ["stdio", "call", "assertion"])
def test_syntax_error_is_compile_error(engine: EngineHarness, harness: str) -> None:
    test = {"stdio": stdio("", ""), "call": call("f", "[]", "1"), "assertion": assertion("assert 1")}[harness]
    resp = engine.score(code_request("python", "def f(:\n    return 1\n", [test, test]))
    assert verdicts(resp) == ["COMPILE_ERROR", "COMPILE_ERROR"]
    assert "SyntaxError" in resp.compile_output


def test_faked_syntax_error_is_not_compile_error(engine: EngineHarness) -> None:
    src = "import sys\nsys.stderr.write('SyntaxError: invalid syntax\\n')\nsys.exit(1)\n"
    assert verdict(engine.score(code_request("python", src, [stdio()]))) == "RUNTIME_ERROR"


def test_nonzero_exit_is_runtime_error(engine: EngineHarness) -> None:
    resp = engine.score(code_request("python", "import sys\nprint(3)\nsys.exit(4)\n", [stdio("", "3\n")]))
    assert verdict(resp) == "RUNTIME_ERROR" and resp.tests[0].exit_code == 4


def test_cpu_time_limit(engine: EngineHarness) -> None:
    resp = engine.score(
        code_request("python", "while True:\n    pass\n", [stdio()], limits={"time_limit_ms": 300})
    )
    assert verdict(resp) == "TIME_LIMIT_EXCEEDED"
    assert 300 <= resp.tests[0].time_ms < 1500


def test_sleep_hits_wall_limit_not_cpu(engine: EngineHarness) -> None:
    resp = engine.score(
        code_request(
            "python",
            "import time\ntime.sleep(30)\n",
            [stdio()],
            limits={"time_limit_ms": 1000, "wall_time_limit_ms": 700},
        )
    )
    assert verdict(resp) == "TIME_LIMIT_EXCEEDED"
    assert "wall" in resp.tests[0].message
    assert resp.tests[0].time_ms < 300  # sleeping burns no CPU
    assert 700 <= resp.tests[0].wall_ms < 3000


def test_memory_limit(engine: EngineHarness) -> None:
    src = "x = bytearray(400 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\nprint('survived')\n"
    resp = engine.score(
        code_request(
            "python",
            src,
            [stdio("", "survived\n")],
            # a wall limit with room: on a loaded host, touching 400 MB once outlasted the default 5 s
            limits={"memory_limit_mb": 64, "wall_time_limit_ms": 30_000},
        )
    )
    assert verdict(resp) == "MEMORY_LIMIT_EXCEEDED", resp.tests[0].message
    ok = engine.score(
        code_request("python", src, [stdio("", "survived\n")], limits={"memory_limit_mb": 1024})
    )
    assert verdict(ok) == "ACCEPTED", ok.tests[0].message


def test_output_limit(engine: EngineHarness) -> None:
    src = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    resp = engine.score(code_request("python", src, [stdio()], limits={"max_output_bytes": 1 << 20}))
    assert verdict(resp) == "OUTPUT_LIMIT_EXCEEDED"
    assert "stdout" in resp.tests[0].message


def test_stderr_flood_is_output_limit(engine: EngineHarness) -> None:
    src = "import sys\nwhile True:\n    sys.stderr.write('e' * 65536)\n"
    resp = engine.score(code_request("python", src, [stdio()], limits={"max_output_bytes": 1 << 20}))
    assert verdict(resp) == "OUTPUT_LIMIT_EXCEEDED" and "stderr" in resp.tests[0].message


def test_stop_on_first_failure_skips_the_rest(engine: EngineHarness) -> None:
    tests = [stdio("1 1\n", "2\n"), stdio("1 1\n", "9\n"), stdio("1 1\n", "2\n")]
    resp = engine.score(code_request("python", ECHO_SUM, tests, stop_on_first_failure=True))
    assert verdicts(resp) == ["ACCEPTED", "WRONG_ANSWER", "SKIPPED"]


def test_large_stdin_and_stdout_do_not_deadlock(engine: EngineHarness) -> None:
    # 4 MB in, 4 MB out, while the program reads lazily: pipes must be pumped both ways at once.
    data = "".join(f"{i}\n" for i in range(600_000))
    src = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n"
    # the point is the pumping, not the speed: room for a loaded CI host (it hit the 5 s wall limit once)
    limits = {"time_limit_ms": 10_000, "wall_time_limit_ms": 30_000}
    resp = engine.score(code_request("python", src, [stdio(data, data)], limits=limits))
    assert verdict(resp) == "ACCEPTED", resp.tests[0].message


def test_program_that_ignores_stdin(engine: EngineHarness) -> None:
    resp = engine.score(code_request("python", "print('hi')\n", [stdio("x" * (1 << 20), "hi\n")]))
    assert verdict(resp) == "ACCEPTED"


def test_real_stdin_buffer_and_binary_twins(engine: EngineHarness) -> None:
    # sys.stdin.buffer is a real pipe (the LiveCodeBench harness bug peers.md describes).
    t = stdio()
    t.stdio.stdin_bytes = b"\x00\xff\x10"
    t.stdio.expected_stdout_bytes = b"3 255\n"
    t.checker.kind = 1  # EXACT
    src = "import sys\nb = sys.stdin.buffer.read()\nprint(len(b), max(b))\n"
    assert verdict(engine.score(code_request("python", src, [t]))) == "ACCEPTED"


def test_main_guard_runs_for_stdio(engine: EngineHarness) -> None:
    src = "def main():\n    print(input()[::-1])\n\nif __name__ == '__main__':\n    main()\n"
    assert verdict(engine.score(code_request("python", src, [stdio("abc\n", "cba\n")]))) == "ACCEPTED"


def test_files_do_not_persist_between_tests(engine: EngineHarness) -> None:
    src = (
        "import os\n"
        "seen = os.path.exists('/tmp/mark') or os.path.exists('mark')\n"
        "open('/tmp/mark', 'w').write('1'); open('mark', 'w').write('1')\n"
        "print(seen)\n"
    )
    resp = engine.score(code_request("python", src, [stdio("", "False\n"), stdio("", "False\n")]))
    assert verdicts(resp) == ["ACCEPTED", "ACCEPTED"]


# -- call tests ---------------------------------------------------------------------------------
SOLUTION = """
class Solution:
    def twoSum(self, nums, target):
        seen = {}
        for i, n in enumerate(nums):
            if target - n in seen:
                return (seen[target - n], i)
            seen[n] = i
"""


@pytest.mark.parametrize(
    ("source", "test", "expected"),
    [
        ("def add(a, b):\n    return a + b\n", call("add", "[1, 2]", "3"), "ACCEPTED"),
        ("def add(a, b):\n    return a - b\n", call("add", "[1, 2]", "3"), "WRONG_ANSWER"),
        (SOLUTION, call("twoSum", "[[2, 7, 11, 15], 9]", "[0, 1]"), "ACCEPTED"),  # tuple == list
        (SOLUTION, call("Solution.twoSum", "[[3, 3], 6]", "[0, 1]"), "ACCEPTED"),
        ("def f():\n    return 0.1 + 0.2\n", call("f", "[]", "0.3"), "WRONG_ANSWER"),
        ("def f():\n    return 0.1 + 0.2\n", call("f", "[]", "0.3", kind=4, abs_tol=1e-9), "ACCEPTED"),
        ("def f():\n    return True\n", call("f", "[]", "1"), "WRONG_ANSWER"),
        # the dataset's own semantics: a set is not the list the test expects ({1, 2, 3} != [1, 2, 3])
        ("def f():\n    return {3, 1, 2}\n", call("f", "[]", "[1, 2, 3]"), "WRONG_ANSWER"),
        ("def f():\n    return None\n", call("f", "[]", "null"), "ACCEPTED"),
        ("def f():\n    raise KeyError(1)\n", call("f", "[]", "1"), "RUNTIME_ERROR"),
        ("def g():\n    return 1\n", call("f", "[]", "1"), "RUNTIME_ERROR"),
        ("def f():\n    return object()\n", call("f", "[]", "1"), "RUNTIME_ERROR"),
    ],
)
def test_call_tests(engine: EngineHarness, source: str, test: object, expected: str) -> None:
    assert verdict(engine.score(code_request("python", source, [test]))) == expected  # type: ignore[list-item]


def test_call_does_not_run_main_block(engine: EngineHarness) -> None:
    src = "def f(x):\n    return x * 2\n\nif __name__ == '__main__':\n    print(f(int(input())))\n"
    assert verdict(engine.score(code_request("python", src, [call("f", "[4]", "8")]))) == "ACCEPTED"


# -- assertion tests ----------------------------------------------------------------------------
def test_assertions_pass_fail_and_error(engine: EngineHarness) -> None:
    src = "def add(a, b):\n    return a + b\n"
    tests = [
        assertion("assert add(1, 2) == 3\nassert add(0, 0) == 0"),
        assertion("assert add(1, 2) == 4"),
        assertion("add(1)"),  # TypeError: an error, not a failed assertion
        assertion("def check(candidate):\n    assert candidate(2, 3) == 5\n\ncheck(add)"),  # HumanEval style
        assertion("def test_add():\n    assert add(2, 2) == 4\n"),  # pytest style: called by the harness
        assertion("def test_add():\n    assert add(2, 2) == 5\n"),
    ]
    resp = engine.score(code_request("python", src, tests))
    assert verdicts(resp) == [
        "ACCEPTED",
        "WRONG_ANSWER",
        "RUNTIME_ERROR",
        "ACCEPTED",
        "ACCEPTED",
        "WRONG_ANSWER",
    ]


EARLY_EXIT_CHEATS = {
    "sys.exit(0)": "import sys\nsys.exit(0)\n",
    "os._exit(0)": "import os\nos._exit(0)\n",
    "raise SystemExit": "raise SystemExit\n",
    "atexit os._exit": "import atexit, os\natexit.register(lambda: os._exit(0))\nraise SystemExit(0)\n",
    "excepthook": "import sys\nsys.excepthook = lambda *a: None\n",
    "fake marker": "print('ALL TESTS PASSED')\nprint('ok')\nimport sys\nsys.exit(0)\n",
    "patch builtins.exec": "import builtins\nbuiltins.exec = lambda *a, **k: None\n",
    "patch AssertionError": "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n",
    "write to every fd": "import os\nfor fd in range(3, 64):\n    try: os.write(fd, b'ok\\n')\n    except OSError: pass\n",
    "kill own process": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
}


@pytest.mark.parametrize("cheat", list(EARLY_EXIT_CHEATS))
def test_early_exit_cheats_never_pass(engine: EngineHarness, cheat: str) -> None:
    src = "def add(a, b):\n    return a - b\n" + EARLY_EXIT_CHEATS[cheat]
    resp = engine.score(
        code_request("python", src, [assertion("assert add(1, 2) == 3"), call("add", "[1, 2]", "3")])
    )
    assert resp.reward == 0.0, (cheat, verdicts(resp), [t.message for t in resp.tests])
    assert "ACCEPTED" not in verdicts(resp)
    assert "SANDBOX_ERROR" not in verdicts(resp)


# -- checkers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("printed", "expected", "checker", "want"),
    [
        ("1 2\n", "1 2\n", {"kind": 1}, "ACCEPTED"),
        ("1 2 \n", "1 2\n", {"kind": 1}, "WRONG_ANSWER"),
        ("1 2   \n\n\n", "1 2\n", {}, "ACCEPTED"),  # LINES is the default
        ("1  2\n", "1 2\n", {"kind": 2}, "WRONG_ANSWER"),
        ("1\n2\n", "1 2", {"kind": 3}, "ACCEPTED"),
        ("0.3333333\n", "0.333333333", {"kind": 4, "abs_tol": 1e-6}, "ACCEPTED"),
        ("0.33\n", "0.333333333", {"kind": 4, "abs_tol": 1e-6}, "WRONG_ANSWER"),
        ("1000001\n", "1000000", {"kind": 4, "rel_tol": 1e-5}, "ACCEPTED"),
        ("YES 1.0\n", "yes 1.0", {"kind": 4}, "WRONG_ANSWER"),
    ],
)
def test_builtin_checkers_end_to_end(
    engine: EngineHarness, printed: str, expected: str, checker: dict, want: str
) -> None:  # type: ignore[type-arg]
    src = f"import sys\nsys.stdout.write({printed!r})\n"
    assert verdict(engine.score(code_request("python", src, [stdio("", expected, **checker)]))) == want


PY_CHECKER = """
import sys
inp, exp, act = (open(p).read().split() for p in sys.argv[1:4])
# accept any permutation of the expected tokens
sys.exit(0 if sorted(exp) == sorted(act) else 1)
"""

CPP_CHECKER = r"""
#include <fstream>
#include <cmath>
int main(int argc, char** argv) {
    std::ifstream exp(argv[2]), act(argv[3]);
    double e, a;
    if (!(exp >> e) || !(act >> a)) return 2;
    return std::fabs(e - a) <= 0.5 ? 0 : 1;
}
"""


def test_custom_checkers_python_and_cpp(engine: EngineHarness) -> None:
    src = "print(*reversed(input().split()))\n"
    py = {"kind": 5, "checker_source": PY_CHECKER, "checker_language": "python"}
    resp = engine.score(
        code_request("python", src, [stdio("1 2 3\n", "1 2 3\n", **py), stdio("1 2\n", "1 3\n", **py)])
    )
    assert verdicts(resp) == ["ACCEPTED", "WRONG_ANSWER"]
    cpp = {"kind": 5, "checker_source": CPP_CHECKER, "checker_language": "cpp"}
    resp = engine.score(
        code_request("python", "print(10.3)\n", [stdio("", "10", **cpp), stdio("", "11", **cpp)])
    )
    assert verdicts(resp) == ["ACCEPTED", "WRONG_ANSWER"], [t.message for t in resp.tests]


def test_broken_custom_checker_is_sandbox_error_not_the_programs_fault(engine: EngineHarness) -> None:
    bad = {"kind": 5, "checker_source": "raise RuntimeError('checker bug')\n", "checker_language": "python"}
    resp = engine.score(code_request("python", "print(1)\n", [stdio("", "1", **bad)]))
    assert verdict(resp) == "SANDBOX_ERROR" and "checker" in resp.tests[0].message


def test_expected_output_never_visible_to_the_program(engine: EngineHarness) -> None:
    # The program searches every readable file for the expected answer; it must not find it.
    secret = "SECRET-7f3a9c"
    src = (
        "import os\n"
        "hit = False\n"
        "for root in ('/box', '/tmp', '/work', '/run', '/opt', '/dev/shm'):\n"
        "    for d, _, files in os.walk(root):\n"
        "        for f in files:\n"
        "            try:\n"
        "                hit = hit or ('SECRET-' + '7f3a9c').encode() in open(os.path.join(d, f), 'rb').read()\n"
        "            except OSError:\n"
        "                pass\n"
        "print(hit)\n"
    )
    cpp = {"kind": 5, "checker_source": PY_CHECKER, "checker_language": "python"}
    resp = engine.score(code_request("python", src, [stdio("", secret, **cpp), stdio("", "False\n")]))
    assert resp.tests[1].stdout_head == "False\n"
