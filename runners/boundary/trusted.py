"""The trusted side: runs the test code (or the call of a ``call`` test) and alone writes the verdict.

Runs as a uid of its own (not the program's: the program cannot signal, ptrace or read it), with its
own interpreter state: builtins, ``unittest``, ``math`` are this process's, whatever the program did to
its copies. The test code sees the program's globals as they stood after the program ran: builtin
values as values, the standard-library modules, classes and functions it imported as this side's own
(found by name, and only under their own name: see ``bind``), and everything else (functions, classes,
instances) as ``Remote`` proxies whose operations run in the program.

Policy where test semantics meet a handle (each rule has a test in ``tests/test_boundary.py``):

- A program object compared with a builtin value (``==``, ``!=``, ``<``, ...) or combined with one
  arithmetically is **refused** (``BoundaryRefusal``, a ``TypeError``): an honest program returns
  builtin values, and forwarding the comparison would hand the expected value to the program's
  ``__eq__``/``__sub__``. A subclass of a builtin (an ``int`` with ``__eq__`` always true, a
  ``list`` subclass) crosses as its builtin value, so its overrides never run here.
- Two program objects are compared, and combined, by the program (dataclass equality, ``Vector + Vector``).
- Calls, attributes, items, ``len``, ``iter``/``next``, ``in``, ``bool``, ``str``/``repr``, ``int``/
  ``float`` of a program object, and ``isinstance``/``issubclass`` against a program class, are
  answered by the program; results that must be builtin (``len``,
  ``bool``, ``str``) are checked to be so. A program object is hashed by identity.
- Mutable arguments (list, dict, set, bytearray) cross by value and their new contents are copied back
  after the call, so in-place mutation is visible to the test. Containers read from program objects are
  copies.
- An exception the program raises reaches the test as its builtin type (its own class's nearest
  builtin ancestor), so ``except ValueError`` and ``assertRaises(ValueError)`` work; a program that
  exits (``sys.exit``, ``os._exit``, a signal) fails the test, however the test code handles it.
- Names the test takes from the program are the program's (a helper the test calls runs in the program);
  names of builtins (``abs``, ``sorted``, ...) are always this side's, even if the program shadows them
  (a program's ``abs`` returning 0 would pass every ``abs(x - y) < eps``). A test that fails where the
  program defines such a name says so in its message.
- A program's ``StopIteration`` ends an iteration only out of ``next``; out of a call it is a
  ``RuntimeError`` (it would end the test's ``all(map(check, cases))`` before any case).
- A program's context manager may suppress what the test code raises, never a failed assertion, a
  refusal, or an exception the program raised (``with guard(): assert f(x) == y`` must check). A test
  class cannot derive from a program object (its ``__mro_entries__`` would choose the real bases).
- A failed assertion (or a refusal) in a callback of the test fails the test, even if the program
  that called the callback catches it.
- Test code whose checks would never run fails: a coroutine it never awaits, a ``yield``-style test
  function, a coroutine or generator method of a plain ``TestCase``, a ``check`` nothing calls; a
  failing ``doctest.testmod()`` example fails the test; ``assert (cond, "message")`` (a tuple, always
  true) is read as ``assert cond, "message"``; pytest-style ``Test*`` classes are run;
  ``async def test_*`` functions run with ``asyncio.run`` (program coroutines cannot be awaited
  across the boundary).
- The program may call the test's callbacks and iterate its iterators; it may read public attributes
  only of objects whose class the test code defined; nothing else of this side is reachable.

``unittest.TestCase`` classes the test code defines are run whether or not it calls ``unittest.main()``
(``main`` itself runs the classes defined so far, then ends the test code as it would the script);
module-level ``test*`` functions and ``Test*`` classes the test code defines are run after it, as pytest
would run them.
"""

import ast
import builtins
import json
import os
import sys
import traceback
import types
import unittest
import warnings

from . import codec as wire
from . import suites

__all__ = ["BoundaryRefusal", "ProgramExited", "ProgramLost", "Remote", "run"]

STATUS_TEXT_LIMIT = 8 << 10


class BoundaryRefusal(TypeError):
    """The test used a program object where only a builtin value can be trusted."""


class ProgramLost(BaseException):
    """The program's process is gone (exited, killed, or it broke the protocol).

    A ``BaseException``, so a test's ``except Exception`` cannot swallow it; the verdict is a failure
    whatever the test code does with it.
    """


