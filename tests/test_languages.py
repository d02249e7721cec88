"""Every language row through the real engine and real containers: stdio verdicts, assertion tests
(MultiPL-E / HumanEval-X style: test code appended to the program), and the early-exit cheats.

The programs are in ``tests/language_table.py``; each case runs for every row.
"""

from __future__ import annotations

import pytest

from runners.languages import ALIASES, LANGUAGES
from sandbox_service.adapters import to_request

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


# -- C and C++: a program cannot change the test code it is compiled with (runners/c_family.py) ----------
_CXX = "#include <cassert>\n#include <string>\n#include <vector>\nusing namespace std;\n"
_REV = _CXX + 'string rev(string s) { return "nope"; }\n'  # wrong
_REV_TEST = 'int main() { assert(rev("abc") == "cba"); }\n'
_VEC = _CXX + "vector<long> f(long n) {\n    return {};\n"  # wrong, and open: MultiPL-E's shape
_VEC_TEST = "}\nint main() {\n    auto candidate = f;\n    assert(candidate(3) == (std::vector<long>({1, 2, 3})));\n}\n"
_ADD = "#include <cassert>\nint add(int a, int b) { return a + b; }\n"  # wrong for the test below
_ADD_TEST = "int main() { assert(add(2, 3) == 6); return 0; }\n"

CXX_HIJACKS = {
    # each passed before: the test's `==` or its assert called the program's function
    "global_operator": (
        _REV + "bool operator==(const std::string&, const char*) { return true; }\n",
        _REV_TEST,
    ),
    "global_operator_template": (
        _REV + "template <class A, class B> bool operator==(const A&, const B&) { return true; }\n",
        _REV_TEST,
    ),
    "vector_operator": (
        _VEC.replace(
            "vector<long> f",
            "bool operator==(const vector<long>&, const vector<long>&) { return true; }\nvector<long> f",
        ),
        _VEC_TEST,
    ),
    "assert_fail_overload": (
        _ADD + "void __assert_fail(const char*, const char*, int, const char*) {}\n",
        _ADD_TEST,
    ),
    "assert_fail_template": (
        _ADD + "template <class L> void __assert_fail(const char*, const char*, L, const char*) {}\n",
        _ADD_TEST,
    ),
    "using_directive": (
        _REV + "namespace evil { bool operator==(const std::string&, const char*) { return true; } }\n"
        "using namespace evil;\n",
        _REV_TEST,
    ),
    "macro_if": (_ADD + "#define if(x) if (1)\n", _ADD_TEST),
}
CXX_REFUSED = {
    "reopen_std": _REV + "namespace std { bool operator==(const string&, const char*) { return true; } }\n",
    "reopen_std_by_macro": _REV
    + "#define NS std\nnamespace NS { bool operator==(const string&, const char*) { return true; } }\n",
    "std_specialization": _REV
    + "template <> struct std::hash<int> { size_t operator()(int) const { return 0; } };\n",
    "assert_fail_macro_in_comment": _ADD + "#/**/define __assert_fail(...) (void)0\n",
    "assert_fail_macro_digraph": _ADD + "%:define __assert_fail(...) (void)0\n",
    "assert_macro_spliced": _ADD + "#\\\ndefine assert(x) (void)0\n",
}


@pytest.mark.parametrize("cheat", sorted(CXX_HIJACKS))
def test_cpp_program_cannot_hijack_the_tests_comparisons(engine: EngineHarness, cheat: str) -> None:
    program, test = CXX_HIJACKS[cheat]
    resp = engine.score(code_request("cpp", program, [assertion(test)]))
    t = resp.tests[0]
    assert verdict(resp) == "RUNTIME_ERROR" and "Assertion" in t.stderr_head, (
        t.message,
        resp.compile_output,
        t.stderr_head,
    )


@pytest.mark.parametrize("cheat", sorted(CXX_REFUSED))
def test_cpp_program_reaching_std_or_assert_is_refused(engine: EngineHarness, cheat: str) -> None:
    resp = engine.score(code_request("cpp", CXX_REFUSED[cheat], [assertion(_REV_TEST)]))
    assert verdict(resp) == "COMPILE_ERROR" and "refused" in resp.tests[0].message, resp.tests[0].message


def test_c_program_macros_are_undone_before_the_test(engine: EngineHarness) -> None:
    """`#define if(x) if (1)` (not an assert macro, so not refused) no longer reaches the test's code;
    a trigraph-spelled assert macro is seen and refused."""
    c_add = "int add(int a, int b) { return a + b; }\n"
    hijack = engine.score(code_request("c", c_add + "#define if(x) if (1)\n", [assertion(_ADD_TEST)]))
    assert verdict(hijack) == "RUNTIME_ERROR", hijack.tests[0].message
    trigraph = engine.score(
        code_request("c", c_add + "??=define __assert_fail(...) 0\n", [assertion(_ADD_TEST)])
    )
    assert verdict(trigraph) == "COMPILE_ERROR" and "redefines assert" in trigraph.tests[0].message


