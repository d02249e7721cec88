"""The program's side: run the program as module ``__solution__``, then answer the trusted side.

Runs as the program's uid with fds 0-2 and the socket only (no status pipe). Nothing here is trusted:
the program can rewrite any of it. That is fine by design, because the trusted side accepts only
values and handles from here, never code, and decides every verdict itself.
"""

import builtins
import operator
import os
import sys
import threading
import traceback
import types

from . import codec as wire

__all__ = ["serve"]


def _call(f, *args, **kwargs):
    return f(*args, **kwargs)


OPS = {
    "getattr": getattr,
    "setattr": setattr,
    "delattr": delattr,
    "call": _call,
    "getitem": operator.getitem,
    "setitem": operator.setitem,
    "delitem": operator.delitem,
    "contains": operator.contains,
    "len": len,
    "iter": iter,
    "next": next,
    "bool": bool,
    "repr": repr,
    "str": str,
    "int": int,
    "float": float,
    "index": operator.index,
    "isinstance": lambda cls, obj: isinstance(obj, cls),
    "issubclass": lambda cls, sub: issubclass(sub, cls),
    "format": format,
    "reversed": reversed,
    "enter": lambda o: type(o).__enter__(o),
    "exit": lambda o, *a: type(o).__exit__(o, *a),
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": operator.abs,
    "invert": operator.invert,
    "round": round,
    **{
        name: getattr(operator, name)
        for name in (
            "eq",
            "ne",
            "lt",
            "le",
            "gt",
            "ge",
            "add",
            "sub",
            "mul",
            "truediv",
            "floordiv",
            "mod",
            "pow",
            "matmul",
            "lshift",
            "rshift",
            "and_",
            "or_",
            "xor",
        )
    },
}
_VALUE_BASES = (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)


