"""Fork server inside the container: every test process is forked from here.

The agent starts this interpreter once per container. For each run it sends a small JSON request and
the child's pipe ends over a SOCK_SEQPACKET socket. For Python this process forks, the child drops to
the program's uid, returns to the top level of this file and runs the program in this
already-started interpreter. That skips interpreter start-up (the bulk of a trivial test's cost)
while the program still runs as a plain unprivileged process with real pipes: nothing is mocked,
``sys.stdin.buffer`` is a real file. A binary (compilers, compiled programs, other interpreters) is
started by ``launch`` (``launch.c``), posix_spawned (vfork semantics: this process's memory is not
copied), which sets the process up as a forked child here would and execs it: a fork of this
interpreter costs ~2 ms of CPU per run that an exec throws away.

Why a separate process and not the agent itself: the agent holds the host connection and run state;
this interpreter imports only what every Python run would and holds nothing secret. It keeps uid 0
(with the container's few capabilities) so the program's uid cannot ptrace or signal it, and a
program cannot tamper with the interpreter the next test is forked from.

Harnesses (``harness`` in the request):
- exec mode (compilers, compiled programs, other interpreters; through ``launch``): the status pipe is closed,
  except with ``status_fd``: then it is the exec'd program's fd 3, where the assertion harness of the
  languages without the Python boundary writes the run's nonce once the test code has run to its end.
- ``stdio`` (and ``checker``): the program runs as ``__main__``; its exit status is the result. The
  status pipe only reports a syntax error, found before any program code runs; it is closed before the
  program starts, so the program holds no fd but 0, 1 and 2.
- ``call`` and ``assert``: two processes, across the assertion boundary (``boundary/``): the program
  (program uid) runs as module ``__solution__`` and answers requests over a private socket; the trusted
  side (a second uid the program cannot signal, ptrace or read) runs the call or the test code against
  proxies of the program's names and alone writes the verdict to the status pipe. The agent gets both
  pids; the reported status is the trusted side's, the CPU time the sum of both.
- ``session``: a live interpreter (``session.py``) that runs cells sent on its stdin until the agent
  ends it; the status pipe carries its replies. Sessions have containers of their own, so this server
  waiting on it blocks nobody.
"""

import fcntl
import json
import os
import resource
import signal
import socket
import sys
import sysconfig
import traceback  # noqa: F401  (pre-imported: a failing program prints one)
import types

BOUNDARY_HARNESSES = ("call", "assert")
program = trusted = None  # boundary/, imported by the first call or assert run (_boundary)


def _boundary():
    """Import the assertion boundary (with unittest) here, before forking, once per container: later
    runs of those harnesses fork ready. Not at start-up: it doubles this interpreter's boot CPU
    (~35 ms of ~75 ms) in every container, most of which only ever run stdio tests."""
    global program, trusted
    if program is None:
        from boundary import program as _program
        from boundary import trusted as _trusted

        program, trusted = _program, _trusted


STDLIB = sysconfig.get_paths()["stdlib"]
LAUNCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch")
LAUNCH_ERROR_FD = 4  # where launch finds its pipe back to us (close-on-exec once it runs)


def _rlimits(req):
    """``(resource, soft, hard)`` of each of the run's rlimits (a value, or a ``[soft, hard]`` pair)."""
    for name, value in req["rlimits"].items():
        soft, hard = value if isinstance(value, list) else (value, value)
        yield getattr(resource, "RLIMIT_" + name), int(soft), int(hard)


def _limits(req):
    for res, soft, hard in _rlimits(req):
        resource.setrlimit(res, (soft, hard))