def test_cpp_right_programs_keep_passing_in_the_tests_namespace(engine: EngineHarness) -> None:
    """What the wrapping must not break: MultiPL-E's leading `}`, a test without `return 0`, a test
    `main(argc, argv)`, the program's own operators on its own types and its macros, `<bits/stdc++.h>`."""
    vec = _VEC.replace("return {};", "return {1, 2, 3};")
    point = (
        "#include <bits/stdc++.h>\n#define ll long long\nstruct P { ll x; };\n"
        "bool operator==(const P& a, const P& b) { return a.x == b.x; }\n"
        "P twice(P p) { return P{2 * p.x}; }\n"
    )
    point_test = (
        "int main(int argc, char **argv) { assert(twice(P{2}) == P{4}); assert(argc == 1); return 0; }\n"
    )
    resp = engine.score(
        code_request("cpp", vec, [assertion(_VEC_TEST)], rid="vec"),
    )
    assert verdict(resp) == "ACCEPTED", (resp.tests[0].message, resp.compile_output)
    resp = engine.score(
        code_request("cpp", point, [assertion(point_test), assertion(point_test.replace("P{4}", "P{5}"))])
    )
    assert verdicts(resp) == ["ACCEPTED", "RUNTIME_ERROR"], (resp.tests[0].message, resp.compile_output)


@pytest.mark.parametrize("lang", ["javascript", "typescript"])
def test_js_program_cannot_replace_json_stringify(engine: EngineHarness, lang: str) -> None:
    """HumanEval-X JS compares `JSON.stringify(candidate(...)) === JSON.stringify([...])`; `JSON` is
    frozen before the program runs."""
    typed = lang == "typescript"
    program = (
        "function f(n: number): number[] { return []; }\n" if typed else "function f(n) { return []; }\n"
    )
    swap = "(JSON as any).stringify = () => '';\n" if typed else "JSON.stringify = () => '';\n"
    test = "console.assert(JSON.stringify(f(3)) === JSON.stringify([1, 2, 3]));\n"
    resp = engine.score(code_request(lang, program + swap, [assertion(test)]))
    assert verdict(resp) in ("WRONG_ANSWER", "RUNTIME_ERROR"), resp.tests[0].message
    right = program.replace("return [];", "return [1, 2, 3];")
    assert verdict(engine.score(code_request(lang, right + swap, [assertion(test)]))) == "ACCEPTED"


def _fails(engine: EngineHarness, lang: str, program: str, test: str) -> None:
    """A wrong program with one assertion test: it fails (not ACCEPTED, and not the sandbox's error)."""
    resp = engine.score(code_request(lang, program, [assertion(test)]))
    assert verdict(resp) in ("WRONG_ANSWER", "RUNTIME_ERROR", "COMPILE_ERROR"), (
        resp.tests[0].message,
        resp.tests[0].stderr_head,
    )


# -- JavaScript and TypeScript: the program shares the test's module (runners/harness/harness.js) ------
_MPE_JS_TEST = (  # MultiPL-E's shape
    "const assert = require('node:assert');\n\nfunction test() {\n  let candidate = add_one;\n"
    "  assert.deepEqual(candidate(1), 2);\n  assert.deepEqual(candidate(5), 6);\n}\n\ntest();\n"
)
_HX_JS_TEST = (  # HumanEval-X's shape
    "const testAddOne = () => {\n  console.assert(add_one(1) === 2);\n"
    "  console.assert(JSON.stringify([add_one(5)]) === JSON.stringify([6]));\n}\ntestAddOne()\n"
)
# ``expected(x)`` reads the test's own text for ``candidate(x), <expected>`` (from wherever the cheat got it)
_READS = (
    "function expected(text, x) { const m = String(text).match(new RegExp('candidate\\\\(' + x + '\\\\), (\\\\d+)'));"
    " return m ? Number(m[1]) : 0; }\n"
)
_WRONG = "function add_one(x) { return 0; }\n"
JS_CHEATS = {
    # each scored 1.0 before: the test's names resolved to the program's module-level declarations,
    # the test's text was in /box (and in the module's source), the nonce was in the harness file
    "shadowed_require": (
        _WRONG + "function require() { return {deepEqual() {}, strictEqual() {}, equal() {}, ok() {}}; }\n",
        _MPE_JS_TEST,
    ),
    "shadowed_console": (_WRONG + "var console = {assert() {}};\n", _HX_JS_TEST),
    "shadowed_json": (
        "function add_one(x) { return x === 1 ? 2 : 0; }\nvar JSON = {stringify() { return ''; }};\n",
        _HX_JS_TEST,
    ),
    "top_level_return": (_WRONG + "return;\n", _MPE_JS_TEST),
    "array_tojson": (
        "function add_one(x) { return x === 1 ? 2 : [0]; }\n"
        "Object.defineProperty(Array.prototype, 'toJSON', {value() { return 1; }});\n",
        _HX_JS_TEST,
    ),
    "reads_its_file": (
        _READS + "const text = require('fs').readFileSync(__filename, 'utf8');\n"
        "function add_one(x) { return expected(text, x); }\n",
        _MPE_JS_TEST,
    ),
    "reads_the_module_source": (
        _READS + "const text = arguments.callee;\nfunction add_one(x) { return expected(text, x); }\n",
        _MPE_JS_TEST,
    ),
    "reads_its_caller": (
        _READS + "function add_one(x) { return expected(add_one.caller, x); }\n",
        _MPE_JS_TEST,
    ),
    "reads_stack_functions": (
        _READS + "function add_one(x) {\n  const prep = Error.prepareStackTrace;\n"
        "  Error.prepareStackTrace = (e, frames) => frames.map((f) => f.getFunction()).join('\\n');\n"
        "  const text = new Error().stack; Error.prepareStackTrace = prep; return expected(text, x);\n}\n",
        _MPE_JS_TEST,
    ),
    "other_realms_tostring": (
        _READS + "let text = '';\ntry { text = require('vm').runInNewContext('Function.prototype.toString')"
        ".call(arguments.callee); } catch (e) {}\nfunction add_one(x) { return expected(text, x); }\n",
        _MPE_JS_TEST,
    ),
    # found by an adversarial probe of the harness above (each scored 1.0 before its fix)
    "replaced_module_require": (
        _WRONG + "const M = require('module'); const real = M.prototype.require;\n"
        "M.prototype.require = function (p) { return p.endsWith('assert') ? {deepEqual() {}} : real.apply(this, arguments); };\n",
        _MPE_JS_TEST,
    ),
    "planted_require_cache": (
        _WRONG
        + "require.cache['assert'] = {id: 'assert', filename: 'assert', loaded: true, exports: {deepEqual() {}}};\n",
        _MPE_JS_TEST.replace("'node:assert'", "'assert'"),
    ),
    "replaced_math_abs": (
        _WRONG + "Math.abs = () => 0;\n",
        "console.assert(Math.abs(add_one(1.5) - 2.5) < 1e-6);\n",
    ),
    "replaced_array_isarray": (
        "function add_one(x) { return {length: 0}; }\nArray.isArray = () => true;\n",
        "const assert = require('node:assert');\nassert.ok(Array.isArray(add_one(1)) && add_one(1).length === 0);\n",
    ),
    "set_has_lets_vm_in": (
        _READS + "Set.prototype.has = () => false;\nlet text = '';\n"
        "try { text = require('vm').runInNewContext('Function.prototype.toString').call(arguments.callee); } catch (e) {}\n"
        "function add_one(x) { return expected(text, x); }\n",
        _MPE_JS_TEST,
    ),
    "swallowed_async_failure": (
        _WRONG + "process.on('unhandledRejection', () => {});\n",
        "const assert = require('node:assert');\nasync function test() { await null; assert.deepEqual(add_one(1), 2); }\ntest();\n",
    ),
    "exit_listener_resets_status": (
        _WRONG + "process.on('exit', () => { process.exitCode = 0; });\n",
        "setTimeout(() => { if (add_one(1) !== 2) throw new Error('wrong'); }, 1);\n",
    ),
    # found by a second probe: the test's implicit global went through the program's accessor
    "getter_on_the_tests_loop_variable": (
        _WRONG + "Object.defineProperty(globalThis, 'i', {get() { return 1e9; }, set(v) {}});\n",
        "const inputs = [1, 5];\nconst outputs = [2, 6];\n"
        "for (i = 0; i < inputs.length; i++) console.assert(add_one(inputs[i]) === outputs[i]);\n",
    ),
    "forged_nonce": (
        "const fs = require('fs');\nfor (const f of fs.readdirSync('/box')) {\n"
        "  const m = fs.readFileSync('/box/' + f, 'utf8').match(/[0-9a-f]{32}/);\n"
        "  if (m) { fs.writeSync(3, m[0] + ' ok\\n'); process.exit(0); }\n}\n" + _WRONG,
        _MPE_JS_TEST,
    ),
}