class ProgramExited(ProgramLost):
    """The program exited (``sys.exit``, ``os._exit``) while the test was using it."""


class _MainExit(BaseException):
    """``unittest.main()`` (with ``exit=True``) ended the test code, as it ends a script."""


_STATE = {"lost": None, "endpoint": None, "program_tb": "", "callback_failure": None}


def _ask(op, *args, **kwargs):
    return _STATE["endpoint"].ask(op, args, kwargs)


def _refuse(what, obj):
    raise BoundaryRefusal(
        f"refused: the test {what} a {obj._tname} object from the program with a builtin value; "
        "only builtin values the program returns (int, str, list, ...) can be compared or combined"
    )


def _binary(name, symbol):
    def op(self, other):
        if type(other) is not Remote:
            _refuse(f"combines ({symbol})", self)
        return _ask(name, self, other)

    def rop(self, other):
        _refuse(f"combines ({symbol})", self)

    return op, rop


def _compare(name, symbol):
    def op(self, other):
        if type(other) is not Remote:
            _refuse(f"compares ({symbol})", self)
        return _ask(name, self, other)

    return op


def _typed(op, want):
    def method(self, *args):
        value = _ask(op, self, *args)
        if type(value) is not want:
            raise BoundaryRefusal(
                f"refused: {op}() of a program object gave a {type(value).__name__}, not {want.__name__}"
            )
        return value

    return method


class Remote:
    """An object of the program's, seen from the test (see the module docstring for the rules)."""

    __slots__ = ("_hid", "_tname", "__weakref__")

    def __init__(self, hid, tname):
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_tname", tname)

    def __getattr__(self, name):
        return _ask("getattr", self, name)

    def __setattr__(self, name, value):
        _ask("setattr", self, name, value)

    def __delattr__(self, name):
        _ask("delattr", self, name)

    def __call__(self, *args, **kwargs):
        return _ask("call", self, *args, **kwargs)

    def __getitem__(self, key):
        return _ask("getitem", self, key)

    def __setitem__(self, key, value):
        _ask("setitem", self, key, value)

    def __delitem__(self, key):
        _ask("delitem", self, key)

    def __contains__(self, item):
        value = _ask("contains", self, item)
        if type(value) is not bool:
            value = bool(value)
        return value

    def __iter__(self):
        return _ask("iter", self)

    def __next__(self):
        return _ask("next", self)

    def __reversed__(self):
        return _ask("reversed", self)

    def __enter__(self):
        return _ask("enter", self)

    def __exit__(self, kind, exc, tb):
        suppress = _ask("exit", self, kind, exc, tb)
        if isinstance(exc, (AssertionError, BoundaryRefusal)) or getattr(exc, _FROM_PROGRAM, False):
            return False  # a failed check, a refusal, or the program's own raise: never swallowed
        return suppress

    def __mro_entries__(self, bases):
        # Asked by `class T(base)`: the program's answer would pick the test class's real bases
        # (`unittest.TestCase` swapped for `object`: a TestCase class that never runs).
        raise BoundaryRefusal(f"refused: a class of the test cannot derive from a program {self._tname}")

    def __hash__(self):
        return object.__hash__(self)

    def __repr__(self):
        try:
            value = _ask("repr", self)
        except Exception:
            value = None
        return value if type(value) is str else f"<program {self._tname} object>"

    def __format__(self, spec):
        value = _ask("format", self, spec)
        if type(value) is not str:
            raise BoundaryRefusal("refused: format() of a program object gave a non-str")
        return value

    __len__ = _typed("len", int)
    __bool__ = _typed("bool", bool)
    __str__ = _typed("str", str)
    __int__ = _typed("int", int)
    # isinstance(x, ProgramClass), issubclass(...): asked of the class, in the program
    __instancecheck__ = _typed("isinstance", bool)
    __subclasscheck__ = _typed("issubclass", bool)
    __index__ = _typed("index", int)
    __float__ = _typed("float", float)

    __eq__ = _compare("eq", "==")
    __ne__ = _compare("ne", "!=")
    __lt__ = _compare("lt", "<")
    __le__ = _compare("le", "<=")
    __gt__ = _compare("gt", ">")
    __ge__ = _compare("ge", ">=")
    __add__, __radd__ = _binary("add", "+")
    __sub__, __rsub__ = _binary("sub", "-")
    __mul__, __rmul__ = _binary("mul", "*")
    __truediv__, __rtruediv__ = _binary("truediv", "/")
    __floordiv__, __rfloordiv__ = _binary("floordiv", "//")
    __mod__, __rmod__ = _binary("mod", "%")
    __pow__, __rpow__ = _binary("pow", "**")
    __matmul__, __rmatmul__ = _binary("matmul", "@")
    __lshift__, __rlshift__ = _binary("lshift", "<<")
    __rshift__, __rrshift__ = _binary("rshift", ">>")
    __and__, __rand__ = _binary("and_", "&")
    __or__, __ror__ = _binary("or_", "|")
    __xor__, __rxor__ = _binary("xor", "^")

    def __neg__(self):
        return _ask("neg", self)

    def __pos__(self):
        return _ask("pos", self)

    def __abs__(self):
        return _ask("abs", self)

    def __invert__(self):
        return _ask("invert", self)

    def __round__(self, *args):
        return _ask("round", self, *args)