class TrustedRef:
    """An object of the test's, given to the program (a callback, a test-defined object)."""

    __slots__ = ("_hid", "_tname", "__weakref__")

    def __init__(self, hid, tname):
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_tname", tname)

    def _ask(self, op, *args, **kwargs):
        return _ENDPOINT.ask(op, (self, *args), kwargs)

    def __call__(self, *args, **kwargs):
        return self._ask("call", *args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __iter__(self):
        return self._ask("iter")

    def __next__(self):
        return self._ask("next")

    def __len__(self):
        return self._ask("len")

    def __bool__(self):
        return self._ask("bool")

    def __getitem__(self, key):
        return self._ask("getitem", key)

    def __contains__(self, item):
        return self._ask("contains", item)

    def __repr__(self):
        return self._ask("repr")

    def __str__(self):
        return self._ask("str")

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return object.__hash__(self)


class ProgramCodec(wire.Codec):
    def encode_other(self, v, depth):
        if type(v) is TrustedRef:
            return {"#": "y", "v": v._hid}
        if isinstance(v, types.ModuleType):
            return {"#": "m", "v": v.__name__}
        t = type(v)  # never isinstance(): a class may spoof __class__
        if issubclass(t, tuple):
            # a namedtuple and the like: its builtin value, plus a handle for its attributes
            items = tuple.__getitem__(v, slice(None))
            return {
                "#": "T",
                "v": [self.encode(x, depth + 1) for x in items],
                "h": self.export(v),
                "t": type(v).__name__,
            }
        for base in _VALUE_BASES:
            if issubclass(t, base):
                return self.encode(_base_value(v, base), depth)
        named = _stdlib_name(v)
        if named is not None:
            return {"#": "n", "m": named[0], "q": named[1]}
        return {"#": "h", "v": self.export(v), "t": type(v).__name__}

    def remote(self, hid, type_name):
        ref = self._remotes.get(hid)
        if ref is None:
            ref = self._remotes[hid] = TrustedRef(hid, type_name)
        return ref

    def named(self, module, qualname):
        obj = __import__(module, fromlist=["_"])
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj

    def module(self, name):
        return __import__(name, fromlist=["_"])


def _base_value(v, base):
    """The builtin value inside an instance of a subclass of ``base`` (its overrides never run)."""
    if base is int or base is bool:
        return int.__int__(v)
    if base is float:
        return float.__float__(v)
    if base is complex:
        return complex(float.__float__(complex.real.__get__(v)), float.__float__(complex.imag.__get__(v)))
    if base is str:
        return str.__str__(v)
    if base is bytes:
        return bytes.__getitem__(v, slice(None))
    if base is bytearray:
        return bytearray(bytearray.__getitem__(v, slice(None)))
    if base is list:
        return list.copy(v)
    if base is dict:
        return dict.copy(v)
    if base is set:
        return set.copy(v)
    return frozenset.copy(v)


def _stdlib_name(v):
    """(module, qualname) when ``v`` is a class or function the standard library defines."""
    module = getattr(v, "__module__", None)
    qualname = getattr(v, "__qualname__", None)
    if type(module) is not str or type(qualname) is not str:
        return None
    if module.split(".")[0] not in sys.stdlib_module_names or module == "__main__":
        return None
    if not isinstance(v, (type, types.BuiltinFunctionType, types.FunctionType)):
        return None
    obj = sys.modules.get(module)
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        return None
    return (module, qualname) if obj is v else None


class Endpoint:
    def __init__(self, sock):
        self.codec = ProgramCodec()
        self.chan = wire.Channel(sock, self.codec, self.serve)
        self.thread = threading.get_ident()

    def ask(self, op, args, kwargs):
        """A request to the trusted side (the program uses one of the test's objects)."""
        if threading.get_ident() != self.thread:
            raise RuntimeError("objects of the test can only be used from the program's main thread")
        reply = self.chan.request(op, args, kwargs)
        if "e" in reply:
            raise _exception(reply["e"])
        if "r" not in reply:
            raise wire.Lost("the test side sent no result")
        return reply["r"]

    def serve(self, msg):
        op, args, kwargs = msg.get("op"), msg.get("a"), msg.get("k") or {}
        try:
            fn = OPS[op]
            before = [(i, self.codec.encode(a)) for i, a in enumerate(args) if wire.is_mutable(a)]
            result = fn(*args, **kwargs)
            reply = {"r": self.codec.encode(result)}
            changed = []
            for i, old in before:
                new = self.codec.encode(args[i])
                if new != old:
                    changed.append([i, new])
            if changed:
                reply["m"] = changed
        except SystemExit as exc:
            _exit(self.chan, exc.code)
        except (KeyboardInterrupt, GeneratorExit) as exc:
            _exit(self.chan, f"{type(exc).__name__}")
        except wire.Lost:
            os._exit(0)
        except BaseException as exc:
            reply = {"e": wire.exc_info(exc, traceback.format_exc(limit=20))}
        _flush()
        try:
            self.chan.send(reply)
        except ValueError as exc:  # too big to send
            self.chan.send({"e": wire.exc_info(exc)})


def _exception(info):
    """A builtin exception standing for one the test side raised (its type if builtin, else the
    nearest builtin ancestor)."""
    for name in [info.get("type"), *(info.get("bases") or [])]:
        cls = getattr(builtins, str(name), None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(info.get("msg", ""))
            except Exception:
                break
    return Exception(info.get("msg", ""))


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _exit(chan, code, key="x"):
    _flush()
    try:
        chan.send({key: code if type(code) in (int, str) or code is None else str(code)})
    except Exception:
        pass
    os._exit(code & 0xFF if type(code) is int else (0 if code is None else 1))


_ENDPOINT = None


def serve(req, chan_fd):
    """Run the program, report its globals, then serve until the trusted side hangs up. Never returns."""
    global _ENDPOINT
    path = req["path"]
    sys.argv = [path]
    sys.path[0] = os.path.dirname(path)
    _ENDPOINT = endpoint = Endpoint(wire.make_socket(chan_fd))
    module = types.ModuleType("__solution__")
    module.__file__ = path
    module.__builtins__ = builtins
    sys.modules["__solution__"] = module  # so pickle, dataclasses and typing find the program's classes
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec")
        exec(code, module.__dict__)
    except SystemExit as exc:
        _exit(endpoint.chan, exc.code, key="exit")
    except BaseException as exc:
        traceback.print_exc()
        _flush()
        endpoint.chan.send({"failed": wire.exc_info(exc)})
        os._exit(1)
    names = {}
    for name, value in list(module.__dict__.items()):
        if name.startswith("__") and name.endswith("__"):
            continue
        try:
            names[name] = endpoint.codec.encode(value)
        except Exception:
            names[name] = {"#": "h", "v": endpoint.codec.export(value), "t": type(value).__name__}
    _flush()
    endpoint.chan.send({"ready": names})
    while True:
        try:
            msg = endpoint.chan.recv()
        except (wire.Lost, wire.ProtocolError):
            _flush()
            os._exit(0)
        endpoint.serve(msg)