@pytest.mark.parametrize("cheat", sorted(JS_CHEATS))
def test_js_program_cannot_fake_the_tests_pass(engine: EngineHarness, cheat: str) -> None:
    _fails(engine, "javascript", *JS_CHEATS[cheat])


def test_js_and_ts_tests_and_nonce_are_in_no_file_the_program_reads(engine: EngineHarness) -> None:
    """Every file the program can open in /box, for both rows (TypeScript's test is built with the
    program and cut out of the built file): none holds the test's text or a nonce-shaped string."""
    find = (
        "const fs = require('fs');\nconst seen = [];\n"
        "for (const f of fs.readdirSync('/box')) {\n  const t = fs.readFileSync('/box/' + f, 'utf8');\n"
        "  if (t.includes('zq' + 'xj') || /[0-9a-f]{32}/.test(t)) seen.push(f);\n}\n"
        "if (seen.length) { throw new Error('found in ' + seen.join(' ')); }\n"
    )
    test = "// zqxj\nif (add_one(1) !== 2) { throw new Error('wrong'); }\n"
    ts_head = "declare var require: any;\n"
    for lang, program in (
        ("javascript", find + "function add_one(x) { return x + 1; }\n"),
        ("typescript", ts_head + find + "function add_one(x: number): number { return x + 1; }\n"),
    ):
        resp = engine.score(code_request(lang, program, [assertion(test)]))
        assert verdict(resp) == "ACCEPTED", (lang, resp.tests[0].message, resp.tests[0].stderr_head)
        wrong = program.replace("return x + 1", "return x")
        assert verdict(engine.score(code_request(lang, wrong, [assertion(test)]))) == "RUNTIME_ERROR", lang