def _child(req, fds, uid, extra=-1, status=True, cwd=None):
    """Runs in a forked child: become the program's (or the trusted side's) process.

    ``fds`` are the run's stdin, stdout, stderr and status pipe ends; ``extra`` is one more fd to keep
    (the boundary socket); without ``status`` the status pipe is not kept. Returns the kept fds.
    """
    stdin, stdout, stderr, status_pipe = fds
    os.setsid()
    os.dup2(stdin, 0)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    kept = [os.dup(fd) if fd >= 0 else -1 for fd in (status_pipe if status else -1, extra)]
    low = 3
    for fd in sorted(fd for fd in kept if fd >= 0):  # every other fd above 2 is closed
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)
    # The program, not the agent or this server, is what the OOM killer must pick first.
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
    _limits(req)
    if req.get("status_fd") and kept[0] >= 0:
        # The harness may reach the pipe by /proc/self/fd/3 (Java, C#, Ruby, Lua have no write-to-fd-n
        # call): reopening a pipe checks its mode, so others may open it for writing (not reading).
        os.fchmod(kept[0], 0o622)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)  # from uid 0 to all-nonzero: the kernel clears every capability here
    os.chdir(cwd or req["cwd"])
    os.umask(0o022)
    return kept


def _above(fd, low):
    """``fd``, or a close-on-exec copy of it numbered above ``low`` (the original closed), so that
    the spawn's dup2s onto 0-4 never overwrite a source they still need."""
    if fd > low:
        return fd
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low + 1)
    os.close(fd)
    return high


def _spawn(req, fds):
    """Start an exec run through ``launch``: (pid, None), or (pid or None, why the setup failed).

    The run's pipe ends go to fd 0-2 (and the status pipe to 3 with ``status_fd``: an assertion
    harness writes its nonce there, see runners/harness), a pipe back to us to fd 4; ``launch``
    closes every other fd, sets the rlimits and the uid, and execs ``argv``. Its setup failing is
    ours (an infrastructure error, reported before any program code ran), not the program's.
    """
    status = bool(req.get("status_fd"))
    argv = [LAUNCH, str(req["uid"]), "1" if status else "0", req["cwd"], str(len(req["rlimits"]))]
    for res, soft, hard in _rlimits(req):
        argv += [str(res), str(soft), str(hard)]
    argv += ["--", *req["argv"]]
    err_r, err_w = os.pipe()
    err_w = _above(err_w, LAUNCH_ERROR_FD)
    sources = [_above(fd, LAUNCH_ERROR_FD) for fd in fds]
    fds[:] = sources  # the caller closes these
    targets = [0, 1, 2, 3] if status else [0, 1, 2]
    actions = [(os.POSIX_SPAWN_DUP2, fd, to) for fd, to in zip(sources[: len(targets)], targets, strict=True)]
    actions.append((os.POSIX_SPAWN_DUP2, err_w, LAUNCH_ERROR_FD))
    try:
        pid = os.posix_spawn(
            LAUNCH,
            argv,
            req["env"],
            file_actions=actions,
            setsid=True,
            # Python ignores these; an exec'd program must start with the default dispositions.
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as exc:
        os.close(err_r)
        return None, f"cannot start {LAUNCH}: {exc}"
    finally:
        os.close(err_w)
    error = b""
    try:  # EOF: the program was exec'd (or launch died before a word)
        while chunk := os.read(err_r, 4096):
            error += chunk
    finally:
        os.close(err_r)
    return pid, error.decode("utf-8", "replace") or None


def _serve(sock):
    """Fork-server loop; returns only inside a forked Python child, as (role, req, fds)."""
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 4)
        except InterruptedError:
            continue
        if not msg:
            os._exit(0)  # the agent went away
        req = json.loads(msg)
        if req["mode"] == "python" and req.get("harness") in BOUNDARY_HARNESSES:
            _boundary()
            job = _fork_boundary(sock, req, fds)
        else:
            job = _fork_one(sock, req, fds)
        if job is not None:
            return job