class ProgramTuple(tuple):
    """A tuple subclass instance of the program's (a namedtuple): its builtin value, compared as a tuple
    here, with its attributes read from the program."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _ask("getattr", self._remote, name)


class Unavailable:
    """Something of the program's this side does not share (see ``TrustedCodec``); any use is refused."""

    __slots__ = ("_what",)

    def __init__(self, what):
        self._what = what

    def _fail(self, *args, **kwargs):
        raise BoundaryRefusal(
            f"refused: the program's {self._what} is not shared with the test code; import it in the test"
        )

    __getattr__ = __call__ = __iter__ = __len__ = __bool__ = __eq__ = _fail

    def __hash__(self):
        return object.__hash__(self)

    def __repr__(self):
        return f"<not shared: {self._what}>"


class _Pending(Unavailable):
    """A module or standard-library object the program named; resolved once we know under which name
    it is bound (``bind``), else it stays unavailable."""

    __slots__ = ("module", "qualname")

    def __init__(self, module, qualname=None):
        super().__init__(f"{module}.{qualname}" if qualname else f"module {module}")
        self.module = module
        self.qualname = qualname


def bind(name, value):
    """The object the test sees under the program's global ``name``.

    A module or standard-library class or function the program imported is this side's own, found by
    its own name, and only under that name (``import math``, ``from collections import Counter``): the
    program cannot make the test's ``math`` another module, and the test never gets the program's copy.
    """
    if type(value) is not _Pending:
        return value
    if value.qualname is None:
        if name != value.module.rsplit(".", 1)[-1]:
            return value
        return _stdlib_module(value.module) or value
    if value.qualname.rsplit(".", 1)[-1] != name or "_" == name[:1]:
        return value
    module = _stdlib_module(value.module)
    obj = module
    for part in value.qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, (type, types.BuiltinFunctionType, types.FunctionType)):
        return obj
    return value


def _stdlib_module(name):
    parts = name.split(".")
    # never a `__main__` (unittest's runs a TestProgram on import, venv's builds an environment): the
    # name comes from the program's side, which may send any
    if parts[0] not in sys.stdlib_module_names or "__main__" in parts:
        return None
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


_VALUE_TYPES = {
    t.__name__: t
    for t in (
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        bytearray,
        list,
        tuple,
        dict,
        set,
        frozenset,
        object,
        range,
        type,
    )
}


class TrustedCodec(wire.Codec):
    def encode_other(self, v, depth):
        t = type(v)
        if t is Remote:
            return {"#": "y", "v": v._hid}
        if t is ProgramTuple:
            return {"#": "y", "v": v._remote._hid}
        if isinstance(v, types.ModuleType):
            return {"#": "m", "v": v.__name__}
        for base in (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset):
            if issubclass(t, base):  # the test's own subclass: its builtin value
                return self.encode(base(v) if base is not bool else bool(v), depth)
        module = getattr(v, "__module__", None)
        qualname = getattr(v, "__qualname__", None)
        if (
            isinstance(v, (type, types.BuiltinFunctionType, types.MethodDescriptorType))
            and type(module) is str
            and type(qualname) is str
            and module.split(".")[0] in sys.stdlib_module_names
        ):
            return {"#": "n", "m": module, "q": qualname}
        return {"#": "h", "v": self.export(v), "t": t.__name__}

    def remote(self, hid, type_name):
        proxy = self._remotes.get(hid)
        if proxy is None:
            proxy = self._remotes[hid] = Remote(hid, type_name)
        return proxy

    def remote_tuple(self, items, hid, type_name):
        value = ProgramTuple(items)
        value._remote = self.remote(hid, type_name)
        return value

    def module(self, name):
        return _Pending(name)

    def named(self, module, qualname):
        # A builtin type (a function returning `int`) is safe to hand over; anything else only by
        # name, as a global (see `bind`).
        if module == "builtins" and qualname in _VALUE_TYPES:
            return _VALUE_TYPES[qualname]
        return _Pending(module, qualname)