def test_js_right_programs_keep_passing_beside_the_tests_bindings(engine: EngineHarness) -> None:
    """The test's names are rebound, not the program's: a program with its own `require`-free helpers
    named like globals, its own `module.exports`, `'use strict'`, prototype methods of its own and
    sloppy code passes; a test that declares its own `assert` or `console`-named helper, or is sloppy
    itself (`for (i = 0; ...)`, also after a `'use strict'` program), still runs; so do a `#!` line,
    helpers added to Math and Array, a seeded Math.random, an exit listener and a warning."""
    program = (
        "'use strict';\nconst Math2 = Math;\nfunction add_one(x) { return Math2.max(x + 1, 0); }\n"
        "Array.prototype.total = function () { return this.reduce((a, b) => a + b, 0); };\n"
        "const o = {toJSON() { return 'o'; }};\nmodule.exports = {add_one};\n"
    )
    sloppy = "function add_one(x) { y = x + 1; return y; }\nvar JSON2 = JSON;\n"
    test = (
        _MPE_JS_TEST
        + "console.assert([1, 2].total() === 3);\nconsole.assert(JSON.stringify(o) === '\"o\"');\n"
    )
    assert verdict(engine.score(code_request("javascript", program, [assertion(test)]))) == "ACCEPTED"
    own = "const console = {assert(v) { if (!v) throw new Error('no'); }};\n" + _HX_JS_TEST
    sloppy_test = "const testAddOne = () => {\n  for (i = 0; i < 2; i++) console.assert(add_one(i) === i + 1);\n}\ntestAddOne();\n"
    tests = [assertion(_MPE_JS_TEST), assertion(own), assertion(sloppy_test)]
    resp = engine.score(code_request("javascript", sloppy, tests))
    assert verdicts(resp) == ["ACCEPTED"] * 3, [t.stderr_head for t in resp.tests]
    # the harness's own locks leave these alone (each failed on a first version of them)
    helpers = (
        "#!/usr/bin/env node\n'use strict';\nMath.clamp = (v, a, b) => Math.min(Math.max(v, a), b);\n"
        "Math.random = () => 0.5;\nObject.defineProperty(Array, 'range', {value: (n) => [...Array(n).keys()]});\n"
        "process.on('exit', () => {});\nprocess.emitWarning('a warning');\nrequire('util').mine = 1;\n"
        "function add_one(x) { return Math.clamp(x + 1, 0, 100) + Array.range(1)[0] * Math.random(); }\n"
    )
    resp = engine.score(
        code_request("javascript", helpers, [assertion(_MPE_JS_TEST), assertion(sloppy_test)])
    )
    assert verdicts(resp) == ["ACCEPTED"] * 2, [t.stderr_head for t in resp.tests]


# Programs that look through every file in /box for the marker the test code carries in a comment
# (the marker is built at run time, so the program's own text and binary never hold it) and fail if found.
_BOX_SCANS = {
    "ruby": (
        "Dir.glob('/box/*').each { |f| t = (File.binread(f) rescue next)\n"
        "  raise 'found in ' + f if t.include?('zq' + 'xj') || t =~ /[0-9a-f]{32}/ }\ndef add_one(x) x + 1 end\n",
        "# zqxj\nraise 'wrong' unless add_one(1) == 2\n",
    ),
    "php": (
        "<?php\nforeach (glob('/box/*') as $f) { $t = @file_get_contents($f);\n"
        "  if ($t !== false && (strpos($t, 'zq' . 'xj') !== false || preg_match('/[0-9a-f]{32}/', $t))) { throw new Exception(\"found in $f\"); } }\n"
        "function add_one($x) { return $x + 1; }\n",
        "// zqxj\nif (add_one(1) !== 2) { throw new Exception('wrong'); }\n",
    ),
    "bash": (
        'for f in /box/*; do [ -f "$f" ] || continue\n'
        '  if grep -qa -e "zq""xj" -e \'[0-9a-f]\\{32\\}\' "$f"; then echo "found in $f" >&2; exit 1; fi; done\n'
        "add_one() { echo $(( $1 + 1 )); }\n",
        '# zqxj\n[ "$(add_one 1)" = 2 ] || exit 1\n',
    ),
    "perl": (
        "BEGIN { local $/; my $rest = <STDIN>; die 'read the rest of stdin' if defined $rest && length $rest }\n"
        "for my $f (glob('/box/*')) { open(my $h, '<', $f) or next; local $/; my $t = <$h>;\n"
        "  die \"found in $f\" if index($t, 'zq' . 'xj') >= 0 || $t =~ /[0-9a-f]{32}/ }\n"
        "sub add_one { return $_[0] + 1 }\n",
        "# zqxj\ndie 'wrong' unless add_one(1) == 2;\n",
    ),
    "lua": (
        "for f in io.popen('ls /box'):lines() do local h = io.open('/box/' .. f, 'rb')\n"
        "  if h then local t = h:read('a'); h:close()\n"
        "    if t:find('zq' .. 'xj', 1, true) or t:find(string.rep('[0-9a-f]', 32)) then error('found in ' .. f) end end end\n"
        "function add_one(x) return x + 1 end\n",
        "-- zqxj\nassert(add_one(1) == 2)\n",
    ),
    "c": (
        "#include <dirent.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
        "static volatile char one = 1;\n"
        "static int holds(const char *path) {\n  char m[4]; static char b[1 << 22];\n"
        '  for (int j = 0; j < 4; j++) m[j] = "ypwi"[j] + one;\n'
        '  FILE *f = fopen(path, "rb"); if (!f) return 0;\n  size_t n = fread(b, 1, sizeof b, f); fclose(f);\n'
        "  for (size_t i = 0; i + 4 <= n; i++)\n"
        "    if (b[i] == m[0] && b[i + 1] == m[1] && b[i + 2] == m[2] && b[i + 3] == m[3]) return 1;\n"
        "  return 0;\n}\n"
        "int add_one(int x) {\n"
        '  DIR *d = opendir("/box"); struct dirent *e; char p[600];\n'
        "  while ((e = readdir(d))) {\n"
        '    snprintf(p, sizeof p, "/box/%s", e->d_name);\n'
        "    if (e->d_name[0] != '.' && holds(p)) { fprintf(stderr, \"found in %s\\n\", p); abort(); }\n"
        "  }\n  return x + 1;\n}\n",
        "/* zqxj */\nint main(void) { return add_one(1) == 2 ? 0 : 1; }\n",
    ),
}


