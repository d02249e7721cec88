"""The session kernel: one live Python interpreter per session, running cells one at a time.

The fork server (``zygote.py``, harness ``session``) forks it as the program uid in ``/work``, like any
program, and it stays up between cells, so variables, imports, open files and threads persist as in a
Jupyter kernel. The agent (``agent.py``, ops ``session_*``) drives it over two pipes of its own and
reads the cell's real stdout and stderr pipes; nothing of this process is trusted: it only ever tells
the agent what its own cell did (a cell that forges a reply fools only itself).

Per cell: the code is parsed; when its last statement is a bare expression, that expression is
evaluated apart and the ``repr`` of its value, when not ``None``, is the cell's ``display`` (cut at the
cap), as Jupyter shows ``text/plain``; the value is kept in ``_``. An exception (``SystemExit`` and
``KeyboardInterrupt`` too) is reported with its name, value and traceback, and the state stays.
A child a cell forks (``os.fork``, multiprocessing) loses both channels at once and exits where it
would return to the kernel's loop. SIGINT is what the agent sends a cell over its time limit: it is
blocked except while cell code runs, so it interrupts the cell (``KeyboardInterrupt``) and never the
kernel's own reading or replying.

Framing on both pipes: u32 big-endian length, then that much UTF-8 JSON.

Standard library only; runs on the image's Debian Python.
"""

import ast
import json
import linecache
import os
import signal
import struct
import sys
import traceback
import types

_LEN = struct.Struct(">I")
MAX_REQUEST = 64 << 20
_SIGINT = {signal.SIGINT}


def _read_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            part = os.read(fd, n - len(buf))
        except KeyboardInterrupt:  # a thread of a cell took a late SIGINT: no byte was read
            continue
        if not part:
            os._exit(0)  # the agent closed the channel: the session is over
        buf += part
    return bytes(buf)


def _recv(fd):
    (n,) = _LEN.unpack(_read_exact(fd, 4))
    if n > MAX_REQUEST:
        os._exit(2)
    return json.loads(_read_exact(fd, n))


def _send(fd, obj):
    data = json.dumps(obj).encode()
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except KeyboardInterrupt:  # as in _read_exact: nothing was written
            continue


def _cut(text, limit):
    """``text`` cut to at most ``limit`` UTF-8 bytes (at a character boundary); and whether it was."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return text, False
    return raw[:limit].decode("utf-8", "ignore"), True


def _flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass


class Kernel:
    def __init__(self):
        module = types.ModuleType("__main__")
        module.__builtins__ = __builtins__
        sys.modules["__main__"] = module
        self.ns = module.__dict__

    def run(self, code, name, max_display):
        """Run one cell; returns the reply (without the agent's own facts)."""
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)  # tracebacks show lines
        reply = {"ok": True, "display": None, "truncated": False}
        try:
            tree = ast.parse(code, name, "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            if tree.body:
                exec(compile(tree, name, "exec"), self.ns)
            if last is not None:
                value = eval(compile(last, name, "eval"), self.ns)
                if value is not None:
                    self.ns["_"] = value
                    reply["display"], reply["truncated"] = _cut(repr(value), max_display)
        except BaseException as exc:  # the cell's failure, whatever it is, is its result
            reply = {"ok": False, **_error(exc, max_display)}
        return reply


def _error(exc, limit):
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code is Kernel.run.__code__:
        tb = tb.tb_next  # the kernel's own frame is not the cell's business
    if isinstance(exc, SyntaxError):
        lines = traceback.format_exception_only(type(exc), exc)
    else:
        lines = traceback.format_exception(type(exc), exc, tb)
    try:
        evalue = str(exc)
    except Exception:
        evalue = "<exception str() failed>"
    evalue, _ = _cut(evalue, limit)
    kept, size = [], 0
    for line in lines:
        size += len(line)
        if size > limit:
            kept.append("... (traceback cut)\n")
            break
        kept.append(line)
    return {"ename": type(exc).__name__, "evalue": evalue, "traceback": kept}


def serve(reply_fd):
    """Kernel main loop (never returns). fd 0 carries requests; ``reply_fd`` takes the replies."""
    ctl = os.dup(0)  # the request channel moves out of the program's way...
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)  # ...and input() reads an empty stdin, as in a notebook
    os.close(devnull)
    os.set_inheritable(reply_fd, False)
    sys.argv = [""]
    sys.path[:] = ["/work", *(p for p in sys.path[1:] if not p.startswith("/opt/runners"))]
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main_pid = os.getpid()

    def forked():  # a cell's os.fork() child must never read requests or write replies
        for fd in (ctl, reply_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    os.register_at_fork(after_in_child=forked)
    kernel = Kernel()
    _send(reply_fd, {"hello": True, "pid": os.getpid(), "python": sys.version.split()[0]})
    while True:
        req = _recv(ctl)
        while signal.SIGINT in signal.sigpending():  # a late interrupt meant for an earlier cell
            signal.sigwait(_SIGINT)
        reply = None
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)
            reply = kernel.run(req["code"], req["name"], int(req["max_display"]))
        except KeyboardInterrupt as exc:  # landed between the cell's end and blocking SIGINT again
            reply = {"ok": False, **_error(exc, int(req["max_display"]))}
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, _SIGINT)
        _flush()
        if os.getpid() != main_pid:  # a forked child ran to the end of the cell: it ends here
            os._exit(0 if reply and reply.get("ok") else 1)
        _send(reply_fd, reply)
