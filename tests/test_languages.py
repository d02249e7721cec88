"""Every language row through the real engine and real containers: stdio verdicts, assertion tests
(MultiPL-E / HumanEval-X style: test code appended to the program), and the early-exit cheats.

The programs are in ``tests/language_table.py``; each case runs for every row.
"""

from __future__ import annotations

import pytest

from runners.languages import ALIASES, LANGUAGES

from .conftest import EngineHarness, assertion, code_request, stdio, verdict, verdicts
from .language_table import ROWS

pytestmark = pytest.mark.docker

EXEC_ROWS = sorted(ROWS)  # every language but Python (tests/test_python.py)


def test_every_row_but_python_has_a_table_entry() -> None:
    assert set(ROWS) == set(LANGUAGES) - {"python"}


@pytest.mark.parametrize("lang", EXEC_ROWS)
def test_hello_and_stdin(engine: EngineHarness, lang: str) -> None:
    row = ROWS[lang]
    resp = engine.score(code_request(lang, row.hello, [stdio("", "hello\n")]))
    assert verdict(resp) == "ACCEPTED", (
        resp.tests[0].message,
        resp.compile_output,
        resp.tests[0].stderr_head,
    )
    tests = [stdio("1 2\n", "3\n"), stdio("40 2\n", "42\n"), stdio("1 2\n", "4\n")]
    resp = engine.score(code_request(lang, row.add, tests))
    assert verdicts(resp) == ["ACCEPTED", "ACCEPTED", "WRONG_ANSWER"], (
        resp.tests[0].stderr_head,
        resp.compile_output,
    )


@pytest.mark.parametrize("lang", EXEC_ROWS)
def test_compile_error_carries_diagnostics(engine: EngineHarness, lang: str) -> None:
    row = ROWS[lang]
    resp = engine.score(code_request(lang, row.compile_error, [stdio("", "x"), stdio("", "y")]))
    assert verdicts(resp) == ["COMPILE_ERROR", "COMPILE_ERROR"], resp.tests[0].message
    assert row.diagnostic in resp.compile_output, resp.compile_output


@pytest.mark.parametrize("lang", EXEC_ROWS)
@pytest.mark.parametrize(
    ("case", "limits", "want"),
    [
        ("crash", {}, "RUNTIME_ERROR"),
        ("spin", {"time_limit_ms": 1000}, "TIME_LIMIT_EXCEEDED"),
        ("hog", {"memory_limit_mb": 128, "time_limit_ms": 10000}, "MEMORY_LIMIT_EXCEEDED"),
        ("flood", {"max_output_bytes": 1 << 20, "time_limit_ms": 10000}, "OUTPUT_LIMIT_EXCEEDED"),
    ],
)
def test_limits(engine: EngineHarness, lang: str, case: str, limits: dict[str, int], want: str) -> None:
    resp = engine.score(code_request(lang, getattr(ROWS[lang], case), [stdio()], limits=limits))
    t = resp.tests[0]
    allowed = {want}
    if case == "flood" and lang in ("javascript", "typescript"):
        # Node queues in its heap what a full pipe cannot take yet (libuv's pipes are non-blocking):
        # on a loaded host a write loop that never yields can fill the heap before 1 MB is read.
        allowed.add("MEMORY_LIMIT_EXCEEDED")
    assert verdict(resp) in allowed, (t.message, resp.compile_output, t.stderr_head[-500:])


@pytest.mark.parametrize("lang", EXEC_ROWS)
def test_fork_bomb_then_the_next_sample_passes(solo_engine: EngineHarness, lang: str) -> None:
    row = ROWS[lang]
    resp = solo_engine.score(code_request(lang, row.bomb, [stdio()], limits={"time_limit_ms": 1000}))
    assert verdict(resp) != "ACCEPTED"
    resp = solo_engine.score(code_request(lang, row.add, [stdio("1 2\n", "3\n")]))
    assert verdict(resp) == "ACCEPTED", (resp.tests[0].message, resp.tests[0].stderr_head)


