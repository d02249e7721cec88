"""The wire between the two sides of the boundary: frames, messages, and the value codec.

A frame is ``u32 big-endian length | JSON (utf-8)``. Messages:

- program -> trusted, first: ``{"ready": {name: value}}`` (the program's globals), ``{"failed": exc}``
  (its top level raised) or ``{"exit": code}`` (it exited);
- a request, either way: ``{"op": name, "a": [value, ...], "k": {name: value}}``;
- its reply: ``{"r": value, "m": [[i, value], ...]}`` (``m``: the new contents of mutable arguments the
  operation changed, copied back by the caller), ``{"e": exc}`` (it raised), or ``{"x": code}`` (the
  program exited while serving it).

Values are JSON where JSON is exact (``str``, ``float``, ``bool``, ``None``, ``list``, ints below 2**63)
and tagged objects ``{"#": tag, ...}`` otherwise: ``t`` tuple, ``d`` dict (key/value pairs), ``s`` set,
``f`` frozenset, ``b`` bytes, ``a`` bytearray, ``c`` complex, ``i`` big int, ``r`` range, ``F``
Fraction, ``D`` Decimal, ``C`` a ``collections`` container, ``m`` a module by name, ``n`` a named
standard-library object, ``T`` a tuple subclass (value plus handle), ``h`` a handle to the sender's
object, ``y`` the receiver's own object coming back. Decoding builds fresh builtin objects only; a
handle becomes a proxy of the decoding side's choosing. Nesting is capped at ``MAX_DEPTH`` and a frame at
``FRAME_LIMIT`` bytes.
"""

import base64
import collections
import decimal
import fractions
import json
import socket
import struct

__all__ = ["FRAME_LIMIT", "MAX_DEPTH", "Channel", "Codec", "Lost", "ProtocolError", "exc_info"]

FRAME_LIMIT = 256 << 20
MAX_DEPTH = 100
_LEN = struct.Struct(">I")
_BIG = 1 << 63
_PLAIN = frozenset({str, float, bool, type(None)})
_MUTABLE = (list, dict, set, bytearray)
_COLLECTIONS = {
    "Counter": collections.Counter,
    "OrderedDict": collections.OrderedDict,
    "defaultdict": collections.defaultdict,
    "deque": collections.deque,
}
# defaultdict factories that cross by name (anything else arrives as a plain default-less defaultdict)
_FACTORIES = {"int": int, "list": list, "set": set, "dict": dict, "str": str, "float": float}


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


class Lost(Exception):
    """The peer is gone (its end of the socket closed, or it sent garbage)."""


def exc_info(exc, tb_text=""):
    """Describe an exception for the wire: its type, its builtin ancestors, message and traceback."""
    import builtins

    bases = [
        k.__name__
        for k in type(exc).__mro__
        if getattr(builtins, k.__name__, None) is k and issubclass(k, BaseException)
    ]
    try:
        msg = str(exc)
    except Exception:
        msg = f"<{type(exc).__name__} whose str() failed>"
    return {"type": type(exc).__name__, "bases": bases, "msg": msg, "tb": tb_text}


