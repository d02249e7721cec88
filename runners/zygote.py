"""Fork server inside the container: every test process is forked from here.

The agent starts this interpreter once per container. For each run it sends a small JSON request and
the child's pipe ends over a SOCK_SEQPACKET socket; this process forks, the child drops to the
program's uid and either ``execve``s a binary (compilers, C++ programs) or, for Python, returns to
the top level of this file and runs the program in this already-started interpreter. That skips
interpreter start-up (the bulk of a trivial test's cost) while the program still runs as a plain
unprivileged process with real pipes: nothing is mocked, ``sys.stdin.buffer`` is a real file.

Why a separate process and not the agent itself: the agent holds the host connection and run state;
this interpreter imports only what every Python run would and holds nothing secret. It keeps uid 0
(with the container's few capabilities) so the program's uid cannot ptrace or signal it, and a
program cannot tamper with the interpreter the next test is forked from.

Harnesses (``harness`` in the request):
- ``stdio``: the program runs as ``__main__``; its exit status is the result.
- ``call``: the program runs as module ``__solution__``; the named function (or ``Class.method``, or a
  method of ``Solution``) is called with the JSON argument list, and its JSON-encoded return value is
  written to a private status pipe, prefixed by a per-run nonce the program never sees.
- ``assert``: the program runs, then the test code runs in its namespace, then any ``test*``
  functions the test code defined are called. Only then is ``<nonce> ok`` written to the status pipe;
  exiting early (``sys.exit``, ``os._exit``, atexit tricks) never reaches that line.

Known limit (documented, not hidden): the harness shares the program's process, as call and
assertion semantics require. It binds the functions it uses before the program runs, so patching
``builtins.exec``, ``json`` or ``os.write`` does not fool it, but a program that deliberately walks
interpreter frames to read the nonce could forge completion.
"""

import json
import os
import resource
import signal
import socket
import sys
import traceback  # noqa: F401  (pre-imported: a failing program prints one)
import types


def _limits(req):
    for name, value in req["rlimits"].items():
        res = getattr(resource, "RLIMIT_" + name)
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(res, (soft, hard))


def _child(req, fds):
    """Runs in the forked child: become the program's process, then exec or return to run Python."""
    stdin, stdout, stderr, status = fds
    os.setsid()
    os.dup2(stdin, 0)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    status_fd = os.dup(status)  # non-inheritable: never passed to the program's own children
    keep = {0, 1, 2, status_fd}
    for fd in (stdin, stdout, stderr, status):
        if fd not in keep:
            os.close(fd)
    os.closerange(3, status_fd)
    os.closerange(status_fd + 1, 1 << 16)
    # The program, not the agent or this server, is what the OOM killer must pick first.
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
    _limits(req)
    uid = req["uid"]
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)  # from uid 0 to all-nonzero: the kernel clears every capability here
    os.chdir(req["cwd"])
    os.umask(0o022)
    if req["mode"] == "exec":
        # Python ignores these; an exec'd program must start with the default dispositions.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        try:
            os.execve(req["argv"][0], req["argv"], req["env"])
        except OSError as exc:
            os.write(2, f"cannot execute {req['argv'][0]}: {exc.strerror}\n".encode())
        os._exit(127)
    return req, status_fd


def _serve(sock):
    """Fork-server loop; returns only inside a forked Python child."""
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 4)
        except InterruptedError:
            continue
        if not msg:
            os._exit(0)  # the agent went away
        req = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            sock.close()
            return _child(req, fds)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())
        _pid, status, ru = os.wait4(pid, 0)
        sock.send(
            json.dumps(
                {
                    "status": status,
                    "utime": ru.ru_utime,
                    "stime": ru.ru_stime,
                    "maxrss": ru.ru_maxrss,
                }
            ).encode()
        )


def _resolve(ns, name):
    """The callable a call test names: ``f``, ``Class.method`` or a method of ``Solution``."""
    if "." in name:
        cls_name, meth = name.split(".", 1)
        return getattr(ns[cls_name](), meth)
    if name in ns and callable(ns[name]):
        return ns[name]
    if "Solution" in ns:
        return getattr(ns["Solution"](), name)
    raise NameError(f"function {name!r} is not defined by the program")


def _json_default(obj):
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise TypeError(f"return value of type {type(obj).__name__} is not JSON-serialisable")


def _exec_program(path, run_name, on_syntax_error, _compile=compile, _exec=exec):
    """Run the program file as module ``run_name`` (what ``python3 path`` does, minus start-up).

    ``on_syntax_error`` runs when the source does not compile, before any program code has run, so
    the program cannot fake that report.
    """
    module = types.ModuleType(run_name)
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules[run_name] = module  # so pickle, dataclasses and typing find the program's classes
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = _compile(source, path, "exec")
    except (SyntaxError, ValueError):  # ValueError: NUL bytes in the source
        on_syntax_error()
        raise
    _exec(code, module.__dict__)
    return module.__dict__


def _finish(code):
    """End the child as interpreter shutdown would (join threads, atexit, flush), minus teardown."""
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        import atexit

        atexit._run_exitfuncs()
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = code or 120  # what CPython returns when flushing stdout fails at exit
    os._exit(code)


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _run_python(
    req,
    status_fd,
    _write=os.write,
    _dumps=json.dumps,
    _loads=json.loads,
    _compile=compile,
    _exec=exec,
    _callable=callable,
    _list=list,
):
    # Everything the harness needs is bound as a default argument above, before the program runs.
    path = req["path"]
    sys.argv = [path, *req.get("args", [])]
    sys.path[0] = os.path.dirname(path)
    harness = req["harness"]
    nonce = req.pop("nonce").encode()

    def syntax_error():
        _write(status_fd, nonce + b" syntax\n")

    if harness in ("stdio", "checker"):
        del req
        _exec_program(path, "__main__", syntax_error)
        return
    try:
        ns = _exec_program(path, "__solution__", syntax_error)
        if harness == "call":
            with open(req["args_path"]) as f:
                args = _loads(f.read())
            result = _resolve(ns, req["function"])(*args)
            _write(status_fd, nonce + b" ok\n" + _dumps(result, default=_json_default).encode())
        else:
            with open(req["test_path"]) as f:
                code = _compile(f.read(), "<test>", "exec")
            before = dict(ns)
            _exec(code, ns)
            for name, value in _list(ns.items()):
                if name.startswith("test") and _callable(value) and before.get(name) is not value:
                    value()
            _write(status_fd, nonce + b" ok\n")
    except AssertionError:
        _write(status_fd, nonce + b" assertion\n")
        raise


def _main_child(job):
    # A checker that crashes must not read as "wrong answer" (testlib's exit 1): it exits 3 (FAIL).
    crash_code = 3 if job[0].get("harness") == "checker" else 1
    try:
        _run_python(*job)
    except SystemExit as exc:
        _finish(_exit_code(exc))
    except BaseException:
        sys.excepthook(*sys.exc_info())
        _finish(crash_code)
    _finish(0)


if __name__ == "__main__":
    _sock = socket.socket(fileno=int(sys.argv[1]))
    _main_child(_serve(_sock))
