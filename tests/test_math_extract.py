"""Section 1 of design/math-conventions.md: which answer a response gives. One row per case."""

from __future__ import annotations

import pytest

from sandbox_service.mathcheck import extract_answer

# (response, expected answer or None)
CASES: list[tuple[str, str | None]] = [
    # 1.1 thinking
    ("<think>maybe 3</think>The answer is $\\boxed{4}$.", "4"),
    ("<think>a</think>x<think>b</think> So \\boxed{7}", "7"),
    ("<think>I think the answer is \\boxed{4}, let me check", None),
    ("<think>\\boxed{4}</think>", None),
    ("<think>\\boxed{4}</think>Final: \\boxed{5}", "5"),
    # 1.2 boxes
    ("So the result is $\\boxed{42}$.", "42"),
    ("First \\boxed{1}, then we fix it: \\boxed{2}.", "2"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("The set is \\boxed{\\{1, 2\\}}.", "\\{1, 2\\}"),
    ("\\boxed{\\boxed{3}}", "\\boxed{3}"),
    ("The answer is \\boxed 5.", "5"),
    ("The roots are $\\boxed{3}$, $\\boxed{5}$, and $\\boxed{7}$.", "3, 5, 7"),
    ("Either $\\boxed{3}$ or $\\boxed{4}$.", "3, 4"),
    ("Answer: \\boxed{2} and \\boxed{-2}", "2, -2"),
    ("We had \\boxed{1} earlier. Now the answer is \\boxed{9}.", "9"),
    ("\\boxed{x^{2}+\\sqrt{\\frac{a}{b}}}", "x^{2}+\\sqrt{\\frac{a}{b}}"),
    ("\\fbox{12}", "12"),
    # 1.3 markers
    ("Adding up, the final answer is 12.", "12"),
    ("The answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("Work...\nAnswer: 17", "17"),
    ("Work...\n**Answer:** 17", "17"),
    ("Work...\nFinal Answer: 9", "9"),
    ("Natalia sold 48 clips in April.\n#### 72", "72"),
    ("Final Answer: The final answer is $6$. I hope it is correct.", "6"),
    ("Final Answer: The final answer is 2\\sqrt{3}. I hope it is correct.", "2\\sqrt{3}"),
    ("The answer is 3.\nActually the answer is 5.", "5"),
    # 1.4 conclusive last sentence
    ("Let me compute. Therefore, the perimeter is $14+7\\sqrt2$ inches.", "14+7\\sqrt2"),
    ("She started with 20 and ate 6. So she has 14 apples left.", "14"),
    ("We simplify everything.\nThus the total is 1,234.", "1,234"),
    ("Hence\n$$x = 5$$", "x = 5"),
    ("Hence we get\n\\[ y = 2x + 1 \\]", "y = 2x + 1"),
    ("I like this problem. It has 3 parts.", None),
    ("So we get 3 and 4 maybe.", None),
    # 1.5 unfinished or empty
    ("", None),
    ("   \n ", None),
    ("The answer is \\boxed{12", None),
    ("We have $x = 3 + ", None),
    ("So far the value is 12 and then we multiply by", None),
    ("The gold is 42, as we see when we compute the", None),
    ("\\boxed{}", None),
    ("The answer is \\boxed{ }.", None),
    ("Answer:", None),
    ("\\begin{align} x &= 1", None),
    ("We compute \\[ x = 1", None),
]


@pytest.mark.parametrize(("response", "expected"), CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_extract(response: str, expected: str | None) -> None:
    got = extract_answer(response)
    assert got.answer == expected, got.reason
    assert got.reason


def test_adjacent_boxes_keep_their_parts() -> None:
    got = extract_answer("The roots are $\\boxed{3}$, $\\boxed{5}$, and $\\boxed{7}$.")
    assert got.parts == ("3", "5", "7")


def test_a_100k_character_response() -> None:
    text = ("We try {a} and $b$ again. " * 4000) + "Therefore the answer is \\boxed{5}."
    assert extract_answer(text).answer == "5"
