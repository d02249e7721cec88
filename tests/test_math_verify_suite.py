"""HuggingFace Math-Verify's own test cases (``tests/math_verify_table.py``) against our verifier.

Every row must get our expected verdict; in particular no row that is not equal under
``design/math-conventions.md`` may be graded correct (no false accept). Where our rules differ from
Math-Verify's expectations on purpose, the row names the rule.
"""

from __future__ import annotations

import re

import pytest

from sandbox_service.mathcheck import MathVerifier, extract_answer, grade

from .math_verify_table import CASES, MV

_DOLLAR = re.compile(r"(?<!\\)\$")
_DISPLAY_ENDS = re.compile(r"^\\[\[(]|\\[\])]$")


def as_response(case: MV) -> str:
    """The response we grade: a whole response as it is, a bare answer as the boxed final answer."""
    if case.form == "response":
        return case.pred
    inner = _DISPLAY_ENDS.sub("", _DOLLAR.sub(" ", case.pred).strip()).strip()
    return f"So the final answer is $\\boxed{{{inner}}}$."


def as_gold(gold: str) -> str:
    """Our gold answer: Math-Verify extracts the gold too, so a gold written as a solution (with a box
    or an answer marker) is reduced to its answer by our own extraction first, as a dataset's answer
    column would give it."""
    answer = extract_answer(gold).answer
    return answer if answer else gold


@pytest.mark.parametrize("case", CASES, ids=[f"{i}:{c.source}" for i, c in enumerate(CASES)])
def test_case(case: MV) -> None:
    result = grade(as_response(case), as_gold(case.gold))
    assert result.correct is case.ours, f"{case.rule or 'agrees with Math-Verify'}: {result}"


def test_every_difference_names_its_rule() -> None:
    for case in CASES:
        assert bool(case.rule) == (case.ours != case.theirs), case
    assert len(CASES) >= 350


def test_no_false_accept_through_bounded_worker_processes() -> None:
    with MathVerifier(processes=2, time_limit_s=5.0) as verifier:
        accepted = [c for c in CASES if verifier.verify(as_response(c), as_gold(c.gold)).correct]
        assert verifier.timeouts == 0
    false_accepts = [c for c in accepted if not c.ours]
    assert not false_accepts, false_accepts[:3]
