"""Is the extracted answer the gold answer? Sections 2 and 3 of ``design/math-conventions.md``.

``grade(response, gold, choices)`` runs in the calling process with no time limit of its own; the
bounded way to call it is ``MathVerifier`` (killable worker processes). Cheap checks come first:
identical normalized text, identical trees (decided without evaluating, so ``10^{10^{10}}`` against
itself is instant), exact rationals; numeric evaluation (mpmath, 50 digits, re-checked at 120 digits
near zero) and random points for free variables come last.

Decisions the conventions leave open (issue 12), held by ``tests/math_table.py``:

- Matrices are shapes: rows x columns must agree and entries compare in place (a transpose or a
  permuted vector is false); a column or row vector is also the ordered tuple of its entries.
- ``(p, q) = (3, 2)`` is an assignment like ``x = 3``: it matches ``(3, 2)``. A chain ``x = 2 + 3 = 5``
  says ``x = 5`` only when every link holds; ``x = 5 + 5 + 1 = 7 = 11`` is false.
- A union of intervals may hold finite point sets: ``\\{-1\\} \\cup [0,7)`` is [-1,-1] with [0,7).
- A choice may be named in lower case (``(c)`` for C); a gold letter stays upper case (gold ``e`` is
  Euler's number).

Known limits: ratios ``a:b``, ``\\approx``, decimal commas (``2,74``) and unsolved relations are not
read as Math-Verify reads them; ``tests/math_verify_table.py`` lists each such row with its rule.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath

from .extract import extract_answer
from .parse import Node, ParseError, normalize_text, parse
from .values import NotEvaluable, TooBig, Undefined, exact, free_symbols, has_tag, summary, value, walk

__all__ = ["MathGrade", "grade", "answers_match"]

DECIMAL_REL_TOL = 1e-6
MAX_ITEMS = 200
MAX_PM_VARIANTS = 16
INF = ("const", "inf")


@dataclass(frozen=True)
class MathGrade:
    correct: bool
    extracted_answer: str
    normalized_answer: str
    normalized_gold: str
    reason: str


class _Mismatch(Exception):
    """A definite "not equal", with the reason."""


# --- printing (the normalized forms in MathDetail) -----------------------------------------------


def show(node: Node) -> str:
    tag = node[0]
    if tag == "num":
        q: Fraction = node[1]
        return (
            node[3]
            if node[2]
            else (str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}")
        )
    if tag == "sym":
        return str(node[1])
    if tag == "const":
        return {"pi": "pi", "e": "e", "i": "i", "inf": "oo"}[node[1]]
    if tag == "add":
        out = show(node[1][0])
        for t in node[1][1:]:
            out += f" - {show(t[1])}" if t[0] == "neg" else f" + {show(t)}"
        return out
    if tag == "mul":
        return "*".join(_wrap(f) for f in node[1])
    if tag == "neg":
        return "-" + _wrap(node[1])
    if tag == "div":
        return f"{_wrap(node[1])}/{_wrap(node[2])}"
    if tag == "pow":
        return f"{_wrap(node[1])}^{_wrap(node[2])}"
    if tag == "root":
        return (
            f"sqrt({show(node[1])})"
            if node[2][1:2] == (Fraction(2),)
            else f"root({show(node[1])}, {show(node[2])})"
        )
    if tag == "fn":
        return f"{node[1]}({show(node[2])})"
    if tag == "fact":
        return f"{_wrap(node[1])}!"
    if tag == "binom":
        return f"binom({show(node[1])}, {show(node[2])})"
    if tag == "abs":
        return f"|{show(node[1])}|"
    if tag == "pm":
        return f"{show(node[1])} ± {_wrap(node[2])}" if node[1] is not None else f"±{_wrap(node[2])}"
    if tag == "pct":
        return f"{show(node[1])}%"
    if tag == "deg":
        return f"{show(node[1])}°"
    if tag == "basen":
        return f"{node[1]}_{node[2]}"
    if tag == "calc":
        return f"\\{node[1]} {node[2]}"
    if tag == "pair":
        return f"{node[3]}{show(node[1])}, {show(node[2])}{node[4]}"
    if tag == "tuple":
        return "(" + ", ".join(show(x) for x in node[1]) + ")"
    if tag == "set":
        return "{" + ", ".join(show(x) for x in node[1]) + "}"
    if tag == "list":
        return ", ".join(show(x) for x in node[1])
    if tag == "union":
        return " ∪ ".join(show(x) for x in node[1])
    if tag == "in":
        return f"{show(node[1])} ∈ {show(node[2])}"
    if tag == "rel":
        out = show(node[2][0])
        for op, e in zip(node[1], node[2][1:], strict=True):
            out += f" {op} {show(e)}"
        return out
    if tag == "matrix":
        return "[" + "; ".join(", ".join(show(c) for c in row) for row in node[1]) + "]"
    if tag == "text":
        return f'"{node[1]}"'
    if tag == "empty":
        return "{}"
    if tag == "reals":
        return "(-oo, oo)"
    if tag == "ellipsis":
        return "..."
    if tag == "iv":
        return f"{'[' if node[3] else '('}{show(node[1])}, {show(node[2])}{']' if node[4] else ')'}"
    return str(node)


def _wrap(node: Node) -> str:
    s = show(node)
    return f"({s})" if node[0] in ("add", "neg", "div", "mul", "pm", "rel") else s


# --- scalar values --------------------------------------------------------------------------------


def _points(symbols: set[str]) -> list[dict[str, Any]]:
    if not symbols:
        return [{}]
    names = sorted(symbols)
    points = []
    for k in range(3):
        points.append(
            {
                name: mpmath.mpf(k + 2) / 7 + mpmath.mpf(idx + 1) / 13 + mpmath.sqrt(2) * (k + 1) / 10
                for idx, name in enumerate(names)
            }
        )
    return points


def _close(a: Any, b: Any, rel: float) -> bool:
    if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
        if mpmath.isnan(a) or mpmath.isnan(b):
            raise Undefined("not a number")
        return bool(a == b)
    return bool(abs(a - b) <= rel * max(abs(a), abs(b)))


def _numeric_equal(a: Node, b: Node, decimal: bool) -> bool:
    symbols = free_symbols(a) | free_symbols(b)
    with mpmath.workdps(50):
        for k, env in enumerate(_points(symbols)):
            va, vb = value(a, env), value(b, env)
            if decimal:
                if not _close(va, vb, DECIMAL_REL_TOL):
                    return False
                continue
            if _close(va, vb, 1e-40):
                if not symbols:  # constants: huge values must agree in every integer digit
                    _check_huge(a, b, va, vb)
                continue
            if not (mpmath.isfinite(va) and mpmath.isfinite(vb)):
                return False
            scale = max(mpmath.mpf(1), abs(va), abs(vb))
            if abs(va - vb) > mpmath.mpf(10) ** -30 * scale:
                return False
            # near zero: rounding noise shrinks with more digits, a real difference does not
            with mpmath.workdps(120):
                env120 = _points(symbols)[k]
                if abs(value(a, env120) - value(b, env120)) > mpmath.mpf(10) ** -100 * scale:
                    return False
    return True


MAX_EXACT_DIGITS = 20_000


def _check_huge(a: Node, b: Node, va: Any, vb: Any) -> None:
    """Huge values agreeing to 50 digits: recompute with every integer digit, or give up."""
    size = max(abs(va), abs(vb))
    if not mpmath.isfinite(size) or size < mpmath.mpf(10) ** 30:
        return
    digits = int(mpmath.log10(size)) + 1
    if digits > MAX_EXACT_DIGITS:
        raise TooBig(f"{digits}-digit values cannot be compared exactly")
    with mpmath.workdps(digits + 40):
        if abs(value(a, {}) - value(b, {})) > mpmath.mpf(10) ** -15:
            raise _Mismatch("not equal")


def _decimal(node: Node) -> bool:
    return summary(node).decimal


def _scalar_equal(a: Node, b: Node) -> bool:
    if a == b:
        return True
    calc_a, calc_b = has_tag(a, "calc"), has_tag(b, "calc")
    if calc_a or calc_b:
        if calc_a and calc_b:
            return show(a) == show(b)
        raise _Mismatch(
            "an unevaluated sum, product, integral, limit or derivative that the gold does not have"
        )
    decimal = _decimal(a) or _decimal(b)
    ea, eb = exact(a), exact(b)
    if ea is not None and eb is not None:
        if decimal:
            return abs(ea - eb) <= Fraction(DECIMAL_REL_TOL) * max(abs(ea), abs(eb))
        return ea == eb
    return _numeric_equal(a, b, decimal)


def _variants(node: Node, other: Node) -> list[Node]:
    if node[0] == "pct":
        return [("div", node[1], ("num", Fraction(100), False, "100")), node[1]]
    if node[0] == "deg":
        if any(n == ("const", "pi") for n in walk(other)):
            return [("mul", (node[1], ("div", ("const", "pi"), ("num", Fraction(180), False, "180"))))]
        return [node[1]]
    return [node]


def _scalar_match(gold: Node, ans: Node) -> bool:
    for g in _variants(gold, ans):
        for a in _variants(ans, gold):
            if _scalar_equal(g, a):
                return True
    return False


# --- shapes ---------------------------------------------------------------------------------------


def _expand_pm(node: Any) -> list[Any]:
    if not isinstance(node, tuple):
        return [node]
    if node and node[0] == "pm":
        lefts = [None] if node[1] is None else _expand_pm(node[1])
        out = []
        for right in _expand_pm(node[2]):
            for left in lefts:
                if left is None:
                    out += [right, ("neg", right)]
                else:
                    out += [("add", (left, right)), ("add", (left, ("neg", right)))]
        return out
    variants: list[tuple[Any, ...]] = [()]
    for child in node:
        opts = _expand_pm(child) if isinstance(child, tuple) else [child]
        variants = [v + (o,) for v in variants for o in opts]
        if len(variants) > MAX_PM_VARIANTS:
            raise _Mismatch("too many ± alternatives")
    return list(variants)


def _is_sym(node: Node) -> bool:
    return bool(node[0] == "sym")


def _assignment(node: Node) -> Node | None:
    """``v = expr``, ``f(x) = expr`` or ``(p, q) = (3, 2)`` (a tuple of variables, the same length on
    the right): the expr."""
    if node[0] != "rel" or node[1] != ("=",):
        return None
    lhs, rhs = node[2]
    names = _sequence(lhs[0], lhs) if lhs[0] in ("pair", "tuple") else None
    values = _sequence(rhs[0], rhs) if rhs[0] in ("pair", "tuple", "matrix") else None
    if names and values and len(names) == len(values) and all(_is_sym(n) for n in names):
        return rhs  # type: ignore[no-any-return]
    if _is_sym(lhs) or (
        lhs[0] == "mul"
        and len(lhs[1]) == 2
        and _is_sym(lhs[1][0])
        and lhs[1][1][0] in ("sym", "pair", "tuple")
    ):
        return rhs  # type: ignore[no-any-return]
    return None


REALS = ("iv", ("neg", INF), INF, False, False)
_NOT_POINTS = ("pair", "tuple", "set", "ellipsis", "matrix")


def _pair_interval(pair: Node) -> Node:
    """``(a, b]`` as an interval ("iv", lo, hi, lo_closed, hi_closed)."""
    return ("iv", pair[1], pair[2], pair[3] == "[", pair[4] == "]")


def _solved(node: Node) -> tuple[str, Node] | None:
    """A solved inequality (``x > 3``, ``-2 < x < 7``) as (variable, interval)."""
    if node[0] != "rel" or any(op not in ("<", "<=", ">", ">=") for op in node[1]):
        return None
    ops, exprs = node[1], node[2]
    if len(exprs) == 2:
        lhs, rhs = exprs
        op = ops[0]
        if _is_sym(rhs) and not _is_sym(lhs):
            lhs, rhs = rhs, lhs
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        if not _is_sym(lhs) or free_symbols(rhs):
            return None
        if op in ("<", "<="):
            return lhs[1], ("iv", ("neg", INF), rhs, False, op == "<=")
        return lhs[1], ("iv", rhs, INF, op == ">=", False)
    if len(exprs) == 3 and _is_sym(exprs[1]) and not free_symbols(exprs[0]) and not free_symbols(exprs[2]):
        if all(op in ("<", "<=") for op in ops):
            return exprs[1][1], ("iv", exprs[0], exprs[2], ops[0] == "<=", ops[1] == "<=")
        if all(op in (">", ">=") for op in ops):
            return exprs[1][1], ("iv", exprs[2], exprs[0], ops[1] == ">=", ops[0] == ">=")
    return None


def _shape(node: Node) -> tuple[str, Any]:
    tag = node[0]
    if tag in ("list", "set"):
        items = node[1]
        if len(items) > MAX_ITEMS:
            raise _Mismatch("too many items")
        each = [_solved(i) for i in items]
        if items and all(each):
            if len({s[0] for s in each if s}) == 1:
                return "ivs", tuple(s[1] for s in each if s)
        flat: list[Node] = []
        for i in items:
            flat += _expand_pm(i) if has_tag(i, "pm") else [i]
        return "list", tuple(flat)
    if has_tag(node, "pm") and tag not in ("pair", "tuple", "matrix"):
        return "list", tuple(_expand_pm(node))
    if tag == "in":
        inner = node[2]
        if inner[0] in ("pair", "reals", "union"):
            return _shape(("union", (inner,)) if inner[0] != "union" else inner)
        return _shape(inner)
    if tag == "union":
        # intervals, and finite point sets as one-point closed intervals: {-1} ∪ [0,7) is [-1,-1] ∪ [0,7)
        ivs = []
        for item in node[1]:
            if item[0] == "pair":
                ivs.append(_pair_interval(item))
            elif item[0] == "reals":
                ivs.append(REALS)
            elif item[0] == "set" and not any(has_tag(x, *_NOT_POINTS) for x in item[1]):
                ivs += [("iv", x, x, True, True) for x in item[1]]
            elif item[0] != "empty":
                raise _Mismatch("a union of something other than intervals and point sets")
        if len(ivs) > MAX_ITEMS:
            raise _Mismatch("too many items")
        return "ivs", tuple(ivs)
    if tag == "reals":
        return "ivs", (REALS,)
    if tag == "rel":
        solved = _solved(node)
        if solved:
            return "ivs", (solved[1],)
        if node[1] == ("=",):
            return "eq", node
        if len(node[1]) > 1 and all(op == "=" for op in node[1]):
            return "chain", node
        return "rel", node
    if tag in ("pair", "tuple", "matrix", "text", "basen", "empty", "ellipsis"):
        return tag, node
    return "scalar", node


def _dedupe(items: Sequence[Node]) -> list[Node]:
    out: list[Node] = []
    for item in items:
        if not any(_item_match(o, item) for o in out):
            out.append(item)
    return out


def _item_match(gold: Node, ans: Node) -> bool:
    try:
        return _match(_shape(gold), _shape(ans))
    except _Mismatch:
        return False


def _same_multiset(gold: Sequence[Node], ans: Sequence[Node], match: Callable[[Node, Node], bool]) -> bool:
    if len(gold) != len(ans):
        return False
    left = list(ans)
    for g in gold:
        for k, a in enumerate(left):
            if match(g, a):
                del left[k]
                break
        else:
            return False
    return True


def _iv_equal(g: Node, a: Node) -> bool:
    return g[3] == a[3] and g[4] == a[4] and _scalar_match(g[1], a[1]) and _scalar_match(g[2], a[2])


def _ordered(gold: Sequence[Node], ans: Sequence[Node]) -> bool:
    return len(gold) == len(ans) and all(_item_match(g, a) for g, a in zip(gold, ans, strict=True))


def _sequence(kind: str, payload: Node) -> tuple[Node, ...] | None:
    """An ordered tuple view: tuples, ``(a, b)`` pairs, column or row vectors."""
    if kind == "tuple":
        return payload[1]  # type: ignore[no-any-return]
    if kind == "pair" and payload[3] + payload[4] in ("()", "[]"):
        return payload[1], payload[2]
    if kind == "matrix":
        rows = payload[1]
        if all(len(r) == 1 for r in rows):
            return tuple(r[0] for r in rows)
        if len(rows) == 1:
            return rows[0]  # type: ignore[no-any-return]
    return None


def _difference(eq: Node) -> Node:
    lhs, rhs = eq[2][0], eq[2][-1]
    return ("add", (lhs, ("neg", rhs)))


def _proportional(a: Node, b: Node, positive: bool = False) -> bool:
    """a = c·b for a nonzero constant c (rearranged equations, scaled inequalities)."""
    points = _points(free_symbols(a) | free_symbols(b))
    ratio = None
    with mpmath.workdps(50):
        for env in points:
            va, vb = value(a, env), value(b, env)
            if va == 0 or vb == 0:
                if va == vb:
                    continue
                return False
            r = va / vb
            if ratio is None:
                ratio = r
            elif not _close(r, ratio, 1e-30):
                return False
    if ratio is None:
        return True
    if positive and not (mpmath.im(ratio) == 0 and ratio > 0):
        return False
    return True


def _chain_end(chain: Node) -> tuple[str, Any]:
    """``x = 2 + 3 = 5``: every link after the first must hold; then it says ``x = 5``."""
    exprs = chain[2]
    for left, right in zip(exprs[1:], exprs[2:], strict=False):
        if not _item_match(left, right):
            raise _Mismatch("a chain of equalities with a link that does not hold")
    return _shape(("rel", ("=",), (exprs[0], exprs[-1])))


def _match(gold: tuple[str, Any], ans: tuple[str, Any]) -> bool:
    gk, g = gold
    ak, a = ans
    if gk == "chain" or ak == "chain":
        return _match(_chain_end(g) if gk == "chain" else gold, _chain_end(a) if ak == "chain" else ans)
    if ak == "list":
        items = _dedupe(a)
        if len(items) == 1:
            return _match(gold, _shape(items[0]))
    if gk == "list":
        gitems = _dedupe(g)
        if len(gitems) == 1:
            return _match(_shape(gitems[0]), ans)
        if ak == "empty":
            return False
        aitems = _dedupe(a) if ak == "list" else [a]
        return _same_multiset(gitems, aitems, _item_match)
    if ak == "list":
        raise _Mismatch("several candidate answers for a single gold value")
    if gk == "eq" and ak == "eq":
        ga, aa = _assignment(g), _assignment(a)
        if ga is not None and aa is not None and g[2][0] == a[2][0]:
            return _match(_shape(ga), _shape(aa))
        return _proportional(_difference(g), _difference(a))
    if gk == "eq" or ak == "eq":  # an assignment v = expr against a bare expr: compare the expr
        rhs = _assignment(g if gk == "eq" else a)
        if rhs is None:
            return False
        return _match(_shape(rhs), ans) if gk == "eq" else _match(gold, _shape(rhs))
    if gk == "scalar":
        return ak == "scalar" and _scalar_match(g, a)
    if gk == "ivs":
        if ak == "ivs":
            return _same_multiset(g, a, _iv_equal)
        if ak == "pair":
            return _same_multiset(g, [_pair_interval(a)], _iv_equal)
        return False
    if gk in ("pair", "tuple", "matrix"):
        if gk == "pair" and ak == "ivs" and len(a) == 1:
            return _iv_equal(_pair_interval(g), a[0])
        if gk == "pair" and ak == "pair":
            return g[3] == a[3] and g[4] == a[4] and _ordered(g[1:3], a[1:3])
        if gk == "matrix" and ak == "matrix":
            if len(g[1]) != len(a[1]) or len(g[1][0]) != len(a[1][0]):
                return False
            return all(_ordered(gr, ar) for gr, ar in zip(g[1], a[1], strict=True))
        gs, as_ = _sequence(gk, g), _sequence(ak, a)
        return gs is not None and as_ is not None and _ordered(gs, as_)
    if gk == "rel":
        if ak != "rel" or len(g[1]) != 1 or len(a[1]) != 1:
            return False
        flip = {">": "<", ">=": "<=", "<": "<", "<=": "<=", "!=": "!="}
        gop, aop = flip[g[1][0]], flip[a[1][0]]
        if gop != aop:
            return False
        gd = _difference(g) if g[1][0] in ("<", "<=", "!=") else ("neg", _difference(g))
        ad = _difference(a) if a[1][0] in ("<", "<=", "!=") else ("neg", _difference(a))
        return _proportional(gd, ad, positive=gop != "!=")
    if gk == "text":
        return ak == "text" and " ".join(g[1].split()) == " ".join(a[1].split())
    if gk == "basen":
        if ak == "basen":
            return bool(g[1] == a[1] and g[2] == a[2])
        return ak == "scalar" and a[0] == "num" and not a[2] and a[3] == g[1]
    if gk == "empty":
        return ak == "empty"
    return False


# --- multiple choice ------------------------------------------------------------------------------

_LETTER_GOLD = re.compile(r"^\s*(?:\\text(?:bf)?\s*\{\s*)?\(?\s*([A-J])\s*\)?\s*\}?\s*\.?\s*$")
_LETTER = re.compile(r"(?<![A-Za-z\\])\(?([A-Ja-j])\)?(?![A-Za-z])")  # the answer may say (c) for C
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textrm)\s*\{([^{}]*)\}")


def _choice(gold_letter: str, answer: str, choices: Sequence[str]) -> tuple[bool, str]:
    plain = answer
    for _ in range(3):
        plain = _TEXT_WRAP.sub(lambda m: m.group(1), plain)
    letters = {m.group(1).upper() for m in _LETTER.finditer(plain)}
    if len(letters) > 1:
        return False, f"names several choices: {', '.join(sorted(letters))}"
    if letters:
        letter = letters.pop()
        return letter == gold_letter, f"choice {letter} against {gold_letter}"
    index = ord(gold_letter) - ord("A")
    if choices and index < len(choices):
        option = re.sub(r"^\s*\(?[A-J]\)\s*", "", choices[index])
        try:
            if answers_match(option, answer):
                others = [c for k, c in enumerate(choices) if k != index]
                if any(answers_match(re.sub(r"^\s*\(?[A-J]\)\s*", "", c), answer) for c in others):
                    return False, "matches more than one option"
                return True, f"the text of option {gold_letter}"
        except (ParseError, _Mismatch, ArithmeticError, ValueError):
            pass
    return False, "no choice letter"


# --- entry points ---------------------------------------------------------------------------------


def answers_match(gold: str, answer: str) -> bool:
    """Compare two answer strings (no extraction); raises on unparseable input."""
    g, a = parse(gold), parse(answer)
    if g == a and not _undefined(g):
        return True
    return _match(_shape(g), _shape(a))


def _undefined(node: Node) -> bool:
    return summary(node).zero_division


def grade(response: str, gold: str, choices: Sequence[str] = ()) -> MathGrade:
    """Grade a full model response against a gold answer (unbounded time: see ``MathVerifier``)."""
    if sys.getrecursionlimit() < 10_000:
        sys.setrecursionlimit(10_000)
    if not gold.strip():
        return MathGrade(False, "", "", "", "empty gold answer")
    extraction = extract_answer(response)
    if extraction.answer is None:
        return MathGrade(False, "", "", gold.strip(), extraction.reason)
    answer = extraction.answer
    letter = _LETTER_GOLD.match(gold)
    if letter:
        ok, why = _choice(letter.group(1), answer, choices)
        return MathGrade(ok, answer, answer.strip(), letter.group(1), why)
    norm_gold, norm_answer = normalize_text(gold), normalize_text(answer)

    def result(ok: bool, why: str, a: Node | None = None, g: Node | None = None) -> MathGrade:
        return MathGrade(ok, answer, show(a) if a else norm_answer, show(g) if g else norm_gold, why)

    if "\\ldots" in norm_answer and "\\ldots" not in norm_gold:
        return result(False, "an ellipsis: several candidates, not one answer")
    try:
        g = parse(gold)
    except ParseError as exc:
        same = norm_gold.lower() == norm_answer.lower()
        return result(same, f"gold is not parseable ({exc}); compared as text")
    try:
        a = g if norm_answer == norm_gold else parse(answer)  # the same text is the same tree
    except ParseError as exc:
        return result(False, f"answer is not parseable: {exc}", g=g)
    if _undefined(g) or _undefined(a):
        return result(False, "undefined (division by zero)", a, g)
    if g == a:
        return result(True, "identical", a, g)
    try:
        ok = _match(_shape(g), _shape(a))
    except _Mismatch as exc:
        return result(False, str(exc), a, g)
    except Undefined as exc:
        return result(False, f"undefined ({exc})", a, g)
    except TooBig as exc:
        return result(False, f"too large to compare ({exc})", a, g)
    except NotEvaluable as exc:
        return result(False, f"not comparable ({exc})", a, g)
    except (ArithmeticError, ValueError, TypeError) as exc:
        return result(False, f"not comparable ({type(exc).__name__}: {exc})", a, g)
    return result(ok, "equal" if ok else "not equal", a, g)
