"""C++ programs through the real engine: compiled once per sample, every verdict."""

from __future__ import annotations

from typing import Any

import pytest

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