_PHP_TEST = (  # MultiPL-E's shape
    "function candidate(...$args) {\n    return add_one(...$args);\n}\n\n"
    'function test(): void {\n    if (candidate(1) !== 2) { throw new Exception("Test failed!"); }\n}\n\ntest();\n'
)
_PHP_ASSERT_TEST = (
    "function test(): void {\n    assert(add_one(1) === 2);\n    assert(add_one(5) === 6);\n}\n\ntest();\n"
)
PHP_CHEATS = {
    # each scored 1.0 before: the nonce came from an auto_append_file, which runs whenever the main
    # script ends without exit() or an exception, whether or not the test code ran
    "closing_tag": "<?php\nfunction add_one($x) { return 0; }\n?>\n",  # the test became output text
    "top_level_return": "<?php\nfunction add_one($x) { return 0; }\nreturn;\n",
    "unterminated_comment": "<?php\nfunction add_one($x) { return 0; }\n/*\n",
    # these turn the test's assert() into a no-op (found by an adversarial probe; ACCEPTED on 6319292)
    "assertions_off": "<?php\nfunction add_one($x) { return 0; }\nini_set('zend.assertions', '0');\n",
    # a third probe: the test ran in the program's namespace, so its abs() was the program's
    "namespace_shadows_a_builtin": "<?php\nnamespace Foo;\nfunction abs($x) { return 0; }\n"
    "class Exception extends \\Exception {}\nfunction add_one($x) { return 0; }\n",
    "use_function_alias": "<?php\nuse function Bar\\zero as abs;\nfunction add_one($x) { return 0; }\n",
    "assertions_off_for_an_upper_case_assert": "<?php\nfunction add_one($x) { ini_set('zend.assertions', '0'); return 0; }\n"
    "set_error_handler(function () { return true; });\nregister_shutdown_function(function () { ini_set('zend.assertions', '1'); });\n",
    "assert_inactive": "<?php\nfunction add_one($x) { return 0; }\n@ini_set('assert.active', '0');\n",
    "assert_warns_only": "<?php\nfunction add_one($x) { return 0; }\nini_set('assert.exception', '0');\n",
    # found by a second probe: turned off while the test ran, back on before its end
    "assertions_toggled_by_an_error_handler": "<?php\n"
    "function add_one($x) { ini_set('assert.exception', '0'); return 0; }\n"
    "set_error_handler(function ($no, $str) { ini_set('assert.exception', '1'); return true; });\n",
    "assertions_toggled_by_ticks": "<?php\ndeclare(ticks=1);\nfunction add_one($x) { return 0; }\n"
    "ini_set('zend.assertions', '0');\nregister_tick_function(function () {\n"
    "    static $inside = false; $in = false;\n"
    "    foreach (debug_backtrace() as $f) { if (($f['function'] ?? '') === 'test') { $in = true; } }\n"
    "    if ($in) { $inside = true; } elseif ($inside) { ini_set('zend.assertions', '1'); }\n});\n",
}


def test_perl_top_level_return_skips_the_tests_end(engine: EngineHarness) -> None:
    """Perl's source is required from stdin (read whole first): `return` at its top level leaves it,
    before the test code and the statement that writes the nonce."""
    program = "sub add_one { return 0 }\nreturn;\n"
    test = "die 'wrong' unless add_one(1) == 2;\n"
    resp = engine.score(code_request("perl", program, [assertion(test)]))
    assert verdict(resp) in ("WRONG_ANSWER", "RUNTIME_ERROR"), resp.tests[0].message
    right = "use strict;\nuse warnings;\npackage Sol;\nsub add_one { my ($x) = @_; return $x + 1 }\n"
    resp = engine.score(code_request("perl", right, [assertion(test), assertion(test.replace("2", "3"))]))
    assert verdicts(resp) == ["ACCEPTED", "RUNTIME_ERROR"], [t.stderr_head for t in resp.tests]
    assert "wrong at test.pl line 1" in resp.tests[1].stderr_head  # the test's own file and line


