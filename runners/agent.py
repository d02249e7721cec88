"""The agent: one long-running process per sandbox container (PID 2, under the container's init).

It connects to the host over a unix socket that the host bind-mounts read-only into the container,
then serves requests one at a time:

- ``write``: put files (program source, checker inputs) into the root-owned ``/box`` directory, which
  the program can read but not change (with ``clear``: empty it first, a sample's first request).
- ``read``: return files of ``/box`` (a build product the host caches, see ``compile_cache.py``).
- ``clear``: empty ``/box`` (between samples, and after a checker saw an expected output).
- ``session_open`` / ``session_cell`` / ``session_restart``: a session's live interpreter
  (``session.py``), forked once through the fork server as the program uid and kept between cells:
  no sweep runs between cells (the state is the point). A cell over its time or output limit gets
  SIGINT, then, after a grace, every process of the program uid is killed and a fresh interpreter
  started (reported as ``restarted``). A session container serves nothing else and is removed when
  the session ends, so its processes and files go with it.
- ``run``: run one process through the fork server (``zygote.py``) as the program uid, feeding
  stdin and capturing stdout/stderr/status without deadlock, enforcing the wall-clock limit and the
  output caps, then sweeping: every process of the program uid is killed and reaped, and ``/tmp``,
  ``/work``, ``/dev/shm``, ``/dev/mqueue`` are wiped. It reports raw facts only (exit status, CPU and
  wall time, peak RSS, the cgroup ``oom_kill`` delta, captured bytes); verdicts are decided on the host,
  and expected outputs never come here. A compile's ``collect``ed build product is copied into
  ``/box``, and with ``send_collected`` its bytes come back with the reply (for the host's compile cache).

Privileges: the container keeps only CAP_SETUID, CAP_SETGID and CAP_KILL. The program runs under a
different, unprivileged uid (given by the host, one per container), so it cannot ptrace this process,
signal it, or reach the host socket (mode 0600, owned by uid 0).

Standard library only; runs on the image's Debian Python.
"""

import json
import os
import select
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol import decode_header, encode, header_length  # noqa: E402

BOX = "/box"
WIPE_DIRS = ("/tmp", "/work", "/dev/shm", "/dev/mqueue")
PROGRAM_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
CHUNK = 1 << 16
STDERR_KEEP = 1 << 16  # stderr is for humans: keep its head, but count all of it against the cap
DRAIN_GRACE_S = 0.5
CPU_POLL_S = 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")
KERNEL_START_S = 10.0  # a session's interpreter must greet within this
DRAIN_S = 0.05  # after a cell's reply: how long to read what its streams still hold
_LEN = struct.Struct(">I")


def _read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(min(n - len(buf), 1 << 20))
        if not part:
            raise EOFError("host closed the connection")
        buf += part
    return bytes(buf)


def recv_message(sock):
    header, sizes = decode_header(_read_exact(sock, header_length(_read_exact(sock, 4))))
    return header, [_read_exact(sock, n) for n in sizes]


def _oom_counter_path():
    for path, key in (
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),  # cgroup v1
        ("/sys/fs/cgroup/memory.events", "oom_kill"),  # cgroup v2
    ):
        if os.path.exists(path):
            return path, key
    return None, None


