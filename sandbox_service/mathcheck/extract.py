"""Which answer a math response gives: section 1 of ``design/math-conventions.md``.

``extract_answer(response)`` returns an ``Extraction``: the graded answer text (or ``None``) and why.
Pure string work with bounded cost (linear scans, no backtracking-prone regexes on the whole text).

Order of rules:
1. After the last ``</think>``; an opened, never closed ``<think>`` is unfinished.
2. A response cut mid-sentence, mid-formula or inside a box has no answer.
3. The last ``\\boxed{...}`` (balanced braces, or ``\\boxed X``); boxes one after another in the final
   sentence make one list when only commas, spacing (``\\quad``, side by side) and joining or hedging
   words (``or``, ``and``, ``either``, ``perhaps``, ``\\text{ or }``) stand between them. Such a list
   offers several candidates, so against a single-value gold it is false (section 3); against an
   unordered list gold it is that list (decided for issue 12: "$\\boxed{2}$ and $\\boxed{1}$" answers
   gold "1, 2"). A box holding a sentence (``\\text{The answer is } 6``) gives its value.
4. Else the text after the last explicit marker (``The final answer is``, ``Answer:``, ``####``,
   ``Answer $9$`` opening a line, ...): the formula right after it, else the rest of its sentence, and
   a sentence that states a value ("The largest $n$ is 34") gives the value. Minerva's "I hope it is
   correct." and chat-template tokens left at the end (``<|im_start|>user``) are not part of it.
5. Else a conclusive last sentence ("Therefore, the perimeter is $14$ inches.", "We find that $x<3$.",
   "Therefore $x \\ge 5$ is the solution.") or a display equation after "Hence" that ends the response.
   Several formulas after its verb ("is $3$ or $4$") stay several candidates.

A ``$`` followed by an amount in prose (GSM8K: "pays $5 for one and $13 for two") is currency, not an
unclosed formula. Known limit: a sentence that names no value with a verb ("Jane started 3 hours
ago.") gives no answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Extraction", "extract_answer", "find_boxes"]


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # None: the response gives no gradable answer
    reason: str  # how it was found, or why there is none
    parts: tuple[str, ...] = ()  # several adjacent boxes: their contents, in order


_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_MARKERS = re.compile(
    r"(?:final\s+answer\s+is|the\s+answer\s+is|\*\*\s*answer\s*:?\s*\*\*\s*:?|final\s+answer\s*:|answer\s*:|####"
    r"|(?:^|(?<=\n))[ \t]*answer(?=[ \t]*(?:\$|\\\[|\\\()))",  # "Answer $9$" opening a line
    re.IGNORECASE,
)
_MINERVA_TAIL = re.compile(r"\.?\s*I hope it is correct\.?\s*$", re.IGNORECASE)
_HOPE = re.compile(r"\.?\s*I hope it is correct", re.IGNORECASE)
# Chat-template tokens a sampler left at the end ("... is 2/3. <|im_start|>user"): not part of the text.
_TEMPLATE_TAIL = re.compile(r"(?:\s*<\|[A-Za-z_]+\|>(?:\s*(?:user|assistant|system)\b)?)+\s*$")
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z<\[(])|\.$")
_CONCLUSIVE = re.compile(
    r"^(?:therefore|thus|hence|so|consequently|finally|in conclusion|the result is|this means"
    r"|the solutions? (?:is|are)|we (?:find|get|obtain|conclude)(?: that)?)\b",
    re.IGNORECASE,
)
# "Therefore $x \ge 5$ is the solution.": the statement names its answer before the verb.
_NAMES_ANSWER = re.compile(r"^(?:the|our)\s+(?:final\s+)?(?:answer|solution|result)s?$", re.IGNORECASE)
_MATH_SPAN = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$")
_VERB = re.compile(r"\s(?:is|are|was|equals|has|have|gets|get|makes|remains|=)\s", re.IGNORECASE)
# What may stand between two boxes that make one answer list (``\boxed{3}, \boxed{5}``,
# ``\boxed{3} \quad \text{or} \quad \boxed{5}``, ``Either $\boxed{3}$ or perhaps $\boxed{5}$``, or
# side by side): math delimiters and spacing, commas, and joining or hedging words. Anything else
# (a sentence between them) means the earlier box is not part of the final answer.
_BETWEEN_NOISE = re.compile(
    r"\$|\\[()\[\]]|\\(?:quad|qquad)(?![A-Za-z])|\\[,;:! ]|~"
    r"|\\(?:text|textrm|textnormal|textit|textbf|mbox|mathrm)\s*\{([^{}]*)\}"
)
_JOINING = re.compile(
    r"^[\s,;/]*(?:(?:or|and|either|perhaps|maybe|possibly|probably|alternatively|also|else|otherwise)"
    r"\b[\s,;/]*)*$",
    re.IGNORECASE,
)
# A box holding a sentence: ``\boxed{\text{The answer is } 6}`` gives 6.
_BOXED_LEAD = re.compile(
    r"^\s*(\\(?:text|textrm|textnormal|textbf|mbox|mathrm)\s*\{)?\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|:)\s*",
    re.IGNORECASE,
)
# A ``$`` that opens no formula: currency in prose (GSM8K: "pays $5 for one and $13 for two").
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}(?![A-Za-z]*\s*\})")
_AMOUNT = re.compile(r"\s?\d[\d,]*(?:\.\d+)?(?:\s|[.,;:!?)]|$)")


def _match_brace(text: str, open_at: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_at`` (``\\{``/``\\}`` are literal), or -1."""
    depth = 0
    i = open_at
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "{}":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def find_boxes(text: str) -> list[tuple[int, int, str | None]]:
    """Every ``\\boxed`` in ``text``: (start, end, content); content ``None`` for an unclosed box."""
    boxes: list[tuple[int, int, str | None]] = []
    for m in _BOX.finditer(text):
        if boxes and m.start() < boxes[-1][1]:
            continue  # a box inside the previous one (\boxed{\boxed{3}}): part of its content
        i = m.end()
        if i < len(text) and text[i] == "{":
            close = _match_brace(text, i)
            if close < 0:
                boxes.append((m.start(), len(text), None))
                break
            boxes.append((m.start(), close + 1, text[i + 1 : close]))
        elif m.group(0) != m.group(0).rstrip():  # "\boxed 5": the next token
            token = re.match(r"[^\s$,;]+", text[i:])
            if token:
                value = token.group(0).rstrip(".")
                boxes.append((m.start(), i + len(value), value))
    return boxes


