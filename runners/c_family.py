"""Assertion tests of C and C++: what keeps a program from changing the test code it is compiled with.

The test code is compiled in the program's translation unit (HumanEval-X, MultiPL-E), so the
program's declarations are in scope when the test's ``assert`` lines are compiled. Three ways a
wrong program passed that way, each closed here:

- **Macros.** ``#define __assert_fail(...)``, ``#define if(x) if (1)``: a macro the program defines
  rewrites the test code. Every macro the program defines is ``#undef``'d before the test code (then
  ``<assert.h>`` is included again, asserts on). The names are read from the program's logical
  lines as the preprocessor reads them: line splices joined, comments removed, digraphs (``%:``) and
  trigraphs (``??=``) read, so ``#/**/define`` or ``%:define`` is seen. A redefined ``assert`` or a
  defined ``NDEBUG`` is refused outright, with a message saying so.
- **Overloads (C++).** ``bool operator==(const std::string&, const char*) { return true; }`` at
  global scope, or ``void __assert_fail(const char*, const char*, int, const char*) {}`` (a better
  match for ``__LINE__`` than glibc's ``unsigned int``), are found by the test's unqualified lookup.
  The test code is compiled inside a namespace of its own (its name derived from the run's nonce, so
  the program cannot add to it), which declares every overloadable operator for a type nobody has
  and glibc's assert functions: unqualified lookup stops there, so a program's free operators and
  ``__assert_fail`` overloads are hidden, while argument-dependent lookup still finds ``std``'s
  operators for ``std`` types and the program's own for its own types. The test's ``main`` is called
  from a ``main`` at global scope; its ``#include`` and other directive lines are moved out first.
- **Reopening ``std`` (C++).** ADL would find an operator the program adds to ``namespace std``, or
  a ``std`` template it specializes; a program that reopens ``std`` or specializes a ``std`` template
  (``template<> struct std::hash<...>``), or names a namespace through its own macro, is refused.

What stays possible for a program sharing the test's process (README, "Assertion tests"): calling
into the C library the test uses with a better-matching overload of a function the test does not
define itself (``abs`` for a type without an exact overload), and anything done at run time in the
same address space.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

__all__ = ["compose", "logical_text", "program_macros", "refusal"]

_TRIGRAPHS = {"=": "#", "/": "\\", "'": "^", "(": "[", ")": "]", "!": "|", "<": "{", ">": "}", "-": "~"}
_ASSERT_MACRO = re.compile(  # `#undef NDEBUG` (asserts on, as HumanEval-X's own CPP/94 writes it) is fine
    r"(?m)^[ \t]*#[ \t]*(?:define[ \t]+(?:assert|NDEBUG|_*assert\w*|static_assert|__ASSERT\w*)\b"
    r"|undef[ \t]+(?:assert|_*assert\w*|static_assert)\b)"
)
_DIRECTIVE = re.compile(r"(?m)^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(.*)$")
_USING_NAMESPACE = re.compile(r"\busing\s+namespace\s+[\w:\s]+;")
_NAMESPACE = re.compile(r"\bnamespace\s+([A-Za-z_]\w*)")
# An explicit specialization naming std (``template<> bool std::equal(...)``), or a class template of
# std specialized (``template<class T> struct std::hash<Box<T>>``).
_STD_SPECIALIZATION = re.compile(
    r"\btemplate\s*<\s*>[^;{]*\bstd\s*::|\btemplate\s*<[^;{]*>\s*(?:struct|class|union)\s+(?:::\s*)?std\s*::"
)
_RAW_PREFIX = re.compile(r"(?:^|[^\w])(?:u8|u|U|L)?R$")
_MAIN = re.compile(r"\bint\s+main\s*\(\s*(void)?\s*\)|\bint\s+main\s*\(")
# Every operator a free function can overload; the binary and unary forms share a name, so one
# declaration of each hides both.
_OPERATORS = (
    "== != < > <= >= + - * / % ^ & | ~ ! && || << >> += -= *= /= %= ^= &= |= <<= >>= ++ -- , ->*"
).split()
# glibc's assert functions, declared again in the test's namespace (the same C functions): the
# program's overloads of them at global scope are hidden from the test's `assert`.
_ASSERT_FUNCTIONS = "".join(
    f"void {name}({params}) noexcept __attribute__((__noreturn__));\n"
    for name, params in (
        ("__assert_fail", "const char*, const char*, unsigned int, const char*"),
        ("__assert_perror_fail", "int, const char*, unsigned int, const char*"),
        ("__assert", "const char*, const char*, int"),
    )
)
_ARITY = {"~": "hidden&", "!": "hidden&", "++": "hidden&, int", "--": "hidden&, int"}
_HIDING_OPERATORS = "".join(
    f"void operator{op}({_ARITY.get(op, 'hidden&, hidden&')});\n" for op in _OPERATORS
)


def logical_text(source: str, trigraphs: bool = True) -> str:
    """``source`` as the preprocessor's directive reader sees it: trigraphs read (C), line splices
    joined, comments replaced by a space, ``%:`` read as ``#``; string, character and raw string
    literals kept (a comment opener inside one is not a comment)."""
    if trigraphs:
        source = re.sub(r"\?\?([=/'()!<>\-])", lambda m: _TRIGRAPHS[m.group(1)], source)
    source = re.sub(r"\\[ \t]*\r?\n", "", source)  # GCC joins a backslash followed by blanks too
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "/" and source.startswith("/*", i):
            end = source.find("*/", i + 2)
            stop = n if end < 0 else end + 2
            out.append(" " + "\n" * source.count("\n", i, stop))  # lines keep their numbers
            i = stop
        elif c == "/" and source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        elif c == '"' and _RAW_PREFIX.search(source, max(0, i - 4), i):
            raw = re.match(r'"([^()\\\s]{0,16})\(', source[i:])
            if raw is None:
                out.append(c)
                i += 1
                continue
            end = source.find(")" + raw.group(1) + '"', i)
            stop = n if end < 0 else end + len(raw.group(1)) + 2
            out.append(source[i:stop].replace("\n", " "))  # not lines of their own
            i = stop
        elif c in "\"'":
            stop = _literal_end(source, i)
            out.append(source[i:stop])
            i = stop
        else:
            out.append(c)
            i += 1
    return re.sub(r"(?m)^([ \t]*)%:", r"\1#", "".join(out))


def program_macros(source: str, trigraphs: bool = True) -> list[str]:
    """The names of the macros ``source`` defines, in order, each once."""
    names = [m.group(1) for m in _DIRECTIVE.finditer(logical_text(source, trigraphs))]
    return list(dict.fromkeys(names))


def refusal(source: str, test: str, cxx: bool) -> str | None:
    """Why a program cannot be an assertion test's program (``test`` is not read), or ``None``."""
    text = logical_text(source, trigraphs=not cxx)
    if _ASSERT_MACRO.search(text):
        return "the program redefines assert (or defines NDEBUG): refused"
    if not cxx:
        return None
    macros = {m.group(1): m.group(2) for m in _DIRECTIVE.finditer(text)}
    if any(re.search(r"\bnamespace\b|##", body) for body in macros.values()):
        return (
            "the program defines a macro that writes a namespace or pastes tokens: refused in assertion tests"
        )
    code = _USING_NAMESPACE.sub(" ", text)
    for found in _NAMESPACE.finditer(code):
        if found.group(1) == "std" or found.group(1) in macros:
            return "the program reopens namespace std (it would change the test's comparisons): refused"
    if _STD_SPECIALIZATION.search(code):
        return "the program specializes a std template (it would change the test's comparisons): refused"
    return None