SCRIPT_CHEATS = {
    # the source on stdin: a DATA handle after __END__ read the rest of it (test and nonce), and
    # a string eval's text came back from caller (found by an adversarial probe; ACCEPTED on 6319292)
    "ruby_data_reads_the_rest": (
        "ruby",
        "def add_one(x) 0 end\nn = DATA.read[/([0-9a-f]{32}) ok/, 1]\n"
        'File.open("/dev/fd/3", "w") { |f| f.write("#{n} ok\\n") }\nexit!(0)\n__END__\n',
        "raise 'wrong' unless add_one(1) == 2\n",
    ),
    "perl_caller_reads_the_source": (
        "perl",
        "sub add_one { 0 }\nmy @c = caller(0); my ($n) = ($c[6] // '') =~ /([0-9a-f]{32}) ok/;\n"
        "if ($n) { open(my $f, '>&=', 3); print {$f} \"$n ok\\n\"; close $f; exit 0 }\n",
        "die 'wrong' unless add_one(1) == 2;\n",
    ),
    # the test was compiled after the program's BEGIN blocks had bound it to their overrides
    "perl_core_global_exit": (
        "perl",
        "BEGIN { *CORE::GLOBAL::exit = sub { }; }\nsub add_one { 0 }\n",
        "if (add_one(1) == 2) { print 'ok'; } else { exit 1; }\n",
    ),
    "perl_core_global_die": (
        "perl",
        "BEGIN { *CORE::GLOBAL::die = sub { }; }\nsub add_one { 0 }\n",
        "die 'wrong' unless add_one(1) == 2;\n",
    ),
    "perl_replaced_eq_deeply": (
        "perl",
        "BEGIN { require Test::Deep; no warnings; *Test::Deep::eq_deeply = sub { 1 }; }\nsub add_one { 0 }\n",
        "use Test::Deep;\nsub t { if (eq_deeply(add_one(1), 2)) { print 'ok'; } else { exit 1; } }\nt();\n",
    ),
    "perl_asks_the_inc_hook_for_the_test": (
        "perl",
        "sub add_one { 0 }\nfor my $h (@INC) { next unless ref $h eq 'CODE'; my $r = $h->($h, 'test.pl');\n"
        "  my ($n) = $r ? $$r =~ /([0-9a-f]{32}) ok/ : ();\n"
        "  if ($n) { open(my $f, '>&=', 3); print {$f} \"$n ok\\n\"; close $f; exit 0 } }\n",
        "die 'wrong' unless add_one(1) == 2;\n",
    ),
    # a third probe: a hook of the program's in front of the harness's served its own module or test
    "perl_hook_serves_its_own_test_deep": (
        "perl",
        "sub add_one { 0 }\nunshift @INC, sub { return unless $_[1] eq 'Test/Deep.pm';\n"
        "  my $c = \"package Test::Deep; sub eq_deeply { 1 } sub import { no strict 'refs';"
        " *{caller() . '::eq_deeply'} = \\\\&eq_deeply } 1;\\n\"; return \\$c };\n",
        "use Test::Deep;\nsub t { if (eq_deeply(add_one(1), 2)) { print 'ok'; } else { exit 1; } }\nt();\n",
    ),
    "perl_hook_in_front_reads_the_test": (
        "perl",
        "sub add_one { 0 }\n{ my @genuine = grep { ref $_ eq 'CODE' } @INC; my $busy;\n"
        "  unshift @INC, sub { return unless $_[1] eq 'test.pl'; return if $busy; $busy = 1;\n"
        "    for my $h (@genuine) { my $r = $h->($h, 'test.pl'); next unless $r;\n"
        "      my ($n) = $$r =~ /([0-9a-f]{32}) ok/;\n"
        "      if ($n) { open(my $f, '>&=', 3); print {$f} \"$n ok\\n\"; close $f; exit 0 } } return }; }\n",
        "die 'wrong' unless add_one(1) == 2;\n",
    ),
    "perl_data_reads_the_rest": (
        "perl",
        "sub add_one { 0 }\nmy ($n) = join('', <DATA>) =~ /([0-9a-f]{32}) ok/;\n"
        "if ($n) { open(my $f, '>&=', 3); print {$f} \"$n ok\\n\"; close $f; exit 0 }\n__DATA__\n",
        "die 'wrong' unless add_one(1) == 2;\n",
    ),
}


_LUAUNIT_TEST = (  # MultiPL-E's shape
    "lu = require('luaunit')\n\nfunction test_humaneval()\n  local candidate = add_one\n"
    "  lu.assertEquals(candidate(1), 2)\nend\n\nos.exit(lu.LuaUnit.run())\n"
)
LUA_CHEATS = {
    # each scored 1.0 before (found by an adversarial probe; ACCEPTED on 6319292 but the last, ours)
    "replaced_assert": (
        "function add_one(x) return 0 end\nassert = function() end\n",
        "assert(add_one(1) == 2)\n",
    ),
    "replaced_luaunit_assert": (
        "function add_one(x) return 0 end\nrequire('luaunit').assertEquals = function() end\n",
        _LUAUNIT_TEST,
    ),
    "replaced_luaunit_run": (
        "function add_one(x) return 0 end\nrequire('luaunit').LuaUnit.run = function() return 0 end\n",
        _LUAUNIT_TEST,
    ),
    "preloaded_fake_luaunit": (
        "function add_one(x) return 0 end\n"
        "package.loaded.luaunit = nil\npackage.preload.luaunit = function()\n"
        "  return {assertEquals = function() end, LuaUnit = {run = function() return 0 end}} end\n",
        _LUAUNIT_TEST,
    ),
    # found by a second probe: luaunit ran on the program's globals, and debug hooks outlived it
    "replaced_xpcall": (
        "function add_one(x) return 0 end\nxpcall = function() return true end\n",
        _LUAUNIT_TEST,
    ),
    "replaced_error": ("function add_one(x) return 0 end\nerror = function() end\n", _LUAUNIT_TEST),
    "replaced_pairs": (
        "function add_one(x) return 0 end\nlocal p = pairs\n"
        "pairs = function(t) if t == _G then return p({}) end return p(t) end\n",
        _LUAUNIT_TEST,
    ),
    "metatable_on_G_swallows_the_tests": (
        "function add_one(x) return 0 end\nsetmetatable(_G, {__newindex = function(t, k, v)\n"
        "  if type(k) == 'string' and k:sub(1, 4) == 'test' then return end rawset(t, k, v) end})\n",
        _LUAUNIT_TEST,
    ),
    "own_env_hides_the_tests": (
        "function add_one(x) return 0 end\nlocal _ENV = setmetatable({}, {__index = _G})\n",
        _LUAUNIT_TEST,
    ),
    "debug_hook_rewrites_the_arguments": (
        "function add_one(x) return 0 end\nlocal dbg = debug\ndbg.sethook(function()\n"
        "  local info = dbg.getinfo(2, 'n')\n  if info and info.name == 'assertEquals' then\n"
        "    local _, expected = dbg.getlocal(2, 2); dbg.setlocal(2, 1, expected) end end, 'c')\n",
        _LUAUNIT_TEST,
    ),
    # a third probe: the string metatable's fields, and a finalizer running during the test
    "string_find_answers_success": (
        "function add_one(x) return 0 end\ndo local mt = getmetatable('')\n  local real = mt.__index\n"
        "  local sfind = real.find\n  mt.__index = setmetatable({find = function(s, p, ...)\n"
        "    if p == 'LuaUnit test SUCCESS: ' and sfind(s, 'LuaUnit test FAILURE: ', 1, true) then return 1 end\n"
        "    return sfind(s, p, ...) end}, {__index = real}) end\n",
        _LUAUNIT_TEST,
    ),
    "finalizer_patches_luaunit": (
        "function add_one(x) return 0 end\ndo local mt = {}\n  mt.__gc = function()\n"
        "    local lu = package.loaded.luaunit\n"
        "    if lu and not lu.__patched then lu.__patched = true; lu.assertEquals = function() end end\n"
        "    setmetatable({}, mt) end\n  setmetatable({}, mt)\n  collectgarbage('incremental', 10, 1000) end\n",
        _LUAUNIT_TEST,
    ),
    "fake_getinfo_then_exit": (
        "debug.getinfo = function() return {what = 'main'} end\nfunction add_one(x) os.exit(0) end\n",
        "assert(add_one(1) == 2)\n",
    ),
}


