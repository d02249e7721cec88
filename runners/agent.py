"""The agent: one long-running process per sandbox container (PID 2, under the container's init).

It connects to the host over a unix socket that the host bind-mounts read-only into the container,
then serves requests one at a time:

- ``write``: put files (program source, checker inputs) into the root-owned ``/box`` directory, which
  the program can read but not change.
- ``clear``: empty ``/box`` (between samples, and after a checker saw an expected output).
- ``run``: run one process through the fork server (``zygote.py``) as the program uid, feeding
  stdin and capturing stdout/stderr/status without deadlock, enforcing the wall-clock limit and the
  output caps, then sweeping: every process of the program uid is killed and reaped, and ``/tmp``,
  ``/work``, ``/dev/shm``, ``/dev/mqueue`` are wiped. It reports raw facts only (exit status, CPU and
  wall time, peak RSS, the cgroup ``oom_kill`` delta, captured bytes); verdicts are decided on the host,
  and expected outputs never come here.

Privileges: the container keeps only CAP_SETUID, CAP_SETGID and CAP_KILL. The program runs under a
different, unprivileged uid (given by the host, one per container), so it cannot ptrace this process,
signal it, or reach the host socket (mode 0600, owned by uid 0).

Standard library only; runs on the image's Debian Python.
"""

import argparse
import json
import os
import select
import signal
import socket
import subprocess
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
        zygote = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote.py")
        self.zygote = subprocess.Popen(
            ["/usr/bin/python3", zygote, str(child.fileno())],
            pass_fds=[child.fileno()],
            env=PROGRAM_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
        )
        child.close()
        self.zsock = parent

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

    def dirty(self):
        for d in WIPE_DIRS:
            try:
                if os.listdir(d):
                    return True
            except OSError:
                pass
        return bool(self.program_pids())

    def sweep(self):
        """Kill every process of the program uid and wipe the writable dirs. Returns (ms, leftover)."""
        t0 = time.monotonic()
        if self.dirty():
            # One killer per uid: with the uid of its targets, kill(-1) reaches exactly their processes.
            # The program's killer also wipes its writable dirs.
            for uid in (self.uid, self.trusted_uid):
                if uid == self.uid or _live_pids((uid,)):
                    self._kill_as(uid, wipe=uid == self.uid)
        leftover = len(self.program_pids())
        return (time.monotonic() - t0) * 1000.0, leftover

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
        for spec, data in zip(req["files"], blobs, strict=True):
            path = os.path.join(BOX, os.path.basename(spec["name"]))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, spec.get("mode", 0o644))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(path, spec.get("mode", 0o644))
        return {"ok": True}, []

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
        t0 = time.monotonic()
        socket.send_fds(self.zsock, [json.dumps(zreq).encode()], [in_r, out_w, err_w, st_w])
        for fd in (in_r, out_w, err_w, st_w):
            os.close(fd)
        pids = json.loads(self.zsock.recv(1 << 16))["pids"]

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
        if exit_info["status"] == 0 and exceeded is None and not timed_out:
            for name in req.get("collect", []):
                collected.append(_adopt(os.path.join(req.get("cwd", "/work"), name), name))
        # The main process is gone; whatever it left behind dies now, so the pipes reach EOF.
        sweep_ms, leftover = self.sweep()
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
            "collected": collected,
        }
        return result, [bytes(bufs[out_r]), bytes(bufs[err_r]), bytes(bufs[st_r])]

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


def _cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _adopt(src, name):
    """Copy a build product (written by the program uid) into the root-owned /box."""
    with open(src, "rb") as f:
        data = f.read()
    dst = os.path.join(BOX, name)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(dst, 0o755)
    return name


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--trusted-uid", type=int, required=True)
    args = parser.parse_args()
    deadline = time.monotonic() + 30
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(args.socket)
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    Agent(sock, args.uid, args.trusted_uid).serve()


if __name__ == "__main__":
    main()