class Agent:
    def __init__(self, sock, uid, trusted_uid):
        # A tmpfs takes the mode of the image's directory, not Docker's mode= option; we own its root.
        os.chmod("/work", 0o1777)
        self.sock = sock
        self.uid = uid
        self.trusted_uid = trusted_uid  # the trusted side of assertion and call tests (boundary/)
        self.oom_path, self.oom_key = _oom_counter_path()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.zygote_pid = _spawn_zygote(child)
        child.close()
        self.zsock = parent
        self.kernel = None  # a session's interpreter: {"pid", "ctl", "out", "err", "rep"} fds
        self.session_rlimits = None

    # -- helpers -----------------------------------------------------------------------------
    def oom_kills(self):
        if self.oom_path is None:
            return -1
        with open(self.oom_path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == self.oom_key:
                    return int(value)
        return -1

    def program_pids(self):
        return _live_pids((self.uid, self.trusted_uid))

    def sweep(self):
        """Kill every process of the program uids, wipe the writable dirs, remove their SysV IPC.

        Nothing running and no IPC object: the agent unlinks what files are left itself (see below);
        anything more takes a killer forked as each uid. Returns (ms, leftover processes, clean):
        ``clean`` is True only if, looked at after the sweep, no process or SysV IPC object of
        either program uid is left and every writable dir is empty (a dir that exists but cannot be
        listed is not clean). The host reuses a container
        after a timeout only when it is clean (and its own look at the container's cgroup agrees).
        """
        t0 = time.monotonic()
        if not self.program_pids() and not _ipc_objects((self.uid, self.trusted_uid)):
            # Nothing of the program runs (nothing can start one: the fork server is idle) and it
            # holds no IPC object, so what may be left is files. Every writable dir is ours (uid 0,
            # mode 1777), and a sticky dir's owner may unlink any entry in it: plain files (a
            # build's artifact) go without a killer; a dir of the program's, which it may have made
            # unreadable, still takes one. Nothing left at all (most runs): this is the whole look.
            if _unlink_files(WIPE_DIRS):
                return (time.monotonic() - t0) * 1000.0, 0, True
        # One killer per uid: with the uid of its targets, kill(-1) reaches exactly their processes.
        # The program's killer also wipes its writable dirs.
        for uid in (self.uid, self.trusted_uid):
            if uid == self.uid or _live_pids((uid,)) or _ipc_objects((uid,)):
                self._kill_as(uid, wipe=uid == self.uid)
        leftover = len(self.program_pids())
        ipc_left = _ipc_objects((self.uid, self.trusted_uid))
        clean = not leftover and not ipc_left and all(_empty(d) for d in WIPE_DIRS)
        return (time.monotonic() - t0) * 1000.0, leftover, clean

    def _kill_as(self, uid, wipe):
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                _kill_all_and_wipe(wipe)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    # -- requests ----------------------------------------------------------------------------
    def op_write(self, req, blobs):
        """Write ``files`` (blobs) into /box; with ``clear``, empty it first."""
        if req.get("clear"):
            self.op_clear(req, [])
        for spec, data in zip(req["files"], blobs, strict=True):
            path = os.path.join(BOX, os.path.basename(spec["name"]))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, spec.get("mode", 0o644))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(path, spec.get("mode", 0o644))
        return {"ok": True}, []

    def op_read(self, req, blobs):
        """Return files of /box: build products the host keeps in its compile cache. Only /box, which
        holds what the host wrote and what the agent itself copied out of a finished build."""
        out = []
        for name in req["files"]:
            with open(os.path.join(BOX, os.path.basename(name)), "rb") as f:
                out.append(f.read())
        return {"ok": True}, out

    def op_clear(self, req, blobs):
        for name in os.listdir(BOX):
            os.unlink(os.path.join(BOX, name))
        return {"ok": True}, []

    def op_run(self, req, blobs):
        """Run one process. Blob 0 is stdin; the rest are ``files`` written to /box first and
        removed again (with ``remove_after``) once the run is over."""
        stdin_data = blobs[0] if blobs else b""
        if req.get("files"):
            self.op_write(req, blobs[1:])
        try:
            return self._run(req, stdin_data)
        finally:
            for name in req.get("remove_after", []):
                try:
                    os.unlink(os.path.join(BOX, os.path.basename(name)))
                except FileNotFoundError:
                    pass

    def _run(self, req, stdin_data):
        max_out = int(req["max_output"])
        wall_s = req["wall_ms"] / 1000.0
        fds = [os.pipe() for _ in range(4)]  # stdin, stdout, stderr, status
        (in_r, in_w), (out_r, out_w), (err_r, err_w), (st_r, st_w) = fds
        zreq = {
            "mode": req["mode"],
            "uid": self.uid,
            "trusted_uid": self.trusted_uid,
            "cwd": req.get("cwd", "/work"),
            "argv": req.get("argv", []),
            "env": PROGRAM_ENV,
            "rlimits": req["rlimits"],
        }
        for key in ("path", "harness", "nonce", "function", "args", "status_fd"):
            if key in req:
                zreq[key] = req[key]
        oom_before = self.oom_kills()
        socket.send_fds(self.zsock, [json.dumps(zreq).encode()], [in_r, out_w, err_w, st_w])
        for fd in (in_r, out_w, err_w, st_w):
            os.close(fd)
        started = json.loads(self.zsock.recv(1 << 16))
        if "error" in started:  # the fork server could not set the process up: no program ran
            for fd in (in_w, out_r, err_r, st_r):
                os.close(fd)
            raise RuntimeError(f"fork server: {started['error']}")
        pids = started["pids"]
        # The wall clock starts as the program does (forked or exec'd): the fork server's own work
        # before that (the first call or assert run of a container imports the boundary) is not the
        # program's.
        t0 = time.monotonic()

        bufs = {out_r: bytearray(), err_r: bytearray(), st_r: bytearray()}
        counts = {out_r: 0, err_r: 0, st_r: 0}
        keep = {out_r: max_out, err_r: min(max_out, STDERR_KEEP), st_r: max_out}
        names = {out_r: "stdout", err_r: "stderr", st_r: "status"}
        open_fds = set(bufs)
        poller = select.poll()
        for fd in bufs:
            os.set_blocking(fd, False)
            poller.register(fd, select.POLLIN)
        poller.register(self.zsock.fileno(), select.POLLIN)
        pending = memoryview(stdin_data)
        if pending:
            os.set_blocking(in_w, False)
            poller.register(in_w, select.POLLOUT)
        else:
            os.close(in_w)
            in_w = -1

        exit_info = None
        timed_out = False
        cpu_exceeded = False
        cpu_limit_s = req.get("cpu_ms", 0) / 1000.0
        next_cpu_check = t0 + CPU_POLL_S
        exceeded = None
        deadline = t0 + wall_s

        def close_stdin():
            nonlocal in_w
            if in_w >= 0:
                poller.unregister(in_w)
                os.close(in_w)
                in_w = -1

        def read_fd(fd):
            nonlocal exceeded
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                return
            if not data:
                poller.unregister(fd)
                open_fds.discard(fd)
                os.close(fd)
                return
            counts[fd] += len(data)
            room = keep[fd] - len(bufs[fd])
            if room > 0:
                bufs[fd] += data[:room]
            if counts[fd] > max_out and exceeded is None:
                exceeded = names[fd]
                _kill(pids)

        while exit_info is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not timed_out:
                timed_out = True
                _kill(pids)
                deadline = time.monotonic() + 5.0  # the fork server reports the kill promptly
                continue
            if remaining <= 0:
                raise RuntimeError("fork server did not report a killed process")
            now = time.monotonic()
            if cpu_limit_s and now >= next_cpu_check and not timed_out:
                next_cpu_check = now + CPU_POLL_S
                if not cpu_exceeded and sum(_cpu_seconds(pid) for pid in pids) > cpu_limit_s:
                    cpu_exceeded = True
                    _kill(pids)  # RLIMIT_CPU counts whole seconds; this enforces the limit to ~50 ms
            wait_s = min(remaining, next_cpu_check - now) if cpu_limit_s else remaining
            for fd, _ev in poller.poll(max(1, int(wait_s * 1000) + 1)):
                if fd == self.zsock.fileno():
                    exit_info = json.loads(self.zsock.recv(1 << 16))
                elif fd == in_w:
                    try:
                        n = os.write(in_w, pending[:CHUNK])
                        pending = pending[n:]
                        if not pending:
                            close_stdin()
                    except BlockingIOError:
                        pass
                    except OSError:  # the program closed stdin or exited: not an error
                        close_stdin()
                elif fd in open_fds:
                    read_fd(fd)
        wall_ms = (time.monotonic() - t0) * 1000.0
        close_stdin()
        collected = []
        artifacts = []  # their bytes, sent back with ``send_collected`` (for the host's compile cache)
        if exit_info["status"] == 0 and exceeded is None and not timed_out:
            for name in req.get("collect", []):
                artifacts.append(_adopt(os.path.join(req.get("cwd", "/work"), name), name))
                collected.append(name)
        if not req.get("send_collected"):
            artifacts = []
        # The main process is gone; whatever it left behind dies now, so the pipes reach EOF.
        sweep_ms, leftover, clean = self.sweep()
        drain_until = time.monotonic() + DRAIN_GRACE_S
        while open_fds and time.monotonic() < drain_until:
            for fd, _ev in poller.poll(50):
                if fd in open_fds:
                    read_fd(fd)
        for fd in list(open_fds):
            os.close(fd)
        status = exit_info["status"]
        result = {
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
            "cpu_ms": (exit_info["utime"] + exit_info["stime"]) * 1000.0,
            "wall_ms": wall_ms,
            "maxrss_kb": exit_info["maxrss"],
            "timed_out": timed_out,
            "cpu_exceeded": cpu_exceeded,
            "exceeded": exceeded,
            "program_status": exit_info.get("program_status"),
            "oom_kills": max(0, self.oom_kills() - oom_before) if oom_before >= 0 else 0,
            "stdout_bytes": counts[out_r],
            "stderr_bytes": counts[err_r],
            "sweep_ms": sweep_ms,
            "leftover": leftover,
            "clean": clean,
            "collected": collected,
        }
        return result, [bytes(bufs[out_r]), bytes(bufs[err_r]), bytes(bufs[st_r]), *artifacts]

    # -- sessions ----------------------------------------------------------------------------
    def op_session_open(self, req, blobs):
        """Write the session's ``files`` (blobs) under /work as the program's own, start its kernel."""
        if self.kernel is not None:
            raise RuntimeError("a session is open in this container already")
        files = [(spec["path"], data) for spec, data in zip(req.get("files", []), blobs, strict=True)]
        if files:
            self._write_as_program(files)
        self.session_rlimits = req["rlimits"]
        hello = self._start_kernel()
        return {"pid": self.kernel["pid"], "python": hello.get("python", "")}, []

    def op_session_restart(self, req, blobs):
        """Replace the kernel by a fresh one (every process of the program uid is killed first)."""
        self._stop_kernel()
        self._start_kernel()
        return {"pid": self.kernel["pid"]}, []

    def _write_as_program(self, files):
        """Write files under /work as the program uid (the agent has no CAP_CHOWN), in a child."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
                os.umask(0o022)
                for path, data in files:
                    _write_work_file(path, data)
                code = 0
            except BaseException as exc:
                os.write(w, f"{type(exc).__name__}: {exc}"[:1000].encode())
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            why = f.read()
        _pid, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f"cannot write the session's files: {why.decode(errors='replace')}")

    def _start_kernel(self):
        (in_r, in_w), (out_r, out_w), (err_r, err_w), (rep_r, rep_w) = [os.pipe() for _ in range(4)]
        zreq = {
            "mode": "python",
            "harness": "session",
            "uid": self.uid,
            "trusted_uid": self.trusted_uid,
            "cwd": "/work",
            "argv": [],
            "env": PROGRAM_ENV,
            "rlimits": self.session_rlimits,
        }
        socket.send_fds(self.zsock, [json.dumps(zreq).encode()], [in_r, out_w, err_w, rep_w])
        for fd in (in_r, out_w, err_w, rep_w):
            os.close(fd)
        pid = json.loads(self.zsock.recv(1 << 16))["pid"]
        for fd in (in_w, out_r, err_r, rep_r):
            os.set_blocking(fd, False)
        self.kernel = {"pid": pid, "ctl": in_w, "out": out_r, "err": err_r, "rep": rep_r}
        poller = select.poll()
        poller.register(rep_r, select.POLLIN)
        poller.register(self.zsock.fileno(), select.POLLIN)
        buf = bytearray()
        deadline = time.monotonic() + KERNEL_START_S
        while time.monotonic() < deadline:
            for fd, _ev in poller.poll(100):
                if fd == self.zsock.fileno():
                    report = json.loads(self.zsock.recv(1 << 16))
                    self._close_kernel_fds()
                    raise RuntimeError(f"session kernel exited at start (status {report['status']})")
                buf += _read_some(rep_r)
                hello, _ = _frame(buf, 1 << 16)
                if hello is not None:
                    return hello
        self._stop_kernel()
        raise RuntimeError("session kernel did not start in time")

    def _close_kernel_fds(self):
        if self.kernel is not None:
            for key in ("ctl", "out", "err", "rep"):
                try:
                    os.close(self.kernel[key])
                except OSError:
                    pass
            self.kernel = None

    def _stop_kernel(self):
        """Kill every process of the program uid (files stay) and collect the kernel's exit report."""
        if self.kernel is None:
            return
        self._kill_as(self.uid, wipe=False)
        if select.select([self.zsock], [], [], 5.0)[0]:
            self.zsock.recv(1 << 16)
        self._close_kernel_fds()

    def op_session_cell(self, req, blobs):
        """Run one cell. Blob 0 is the code. Replies with the kernel's own report (``reply``, or
        ``None`` when it had to be killed or died), why the agent interrupted it (``reason``:
        ``timeout``/``output``), and the cell's stdout and stderr (blobs 0 and 1), cut at the cap."""
        k = self.kernel
        if k is None:
            raise RuntimeError("no session is open in this container")
        max_out = int(req["max_output"])
        msg = json.dumps(
            {"code": blobs[0].decode("utf-8", "replace"), "name": req["name"], "max_display": max_out}
        ).encode()
        pending = memoryview(_LEN.pack(len(msg)) + msg)
        _read_some(k["rep"])  # stale bytes (a cell's child may write there): not this cell's reply
        pid, ctl, out, err, rep = k["pid"], k["ctl"], k["out"], k["err"], k["rep"]
        bufs = {out: bytearray(), err: bytearray()}
        counts = {out: 0, err: 0}
        rbuf = bytearray()
        reply_limit = 4 * max_out + (1 << 20)
        poller = select.poll()
        for fd in (out, err, rep, self.zsock.fileno()):
            poller.register(fd, select.POLLIN)
        poller.register(ctl, select.POLLOUT)
        t0 = time.monotonic()
        deadline = t0 + req["wall_ms"] / 1000.0
        cpu_limit_s = req["cpu_ms"] / 1000.0
        cpu0 = _cpu_seconds(pid, children=True)
        next_cpu = t0 + CPU_POLL_S
        grace_s = req.get("grace_ms", 1000) / 1000.0
        reason = None
        over_output = False
        kill_at = exit_deadline = None
        killed = False
        reply = None
        exit_info = None
        garbage = False

        def read_stream(fd):
            nonlocal over_output
            data = _read_some(fd)
            counts[fd] += len(data)
            room = max_out - len(bufs[fd])
            if room > 0:
                bufs[fd] += data[:room]
            if counts[fd] > max_out:
                over_output = True

        while reply is None and exit_info is None:
            now = time.monotonic()
            if reason is None:
                if now >= deadline:
                    reason = "timeout"
                elif cpu_limit_s and now >= next_cpu:
                    next_cpu = now + CPU_POLL_S
                    if _cpu_seconds(pid, children=True) - cpu0 > cpu_limit_s:
                        reason = "timeout"
                if reason is None and over_output:
                    reason = "output"
                if reason is not None:
                    _signal(pid, signal.SIGINT)
                    _signal(pid, signal.SIGCONT)  # a stopped kernel takes the interrupt too
                    kill_at = now + grace_s
            elif not killed and (now >= kill_at or garbage):
                killed = True
                self._kill_as(self.uid, wipe=False)
                exit_deadline = now + 5.0
            elif killed and now >= exit_deadline:
                raise RuntimeError("fork server did not report the killed kernel")
            if garbage and reason is None:
                reason = "garbage"
                kill_at = now
                continue
            for fd, ev in poller.poll(int(CPU_POLL_S * 1000)):
                if fd == self.zsock.fileno():
                    exit_info = json.loads(self.zsock.recv(1 << 16))
                elif fd == ctl:
                    try:
                        pending = pending[os.write(ctl, pending[:CHUNK]) :]
                    except BlockingIOError:
                        continue
                    except OSError:  # the kernel is gone: its exit report follows
                        pending = pending[:0]
                    if not pending:
                        poller.unregister(ctl)
                elif fd == rep:
                    data = _read_some(rep)
                    if not data and not ev & select.POLLIN:
                        poller.unregister(rep)  # the kernel is gone: its exit report follows
                        continue
                    rbuf += data
                    try:
                        reply, rest = _frame(rbuf, reply_limit)
                    except ValueError:
                        garbage = True
                        poller.unregister(rep)
                        continue
                    if reply is not None and rest:
                        rbuf = bytearray(rest)
                elif fd in bufs:
                    if ev & select.POLLIN:
                        read_stream(fd)
                    else:
                        poller.unregister(fd)  # hung up with nothing left to read
        wall_ms = (time.monotonic() - t0) * 1000.0
        cpu_ms = (_cpu_seconds(pid, children=True) - cpu0) * 1000.0 if exit_info is None else 0.0
        drain_until = time.monotonic() + DRAIN_S
        for fd in (out, err):  # written before the reply: already in the pipe
            while time.monotonic() < drain_until:
                before = counts[fd]
                read_stream(fd)
                if counts[fd] == before:
                    break
        restarted = False
        if exit_info is not None:  # killed by us, by the OOM killer, or it exited on its own
            if not killed:
                self._kill_as(self.uid, wipe=False)  # what it left running goes with it
            self._close_kernel_fds()
            self._start_kernel()
            restarted = True
        result = {
            "reply": reply if exit_info is None else None,
            "reason": reason,
            "died": exit_info is not None,
            "killed": killed,
            "exit_status": exit_info["status"] if exit_info is not None else None,
            "restarted": restarted,
            "wall_ms": wall_ms,
            "cpu_ms": cpu_ms,
            "stdout_bytes": counts[out],
            "stderr_bytes": counts[err],
        }
        return result, [bytes(bufs[out]), bytes(bufs[err])]

    def serve(self):
        self.sock.sendall(encode({"hello": True, "pid": os.getpid(), "uid": self.uid}))
        while True:
            try:
                req, blobs = recv_message(self.sock)
            except EOFError:
                return
            op = getattr(self, "op_" + str(req.get("op")), None)
            try:
                if op is None:
                    raise ValueError(f"unknown op {req.get('op')!r}")
                header, out = op(req, blobs)
            except Exception as exc:  # reported to the host, which recycles this container
                header, out = {"error": f"{type(exc).__name__}: {exc}"}, []
            self.sock.sendall(encode(header, out))


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _read_some(fd):
    """Whatever a non-blocking pipe holds now (up to a few chunks); b"" when empty or closed."""
    out = bytearray()
    for _ in range(16):
        try:
            data = os.read(fd, CHUNK)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break
        if not data:
            break
        out += data
    return bytes(out)


