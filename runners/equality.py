"""Assertion tests of Java and C#: a program cannot bring the equality the test compares with.

HumanEval-X's and MultiPL-E's Java and C# tests compare by calling a method of the returned value:
``s.separateParenGroups("...").equals(Arrays.asList(...))``, ``candidate(...).Equals(...)``. A
program that returns an object of its own making decides that comparison: an anonymous
``new ArrayList<String>() { public boolean equals(Object o) { return true; } }`` scored a wrong
solution 1.0 (the ``__eq__`` of these languages). So a program that defines ``equals``/``Equals``
(or C#'s ``operator ==``), builds a dynamic proxy (whose handler answers ``equals``), or declares
a type named like the ``java.util``/``java.lang`` (``System``, ``System.Collections.Generic``)
classes the tests name (its own ``Arrays.asList`` would hand both sides of the test one object) that the test
uses is refused before it is built. Solutions of these datasets return library types and need none of it.

The check reads the program as the compiler does: comments and string literals removed, and in Java
``\\uXXXX`` escapes decoded first (javac reads ``\\u0065quals`` as ``equals``).
"""

from __future__ import annotations

import re

__all__ = ["csharp_refusal", "java_refusal"]

# Library types the tests of these datasets name (and that a program could shadow with its own).
_LIBRARY_TYPES = frozenset(
    "Arrays List ArrayList LinkedList Objects Object String Integer Long Double Float Boolean Character "
    "Byte Short Math Optional Collections Collection Map HashMap TreeMap LinkedHashMap Set HashSet "
    "TreeSet LinkedHashSet Iterator Iterable Comparator Deque ArrayDeque Queue PriorityQueue Stack "
    "Vector System AssertionError Exception RuntimeException Error Throwable Thread Runtime "
    "StringBuilder StringBuffer Number Enum Record Class Stream Collectors Assert Debug Trace "
    "Console Environment Dictionary IList IEnumerable Enumerable Tuple ValueTuple Convert".split()
)
_TYPE_DECL = re.compile(r"\b(?:class|interface|enum|record|struct)\s+([A-Za-z_]\w*)")


def _code_only(source: str) -> str:
    """``source`` without comments, string and character literals (Java text blocks and C#
    verbatim and raw strings included; each literal becomes ``""``)."""
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        elif source.startswith('"""', i):  # a Java text block, a C# raw string
            end = source.find('"""', i + 3)
            i = n if end < 0 else end + 3
            out.append('""')
        elif source.startswith(('@"', '$@"', '@$"'), i):  # C# verbatim: "" is a quote
            j = source.index('"', i) + 1
            while j < n and not (source[j] == '"' and not source.startswith('""', j)):
                j += 2 if source.startswith('""', j) else 1
            i = j + 1
            out.append('""')
        elif source[i] in "\"'":
            quote, j = source[i], i + 1
            while j < n and source[j] not in (quote, "\n"):
                j += 2 if source[j] == "\\" else 1
            i = j + 1
            out.append('""')
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def _refusal(program: str, test: str, equals: str, proxy: str, own_operator: bool) -> str | None:
    code = _code_only(program)
    if re.search(rf"\b(?:boolean|bool)\b[^;{{}}()=]*\b{equals}\s*\(", code):
        return f"the program defines {equals}() (the test's comparisons would call it): refused"
    if own_operator and re.search(r"\boperator\s*(?:==|!=)", code):
        return "the program defines operator == (the test's comparisons would call it): refused"
    if re.search(proxy, code):
        return "the program builds a dynamic proxy (it would answer the test's comparisons): refused"
    used = set(re.findall(r"\b[A-Z]\w*", _code_only(test))) & _LIBRARY_TYPES
    shadowed = sorted({m.group(1) for m in _TYPE_DECL.finditer(code)} & used)
    if shadowed:
        return f"the program declares {', '.join(shadowed)}, a library type the test uses: refused"
    return None


def java_refusal(program: str, test: str) -> str | None:
    """Why a Java program cannot be ``test``'s program, or ``None``."""

    def decode(text: str) -> str:
        return re.sub(r"\\u+([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)

    return _refusal(decode(program), decode(test), "equals", r"\bProxy\b|\bnewProxyInstance\b", False)


def csharp_refusal(program: str, test: str) -> str | None:
    """Why a C# program cannot be ``test``'s program, or ``None``."""
    return _refusal(program, test, "Equals", r"\bDispatchProxy\b|\bRealProxy\b", own_operator=True)
