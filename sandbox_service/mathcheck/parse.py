"""Answers into closed expression trees: our own tokenizer and recursive-descent grammar.

Nothing here evaluates anything: the parser only builds tuples (tag first) out of a fixed set of node
kinds, so model text can never reach ``eval``/``exec``/``sympify``. Evaluation lives in ``values``.

Whitespace and LaTeX spacing are tokens with meaning (see ``_SPACING``): ``\\\\`` is a row break, a thin
space, ``{,}`` or ``,\\!`` between digit groups is a thousands separator, a plain space joins digit
groups only in the 3-digit-group shape (``1 000 000``), and two numbers side by side are never a
product (``2 5`` is an error, not 10). A comma inside ``( )``, ``[ ]`` or ``\\{ \\}`` always separates
items (``(1,234)`` is a pair). ``a b/c`` is a mixed number only with a proper fraction and a space (not
a line break) before it; ``!=`` is "not equal".

Node kinds (tuples, tag first):
  ("num", Fraction, is_decimal, text)   ("sym", name)   ("const", "pi"|"e"|"i"|"inf")
  ("add", terms)  ("mul", factors)  ("neg", x)  ("div", a, b)  ("pow", base, exp)
  ("fn", name, arg)  ("root", x, n)  ("fact", x)  ("binom", n, k)  ("abs", x)
  ("pm", a | None, b)   a ± b (a None: unary ±)
  ("pct", x)  ("deg", x)  ("basen", digits, base)  ("calc", kind, text)  unevaluated sum/integral/...
  ("pair", a, b, open, close)  ("tuple", items)  ("set", items)  ("list", items)  ("empty",)
  ("union", items)  ("in", x, s)  ("rel", ops, exprs)  ("matrix", rows)  ("text", str)  ("ellipsis",)
  ("reals",)
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .extract import _match_brace

__all__ = ["ParseError", "Node", "parse", "normalize_text"]

Node = tuple[Any, ...]

MAX_DEPTH = 600  # nesting beyond this is refused (bounded recursion)
MAX_TOKENS = 20000


class ParseError(ValueError):
    pass


_REPLACE = [
    ("\u2212", "-"),
    ("\u2013", "-"),
    ("\u2014", "-"),
    ("\u00d7", "\\times "),
    ("\u00b7", "\\cdot "),
    ("\u00f7", "\\div "),
    ("\u221a", "\\sqrt "),
    ("\u03c0", "\\pi "),
    ("\u221e", "\\infty "),
    ("\u2264", "\\le "),
    ("\u2265", "\\ge "),
    ("\u2260", "\\ne "),
    ("\u00b0", "^\\circ "),
    ("\u222a", "\\cup "),
    ("\u2205", "\\emptyset "),
    ("\u00b1", "\\pm "),
    ("\u2208", "\\in "),
    ("\u2026", "\\ldots "),
    ("\u00a0", " "),
]
# LaTeX spacing is a token with meaning, not noise to delete blindly:
#   ``\\``          a row break (matrices): kept, so rows never merge into one product;
#   ``\!``          a negative thin space: nothing (``32,\!349`` is 32,349);
#   ``\,`` ``\:`` ``\;`` ``\ `` ``~`` thin spaces: a thousands separator between digit groups in the
#                   3-digit-group shape (``10\,000``), else a plain space;
#   ``{,}``         a comma without spacing: a thousands separator between digits (``1{,}234``);
#   ``\quad`` ``\qquad`` a wide space (a separator between items, never part of a number), also when
#                   run into the next word (``x_1=2,\quadx_2=3`` in NuminaMath golds).
# The row break is matched first, so the ``\ `` inside ``\\ `` is never read as a thin space.
_SPACING = re.compile(
    r"\\\\|\\!|\\(?:left|right|big|Big|bigg|Bigg)(?=[\s(\[|.)\]\\])\.?"
    r"|\\displaystyle|\\(?:[,;: ]|qquad|quad)|~|\$|\\\(|\\\)|\\\[|\\\]"
)
_THIN_SPACE_IN_NUMBER = re.compile(
    r"(?<![\d.])([1-9]\d{0,2})((?:(?:\\[,:; ]|~|\u2009|\u202f)\d{3})+)(?![\d])"
)
_THIN_SPACE = re.compile(r"\\[,:; ]|~|\u2009|\u202f")
_LATEX_COMMA_IN_NUMBER = re.compile(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d)")
_COMMA_THIN_SPACE_IN_NUMBER = re.compile(r"(?<=\d),\\!\s*(?=\d{3}(?!\d))")  # 11,\! 111 is 11,111
_SYNONYMS = [
    (re.compile(r"\\[dtc]frac"), "\\frac"),
    (re.compile(r"\\[dt]binom"), "\\binom"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\\$"), ""),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\(?:cdot|times|ast)(?![A-Za-z])"), "*"),
    (re.compile(r"\\div(?![A-Za-z])"), "/"),
    (re.compile(r"\\(?:geq|geqslant)(?![A-Za-z])"), "\\ge"),
    (re.compile(r"\\(?:leq|leqslant)(?![A-Za-z])"), "\\le"),
    (re.compile(r"\\neq(?![A-Za-z])"), "\\ne"),
    (re.compile(r"\\mp(?![A-Za-z])"), "\\pm"),
    (re.compile(r"\\(?:varnothing|emptyset)(?![A-Za-z])"), "\\emptyset"),
    (re.compile(r"\\(?:dots|cdots|ldots|dotsc|dotsb)(?![A-Za-z])|\.\.\.+"), "\\ldots "),
]


_BOXES = re.compile(r"(?:\\(?:boxed|fbox)\s*\{)+")


def _unbox(text: str) -> str:
    """``\\boxed{\\boxed{x}}`` -> ``x`` in one linear pass (a doubled box is formatting noise)."""
    m = _BOXES.match(text)
    if not m:
        return text
    k = m.group(0).count("{")
    if not text.endswith("}" * k):
        return text
    inner = text[m.end() : len(text) - k]
    depth = 0
    for c in inner.replace("\\{", "").replace("\\}", ""):
        depth += (c == "{") - (c == "}")
        if depth < 0:
            return text
    return inner if depth == 0 else text


def _spacing(m: re.Match[str]) -> str:
    token = m.group(0)
    if token == "\\\\":
        return " \\\\ "
    if token == "\\!":
        return ""
    return " "


def _group_digits(m: re.Match[str]) -> str:
    return m.group(1) + _THIN_SPACE.sub("", m.group(2))


def normalize_text(text: str) -> str:
    """Formatting noise removed (string level; used for the identical-strings fast path too).

    Runs of spaces become one space; a line break stays a line break (``11`` over ``5/6`` on the next
    line is not the mixed number 11 5/6).
    """
    text = text.replace("\\$", "")
    text = _LATEX_COMMA_IN_NUMBER.sub("", text)
    text = _COMMA_THIN_SPACE_IN_NUMBER.sub(",", text)
    text = _THIN_SPACE_IN_NUMBER.sub(_group_digits, text)
    text = _unbox(text.strip())
    for a, b in _REPLACE:
        text = text.replace(a, b)
    text = _SPACING.sub(_spacing, text)
    for pat, rep in _SYNONYMS:
        text = pat.sub(rep.replace("\\", "\\\\"), text)
    text = text.strip()
    while text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


# --- tokens --------------------------------------------------------------------------------------
# (kind, value, spaced) ; kinds: num, id, cmd, op, word, sep, text, unit, hedge

_FUNCS = {
    "sin",
    "cos",
    "tan",
    "sec",
    "csc",
    "cot",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "ln",
    "log",
    "exp",
    "lg",
}
_SEP_WORDS = {"or", "and"}
_HEDGE = {
    "or",
    "and",
    "possibly",
    "maybe",
    "perhaps",
    "probably",
    "not",
    "wrong",
    "either",
    "neither",
    "nor",
    "is",
    "are",
    "was",
    "could",
    "might",
    "one",
    "of",
    "between",
    "to",
    "if",
    "but",
    "else",
    "unless",
    "guess",
    "likely",
    "also",
    "any",
    "all",
    "every",
    "some",
    "none",
    "correct",
    "incorrect",
    "answer",
    "see",
    "above",
    "below",
    "print",
    "return",
    "def",
    "true",
    "false",
    "ignore",
    "grader",
    "score",
}
_UNITS = {
    "cm",
    "mm",
    "km",
    "m",
    "kg",
    "mg",
    "g",
    "ml",
    "l",
    "mph",
    "kph",
    "ft",
    "feet",
    "foot",
    "in",
    "inch",
    "inches",
    "yd",
    "yard",
    "yards",
    "mi",
    "mile",
    "miles",
    "meter",
    "meters",
    "metre",
    "metres",
    "centimeter",
    "centimeters",
    "kilometer",
    "kilometers",
    "hr",
    "hrs",
    "hour",
    "hours",
    "min",
    "mins",
    "minute",
    "minutes",
    "s",
    "sec",
    "secs",
    "second",
    "seconds",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "year",
    "years",
    "dollar",
    "dollars",
    "cent",
    "cents",
    "unit",
    "units",
    "square",
    "sq",
    "cubic",
    "lb",
    "lbs",
    "pound",
    "pounds",
    "oz",
    "ounce",
    "ounces",
    "liter",
    "liters",
    "litre",
    "litres",
    "gallon",
    "gallons",
    "gram",
    "grams",
    "kilogram",
    "kilograms",
    "people",
    "persons",
    "students",
    "times",
    "ways",
    "items",
    "pieces",
    "books",
    "apples",
    "cookies",
    "marbles",
    "points",
    "km/h",
    "m/s",
    "per",
}
_WORD_TOKENS = {
    "percent": ("op", "%"),
    "percentage": ("op", "%"),
    "pct": ("op", "%"),
    "degrees": ("op", "circ"),
    "degree": ("op", "circ"),
    "infinity": ("cmd", "infty"),
    "inf": ("cmd", "infty"),
    "pi": ("cmd", "pi"),
    "sqrt": ("cmd", "sqrt"),
}
_TEXT_CMDS = {
    "text",
    "textrm",
    "textnormal",
    "mathrm",
    "mbox",
    "textit",
    "textbf",
    "textsf",
    "texttt",
    "hbox",
}
_GROUP_CMDS = {"boxed", "fbox", "mathbf", "mathit", "bm", "boldsymbol", "mathsf", "vec", "overrightarrow"}
_CALC = {
    "sum": "sum",
    "prod": "prod",
    "int": "int",
    "iint": "int",
    "iiint": "int",
    "oint": "int",
    "lim": "lim",
    "partial": "derivative",
    "limsup": "lim",
    "liminf": "lim",
}

# Numbers. A comma or a space between digit groups is a thousands separator only in the 3-digit-group
# shape (``1,234``, ``1 000 000``; a first group of 1-3 digits not starting with 0), and a comma only
# where a number can stand alone: inside ``( )``, ``[ ]`` or ``\{ \}`` it separates items, so
# ``(1,234)`` is the pair (1, 234). A space-grouped number is not followed by ``/`` (``1 3/4`` and
# ``1 000 4/9`` are mixed numbers). Any other space between two numbers is an error, never a product.
_DIGITS = r"\d+\.?\d*(?:[eE][+-]?\d+(?![\d.]))?|\.\d+"
_NUM_COMMA = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?![\d])(?:\.\d+)?|" + _DIGITS)
_NUM_SPACE = re.compile(r"[1-9]\d{0,2}(?: \d{3})+(?![\d/]|\.\d*/)(?:\.\d+)?")
_NUM = re.compile(_DIGITS)
_CMD = re.compile(r"\\([A-Za-z]+|[{}|\\&])")
_LETTERS = re.compile(r"[A-Za-z]+")
_OPENERS = {"(": ")", "[": "]", "\\{": "\\}", "langle": "rangle"}
_CLOSERS = {")", "]", "\\}", "rangle"}

SPACE = 1  # the "spaced" field of a token: 0 none before it, SPACE a space, NEWLINE a line break
NEWLINE = 2
Token = tuple[str, Any, int]


def _closing_brace(text: str, i: int) -> int:
    close = _match_brace(text, i)
    if close < 0:
        raise ParseError("unbalanced braces")
    return close


def _tokenize(text: str, mathy: bool, out: list[Token], depth: int = 0) -> None:
    if depth > 5:
        raise ParseError("nested text")
    i, n = 0, len(text)
    spaced = 0
    brackets: list[str] = []  # open ( [ \{ \langle and TeX groups {, innermost last
    while i < n:
        if len(out) > MAX_TOKENS:
            raise ParseError("answer too long")
        c = text[i]
        if c.isspace():
            spaced = max(spaced, NEWLINE if c == "\n" else SPACE)
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            alone = not brackets or brackets[-1] == "{"
            m = _NUM_SPACE.match(text, i) or (_NUM_COMMA if alone else _NUM).match(text, i)
            assert m is not None
            out.append(("num", m.group(0).replace(" ", ""), spaced))
            i = m.end()
        elif c == "\\":
            m = _CMD.match(text, i)
            if not m:
                i += 1
                continue
            name = m.group(1)
            i = m.end()
            if name in _TEXT_CMDS:
                j = i
                while j < n and text[j] == " ":
                    j += 1
                if j < n and text[j] == "{":
                    close = _closing_brace(text, j)
                    _text_content(text[j + 1 : close], out, spaced, depth)
                    i = close + 1
            elif name == "operatorname" and i < n and text[i] == "{":
                close = _closing_brace(text, i)
                fname = text[i + 1 : close].strip()
                out.append(("cmd", fname if fname in _FUNCS else "opname:" + fname, spaced))
                i = close + 1
            elif name == "mathbb" and i < n and text[i] == "{":
                close = _closing_brace(text, i)
                out.append(("cmd", "mathbb" + text[i + 1 : close].strip(), spaced))
                i = close + 1
            elif name == "\\":
                out.append(("op", "rowsep", spaced))
            elif name in "{}|&":
                value = "\\" + name if name in "{}" else name
                _track(brackets, value)
                out.append(("op", value, spaced))
            else:
                _track(brackets, name)
                out.append(("cmd", name, spaced))
        elif c.isalpha():
            m = _LETTERS.match(text, i)
            assert m is not None
            word = m.group(0)
            i = m.end()
            _word(word, mathy, out, spaced)
        elif c == "!" and i + 1 < n and text[i + 1] == "=":
            out.append(("cmd", "ne", spaced))  # x != 3 is "not equal", not a factorial
            i += 2
        else:
            if c == "\u2032" or c == "'":
                c = "'"
            _track(brackets, c)
            out.append(("op", c, spaced))
            i += 1
        spaced = 0


def _track(brackets: list[str], token: str) -> None:
    if token in _OPENERS or token == "{":
        brackets.append(token)
    elif (token in _CLOSERS or token == "}") and brackets:
        brackets.pop()


def _word(word: str, mathy: bool, out: list[Token], spaced: int) -> None:
    low = word.lower()
    if len(word) == 1:
        out.append(("id", word, spaced))
    elif low in _FUNCS:
        out.append(("cmd", low, spaced))
    elif low in _WORD_TOKENS:
        kind, value = _WORD_TOKENS[low]
        out.append((kind, value, spaced))
    elif low in _SEP_WORDS:
        out.append(("sep", low, spaced))
    elif low in _HEDGE:
        out.append(("hedge", low, spaced))
    elif low in _UNITS:
        out.append(("unit", low, spaced))
    elif mathy and len(word) <= 3:
        for k, ch in enumerate(word):
            out.append(("id", ch, spaced and k == 0))
    else:
        out.append(("word", word, spaced))


def _text_content(content: str, out: list[Token], spaced: int, depth: int) -> None:
    stripped = content.strip()
    if not stripped:
        return
    if stripped.lower() in _SEP_WORDS:
        out.append(("sep", stripped.lower(), True))
        return
    before = len(out)
    _tokenize(stripped, False, out, depth + 1)
    if len(out) > before:
        out[before] = (out[before][0], out[before][1], spaced or content[:1].isspace())


# --- grammar -------------------------------------------------------------------------------------

_RELOPS = {"=": "=", "<": "<", ">": ">", "le": "<=", "ge": ">=", "ne": "!=", "lt": "<", "gt": ">"}
_GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
}
_PRIMARY_CMDS = {"frac", "sqrt", "pi", "infty", "binom", "emptyset", "langle", "begin", "overline"}


def _num_node(text: str) -> Node:
    clean = text.replace(",", "")
    decimal = "." in clean or "e" in clean.lower()
    try:
        if "e" in clean.lower():
            mant, exp = re.split("[eE]", clean)
            value = Fraction(mant) * Fraction(10) ** int(exp)
        elif clean.isdigit():
            value = Fraction(int(clean))
        else:
            value = Fraction(clean) if clean != "." else Fraction(0)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise ParseError(f"bad number {text!r}") from None
    return ("num", value, decimal, clean.rstrip(".") if clean.endswith(".") else clean)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.i = 0
        self.depth = 0

    # helpers
    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def at(self, kind: str, value: Any = None, k: int = 0) -> bool:
        j = self.i + k  # the parser's hottest call: no helper, no temporary
        if j >= len(self.t):
            return False
        tok = self.t[j]
        return tok[0] == kind and (value is None or tok[1] == value)

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.i += 1
        return tok

    def expect(self, kind: str, value: Any) -> None:
        if not self.at(kind, value):
            tok = self.peek()
            raise ParseError(f"expected {value!r}, found {tok[1] if tok else 'the end'!r}")
        self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    # answer := item (sep item)*
    def answer(self) -> Node:
        items = [self.item()]
        while self.at_sep():
            while self.at_sep():
                self.take()
            if self.peek() is None:
                break
            items.append(self.item())
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return items[0] if len(items) == 1 else ("list", tuple(items))

    def at_sep(self) -> bool:
        return self.at("op", ",") or self.at("op", ";") or self.at("sep")

    def item(self) -> Node:
        words = self.words()
        if words is not None:
            return words
        e = self.union()
        if self.at("cmd", "in"):
            self.take()
            return ("in", e, self.union())
        ops: list[str] = []
        exprs = [e]
        while True:
            tok = self.peek()
            if tok is None:
                break
            op = None
            if tok[0] == "op" and tok[1] in "=<>":
                op = tok[1]
                self.take()
                if tok[1] in "<>" and self.at("op", "="):
                    self.take()
                    op += "="
            elif tok[0] == "cmd" and tok[1] in _RELOPS:
                op = _RELOPS[tok[1]]
                self.take()
            if op is None:
                break
            ops.append(op)
            exprs.append(self.union())
        self.strip_units()
        if ops:
            return ("rel", tuple(ops), tuple(exprs))
        return e

    def words(self) -> Node | None:
        """An answer that is only words (a text answer)."""
        j = self.i
        words = []
        while j < len(self.t) and self.t[j][0] in ("word", "unit", "hedge", "id", "sep"):
            words.append(str(self.t[j][1]))
            j += 1
        if j == len(self.t) and len(words) >= 1 and any(self.t[k][0] == "word" for k in range(self.i, j)):
            self.i = j
            text = " ".join(words).lower()
            if text in ("all real numbers", "all reals", "real numbers"):
                return ("reals",)
            return ("text", text)
        return None

    def strip_units(self) -> None:
        """Drop unit words (and a following ^2/^3) that end an item; hedging words are an error."""
        j = self.i
        hedge = None
        start = j
        while j < len(self.t) and self.t[j][0] in ("unit", "word", "hedge"):
            if self.t[j][0] == "hedge":
                hedge = self.t[j][1]
            j += 1
            if j + 1 < len(self.t) and self.t[j] == ("op", "^", self.t[j][2]) and self.t[j + 1][0] == "num":
                j += 2
        ends_item = (
            j == len(self.t) or (self.t[j][0] == "op" and self.t[j][1] in ",;") or self.t[j][0] == "sep"
        )
        if j > start and ends_item:
            if hedge is not None:
                raise ParseError(f"hedging text ({hedge!r}) around the answer")
            self.i = j

    def union(self) -> Node:
        first = self.expr()
        if not self.at("cmd", "cup"):
            return first
        items = [first]
        while self.at("cmd", "cup"):
            self.take()
            items.append(self.expr())
        return ("union", tuple(items))

    def expr(self) -> Node:
        self.enter()
        try:
            terms: list[Node] = []
            if self.at("cmd", "pm"):
                self.take()
                terms.append(("pm", None, self.term()))
            elif self.at("op", "-"):
                self.take()
                terms.append(("neg", self.term()))
            else:
                if self.at("op", "+"):
                    self.take()
                terms.append(self.term())
            tokens = self.t
            while self.i < len(tokens):
                kind, value = tokens[self.i][0], tokens[self.i][1]  # one look per term (10k-term sums)
                if kind == "op" and value == "+":
                    self.i += 1
                    terms.append(self.term())
                elif kind == "op" and value == "-":
                    self.i += 1
                    terms.append(("neg", self.term()))
                elif kind == "cmd" and value == "pm":
                    self.i += 1
                    left: Node = terms[0] if len(terms) == 1 else ("add", tuple(terms))
                    terms = [("pm", left, self.term())]
                else:
                    break
            return terms[0] if len(terms) == 1 else ("add", tuple(terms))
        finally:
            self.depth -= 1

    def starts_factor(self) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        kind, value, _ = tok
        if kind == "num":
            return False  # two numbers side by side are never a product (``2 5`` is not 10)
        if kind == "id":
            return True
        if kind == "op":
            return value in ("(", "\\{") or (value == "[" and False)
        if kind == "cmd":
            return (
                value in _PRIMARY_CMDS
                or value in _GREEK
                or value in _FUNCS
                or value in _CALC
                or value in _GROUP_CMDS
                or value.startswith("opname:")
                or value == "mathbbR"
            )
        return False

    def term(self) -> Node:
        factors = [self.unary()]
        while True:
            if self.i < len(self.t) and self.t[self.i][0] == "op" and self.t[self.i][1] in "+-),;=<>]|&":
                break  # the common end of a term, decided with one look
            if self.at("op", "*"):
                self.take()
                factors.append(self.unary())
            elif self.at("op", "/"):
                self.take()
                den = self.unary()
                num: Node = factors[0] if len(factors) == 1 else ("mul", tuple(factors))
                factors = [("div", num, den)]
            elif self.starts_factor():
                factors.append(self.power())
            else:
                break
        return factors[0] if len(factors) == 1 else ("mul", tuple(factors))

    def unary(self) -> Node:
        if self.i < len(self.t) and self.t[self.i][0] != "op":
            return self.power()
        if self.at("op", "-"):
            self.take()
            self.enter()
            try:
                return ("neg", self.unary())
            finally:
                self.depth -= 1
        if self.at("op", "+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.postfix(self.primary())
        if self.at("op", "^") and not self.circ_ahead():
            self.take()
            self.enter()
            try:
                exp = self.arg(allow_sign=True)
            finally:
                self.depth -= 1
            base = self.postfix(("pow", base, exp))
        return base

    def circ_ahead(self) -> bool:
        return self.at("cmd", "circ", 1) or (
            self.at("op", "{", 1) and self.at("cmd", "circ", 2) and self.at("op", "}", 3)
        )

    def postfix(self, node: Node) -> Node:
        while True:
            if self.i >= len(self.t) or self.t[self.i][0] != "op":
                return node
            if self.at("op", "!"):
                self.take()
                node = ("fact", node)
            elif self.at("op", "%"):
                self.take()
                node = ("pct", node)
            elif self.at("op", "circ"):
                self.take()
                node = ("deg", node)
            elif self.at("op", "^") and self.circ_ahead():
                self.take()
                if self.at("op", "{"):
                    self.i += 3
                else:
                    self.take()
                node = ("deg", node)
            else:
                return node

    def arg(self, allow_sign: bool = False) -> Node:
        """A macro argument: ``{...}`` or a single token (``\\frac12``, ``x^2``, ``\\sqrt3``)."""
        if self.at("op", "{"):
            self.take()
            inner = self.group_items("}")
            return inner
        if allow_sign and self.at("op", "-"):
            self.take()
            return ("neg", self.arg())
        tok = self.take()
        kind, value, spaced = tok
        if kind == "num":
            if re.fullmatch(r"\d+", value) and len(value) > 1 and not spaced and self.single_digit_args:
                # \frac12: one digit per argument
                self.t.insert(self.i, ("num", value[1:], False))
                return _num_node(value[0])
            return _num_node(value)
        if kind == "id":
            return self.ident(value)
        if kind == "cmd":
            self.i -= 1
            return self.primary()
        raise ParseError(f"bad argument {value!r}")

    single_digit_args = False

    def group_items(self, close: str) -> Node:
        """Inside ``{...}`` (after the opening brace) up to ``close``."""
        self.enter()
        try:
            if self.at("op", close):
                self.take()
                return ("empty",)
            items = [self.item()]
            while self.at("op", ",") or self.at("sep"):
                self.take()
                items.append(self.item())
            self.expect("op", close)
        finally:
            self.depth -= 1
        if close == "\\}":
            return ("set", tuple(items))  # \{x\} stays a set (a point in a union of intervals)
        return items[0] if len(items) == 1 else ("set", tuple(items))

    def ident(self, name: str) -> Node:
        if self.at("op", "_"):  # x_1, a_{n}, \theta_0: part of the name
            self.take()
            sub = self.take()
            if sub[0] == "op" and sub[1] == "{":
                j = self.i
                while j < len(self.t) and not (self.t[j][0] == "op" and self.t[j][1] == "}"):
                    j += 1
                sub_text = "".join(str(t[1]) for t in self.t[self.i : j])
                self.i = j + 1
            else:
                sub_text = str(sub[1])
            return ("sym", f"{name}_{sub_text}")
        if name == "i":
            return ("const", "i")
        if name == "e":
            return ("const", "e")
        return ("sym", name)

    def primary(self) -> Node:
        tok = self.take()
        kind, value, spaced = tok
        if kind == "num":
            return self.number(value)
        if kind == "id":
            return self.ident(value)
        if kind == "op":
            if value == "(":
                return self.bracketed("(")
            if value == "[":
                return self.bracketed("[")
            if value == "\\{":
                return self.group_items("\\}") if not self.at("op", "\\}") else self.empty_set()
            if value == "{":
                return self.group_items("}")
            if value == "|":
                self.enter()
                try:
                    inner = self.expr()
                finally:
                    self.depth -= 1
                self.expect("op", "|")
                return ("abs", inner)
            raise ParseError(f"unexpected {value!r}")
        if kind == "cmd":
            return self.command(value)
        raise ParseError(f"unexpected {value!r}")

    def empty_set(self) -> Node:
        self.take()
        return ("empty",)

    def number(self, text: str) -> Node:
        node = _num_node(text)
        after = self.peek()
        if after is None or (after[0] == "op" and after[1] != "_"):
            return node  # the common case: nothing below can apply
        # repeating decimal: 0.\overline{3}, 0.1\overline{6}
        if self.at("cmd", "overline") or self.at("cmd", "dot"):
            if node[2] and "e" not in text.lower():
                self.take()
                rep = self.raw_group()
                if not rep.isdigit():
                    raise ParseError("bad repeating decimal")
                whole, _, frac = node[3].partition(".")
                k = len(frac)
                non_rep = Fraction(int(whole + frac or "0"), 10**k)
                value = non_rep + Fraction(int(rep), (10 ** len(rep) - 1) * 10**k)
                return ("num", value, False, f"{node[3]}({rep})")
        # base-n: 1011_2, 1011_{2}
        if self.at("op", "_"):
            self.take()
            base = self.raw_group()
            if not base.isdigit():
                raise ParseError("bad base subscript")
            return ("basen", node[3], int(base))
        if node[2]:
            return node
        # mixed numbers: 2\frac{1}{2}, plain "1 3/4"
        if self.at("cmd", "frac"):
            save = self.i
            self.take()
            self.single_digit_args = True
            try:
                a, b = self.arg(), self.arg()
            finally:
                self.single_digit_args = False
            if a[0] == "num" and b[0] == "num" and not a[2] and not b[2] and not self.at("op", "^"):
                return ("add", (node, ("div", a, b)))
            self.i = save
        nxt, den_tok = self.peek(), self.peek(2)
        if (
            nxt is not None
            and den_tok is not None
            and nxt[0] == "num"
            and nxt[2] == SPACE
            and self.at("op", "/", 1)
            and den_tok[0] == "num"
            and re.fullmatch(r"\d+", str(nxt[1]))
            and re.fullmatch(r"\d+", str(den_tok[1]))
        ):
            proper = 0 <= int(nxt[1]) < int(den_tok[1])  # 11 6/6 and 4 4/0 are not mixed numbers
            if proper and not (self.at("op", "^", 3) or self.at("op", ".", 3)):
                num = _num_node(self.take()[1])
                self.take()
                den = _num_node(self.take()[1])
                return ("add", (node, ("div", num, den)))
        return node

    def raw_group(self) -> str:
        if self.at("op", "{"):
            self.take()
            parts = []
            while not self.at("op", "}"):
                parts.append(str(self.take()[1]))
            self.take()
            return "".join(parts)
        return str(self.take()[1])

    def bracketed(self, open_: str) -> Node:
        self.enter()
        try:
            items = []
            while True:
                if self.at("op", ")") or self.at("op", "]"):
                    close = self.take()[1]
                    break
                items.append(self.item())
                if self.at("op", ",") or self.at("op", ";"):
                    self.take()
                    continue
                if self.at("op", ")") or self.at("op", "]"):
                    continue
                found = self.peek()
                raise ParseError(
                    f"expected ',' or a closing bracket, found {found[1] if found else 'the end'!r}"
                )
        finally:
            self.depth -= 1
        if not items:
            raise ParseError("empty brackets")
        if len(items) == 1:
            if open_ == "(" and close == ")":
                return items[0]
            if open_ == "[" and close == "]":
                return items[0]
            raise ParseError("mismatched brackets")
        if len(items) == 2:
            return ("pair", items[0], items[1], open_, close)
        if open_ + close not in ("()", "[]"):
            raise ParseError("mismatched brackets")
        return ("tuple", tuple(items))

    def command(self, name: str) -> Node:
        if name == "frac":
            if self.at("op", "{") and self.at("id", "d", 1) and (self.at("op", "}", 2)):
                return self.calc("derivative")
            self.single_digit_args = True
            try:
                a = self.arg()
                b = self.arg()
            finally:
                self.single_digit_args = False
            return ("div", a, b)
        if name == "sqrt":
            n: Node | None = None
            if self.at("op", "["):
                self.take()
                n = self.expr()
                self.expect("op", "]")
            self.single_digit_args = True
            try:
                x = self.arg()
            finally:
                self.single_digit_args = False
            return ("root", x, n if n is not None else ("num", Fraction(2), False, "2"))
        if name == "binom":
            self.single_digit_args = True
            try:
                a, b = self.arg(), self.arg()
            finally:
                self.single_digit_args = False
            return ("binom", a, b)
        if name == "pi":
            return ("const", "pi")
        if name in _GREEK:
            return self.ident(name)
        if name == "infty":
            return ("const", "inf")
        if name == "emptyset":
            return ("empty",)
        if name == "mathbbR":
            return ("reals",)
        if name in _GROUP_CMDS:
            return self.arg()
        if name == "langle":
            items = [self.item()]
            while self.at("op", ","):
                self.take()
                items.append(self.item())
            self.expect("cmd", "rangle")
            return ("tuple", tuple(items))
        if name == "begin":
            return self.environment()
        if name in _CALC:
            return self.calc(_CALC[name])
        if name in _FUNCS or name.startswith("opname:"):
            return self.function(name)
        if name == "ldots":
            return ("ellipsis",)
        raise ParseError(f"unsupported \\{name}")

    def calc(self, kind: str) -> Node:
        """An unevaluated operator: swallow the rest of the term; kept only as text."""
        start = self.i
        depth = 0
        while self.peek() is not None:
            tok = self.peek()
            assert tok is not None
            if tok[0] == "op" and tok[1] in "({[\\{":
                depth += 1
            elif tok[0] == "op" and tok[1] in ")}]\\}":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and ((tok[0] == "op" and tok[1] in ",;=") or tok[0] == "sep"):
                break
            self.take()
        text = " ".join(str(t[1]) for t in self.t[start : self.i])
        return ("calc", kind, text)

    def function(self, name: str) -> Node:
        power: Node | None = None
        base: Node | None = None
        if self.at("op", "^"):
            self.take()
            power = self.arg(allow_sign=True)
        if self.at("op", "_"):
            self.take()
            base = self.arg()
        if self.at("op", "("):
            self.take()
            self.enter()
            try:
                arg = self.expr()
            finally:
                self.depth -= 1
            self.expect("op", ")")
        else:
            arg = self.power()
            while self.at("num") or self.at("id"):
                arg = ("mul", (arg, self.power()))
        if base is not None:
            node: Node = ("div", ("fn", "ln", arg), ("fn", "ln", base))
        else:
            node = ("fn", name, arg)
        if power is not None:
            if power == ("neg", ("num", Fraction(1), False, "1")) and name in ("sin", "cos", "tan"):
                return ("fn", "arc" + name, arg)
            node = ("pow", node, power)
        return node

    def environment(self) -> Node:
        env = self.raw_group()
        if env not in ("pmatrix", "bmatrix", "matrix", "Bmatrix", "vmatrix", "smallmatrix", "array"):
            raise ParseError(f"unsupported environment {env}")
        if env == "array" and self.at("op", "{"):
            self.raw_group()
        rows: list[list[Node]] = [[]]
        while True:
            if self.at("cmd", "end"):
                self.take()
                self.raw_group()
                break
            if self.at("op", "rowsep"):
                self.take()
                rows.append([])
                continue
            if self.at("op", "&"):
                self.take()
                continue
            rows[-1].append(self.expr())
        rows = [r for r in rows if r]
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return ("matrix", tuple(tuple(r) for r in rows))


def parse(text: str) -> Node:
    """Parse an answer (LaTeX or plain text) into a closed tree; raises ``ParseError``."""
    norm = normalize_text(text)
    if not norm:
        raise ParseError("empty answer")
    mathy = bool(re.search(r"[\\^_{}=\d+*/]", norm))
    tokens: list[Token] = []
    _tokenize(norm, mathy, tokens)
    if not tokens:
        raise ParseError("empty answer")
    return _Parser(tokens).answer()
