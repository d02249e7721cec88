"""Values of parsed trees: exact rationals where cheap, else mpmath numbers at a fixed precision.

Both evaluators walk our own closed trees (``parse.Node``); nothing is compiled or executed. Cost is
bounded by guards: exact powers and factorials only up to a size, numeric powers only while the
result's exponent stays a modest integer (power towers raise ``TooBig`` instead of computing).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath

from .parse import Node

__all__ = [
    "Undefined",
    "NotEvaluable",
    "TooBig",
    "Summary",
    "exact",
    "value",
    "walk",
    "free_symbols",
    "has_tag",
    "summary",
]

MAX_EXACT_BITS = 1 << 18
MAX_EXACT_EXPONENT = MAX_EXACT_BITS
MAX_EXACT_FACTORIAL = 2_000
MAX_LOG_MAGNITUDE = 1e15  # |ln| of a numeric result beyond this is TooBig


class Undefined(ArithmeticError):
    """1/0, 0/0, log 0, a negative factorial: never equal to anything."""


class NotEvaluable(ValueError):
    """No numeric value (text, an unevaluated sum, a set where a number is needed)."""


class TooBig(OverflowError):
    """Too large to evaluate within the budget (power towers, huge factorials)."""


def walk(node: Node) -> Iterator[Node]:
    """Every tagged node under ``node`` (iterative, so deep trees cannot overflow the stack)."""
    stack: list[Any] = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            if x and isinstance(x[0], str):
                yield x
            stack.extend(y for y in x if isinstance(y, tuple))


@dataclass(frozen=True)
class Summary:
    """What one walk of a tree finds: its node kinds, free symbols, decimal literals, literal x/0."""

    tags: frozenset[str]
    symbols: frozenset[str]
    decimal: bool
    zero_division: bool


_SUMMARIES: dict[int, tuple[Node, Summary]] = {}  # by id, holding the node so the id stays its own


def summary(node: Node) -> Summary:
    """The ``Summary`` of ``node``, computed once per tree (a grade asks several questions of a
    10k-node sum; each used to walk it again)."""
    hit = _SUMMARIES.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    tags: set[str] = set()
    symbols: set[str] = set()
    decimal = zero_division = False
    for n in walk(node):
        tag = n[0]
        tags.add(tag)
        if tag == "sym":
            symbols.add(n[1])
        elif tag == "num":
            decimal = decimal or bool(n[2])
        elif tag == "div" and n[2][0] == "num" and n[2][1] == 0:
            zero_division = True
    result = Summary(frozenset(tags), frozenset(symbols), decimal, zero_division)
    if len(_SUMMARIES) > 512:
        _SUMMARIES.clear()
    _SUMMARIES[id(node)] = (node, result)
    return result


def has_tag(node: Node, *tags: str) -> bool:
    return not summary(node).tags.isdisjoint(tags)


def free_symbols(node: Node) -> set[str]:
    return set(summary(node).symbols)


def _bits(q: Fraction) -> int:
    return max(abs(q.numerator).bit_length(), q.denominator.bit_length())


def _int_root(n: int, k: int) -> int | None:
    if n < 0:
        return None
    r = round(n ** (1.0 / k)) if n.bit_length() < 1000 else int(mpmath.nthroot(n, k))
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**k == n:
            return c
    return None


def exact(node: Node) -> Fraction | None:
    """The exact rational value, or None when it is not a (cheaply computable) rational."""
    tag = node[0]
    if tag == "num":
        return node[1]  # type: ignore[no-any-return]
    if tag == "add":
        total = Fraction(0)
        for t in node[1]:
            v = exact(t)
            if v is None:
                return None
            total += v
        return total
    if tag == "mul":
        prod = Fraction(1)
        for f in node[1]:
            v = exact(f)
            if v is None:
                return None
            prod *= v
            if _bits(prod) > MAX_EXACT_BITS:
                return None
        return prod
    if tag == "neg":
        v = exact(node[1])
        return None if v is None else -v
    if tag == "div":
        b = exact(node[2])
        if b == 0:
            raise Undefined("division by zero")
        a = exact(node[1])
        return None if a is None or b is None else a / b
    if tag == "pow":
        e = exact(node[2])
        # the bit budget below bounds the cost: 2^65536 (131072 bits) is exact, 9^(9^9) is not
        if e is None or e.denominator != 1 or abs(e) > MAX_EXACT_EXPONENT:
            return None
        b = exact(node[1])
        if b is None:
            return None
        if b == 0 and e < 0:
            raise Undefined("zero to a negative power")
        if b not in (0, 1, -1) and _bits(b) * abs(e) > MAX_EXACT_BITS:
            return None
        return b ** int(e)
    if tag == "root":
        x, n = exact(node[1]), exact(node[2])
        if x is None or n is None or n.denominator != 1 or not 1 <= n <= 64:
            return None
        k = int(n)
        sign = 1
        if x < 0:
            if k % 2 == 0:
                return None
            sign, x = -1, -x
        num_root, den_root = _int_root(x.numerator, k), _int_root(x.denominator, k)
        return None if num_root is None or den_root is None else sign * Fraction(num_root, den_root)
    if tag == "fact":
        n = exact(node[1])
        if n is None or n.denominator != 1:
            return None
        if n < 0:
            raise Undefined("factorial of a negative integer")
        return Fraction(math.factorial(int(n))) if n <= MAX_EXACT_FACTORIAL else None
    if tag == "binom":
        top, pick = exact(node[1]), exact(node[2])
        if (
            top is None
            or pick is None
            or top.denominator != 1
            or pick.denominator != 1
            or not 0 <= top <= 5000
        ):
            return None
        return Fraction(math.comb(int(top), int(pick))) if pick >= 0 else Fraction(0)
    if tag == "abs":
        v = exact(node[1])
        return None if v is None else abs(v)
    if tag == "pct":
        v = exact(node[1])
        return None if v is None else v / 100
    return None


_FN = {
    "sin": mpmath.sin,
    "cos": mpmath.cos,
    "tan": mpmath.tan,
    "sec": mpmath.sec,
    "csc": mpmath.csc,
    "cot": mpmath.cot,
    "arcsin": mpmath.asin,
    "arccos": mpmath.acos,
    "arctan": mpmath.atan,
    "sinh": mpmath.sinh,
    "cosh": mpmath.cosh,
    "tanh": mpmath.tanh,
    "exp": mpmath.exp,
    "lg": mpmath.log10,
}


def _finite(x: Any) -> bool:
    return bool(mpmath.isfinite(x))


def value(node: Node, env: dict[str, Any]) -> Any:
    """The numeric value (mpmath mpf/mpc at the current precision) with symbols taken from ``env``."""
    tag = node[0]
    if tag == "num":
        q: Fraction = node[1]
        return mpmath.mpf(q.numerator) / q.denominator
    if tag == "sym":
        try:
            return env[node[1]]
        except KeyError:
            raise NotEvaluable(f"no value for {node[1]}") from None
    if tag == "const":
        return {"pi": mpmath.pi, "e": mpmath.e, "i": mpmath.mpc(0, 1), "inf": mpmath.inf}[node[1]]
    if tag == "add":
        return mpmath.fsum(value(t, env) for t in node[1])
    if tag == "mul":
        prod: Any = mpmath.mpf(1)
        for f in node[1]:
            prod = prod * value(f, env)
        return prod
    if tag == "neg":
        return -value(node[1], env)
    if tag == "div":
        b = value(node[2], env)
        if b == 0:
            raise Undefined("division by zero")
        return value(node[1], env) / b
    if tag == "pow":
        return _power(value(node[1], env), value(node[2], env))
    if tag == "root":
        x, n = value(node[1], env), value(node[2], env)
        if n == 2:
            return mpmath.sqrt(x)
        if n == 0:
            raise Undefined("zeroth root")
        if mpmath.im(x) == 0 and x < 0 and mpmath.im(n) == 0 and n == int(n) and int(n) % 2 == 1:
            return -mpmath.root(-x, int(n))
        return _power(x, 1 / n)
    if tag == "fn":
        name = node[1]
        x = value(node[2], env)
        if name == "ln" or name == "log":
            if x == 0:
                raise Undefined("log of zero")
            return mpmath.log(x)
        if name == "exp" and mpmath.re(x) > MAX_LOG_MAGNITUDE:
            raise TooBig("exp overflow")
        if name not in _FN:
            raise NotEvaluable(f"unknown function {name}")
        return _FN[name](x)
    if tag == "fact":
        n = value(node[1], env)
        if mpmath.im(n) == 0 and n == int(n) and n < 0:
            raise Undefined("factorial of a negative integer")
        if abs(n) > 1e15:
            raise TooBig("factorial too large")
        return mpmath.factorial(n)
    if tag == "binom":
        return mpmath.binomial(value(node[1], env), value(node[2], env))
    if tag == "abs":
        return abs(value(node[1], env))
    if tag == "pct":
        return value(node[1], env) / 100
    if tag == "deg":
        return value(node[1], env) * mpmath.pi / 180
    if tag == "basen":
        try:
            return mpmath.mpf(int(node[1], node[2]))
        except ValueError:
            raise NotEvaluable("bad base-n digits") from None
    raise NotEvaluable(f"{tag} has no single value")


def _power(b: Any, e: Any) -> Any:
    if b == 0:
        if mpmath.re(e) < 0:
            raise Undefined("zero to a negative power")
        return mpmath.mpf(1) if e == 0 else mpmath.mpf(0)
    if _finite(b) and _finite(e) and b != 0:
        magnitude = abs(e) * (abs(mpmath.log(abs(b))) + 1)
        if magnitude > MAX_LOG_MAGNITUDE:
            raise TooBig("power too large")
    return mpmath.power(b, e)