@pytest.mark.parametrize("lang", EXEC_ROWS)
def test_assertion_pass_and_fail(engine: EngineHarness, lang: str) -> None:
    row = ROWS[lang]
    resp = engine.score(code_request(lang, row.program, [assertion(row.test_pass), assertion(row.test_fail)]))
    first = resp.tests[0]
    assert verdicts(resp)[0] == "ACCEPTED", (first.message, resp.compile_output, first.stderr_head)
    assert verdicts(resp)[1] in ("WRONG_ANSWER", "RUNTIME_ERROR"), resp.tests[1].message
    assert resp.reward == 0.5


@pytest.mark.parametrize(
    ("lang", "cheat"), [(lang, cheat) for lang in EXEC_ROWS for cheat in ROWS[lang].cheats]
)
def test_early_exit_never_passes(engine: EngineHarness, lang: str, cheat: str) -> None:
    row = ROWS[lang]
    resp = engine.score(code_request(lang, row.cheats[cheat], [assertion(row.test_pass)]))
    t = resp.tests[0]
    assert verdict(resp) in ("WRONG_ANSWER", "RUNTIME_ERROR"), (t.message, resp.compile_output, t.stderr_head)
    if verdict(resp) == "WRONG_ANSWER" and t.exit_code == 0:
        assert "did not run to its end" in t.message


@pytest.mark.parametrize(
    ("lang", "cheat"), [(lang, cheat) for lang in EXEC_ROWS for cheat in ROWS[lang].cheat_refused]
)
def test_redefined_assert_is_refused(engine: EngineHarness, lang: str, cheat: str) -> None:
    row = ROWS[lang]
    resp = engine.score(code_request(lang, row.cheat_refused[cheat], [assertion(row.test_pass)]))
    assert verdict(resp) == "COMPILE_ERROR" and "redefines assert" in resp.tests[0].message


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_name_the_same_row(engine: EngineHarness, alias: str) -> None:
    lang = ALIASES[alias]
    source = ROWS[lang].hello if lang in ROWS else "print('hello')\n"
    resp = engine.score(code_request(alias.upper(), source, [stdio("", "hello\n")]))
    assert verdict(resp) == "ACCEPTED", resp.tests[0].message


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_undef_ndebug_in_the_program_is_not_refused(engine: EngineHarness, lang: str) -> None:
    """HumanEval-X's own CPP/94 solution ends with `#undef NDEBUG` + `#include<assert.h>` (asserts on)."""
    row = ROWS[lang]
    resp = engine.score(
        code_request(lang, row.program + "#undef NDEBUG\n#include <assert.h>\n", [assertion(row.test_pass)])
    )
    assert verdict(resp) == "ACCEPTED", resp.tests[0].message


def test_javascript_requires_js_md5_offline(engine: EngineHarness) -> None:
    """HumanEval-X JS/162 `require('js-md5')`s: the image ships it (docker/npm), with no network."""
    program = (
        "const stringToMd5 = (text) => {\n"
        "  if (text == '') { return null; }\n"
        "  var md5 = require('js-md5');\n"
        "  return md5(text);\n"
        "}\n"
    )
    right = "console.assert(stringToMd5('Hello world') === '3e25960a79dbc69b674cd4ec67a72c62');\n"
    wrong = "console.assert(stringToMd5('Hello world') === '3e25960a79dbc69b674cd4ec67a72c63');\n"
    resp = engine.score(code_request("javascript", program, [assertion(right), assertion(wrong)]))
    assert verdicts(resp)[0] == "ACCEPTED", (resp.tests[0].message, resp.tests[0].stderr_head)
    assert verdicts(resp)[1] in ("WRONG_ANSWER", "RUNTIME_ERROR")
    assert "Assertion failed" in resp.tests[1].stderr_head