def _fork_one(sock, req, fds):
    if req["mode"] == "exec":
        fds = list(fds)
        pid, error = _spawn(req, fds)
    else:
        pid, error = os.fork(), None
        if pid == 0:
            sock.close()
            (status_fd, _) = _child(req, fds, req["uid"])
            return "python", req, status_fd
    for fd in fds:
        os.close(fd)
    if error is not None:
        if pid is not None:
            os.waitpid(pid, 0)
        sock.send(json.dumps({"error": error}).encode())
        return None
    sock.send(json.dumps({"pid": pid, "pids": [pid]}).encode())
    _pid, status, ru = os.wait4(pid, 0)
    sock.send(json.dumps(_exit_report(status, [ru])).encode())
    return None


def _fork_boundary(sock, req, fds):
    """The program and the trusted side, joined by a socket only they hold."""
    prog_end, trusted_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # The run's stdin carries the test code (or the call's arguments) to the trusted side alone: the
    # program reads /dev/null and never sees the tests it is judged by.
    program = os.fork()
    if program == 0:
        sock.close()
        trusted_end.close()
        devnull = os.open("/dev/null", os.O_RDONLY)
        (_, chan) = _child(req, [devnull, *fds[1:]], req["uid"], extra=prog_end.fileno(), status=False)
        return "program", req, chan
    trusted = os.fork()
    if trusted == 0:
        sock.close()
        prog_end.close()
        (status_fd, chan) = _child(req, fds, req["trusted_uid"], extra=trusted_end.fileno(), cwd="/")
        return "trusted", req, (status_fd, chan)
    prog_end.close()
    trusted_end.close()
    for fd in fds:
        os.close(fd)
    sock.send(json.dumps({"pid": trusted, "pids": [trusted, program]}).encode())
    _pid, status, ru_trusted = os.wait4(trusted, 0)
    try:  # the verdict is written: the program has nothing more to do
        os.kill(program, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _pid, program_status, ru_program = os.wait4(program, 0)
    report = _exit_report(status, [ru_trusted, ru_program])
    report["program_status"] = program_status
    sock.send(json.dumps(report).encode())
    return None


def _exit_report(status, usages):
    return {
        "status": status,
        "utime": sum(ru.ru_utime for ru in usages),
        "stime": sum(ru.ru_stime for ru in usages),
        "maxrss": max(ru.ru_maxrss for ru in usages),
    }


def _exec_program(path, status_fd, nonce):
    """Run the program file as ``__main__`` (what ``python3 path`` does, minus start-up).

    A syntax error is reported on the status pipe before any program code has run, so the program
    cannot fake that report; the pipe is closed before the program starts.
    """
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module  # so pickle, dataclasses and typing find the program's classes
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec")
    except (SyntaxError, ValueError):  # ValueError: NUL bytes in the source
        os.write(status_fd, nonce + b" syntax\n")
        raise
    finally:
        os.close(status_fd)
    exec(code, module.__dict__)


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


def _run_python(req, status_fd):
    path = req["path"]
    sys.argv = [path, *req.get("args", [])]
    sys.path[0] = os.path.dirname(path)
    nonce = req.pop("nonce").encode()
    _exec_program(path, status_fd, nonce)


def _main_child(job):
    role, req, fds = job
    if role == "program":
        program.serve(req, fds)
    elif role == "trusted":
        status_fd, chan = fds
        # Only the standard library is importable here: never a dir the program can write.
        sys.path[:] = [p for p in sys.path if p.startswith(STDLIB)]
        trusted.run(req, status_fd, chan)
    elif req.get("harness") == "session":
        import session  # runners/session.py: a live interpreter that serves cells until closed

        session.serve(fds)
        os._exit(0)
    # A checker that crashes must not read as "wrong answer" (testlib's exit 1): it exits 3 (FAIL).
    crash_code = 3 if req.get("harness") == "checker" else 1
    try:
        _run_python(req, fds)
    except SystemExit as exc:
        _finish(_exit_code(exc))
    except BaseException:
        sys.excepthook(*sys.exc_info())
        _finish(crash_code)
    _finish(0)


if __name__ == "__main__":
    _sock = socket.socket(fileno=int(sys.argv[1]))
    _main_child(_serve(_sock))