def _frame(buf, limit):
    """One length-prefixed JSON frame from ``buf``: (message or None if incomplete, bytes after it).
    Raises ValueError for a frame over ``limit`` or not JSON (the kernel is then not trusted on)."""
    if len(buf) < 4:
        return None, b""
    (n,) = _LEN.unpack(bytes(buf[:4]))
    if n > limit:
        raise ValueError(f"kernel frame of {n} bytes")
    if len(buf) < 4 + n:
        return None, b""
    msg = json.loads(bytes(buf[4 : 4 + n]))
    if not isinstance(msg, dict):
        raise ValueError("kernel frame is not an object")
    return msg, bytes(buf[4 + n :])


def _write_work_file(path, data):
    """A session file under /work (run as the program uid; the host checked the path, and so do we)."""
    target = os.path.normpath(os.path.join("/work", path))
    if not target.startswith("/work/") or os.path.isabs(path):
        raise ValueError(f"file path {path!r} leaves /work")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _cpu_seconds(pid, children=False):
    """CPU seconds of ``pid`` (utime + stime), with its reaped children's (cutime + cstime) when
    ``children``; 0 for a process that is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11 : 15 if children else 13]) / CLK_TCK


def _adopt(src, name):
    """Copy a build product (written by the program uid) into the root-owned /box; returns its bytes."""
    with open(src, "rb") as f:
        data = f.read()
    dst = os.path.join(BOX, name)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(dst, 0o755)
    return data


def _live_pids(uids, exclude=0):
    """Live processes of any of ``uids`` (zombies excluded: init reaps them)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == exclude:
            continue
        try:
            if os.stat("/proc/" + name).st_uid not in uids:
                continue
            with open("/proc/" + name + "/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[0]
        except OSError:
            continue
        if state not in (b"Z", b"X"):
            pids.append(int(name))
    return pids


def _kill_all_and_wipe(wipe=True):
    """In the killer process (the target uid): SIGKILL everything we may signal, then wipe.

    ``kill(-1)`` cannot tell us when we are done (Linux reports success whenever any other process
    exists, even one we may not signal), so each round re-reads /proc for survivors of our uid; a fork
    bomb racing us loses once RLIMIT_NPROC stops it from replacing its dead.
    """
    me, uid = os.getpid(), os.getuid()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        os.kill(-1, signal.SIGKILL)  # Linux never signals the caller itself
        if not _live_pids((uid,), exclude=me):
            break
        time.sleep(0.001)
    for d in WIPE_DIRS if wipe else ():
        _wipe(d)
    _remove_ipc(uid)


#: System V IPC objects live in the container's IPC namespace, not in any dir or process: a message
#: queue or shared memory segment a program makes outlives it, and the next sample in the container
#: could read it. The sweep removes those of the program uids (their creator may always remove them).
_IPC_KINDS = ("shm", "sem", "msg")


def _ipc_objects(uids):
    """``(kind, id)`` of the SysV IPC objects owned or created by any of ``uids`` (/proc/sysvipc)."""
    found = []
    for kind in _IPC_KINDS:
        try:
            with open("/proc/sysvipc/" + kind, "rb") as f:
                header, *rows = f.read().split(b"\n")
        except OSError:
            continue
        names = header.split()
        try:
            owner, creator = names.index(b"uid"), names.index(b"cuid")
        except ValueError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > max(owner, creator) and (int(cols[owner]) in uids or int(cols[creator]) in uids):
                found.append((kind, int(cols[1])))
    return found


def _remove_ipc(uid):
    """In the killer process (uid ``uid``): IPC_RMID every SysV IPC object of ``uid``."""
    objects = _ipc_objects((uid,))
    if not objects:
        return
    import ctypes  # only when there is something to remove: most sweeps never load it

    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    for kind, ident in objects:
        if kind == "shm":
            libc.shmctl(ident, ipc_rmid, None)
        elif kind == "sem":
            libc.semctl(ident, 0, ipc_rmid)
        else:
            libc.msgctl(ident, ipc_rmid, None)


def _empty(top):
    """True if ``top`` has no entries, or does not exist in this container."""
    try:
        return not os.listdir(top)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _unlink_files(dirs):
    """Unlink every entry of ``dirs`` that is not a directory (as the dirs' owner: see ``sweep``).
    True if every dir is empty afterwards; False at the first subdirectory, or a dir or entry that
    cannot be listed or removed (the killer then wipes as the program's uid)."""
    removed = False
    for top in dirs:
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return False
            try:
                os.unlink(entry.path)
            except OSError:
                return False
            removed = True
    return not removed or all(_empty(d) for d in dirs)


def _wipe(top):
    try:
        entries = os.listdir(top)
    except OSError:
        return
    for name in entries:
        path = os.path.join(top, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)  # the program may have made its own dir unreadable
                _wipe(path)
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            pass


def _spawn_zygote(child):
    """Start the fork server (cwd ``/``, the agent's) with ``child`` as its one extra fd, stdio on
    /dev/null and default SIGPIPE and SIGXFSZ (what subprocess.Popen would do: importing subprocess
    alone costs ~20 ms of CPU per container start). Every other fd of the agent is close-on-exec."""
    os.set_inheritable(child.fileno(), True)
    devnull = [(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_RDWR, 0) for fd in (0, 1, 2)]
    zygote = _script("zygote")
    return os.posix_spawn(
        "/usr/bin/python3",
        ["/usr/bin/python3", zygote, str(child.fileno())],
        PROGRAM_ENV,
        file_actions=devnull,
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
    )


def _script(name):
    """Path of the runner script ``name``: its bytecode (``name.pyc``, baked in at image build, see
    docker/Dockerfile) when there is one, else its source. The root is read-only: nothing is cached
    at run time, so a script started from source is compiled again in every container."""
    here = os.path.dirname(os.path.abspath(__file__))
    pyc = os.path.join(here, name + ".pyc")
    return pyc if os.path.exists(pyc) else os.path.join(here, name + ".py")


def _args(argv):
    """``--socket PATH --uid N --trusted-uid N`` (the host's fixed command line; argparse alone
    costs ~10 ms of interpreter start-up per container)."""
    opts = dict(zip(argv[::2], argv[1::2], strict=True))
    if sorted(opts) != ["--socket", "--trusted-uid", "--uid"]:
        raise SystemExit(f"usage: agent.py --socket PATH --uid N --trusted-uid N (got {argv!r})")
    return opts["--socket"], int(opts["--uid"]), int(opts["--trusted-uid"])


def main():
    path, uid, trusted_uid = _args(sys.argv[1:])
    deadline = time.monotonic() + 30
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    Agent(sock, uid, trusted_uid).serve()


if __name__ == "__main__":
    main()