class Endpoint:
    """This side's end: asks the program, and serves the program's (narrow) requests on test objects."""

    def __init__(self, sock):
        self.codec = TrustedCodec()
        self.chan = wire.Channel(wire.make_socket(sock), self.codec, self.serve)

    def ask(self, op, args, kwargs):
        if _STATE["lost"] is not None:
            raise ProgramLost(_STATE["lost"])
        try:
            reply = self.chan.request(op, args, kwargs)
        except (wire.Lost, wire.ProtocolError) as exc:
            _STATE["lost"] = f"the program stopped answering ({exc})"
            raise ProgramLost(_STATE["lost"]) from None
        if "x" in reply:
            _STATE["lost"] = f"the program exited ({_exit_text(reply['x'])}) while the test was running"
            raise ProgramExited(_STATE["lost"])
        if "e" in reply:
            raise _exception(reply["e"], op)
        if "r" not in reply:
            _STATE["lost"] = "the program sent a malformed reply"
            raise ProgramLost(_STATE["lost"])
        for item in reply.get("m") or ():
            try:
                i, new = item
                wire.copy_back(args[i], new)
            except (TypeError, ValueError, IndexError):
                pass
        return reply["r"]

    def serve(self, msg):
        """The program uses one of the test's objects: only calls, iteration and plain reads."""
        op, args, kwargs = msg.get("op"), msg.get("a") or [], msg.get("k") or {}
        try:
            if not args or not self.codec.is_exported(args[0]):
                raise BoundaryRefusal("refused: the program may only use objects the test gave it")
            target, rest = args[0], args[1:]
            if op == "call":
                result = target(*rest, **kwargs)
            elif op == "getattr":
                result = _public_attr(target, rest[0] if rest else "")
            elif op in _SERVED:
                result = _SERVED[op](target, *rest)
            else:
                raise BoundaryRefusal(f"refused: the program may not {op!r} an object of the test")
            reply = {"r": self.codec.encode(result)}
        except ProgramLost:
            raise
        except Exception as exc:
            if isinstance(exc, AssertionError | BoundaryRefusal) and _STATE["callback_failure"] is None:
                # a check of the test failed in a callback the program called: the program may catch
                # it, the test has failed all the same
                _STATE["callback_failure"] = exc
            reply = {"e": wire.exc_info(exc)}
        self.chan.send(reply)


_SERVED = {
    "iter": iter,
    "next": next,
    "len": len,
    "bool": bool,
    "repr": repr,
    "str": str,
    "getitem": lambda o, k: o[k],
    "contains": lambda o, x: x in o,
}


def _public_attr(obj, name):
    """An attribute the program may read on a test object: public, and defined by the test's own
    classes (never by unittest, object, or anything that leads to frames, code or globals)."""
    if type(name) is not str or name.startswith("_"):
        raise BoundaryRefusal("refused: the program may read only public attributes of the test's objects")
    cls = type(obj)
    inst = getattr(obj, "__dict__", None)
    if cls.__module__ == "__main__" and isinstance(inst, dict) and name in inst:
        return inst[name]
    for klass in cls.__mro__:
        if klass.__module__ == "__main__" and name in klass.__dict__:
            return getattr(obj, name)
    raise BoundaryRefusal(f"refused: the program may not read {name!r} of a {cls.__name__} of the test")


_ENDS_ITERATION = (StopIteration, StopAsyncIteration)
_FROM_PROGRAM = "_sandbox_from_program"  # marks an exception raised by the program (see Remote.__exit__)