def _joins(between: str) -> bool:
    """Whether the text between two boxes joins them into one answer list."""
    return bool(_JOINING.match(_BETWEEN_NOISE.sub(lambda m: f" {m.group(1) or ''} ", between)))


def _boxed_sentence(content: str) -> str:
    """``\\text{The answer is } 6`` -> ``6``; ``\\text{Answer: 6}`` -> ``\\text{6}``."""
    m = _BOXED_LEAD.match(content)
    if not m:
        return content
    rest = content[m.end() :].strip()
    if m.group(1):  # the phrase opened a \text{...}: close it, or keep the rest of it wrapped
        return rest[1:].strip() if rest.startswith("}") else m.group(1) + rest
    return rest


def _open_formula(text: str) -> bool:
    """Whether a ``$`` formula is left open, not counting currency ``$`` in prose."""
    dollars = [m.start() for m in re.finditer(r"(?<!\\)\$", text)]
    if len(dollars) % 2 == 0:
        return False
    k, opened = 0, 0
    while k < len(dollars):
        start = dollars[k] + 1
        end = dollars[k + 1] if k + 1 < len(dollars) else len(text)
        span = text[start:end]
        last = k + 1 == len(dollars)
        if _AMOUNT.match(span) and (last or _PROSE.search(span)):
            k += 1  # "$5 for one and ..." or a final "$18.": an amount of money, not a formula
            continue
        if last:
            opened = 1
        k += 2
    return opened == 1


def _unbalanced(text: str) -> str | None:
    """Why ``text`` looks cut off mid-formula, or None."""
    if _open_formula(text):
        return "an unclosed $ formula"
    if text.count("\\[") > text.count("\\]"):
        return "an unclosed \\[ display"
    if text.count("\\(") > text.count("\\)"):
        return "an unclosed \\( formula"
    if len(re.findall(r"\\begin\{", text)) > len(re.findall(r"\\end\{", text)):
        return "an unclosed \\begin environment"
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            i += 2
            continue
        depth += c == "{"
        depth -= c == "}"
        i += 1
    if depth > 0:
        return "unclosed braces"
    return None


def _ends_mid_sentence(text: str) -> bool:
    last_line = text.rstrip().rsplit("\n", 1)[-1].strip()
    if not last_line:
        return False
    if _MARKERS.search(last_line) or "\\boxed" in last_line:
        return False
    if last_line.endswith((".", "!", "?", "$", "\\]", "\\)", "}", "**", ")", "]", ":")):
        return False
    return True