def compose(program: str, test: str, nonce: str, cxx: bool) -> str:
    """The source an assertion test is built from: the program, its macros undefined, and the test
    code (C++: inside its own namespace, called from ``main``; see the module doc)."""
    undefs = "".join(f"#undef {name}\n" for name in program_macros(program, trigraphs=not cxx))
    head = f"{program}\n{undefs}#undef NDEBUG\n#include <assert.h>\n"
    if not cxx:
        return f"{head}{test}\n"
    text = logical_text(test, trigraphs=False)
    main = _MAIN.search(text)
    end = _closing_brace(text, main.end()) if main is not None else None
    if main is None or end is None:  # not a test with a main of its own: built as it is
        return f"{head}{test}\n"
    # The test's main, now a function of the namespace: flowing off its end returns 0 as main's does.
    text = text[:end] + "return 0; " + text[end:]
    # MultiPL-E's tests open with the `}` that closes the prompt's function: that stays outside.
    closers = _unmatched_closers(text[: main.start()])
    directives, body = _split_directives(text[closers:])
    ns = "sandbox_test_" + hashlib.blake2b(nonce.encode(), digest_size=8).hexdigest()
    args = "" if main.group(0).rstrip().endswith(")") else "argc, argv"
    return (
        f"{head}{text[:closers]}\n{directives}"
        f"namespace {ns} {{\n"
        f'extern "C" {{\n{_ASSERT_FUNCTIONS}}}\n'
        f"struct hidden;\n{_HIDING_OPERATORS}"
        f"{body}\n}}\n"
        f"int main(int argc, char **argv) {{ (void)argc; (void)argv; return {ns}::main({args}); }}\n"
    )


def _unmatched_closers(text: str) -> int:
    """Where the text after the last ``}`` of ``text`` that closes nothing of its own begins (0 if
    there is none)."""
    depth, cut = 0, 0
    for i, c in _code_chars(text):
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                cut = i + 1
            else:
                depth -= 1
    return cut


def _literal_end(text: str, i: int) -> int:
    """Where the string or character literal opening at ``text[i]`` ends: past its closing quote,
    or at the end of its line (a literal never spans one)."""
    quote, j, n = text[i], i + 1, len(text)
    while j < n and text[j] not in (quote, "\n"):
        j += 2 if text[j] == "\\" else 1
    return j + 1 if j < n and text[j] == quote else min(j, n)


def _code_chars(text: str) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of ``text`` outside string and character literals (logical text: no comments)."""
    i, n = 0, len(text)
    while i < n:
        if text[i] in "\"'":
            i = _literal_end(text, i)
            continue
        yield i, text[i]
        i += 1


def _closing_brace(text: str, start: int) -> int | None:
    """The index of the ``}`` closing the first ``{`` at or after ``start``, or ``None`` (a ``;``
    first: a declaration of main, not its definition)."""
    depth = 0
    for i, c in _code_chars(text[start:]):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return start + i
        elif c == ";" and depth == 0:
            return None
    return None


def _split_directives(test: str) -> tuple[str, str]:
    """The directive lines of ``test`` (logical text: splices joined, ``%:`` read as ``#``), and the
    rest with blank lines in their place (so the compiler's line numbers of the rest stay near the
    test's own)."""
    directives: list[str] = []
    body: list[str] = []
    for line in test.split("\n"):
        is_directive = line.lstrip().startswith("#")
        if is_directive:
            directives.append(line + "\n")
        body.append("" if is_directive else line)
    return "".join(directives), "\n".join(body)