def _exception(info, op="call"):
    """The builtin exception standing for one the program raised in ``op``.

    A ``StopIteration`` ends an iteration only as the answer to ``next``: raised by a call (or any
    other operation) it would end whatever iteration of the test's is running (``all(map(check,
    cases))`` true after no case at all), so it arrives as a ``RuntimeError``, as PEP 479 makes it in
    a generator.
    """
    if type(info) is not dict:
        return RuntimeError("the program raised an exception")
    msg = info.get("msg") if type(info.get("msg")) is str else ""
    names = [info.get("type"), *(info.get("bases") if type(info.get("bases")) is list else [])]
    cls = Exception
    for name in names:
        found = getattr(builtins, name, None) if type(name) is str else None
        if isinstance(found, type) and issubclass(found, Exception):
            cls = found
            break
    if issubclass(cls, _ENDS_ITERATION) and op != "next":
        cls, msg = RuntimeError, f"the program raised {cls.__name__} out of {op!r}, not out of next()"
    try:
        exc = cls(msg)
    except Exception:
        exc = Exception(msg)
    setattr(exc, _FROM_PROGRAM, True)
    tb = info.get("tb")
    _STATE["program_tb"] = tb if type(tb) is str else ""
    return exc


def _exit_text(code):
    if code is None or code == 0:
        return "exit code 0"
    return f"exit code {code}" if type(code) is int else f"{code}"


# -- the harness ---------------------------------------------------------------------------------
def _status_writer(status_fd, nonce):
    def report(kind, text=""):
        data = f"{nonce} {kind}\n".encode() + text.encode("utf-8", "replace")
        os.write(status_fd, data)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0 if kind == "ok" else 1)

    return report


def _where(tb, source_lines):
    """' at test line N: <source>' for the innermost frame of the test code, if any."""
    line = 0
    for frame in traceback.extract_tb(tb):
        if frame.filename == "<test>":
            line = frame.lineno or 0
    if 0 < line <= len(source_lines):
        return f" at test line {line}: {source_lines[line - 1].strip()[:200]}"
    return ""


def _describe(exc, source_lines):
    where = _where(exc.__traceback__, source_lines)
    detail = str(exc)
    if isinstance(exc, AssertionError):
        return "assertion failed" + where + (f": {detail}" if detail else "")
    return f"{type(exc).__name__}: {detail}{where}" if detail else f"{type(exc).__name__}{where}"


class _Outcome:
    """What went wrong first, as (status kind, message)."""

    def __init__(self, source_lines):
        self.lines = source_lines
        self.first = None

    def fail(self, kind, message):
        if self.first is None:
            self.first = (kind, message)

    def lost(self):
        return _STATE["lost"] is not None

    def exception(self, exc):
        traceback.print_exception(exc)
        if _STATE["program_tb"]:
            sys.stderr.write("-- in the program:\n" + _STATE["program_tb"])
        if isinstance(exc, ProgramLost):
            self.fail("lost", str(exc))
        elif isinstance(exc, AssertionError):
            self.fail("fail", _describe(exc, self.lines))
        else:
            self.fail("error", _describe(exc, self.lines))


def _run_assertions(test_source, program_globals, outcome):
    module = types.ModuleType("__main__")
    module.__file__ = "<test>"
    sys.modules["__main__"] = module
    ns = module.__dict__
    for name, value in program_globals.items():
        if not hasattr(builtins, name):  # a builtin's name is always the builtin (see the docstring)
            ns[name] = bind(name, value)
    ns["__builtins__"] = builtins
    ran = set()

    def main(*args, exit=True, **kwargs):  # noqa: A002  (unittest.main's own keyword)
        suites.run_testcases(ns, ran, outcome)
        if exit:
            raise _MainExit
        return types.SimpleNamespace(result=None)

    unittest.main = main
    if "doctest" in test_source:
        suites.doctest_fails_loudly()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # "assertion is always true": mended below
            tree = ast.parse(test_source, "<test>")
        code = compile(suites.intended_asserts(tree), "<test>", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes
        outcome.fail("error", f"the test code does not compile: {exc}")
        return
    if suites.uncalled_check(tree):
        outcome.fail("error", "the test code defines check() but never calls it: nothing would be checked")
        return
    with warnings.catch_warnings(record=True) as log:
        warnings.filterwarnings("always", "coroutine .* was never awaited", RuntimeWarning)
        ended = True  # the test code ran to its end (or to unittest.main() / a clean exit)
        try:
            exec(code, ns)
        except _MainExit:
            pass
        except SystemExit as exc:
            if exc.code not in (None, 0):
                outcome.fail("fail", f"the test code exited with status {exc.code}")
        except BaseException as exc:
            outcome.exception(exc)
            ended = False
        if ended:
            suites.run_testcases(ns, ran, outcome)
            suites.run_test_functions(ns, outcome)
    suites.unawaited(log, outcome)


def _shadow_note(code, program_globals):
    """Say so when the program defines a builtin's name that the test code uses (it got the builtin)."""
    names = set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    shadowed = sorted(n for n in names & set(program_globals) if hasattr(builtins, n) and n[:1] != "_")
    if not shadowed:
        return ""
    return (
        f" (note: the program defines {', '.join(shadowed)}; the test code's {', '.join(shadowed)} is "
        "the builtin, never the program's)"
    )


def _json_default(obj):
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [x for x in obj]}
    raise TypeError(
        f"return value of type {getattr(obj, '_tname', type(obj).__name__)} is not JSON-serialisable"
    )