class Codec:
    """Encodes values for the peer and decodes the peer's; one per side.

    Subclasses say what crosses for objects that are not builtin data (``encode_other``) and what a
    peer's handle becomes (``remote``). ``exported`` holds this side's objects the peer has handles to.
    """

    def __init__(self):
        self.exported = {}  # handle id -> object (kept alive for the run)
        self._ids = {}  # id(object) -> handle id
        self._remotes = {}  # peer's handle id -> proxy, so one object keeps one proxy

    # -- encoding --------------------------------------------------------------------------
    def export(self, obj):
        hid = self._ids.get(id(obj))
        if hid is None or self.exported.get(hid) is not obj:
            hid = len(self.exported) + 1
            self.exported[hid] = obj
            self._ids[id(obj)] = hid
        return hid

    def is_exported(self, obj):
        hid = self._ids.get(id(obj))
        return hid is not None and self.exported.get(hid) is obj

    def encode(self, v, depth=0):
        t = type(v)
        if t in _PLAIN:
            return v
        if t is int:
            return v if -_BIG < v < _BIG else {"#": "i", "v": hex(v)}
        if depth >= MAX_DEPTH:
            raise ValueError(f"value nested deeper than {MAX_DEPTH} levels")
        d = depth + 1
        if t is list:
            return [x if type(x) in _PLAIN else self.encode(x, d) for x in v]
        if t is tuple:
            return {"#": "t", "v": [self.encode(x, d) for x in v]}
        if t is dict:
            return {"#": "d", "v": [[self.encode(k, d), self.encode(x, d)] for k, x in v.items()]}
        if t is set or t is frozenset:
            return {"#": "s" if t is set else "f", "v": [self.encode(x, d) for x in v]}
        if t is bytes or t is bytearray:
            return {"#": "b" if t is bytes else "a", "v": base64.b64encode(v).decode()}
        if t is complex:
            return {"#": "c", "v": [v.real, v.imag]}
        if t is range:
            return {"#": "r", "v": [v.start, v.stop, v.step]}
        if t is fractions.Fraction:
            return {"#": "F", "v": [self.encode(v.numerator), self.encode(v.denominator)]}
        if t is decimal.Decimal:
            return {"#": "D", "v": str(v)}
        name = getattr(t, "__name__", "")
        if _COLLECTIONS.get(name) is t:
            return self._encode_collection(v, name, d)
        return self.encode_other(v, depth)

    def _encode_collection(self, v, name, d):
        if name == "deque":
            return {"#": "C", "k": name, "v": [self.encode(x, d) for x in v], "x": v.maxlen}
        items = [[self.encode(k, d), self.encode(x, d)] for k, x in dict.items(v)]
        extra = None
        if name == "defaultdict":
            factory = v.default_factory
            extra = factory.__name__ if _FACTORIES.get(getattr(factory, "__name__", "")) is factory else None
        return {"#": "C", "k": name, "v": items, "x": extra}

    def encode_other(self, v, depth):
        raise NotImplementedError

    # -- decoding --------------------------------------------------------------------------
    def remote(self, hid, type_name):
        raise NotImplementedError

    def own(self, hid):
        try:
            return self.exported[hid]
        except (KeyError, TypeError):
            raise ProtocolError(f"no object #{hid!r} was handed out") from None

    def named(self, module, qualname):
        raise ProtocolError("named objects are not accepted here")

    def module(self, name):
        raise ProtocolError("modules are not accepted here")

    def hook(self, o):
        """``json.loads`` object hook: every JSON object is either a tag or a plain message dict."""
        tag = o.get("#")
        if tag is None:
            return o
        v = o.get("v")
        try:
            if tag == "t":
                return tuple(v)
            if tag == "d":
                return {k: x for k, x in v}
            if tag == "s":
                return set(v)
            if tag == "f":
                return frozenset(v)
            if tag == "b":
                return base64.b64decode(v, validate=True)
            if tag == "a":
                return bytearray(base64.b64decode(v, validate=True))
            if tag == "c":
                return complex(float(v[0]), float(v[1]))
            if tag == "i":
                return int(v, 16)
            if tag == "r":
                return range(*(_int(x) for x in v))
            if tag == "F":
                return fractions.Fraction(_int(v[0]), _int(v[1]))
            if tag == "D":
                return decimal.Decimal(_str(v))
            if tag == "C":
                return _decode_collection(o)
            if tag == "h":
                return self.remote(_int(v), _str(o.get("t", "object")))
            if tag == "y":
                return self.own(v)
            if tag == "T":
                return self.remote_tuple(tuple(v), _int(o.get("h")), _str(o.get("t", "tuple")))
            if tag == "m":
                return self.module(_str(v))
            if tag == "n":
                return self.named(_str(o.get("m")), _str(o.get("q")))
        except (
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            ArithmeticError,
            decimal.InvalidOperation,
        ) as exc:
            raise ProtocolError(f"malformed {tag!r} value: {exc}") from None
        raise ProtocolError(f"unknown tag {tag!r}")

    def remote_tuple(self, items, hid, type_name):
        return items