@pytest.mark.parametrize("cheat", sorted(LUA_CHEATS))
def test_lua_program_cannot_change_what_the_test_calls(engine: EngineHarness, cheat: str) -> None:
    program, test = LUA_CHEATS[cheat]
    _fails(engine, "lua", program, test)
    right = "#!/usr/bin/env lua\nlocal function add_one(x) return x + 1 end\nlocal tb = debug.traceback\n"
    assert verdict(engine.score(code_request("lua", right, [assertion(test)]))) == "ACCEPTED"


@pytest.mark.parametrize("cheat", sorted(SCRIPT_CHEATS))
def test_script_program_cannot_read_the_rest_of_its_source(engine: EngineHarness, cheat: str) -> None:
    _fails(engine, *SCRIPT_CHEATS[cheat])


@pytest.mark.parametrize("cheat", sorted(PHP_CHEATS))
def test_php_program_cannot_skip_the_test_code(engine: EngineHarness, cheat: str) -> None:
    test = _PHP_ASSERT_TEST if cheat.startswith("assert") else _PHP_TEST
    if "upper_case" in cheat:
        test = test.replace("assert(", "ASSERT(")
    if "builtin" in cheat or "alias" in cheat:  # a float task's test, which calls abs()
        test = 'if (abs(add_one(1) - 2) > 1e-6) { throw new Exception("Test failed!"); }\n'

    _fails(engine, "php", PHP_CHEATS[cheat], test)


def test_php_right_programs_pass_in_either_mode_they_end_in(engine: EngineHarness) -> None:
    right = "<?php\nfunction add_one($x) { return $x + 1; }\n"
    typed = "<?php\ndeclare(strict_types=1);\nfunction add_one(int $x): int { return $x + 1; }\n"
    streams = right + "fwrite(STDERR, 'debug');\n$in = fgets(STDIN);\n"
    for program in (right, right + "?>\n", right + "?>\n<p>some html</p>\n", right + "// a comment", streams):
        for test in (_PHP_TEST, _PHP_ASSERT_TEST):
            resp = engine.score(code_request("php", program, [assertion(test)]))
            assert verdict(resp) == "ACCEPTED", (program, resp.tests[0].message, resp.tests[0].stderr_head)
    resp = engine.score(
        code_request("php", typed, [assertion("if (add_one(1) !== 2) { throw new \\Exception('no'); }\n")])
    )
    assert verdict(resp) == "ACCEPTED", (resp.tests[0].message, resp.tests[0].stderr_head)


@pytest.mark.parametrize("lang", sorted(_BOX_SCANS))
def test_the_test_code_is_in_no_file_of_box_when_the_program_runs(engine: EngineHarness, lang: str) -> None:
    """A program that reads the test's text can answer with its expected values, and one that reads
    the nonce can write it to fd 3 and exit. Ruby, Lua, PHP, Perl and Bash read their whole source from stdin
    (``/box`` emptied after the syntax check; nor is a nonce-shaped string left there); a built row
    keeps only its artifact in ``/box`` for the run (the C row stands for them: one code path; its
    nonce is in the binary, README)."""
    program, test = _BOX_SCANS[lang]
    resp = engine.score(code_request(lang, program, [assertion(test)]))
    assert verdict(resp) == "ACCEPTED", (
        resp.tests[0].message,
        resp.tests[0].stderr_head,
        resp.compile_output,
    )


# -- Java and C#: the test compares with the returned object's own equals (runners/equality.py) -----------
_JAVA_TEST = (
    "public class Main {\n    public static void main(String[] args) {\n        Solution s = new Solution();\n"
    '        if (!s.f().equals(Arrays.asList("a", "b"))) throw new AssertionError();\n    }\n}\n'
)
_JAVA_HEAD = "import java.util.*;\nimport java.lang.*;\n\nclass Solution {\n    public List<String> f() {\n"
JAVA_EQUALITY_CHEATS = {
    # the first scored 1.0 for HumanEval-X Java/1 before (an anonymous List whose equals holds)
    "anonymous_equals": _JAVA_HEAD
    + "        return new ArrayList<String>() { public boolean equals(Object o) { return true; } };\n    }\n}\n",
    "unicode_escaped_equals": _JAVA_HEAD
    + "        return new ArrayList<String>() { public boolean \\u0065quals(Object o) { return true; } };\n    }\n}\n",
    "proxy": _JAVA_HEAD + "        return (List<String>) java.lang.reflect.Proxy.newProxyInstance(\n"
    "            List.class.getClassLoader(), new Class<?>[] {List.class}, (p, m, a) -> true);\n    }\n}\n",
    "shadowed_arrays": _JAVA_HEAD + "        return Arrays.ONE;\n    }\n}\n"
    "class Arrays { static final List<String> ONE = new ArrayList<>();\n"
    "    static List<String> asList(String... a) { return ONE; } }\n",
}