def _resolve(program_globals, name):
    """The callable a call test names: ``f``, ``Class.method`` or a method of ``Solution``."""
    if "." in name:
        cls_name, meth = name.split(".", 1)
        if cls_name not in program_globals:
            raise NameError(f"class {cls_name!r} is not defined by the program")
        return getattr(program_globals[cls_name](), meth)
    if name in program_globals and callable(program_globals[name]):
        return program_globals[name]
    if "Solution" in program_globals:
        return getattr(program_globals["Solution"](), name)
    raise NameError(f"function {name!r} is not defined by the program")


def run(req, status_fd, chan_fd):
    """Decide one ``assert`` or ``call`` test. Never returns."""
    report = _status_writer(status_fd, req["nonce"])
    given = sys.stdin.buffer.read().decode("utf-8", "replace")  # the test code, or the call's arguments
    path = req["path"]
    with open(path, "rb") as f:
        source = f.read()
    try:
        compile(source, path, "exec")
    except (SyntaxError, ValueError):  # ValueError: NUL bytes in the source
        traceback.print_exc(limit=0)
        report("syntax")
    _STATE["endpoint"] = endpoint = Endpoint(chan_fd)
    try:
        first = endpoint.chan.recv()
    except (wire.Lost, wire.ProtocolError) as exc:
        report("lost", f"the program exited before the test code ran ({exc})")
    if "exit" in first:
        report("lost", f"the program exited ({_exit_text(first['exit'])}) before the test code ran")
    if "failed" in first:
        info = first["failed"] if type(first["failed"]) is dict else {}
        report("error", f"the program raised {info.get('type')}: {str(info.get('msg'))[:500]}")
    program_globals = first.get("ready")
    if type(program_globals) is not dict:
        report("lost", "the program sent no globals")
    if req["harness"] == "call":
        _run_call(req, given, program_globals, report)
    test_source = given
    outcome = _Outcome(test_source.splitlines())
    _run_assertions(test_source, program_globals, outcome)
    if _STATE["lost"] is not None:
        report("lost", _STATE["lost"])
    failure = _STATE["callback_failure"]
    if failure is not None:
        kind = "fail" if isinstance(failure, AssertionError) else "error"
        outcome.fail(kind, "in a callback the program called: " + _describe(failure, outcome.lines))
    if outcome.first is not None:
        kind, message = outcome.first
        try:
            message += _shadow_note(compile(test_source, "<test>", "exec"), program_globals)
        except SyntaxError:
            pass
        report(kind, message[:STATUS_TEXT_LIMIT])
    report("ok")


def _run_call(req, args_json, program_globals, report):
    sys.set_int_max_str_digits(0)  # arguments and results: integers of any length
    args = json.loads(args_json)
    try:
        result = _resolve(program_globals, req["function"])(*args)
    except ProgramLost as exc:
        report("lost", str(exc))
    except BaseException as exc:
        traceback.print_exception(exc)
        if _STATE["program_tb"]:
            sys.stderr.write(_STATE["program_tb"])
        report("error", f"{type(exc).__name__}: {exc}"[:STATUS_TEXT_LIMIT])
    try:
        text = json.dumps(result, default=_json_default)
    except (TypeError, ValueError) as exc:
        report("error", str(exc)[:STATUS_TEXT_LIMIT])
    report("ok", text)