def _int(x):
    if type(x) is not int:
        raise TypeError(f"expected an int, got {type(x).__name__}")
    return x


def _str(x):
    if type(x) is not str:
        raise TypeError(f"expected a str, got {type(x).__name__}")
    return x


def _decode_collection(o):
    kind = _COLLECTIONS[_str(o.get("k"))]
    v = o.get("v")
    if kind is collections.deque:
        maxlen = o.get("x")
        return collections.deque(v, None if maxlen is None else _int(maxlen))
    items = {k: x for k, x in v}
    if kind is collections.defaultdict:
        return collections.defaultdict(_FACTORIES.get(o.get("x")), items)
    return kind(items)


def is_mutable(v):
    return type(v) in _MUTABLE


def copy_back(original, new):
    """Make ``original`` (a list, dict, set or bytearray the caller passed) hold ``new``'s contents, in place,
    keeping the identity of nested containers where their shape allows."""
    if type(original) is list and type(new) is list:
        if len(original) == len(new):
            for i, (a, b) in enumerate(zip(original, new, strict=True)):
                if is_mutable(a) and type(a) is type(b):
                    copy_back(a, b)
                else:
                    original[i] = b
        else:
            original[:] = new
    elif type(original) is dict and type(new) is dict:
        for k in [k for k in original if k not in new]:
            del original[k]
        for k, b in new.items():
            a = original.get(k)
            if is_mutable(a) and type(a) is type(b):
                copy_back(a, b)
            else:
                original[k] = b
    elif type(original) is set and type(new) is set:
        original.clear()
        original.update(new)
    elif type(original) is bytearray and type(new) is bytearray:
        original[:] = new


class Channel:
    """One side's end of the socket: frames out, frames in, and nested request/reply.

    Requests nest: while waiting for the reply to its own request, a side serves the peer's requests
    (a callback into the test, a method of an object the program was given) with ``serve``. Single
    threaded: only the thread that owns the channel may use it.
    """

    def __init__(self, sock, codec, serve):
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=1 << 16)
        self.codec = codec
        self.serve = serve

    def send(self, msg):
        data = json.dumps(msg, separators=(",", ":"), check_circular=False).encode()
        if len(data) > FRAME_LIMIT:
            raise ValueError(f"a value of {len(data)} bytes is over the {FRAME_LIMIT} byte limit")
        try:
            self.sock.sendall(_LEN.pack(len(data)) + data)
        except OSError as exc:
            raise Lost(f"peer gone: {exc}") from None

    def recv(self):
        try:
            head = self.reader.read(4)
            if len(head) < 4:
                raise Lost("peer closed the connection")
            (n,) = _LEN.unpack(head)
            if n > FRAME_LIMIT:
                raise ProtocolError(f"a frame of {n} bytes is over the {FRAME_LIMIT} byte limit")
            body = self.reader.read(n)
        except OSError as exc:
            raise Lost(f"peer gone: {exc}") from None
        if len(body) < n:
            raise Lost("peer closed the connection mid-message")
        try:
            msg = json.loads(body, object_hook=self.codec.hook)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise ProtocolError(f"undecodable message: {exc}") from None
        if type(msg) is not dict:
            raise ProtocolError("a message must be an object")
        return msg

    def request(self, op, args, kwargs=None):
        """Send a request and return its reply, serving the peer's nested requests meanwhile."""
        msg = {"op": op, "a": [self.codec.encode(a) for a in args]}
        if kwargs:
            msg["k"] = {k: self.codec.encode(v) for k, v in kwargs.items()}
        self.send(msg)
        while True:
            reply = self.recv()
            if "op" in reply:
                self.serve(reply)
                continue
            return reply


def make_socket(fd):
    return socket.socket(fileno=fd)