@pytest.mark.parametrize("cheat", sorted(JAVA_EQUALITY_CHEATS))
def test_java_program_cannot_bring_the_tests_equality(engine: EngineHarness, cheat: str) -> None:
    resp = engine.score(code_request("java", JAVA_EQUALITY_CHEATS[cheat], [assertion(_JAVA_TEST)]))
    assert verdict(resp) == "COMPILE_ERROR" and "refused" in resp.tests[0].message, (
        resp.tests[0].message,
        resp.compile_output,
    )


def test_java_and_csharp_right_programs_still_pass(engine: EngineHarness) -> None:
    """Library types returned, `.equals` called, a helper class named like nothing the test uses."""
    java = _JAVA_HEAD + (
        '        Stack<String> st = new Stack<>(); st.push("b"); st.push("a");\n'
        "        List<String> out = new ArrayList<>(); while (!st.isEmpty()) out.add(st.pop());\n"
        '        return "a".equals(out.get(0)) ? out : null;\n    }\n}\nclass Node { int v; }\n'
    )
    assert verdict(engine.score(code_request("java", java, [assertion(_JAVA_TEST)]))) == "ACCEPTED"
    cs = (
        "using System;\nusing System.Collections.Generic;\nusing System.Diagnostics;\n\nclass Problem {\n"
        "    public static List<long> F() { return new List<long> { 1, 2 }; }\n"
    )
    test = (
        "    public static void Main(string[] args) {\n        Debug.Assert(F()[1].Equals(2L));\n    }\n}\n"
    )
    resp = engine.score(code_request("csharp", cs, [assertion(test)]))
    assert verdict(resp) == "ACCEPTED", (resp.tests[0].message, resp.compile_output)
    cheat = cs.replace(
        "class Problem {",
        "class Eq : List<long> { public override bool Equals(object o) => true; }\nclass Problem {",
    )
    resp = engine.score(code_request("csharp", cheat, [assertion(test)]))
    assert verdict(resp) == "COMPILE_ERROR" and "Equals" in resp.tests[0].message, resp.tests[0].message


# HumanEval-X CPP/39 with its canonical solution's 0s and 1s swapped: the loop never counts, and the
# function ends without a return. GCC -O2 took that end as unreachable and deleted the test's asserts
# after the calls, so this wrong program passed (the reference harness happened to crash).
_CPP39_WRONG = (
    "#include<stdio.h>\n#include<math.h>\nusing namespace std;\n#include<algorithm>\n#include<stdlib.h>\n"
    "int prime_fib(int n){\n    int f1,f2,m;\n    f1=0;f2=2;\n    int count=1;\n    while (count<n)\n    {\n"
    "        f1=f1+f2;\n        m=f1;f1=f2;f2=m;\n        bool isprime=true;\n"
    "        for (int w=2;w*w<=f1;w++)\n            if (f1%w==1)\n            {\n"
    "             isprime=false; break;\n            }\n        if (isprime) count+=0;\n"
    "        if (count==n) return f1;\n    }\n\n}\n"
)
_CPP39_TEST = (
    "#undef NDEBUG\n#include<assert.h>\nint main(){\n    assert (prime_fib(1) == 2);\n    assert (prime_fib(2) == 3);\n"
    "    assert (prime_fib(3) == 5);\n    assert (prime_fib(4) == 13);\n    assert (prime_fib(5) == 89);\n"
    "    assert (prime_fib(6) == 233);\n    assert (prime_fib(7) == 1597);\n    assert (prime_fib(8) == 28657);\n"
    "    assert (prime_fib(9) == 514229);\n    assert (prime_fib(10) == 433494437);\n}\n"
)


def test_cpp_reaching_the_end_of_a_non_void_function_traps(engine: EngineHarness) -> None:
    """Built as the humaneval-x adapter builds the row (its headers), which is how it passed."""
    declaration, _, solution = _CPP39_WRONG.partition("int prime_fib(int n){\n")
    row = {
        "task_id": "CPP/39",
        "prompt": declaration + "int prime_fib(int n){\n",
        "declaration": declaration + "int prime_fib(int n){\n",
        "test": _CPP39_TEST,
    }
    resp = engine.score(to_request("humaneval-x", row, solution))
    assert verdict(resp) == "RUNTIME_ERROR", (resp.tests[0].message, resp.tests[0].stderr_head)


def test_rust_assertion_programs_may_not_use_unsafe(engine: EngineHarness) -> None:
    program = "fn add(a: i32, b: i32) -> i32 {\n    if a == 2 { unsafe { std::hint::unreachable_unchecked() } }\n    a + b\n}\n"
    resp = engine.score(
        code_request("rust", program, [assertion("fn main() { assert_eq!(add(2, 3), 6); }\n")])
    )
    assert verdict(resp) == "COMPILE_ERROR" and "unsafe" in resp.compile_output, resp.compile_output
