"""The host-side output checkers, as a table."""

from __future__ import annotations

import pytest

from runners.checkers import compare_json, compare_output

CASES = [
    # kind, expected, actual, abs, rel, equal
    ("EXACT", b"1 2\n", b"1 2\n", 0, 0, True),
    ("EXACT", b"1 2\n", b"1 2", 0, 0, False),
    ("EXACT", b"", b"", 0, 0, True),
    ("LINES", b"1 2\n3\n", b"1 2   \n3\t\n\n\n", 0, 0, True),
    ("LINES", b"1 2\n3\n", b"1 2\r\n3\r\n", 0, 0, True),
    ("LINES", b"1 2\n", b" 1 2\n", 0, 0, False),  # leading whitespace matters
    ("LINES", b"1 2\n", b"1  2\n", 0, 0, False),
    ("LINES", b"a\n\nb\n", b"a\nb\n", 0, 0, False),  # inner blank lines matter
    ("LINES", b"", b"\n\n", 0, 0, True),
    ("LINES", b"1\n", b"", 0, 0, False),
    ("TOKENS", b"1 2\n3", b"1\n2 3\n", 0, 0, True),
    ("TOKENS", b"1 2 3", b"1 2", 0, 0, False),
    ("TOKENS", b"1.0", b"1", 0, 0, False),
    ("FLOAT", b"0.333333", b"0.3333331", 1e-6, 0, True),
    ("FLOAT", b"0.333333", b"0.3334", 1e-6, 0, False),
    ("FLOAT", b"1000000", b"1000001", 0, 1e-5, True),
    ("FLOAT", b"1000000", b"1000100", 0, 1e-5, False),
    ("FLOAT", b"1.5", b"1.5000001", 0, 0, True),  # no tolerance given: the 1e-6 default
    ("FLOAT", b"YES 2.5", b"YES 2.5000000001", 1e-6, 0, True),
    ("FLOAT", b"YES 2.5", b"yes 2.5", 1e-6, 0, False),  # non-numeric tokens are exact
    ("FLOAT", b"inf", b"inf", 1e-6, 0, True),
    ("FLOAT", b"inf", b"1e308", 1e-6, 1e-6, False),
    ("FLOAT", b"nan", b"nan", 1e-6, 0, True),
    ("FLOAT", b"1", b"nan", 1e-6, 0, False),
    ("FLOAT", b"1 2", b"1", 1e-6, 0, False),
]


@pytest.mark.parametrize(("kind", "expected", "actual", "atol", "rtol", "equal"), CASES)
def test_compare_output(
    kind: str, expected: bytes, actual: bytes, atol: float, rtol: float, equal: bool
) -> None:
    ok, message = compare_output(kind, expected, actual, atol, rtol)
    assert ok is equal
    assert bool(message) is not equal


JSON_CASES = [
    ("3", "3", False, True),
    ("3", "3.0", False, True),
    ("1", "true", False, False),
    ("true", "1", False, False),
    ("[0, 1]", "[0, 1]", False, True),
    ("[0, 1]", "[1, 0]", False, False),
    ('{"a": [1, 2]}', '{"a": [1, 2]}', False, True),
    ('{"a": 1}', '{"a": 1, "b": 2}', False, False),
    ("0.3", "0.30000000000000004", False, False),
    ("0.3", "0.30000000000000004", True, True),
    ("[0.3, 1]", "[0.30000000000000004, 1]", True, True),
    ("null", "null", False, True),
    ('"abc"', '"abc"', False, True),
    ('"abc"', '"abd"', False, False),
    ("1", "not json", False, False),
    # an int past float's range is a verdict, not an OverflowError
    ("1.5", "1" + "0" * 400, True, False),
    ("1" + "0" * 400, "1e308", True, False),
    ("1" + "0" * 400, "1" + "0" * 400, True, True),
    # integers longer than Python converts by default (4300 digits) compare exactly, as text
    ("7" * 5000, "7" * 5000, False, True),
    ("7" * 5000, "7" * 4999 + "8", False, False),
    ("7" * 5000, '"' + "7" * 5000 + '"', False, False),
    ("[1, " + "7" * 5000 + "]", "[1, " + "7" * 5000 + "]", True, True),
    ("1.5", "7" * 5000, True, False),
]


@pytest.mark.parametrize(("expected", "actual", "tolerant", "equal"), JSON_CASES)
def test_compare_json(expected: str, actual: str, tolerant: bool, equal: bool) -> None:
    assert compare_json(expected, actual, tolerant=tolerant)[0] is equal


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown checker"):
        compare_output("SORTED", b"", b"")
