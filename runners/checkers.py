"""Output comparison, run on the host: expected outputs never enter the sandbox.

``compare_output`` implements the built-in stdio checkers (EXACT, LINES, TOKENS, FLOAT);
``compare_json`` compares a call test's return value. CUSTOM checkers are programs and run sandboxed
(see ``sandbox_service.runner``).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["DEFAULT_FLOAT_TOL", "compare_json", "compare_output", "load_json"]

#: Tolerance FLOAT uses when a request sets neither ``abs_tol`` nor ``rel_tol``.
DEFAULT_FLOAT_TOL = 1e-6

_WS = b" \t\r\n\x0b\x0c"


def _lines(data: bytes) -> list[bytes]:
    lines = [line.rstrip(_WS) for line in data.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _tolerances(abs_tol: float, rel_tol: float) -> tuple[float, float]:
    if abs_tol == 0 and rel_tol == 0:
        return DEFAULT_FLOAT_TOL, DEFAULT_FLOAT_TOL
    return abs_tol, rel_tol


def _close(a: float, b: float, abs_tol: float, rel_tol: float) -> bool:
    """``a`` (actual) is within either tolerance of ``b`` (expected); inf/nan only equal themselves."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    diff = abs(a - b)
    return diff <= abs_tol or diff <= rel_tol * abs(b)


def _float(x: float) -> float:
    """``x`` as a float; an int past float's range is infinite (so it equals no finite float)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _as_float(token: bytes) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def compare_output(
    kind: str, expected: bytes, actual: bytes, abs_tol: float = 0.0, rel_tol: float = 0.0
) -> tuple[bool, str]:
    """Compare a program's stdout with the expected one.

    Args:
        kind: ``EXACT`` (byte for byte), ``LINES`` (trailing whitespace per line and trailing blank
            lines ignored), ``TOKENS`` (whitespace-separated tokens) or ``FLOAT`` (tokens; numbers
            equal within ``abs_tol`` or ``rel_tol`` of the expected one, other tokens exact).
        expected: the reference output.
        actual: what the program printed.
        abs_tol: FLOAT's absolute tolerance.
        rel_tol: FLOAT's relative tolerance (both 0: ``DEFAULT_FLOAT_TOL`` for each).

    Returns:
        ``(equal, message)``; the message says where the first difference is.
    """
    if kind == "EXACT":
        if expected == actual:
            return True, ""
        return False, f"output differs (expected {len(expected)} bytes, got {len(actual)})"
    if kind == "LINES":
        exp, act = _lines(expected), _lines(actual)
        for i, (e, a) in enumerate(zip(exp, act, strict=False)):
            if e != a:
                return False, f"line {i + 1} differs"
        if len(exp) != len(act):
            return False, f"expected {len(exp)} lines, got {len(act)}"
        return True, ""
    if kind in ("TOKENS", "FLOAT"):
        exp_t, act_t = expected.split(), actual.split()
        if len(exp_t) != len(act_t):
            return False, f"expected {len(exp_t)} tokens, got {len(act_t)}"
        atol, rtol = _tolerances(abs_tol, rel_tol)
        for i, (e, a) in enumerate(zip(exp_t, act_t, strict=True)):
            if e == a:
                continue
            if kind == "FLOAT":
                ef, af = _as_float(e), _as_float(a)
                if ef is not None and af is not None and _close(af, ef, atol, rtol):
                    continue
            return False, f"token {i + 1} differs"
        return True, ""
    raise ValueError(f"unknown checker kind {kind!r}")


class _Digits(str):
    """An integer literal longer than Python converts (``sys.get_int_max_str_digits``), kept as its
    text: JSON has no leading zeros, so two such integers are equal exactly when their texts are."""


_MAX_DIGITS = 4000


def _parse_int(text: str) -> int | _Digits:
    return int(text) if len(text) <= _MAX_DIGITS else _Digits(text)


def load_json(text: str | bytes) -> Any:
    """``json.loads`` that also takes integers of any length (a call's ``factorial(2000)``), without
    converting them: nesting deeper than Python recurses is a ``ValueError``."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _json_equal(exp: Any, act: Any, atol: float, rtol: float, tolerant: bool) -> bool:
    if isinstance(exp, _Digits) or isinstance(act, _Digits):
        return type(exp) is type(act) and str(exp) == str(act)
    if isinstance(exp, bool) or isinstance(act, bool):
        return type(exp) is type(act) and exp == act
    if isinstance(exp, int | float) and isinstance(act, int | float):
        if tolerant and (isinstance(exp, float) or isinstance(act, float)):
            return _close(_float(act), _float(exp), atol, rtol)
        return exp == act
    if isinstance(exp, list) and isinstance(act, list):
        return len(exp) == len(act) and all(
            _json_equal(e, a, atol, rtol, tolerant) for e, a in zip(exp, act, strict=True)
        )
    if isinstance(exp, dict) and isinstance(act, dict):
        return exp.keys() == act.keys() and all(
            _json_equal(exp[k], act[k], atol, rtol, tolerant) for k in exp
        )
    return bool(type(exp) is type(act) and exp == act)


def compare_json(
    expected_json: str, actual_json: str, abs_tol: float = 0.0, rel_tol: float = 0.0, tolerant: bool = False
) -> tuple[bool, str]:
    """Compare a call test's JSON-encoded return value with the expected JSON.

    Tuples arrive as lists (JSON has no tuples), so they compare as lists. ``true`` never equals
    ``1``. With ``tolerant`` (a FLOAT checker on the test), floats compare within the tolerances.
    """
    try:
        expected = load_json(expected_json)
    except ValueError as exc:
        raise ValueError(f"expected_json is not JSON: {exc}") from exc
    try:
        actual = load_json(actual_json)
    except ValueError:
        return False, "return value is not JSON"
    atol, rtol = _tolerances(abs_tol, rel_tol)
    if _json_equal(expected, actual, atol, rtol, tolerant):
        return True, ""
    shown = actual_json if len(actual_json) <= 200 else actual_json[:200] + "..."
    return False, f"returned {shown}"