def _value_in_statement(sentence: str) -> str | None:
    """The value a statement gives: "the perimeter is $14+7\\sqrt2$ inches" -> ``14+7\\sqrt2``.

    The math (or the single number) after the last verb; several formulas there are returned together,
    so that "is $3$ or $4$" stays two candidates. "$x \\ge 5$ is the solution" names it before the verb.
    """
    verbs = list(_VERB.finditer(f" {sentence} "))
    if not verbs:
        return None
    verb = verbs[-1]
    head, tail = f" {sentence} "[: verb.start()], f" {sentence} "[verb.end() :].strip()
    if _NAMES_ANSWER.match(tail):
        named: list[str] = _MATH_SPAN.findall(head)
        return named[0].strip() if len(named) == 1 else None
    math: list[str] = _MATH_SPAN.findall(tail)
    if len(math) == 1:
        return math[0].strip()
    if math:
        return tail.replace("$", " ").strip()
    numbers: list[str] = re.findall(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?", tail)
    if len(numbers) == 1:
        return numbers[0].strip()
    return None


def _clean_marker_answer(text: str) -> str:
    """The answer written after a marker: a formula right after it, else the rest of its sentence."""
    text = text.lstrip(" \t*:")
    for opening, closing in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if text.startswith(opening):
            close = text.find(closing, len(opening))
            if close < 0 or (opening in ("$", "\\(") and "\n" in text[:close]):
                return ""  # an inline formula does not run across lines
            formula = text[len(opening) : close].strip()
            rest = _SENTENCE_END.split(_HOPE.split(text[close + len(closing) :].split("\n", 1)[0])[0])[0]
            if not re.search(r"[$\d]", rest):
                return formula  # "$28 \\%$. I hope it is correct. Note: ..." -> 28 \\%
            break
    text = _MINERVA_TAIL.sub("", text).strip()
    line = _HOPE.split(text.split("\n", 1)[0])[0].strip().strip("*").strip()
    line = _SENTENCE_END.split(line, maxsplit=1)[0].strip() if not line.startswith("$") else line
    if line.endswith("."):
        line = line[:-1].rstrip()
    if line.startswith("$") and line.endswith("$"):
        line = line.strip("$").strip()
    if re.match(r"[A-Za-z]{2,}\s", line):  # "The largest $n$ is 34": a statement of the value
        return _value_in_statement(line) or line
    return line


def _last_sentence(text: str) -> str | None:
    body = _MINERVA_TAIL.sub(".", text.rstrip()).rstrip()
    # a display equation ending the response, introduced by "Hence"
    display = re.search(r"(?:\$\$|\\\[)\s*(.+?)\s*(?:\$\$|\\\])\s*\.?\s*$", body, re.DOTALL)
    if display:
        before = body[: display.start()].rstrip()
        if re.search(r"\b(?:hence|therefore|thus)\b[^.\n]*[:,]?$", before, re.IGNORECASE):
            return display.group(1).strip()
    if not body.endswith((".", "!", "$")):
        return None
    # the last sentence: from the previous sentence end (a period followed by space/newline)
    end = len(body) - 1
    start = max(body.rfind(". ", 0, end), body.rfind(".\n", 0, end), body.rfind("\n", 0, end))
    sentence = body[start + 1 :].strip().rstrip(".!").strip()
    lead = _CONCLUSIVE.match(sentence)
    if not lead:
        return None
    value = _value_in_statement(sentence)
    if value is None and lead.group(0).lower().startswith("we "):  # "We find that $x < 3$."
        math: list[str] = _MATH_SPAN.findall(sentence[lead.end() :])
        if len(math) == 1 and not sentence[lead.end() :].replace(f"${math[0]}$", "").strip(" ,:"):
            return math[0].strip()
    return value


def extract_answer(response: str) -> Extraction:
    """The graded answer of a model ``response`` (see the module docstring for the rules)."""
    text = response
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif "<think>" in text:
        return Extraction(None, "unfinished: <think> is never closed")
    text = _TEMPLATE_TAIL.sub("", text)
    if not text.strip():
        return Extraction(None, "empty response")
    boxes = find_boxes(text)
    if boxes and boxes[-1][2] is None:
        return Extraction(None, "unfinished: the response stops inside \\boxed")
    cut = _unbalanced(text)
    if cut:
        return Extraction(None, f"unfinished: {cut}")
    if _ends_mid_sentence(text):
        return Extraction(None, "unfinished: the response stops mid-sentence")
    if boxes:
        group = [boxes[-1]]
        for prev in reversed(boxes[:-1]):
            if _joins(text[prev[1] : group[0][0]]):
                group.insert(0, prev)
            else:
                break
        parts = tuple(_boxed_sentence((b[2] or "").strip()) for b in group)
        if len(parts) == 1:
            if not parts[0]:
                return Extraction(None, "empty \\boxed{}")
            return Extraction(parts[0], "last \\boxed{}")
        return Extraction(", ".join(parts), f"{len(parts)} adjacent boxes form one list", parts)
    markers = list(_MARKERS.finditer(text))
    if markers:
        answer = _clean_marker_answer(text[markers[-1].end() :])
        if not answer:
            return Extraction(None, "an answer marker with nothing after it")
        return Extraction(answer, f"after the marker {markers[-1].group(0).strip()!r}")
    sentence = _last_sentence(text)
    if sentence:
        return Extraction(sentence, "a conclusive last sentence")
    return Extraction(None, "no boxed answer, answer marker or conclusive last sentence")
