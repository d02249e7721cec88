"""Our seccomp profile (docker/seccomp.json), tried from inside real sandboxes as a program would.

Every syscall the profile removes must answer EPERM (clone3: ENOSYS, so glibc falls back to clone) to
Python through ctypes and to C++ directly; 32-bit entry points kill the program (SIGSYS); what
programs and the toolchains need still works. That every pool container of the test run carries the
profile is checked for the whole session by ``conftest.SeccompWatch``. Syscall numbers are x86_64's.
"""

from __future__ import annotations

import hashlib
import json
import platform
import signal
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox_service.config import Settings
from sandbox_service.seccomp import DOCKER_DEFAULT, SECCOMP_LABEL, profile_version
from sandbox_service.v1 import sandbox_pb2 as pb

from .conftest import (
    SECCOMP_OFF_PREFIX,
    EngineHarness,
    LoopThread,
    SeccompWatch,
    assertion,
    code_request,
    stdio,
    verdict,
    verdicts,
    wait_until,
)
from .language_table import ROWS

PROFILE = Path(__file__).resolve().parent.parent / "docker" / "seccomp.json"
EPERM, ENOSYS = "EPERM", "ENOSYS"
CLONE_NEWUSER = 0x10000000

# name -> (x86_64 number, arguments that would succeed or fail otherwise than EPERM if allowed, errno).
# bytes are passed as a pointer to a 4 KiB buffer holding them.
REMOVED: dict[str, tuple[int, tuple[int | bytes, ...], str]] = {
    "io_uring_setup": (425, (8, b""), EPERM),
    "io_uring_enter": (426, (-1, 1, 0, 0, 0, 0), EPERM),
    "io_uring_register": (427, (-1, 0, 0, 0), EPERM),
    "memfd_create": (319, (b"x", 0), EPERM),
    "memfd_secret": (447, (0,), EPERM),
    "ptrace": (101, (0, 0, 0, 0), EPERM),  # PTRACE_TRACEME
    "process_vm_readv": (310, (1, 0, 0, 0, 0, 0), EPERM),
    "process_vm_writev": (311, (1, 0, 0, 0, 0, 0), EPERM),
    "modify_ldt": (154, (0, b"", 16), EPERM),
    "personality ADDR_NO_RANDOMIZE": (135, (0x0040000,), EPERM),
    "userfaultfd": (323, (0,), EPERM),
    "keyctl": (250, (0, -3, 0), EPERM),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": (248, (b"user", b"k", b"v", 1, -2), EPERM),
    "request_key": (249, (b"user", b"k", 0, 0), EPERM),
    "unshare CLONE_NEWUSER": (272, (CLONE_NEWUSER,), EPERM),
    "clone CLONE_NEWUSER": (56, (CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0), EPERM),
    "clone3": (435, (b"", 88), ENOSYS),
    "setns": (308, (-1, 0), EPERM),
    "mount": (165, (b"none", b"/tmp", b"tmpfs", 0, 0), EPERM),
    "fsopen": (430, (b"tmpfs", 0), EPERM),
    "open_tree": (428, (-100, b"/", 0), EPERM),
    "bpf": (321, (0, b"", 72), EPERM),
    "perf_event_open": (298, (b"", 0, -1, -1, 0), EPERM),
    "open_by_handle_at": (304, (-100, b"", 0), EPERM),
    "name_to_handle_at": (303, (-100, b"/", b"", b"", 0), EPERM),
    "kexec_load": (246, (0, 0, 0, 0), EPERM),
    "kexec_file_load": (320, (-1, -1, 0, 0, 0), EPERM),
    "init_module": (175, (b"", 0, b""), EPERM),
    "syslog": (103, (3, b"", 100), EPERM),  # SYSLOG_ACTION_READ_ALL
    "iopl": (172, (3,), EPERM),
    "chroot": (161, (b"/",), EPERM),
    "kcmp": (312, (1, 1, 0, 0, 0), EPERM),
    "pidfd_getfd": (438, (-1, 0, 0), EPERM),
    "mbind": (237, (0, 0, 0, 0, 0, 0), EPERM),
    "socket AF_VSOCK": (41, (40, 1, 0), EPERM),
    "socket AF_PACKET": (41, (17, 3, 0), EPERM),
    "socket AF_ALG": (41, (38, 5, 0), EPERM),
    "socket AF_TIPC": (41, (30, 2, 0), EPERM),
    "socket AF_RDS": (41, (21, 5, 0), EPERM),
    "socket AF_KEY": (41, (15, 3, 2), EPERM),
    "socket AF_XDP": (41, (44, 3, 0), EPERM),
    "socket AF_CAN": (41, (29, 3, 1), EPERM),
}
# Kept: the same probe must report these as allowed, or it proves nothing.
KEPT: dict[str, tuple[int, tuple[int | bytes, ...], str]] = {
    "getpid": (39, (), "allowed"),
    "personality query": (135, (0xFFFFFFFF,), "allowed"),
    "socket AF_UNIX": (41, (1, 1, 0), "allowed"),
    "socket AF_INET": (41, (2, 1, 0), "allowed"),
    "socket AF_INET6": (41, (10, 2, 0), "allowed"),
    "socket AF_NETLINK": (41, (16, 3, 0), "allowed"),
    "prlimit64": (302, (0, 7, 0, b""), "allowed"),  # read RLIMIT_NOFILE
    "setrlimit": (160, (4, b""), "allowed"),  # RLIMIT_CORE to 0/0
    "setresuid (own uid)": (117, (-1, -1, -1), "allowed"),
}

# Reads a probe's name, makes that raw syscall, prints the errno's name or "allowed".
PROBE = """
import ctypes, errno, os, platform
assert platform.machine() == "x86_64", "the probe table holds x86_64 syscall numbers"
CALLS = %r
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
keep = []
def arg(a):
    if isinstance(a, bytes):
        keep.append(ctypes.create_string_buffer(a, 4096))
        return ctypes.c_long(ctypes.addressof(keep[-1]))
    return ctypes.c_long(a)
name = input().strip()
nr, args = CALLS[name]
ctypes.set_errno(0)
r = libc.syscall(ctypes.c_long(nr), *map(arg, args))
if r == 0 and name.startswith("clone"):
    os._exit(0)  # the child of a clone the filter let through
print(errno.errorcode[ctypes.get_errno()] if r == -1 else "allowed")
"""


def probe_source(table: dict[str, tuple[int, tuple[int | bytes, ...], str]]) -> str:
    return PROBE % {name: (nr, args) for name, (nr, args, _) in table.items()}


def probe_tests(table: dict[str, tuple[int, tuple[int | bytes, ...], str]]) -> list[pb.TestCase]:
    return [stdio(f"{name}\n", f"{want}\n") for name, (_, _, want) in table.items()]


def outcomes(
    resp: pb.ScoreResponse, table: dict[str, tuple[int, tuple[int | bytes, ...], str]]
) -> dict[str, str]:
    return {
        name: t.stdout_head.strip() or pb.Verdict.Name(t.verdict)
        for name, t in zip(table, resp.tests, strict=True)
    }


# -- the profile file (no Docker) ----------------------------------------------------------------
def _allowed_names(profile: dict[str, object]) -> set[str]:
    rules = profile["syscalls"]
    assert isinstance(rules, list)
    return {n for r in rules if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}


def test_profile_file_allows_none_of_the_removed_syscalls() -> None:
    profile = json.loads(PROFILE.read_text())
    allowed = _allowed_names(profile)
    removed = {name.split()[0] for name, (nr, _, _) in REMOVED.items() if nr != 41}
    removed -= {"personality", "clone"}  # allowed for some arguments only; tried from inside below
    removed |= {"socketcall", "vm86", "vm86old", "fanotify_init", "lookup_dcookie", "quotactl", "umount2"}
    assert not allowed & removed
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    # Nothing opens up with a capability, and no 32-bit ABI (int 0x80, x32) is let in.
    assert not [r for r in profile["syscalls"] if (r.get("includes") or {}).get("caps")]
    assert all(not a["subArchitectures"] for a in profile["archMap"])
    assert profile_version() == hashlib.sha256(PROFILE.read_bytes()).hexdigest()[:16]


# -- from inside real containers -----------------------------------------------------------------
@pytest.mark.docker
def test_python_gets_eperm_for_every_removed_syscall(engine: EngineHarness) -> None:
    assert platform.machine() == "x86_64", "the probe table holds x86_64 syscall numbers"
    resp = engine.score(code_request("python", probe_source(REMOVED), probe_tests(REMOVED)))
    got = outcomes(resp, REMOVED)
    assert got == {name: want for name, (_, _, want) in REMOVED.items()}
    assert verdict(resp) == "ACCEPTED"


@pytest.mark.docker
def test_the_probe_sees_kept_syscalls_allowed(engine: EngineHarness) -> None:
    resp = engine.score(code_request("python", probe_source(KEPT), probe_tests(KEPT)))
    assert outcomes(resp, KEPT) == {name: "allowed" for name in KEPT}


CPP_PROBE = r"""
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <linux/io_uring.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
static void show(const char* name, long r) {
    std::printf("%s %s\n", name, r == -1 ? (errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : std::strerror(errno)) : "allowed");
}
int main() {
    io_uring_params p;
    std::memset(&p, 0, sizeof p);
    show("io_uring_setup", syscall(SYS_io_uring_setup, 8, &p));
    show("io_uring_enter", syscall(SYS_io_uring_enter, -1, 1, 0, 0, nullptr, 0));
    show("io_uring_register", syscall(SYS_io_uring_register, -1, 0, nullptr, 0));
    show("memfd_create", memfd_create("x", 0));
    show("ptrace", ptrace(PTRACE_TRACEME, 0, nullptr, nullptr));
    char ldt[16];
    show("modify_ldt", syscall(SYS_modify_ldt, 0, ldt, sizeof ldt));
    show("userfaultfd", syscall(SYS_userfaultfd, 0));
    show("unshare", unshare(0x10000000));
    char args[88] = {};
    show("clone3", syscall(SYS_clone3, args, sizeof args));
}
"""
CPP_EXPECTED = {
    "io_uring_setup": EPERM,
    "io_uring_enter": EPERM,
    "io_uring_register": EPERM,
    "memfd_create": EPERM,
    "ptrace": EPERM,
    "modify_ldt": EPERM,
    "userfaultfd": EPERM,
    "unshare": EPERM,
    "clone3": ENOSYS,
}


@pytest.mark.docker
def test_cpp_gets_eperm_for_removed_syscalls(engine: EngineHarness) -> None:
    expected = "".join(f"{k} {v}\n" for k, v in CPP_EXPECTED.items())
    resp = engine.score(code_request("cpp", CPP_PROBE, [stdio("", expected)]))
    assert verdict(resp) == "ACCEPTED", (resp.compile_output, resp.tests[0].stdout_head)


@pytest.mark.docker
def test_32_bit_syscalls_kill_the_program(engine: EngineHarness) -> None:
    # int 0x80 from a 64-bit program enters the i386 syscall table (getpid is 20 there); under
    # Docker's profile it returns the pid, under ours the filter kills the program.
    src = r"""
#include <cstdio>
int main() {
    long r;
    asm volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    std::printf("allowed %ld\n", r);
}
"""
    resp = engine.score(code_request("cpp", src, [stdio("", "refused\n")]))
    assert verdicts(resp) == ["RUNTIME_ERROR"], resp.tests[0].stdout_head
    assert resp.tests[0].signal == signal.SIGSYS and resp.tests[0].stdout_head == ""


PY_TOOLS = """
import asyncio, ctypes, multiprocessing, subprocess, threading, socket, tempfile
out = []
t = threading.Thread(target=out.append, args=("thread",)); t.start(); t.join()
with multiprocessing.get_context("fork").Pool(2) as pool:
    out.append(sum(pool.map(abs, [-1, -2])))
out.append(subprocess.run(["/bin/echo", "exec"], capture_output=True, text=True).stdout.strip())
out.append(asyncio.run(asyncio.sleep(0, "asyncio")))
CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
arr = (ctypes.c_int * 3)(3, 1, 2)
ctypes.CDLL(None).qsort(arr, 3, ctypes.sizeof(ctypes.c_int), CMP(lambda a, b: a[0] - b[0]))
out.append(list(arr))
a, b = socket.socketpair(); a.send(b"unix"); out.append(b.recv(4).decode())
srv = socket.create_server(("127.0.0.1", 0)); c = socket.create_connection(srv.getsockname())
conn, _ = srv.accept(); c.sendall(b"tcp"); out.append(conn.recv(3).decode())
out.append(socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)[0][4][0])
with tempfile.TemporaryFile() as f:
    f.write(b"tmp"); f.seek(0); out.append(f.read().decode())
print(out)
"""
PY_TOOLS_OUT = "['thread', 3, 'exec', 'asyncio', [1, 2, 3], 'unix', 'tcp', '127.0.0.1', 'tmp']\n"

CPP_TOOLS = r"""
#include <future>
#include <iostream>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>
int main() {
    int t = 0;
    std::thread th([&] { t = 1; });
    th.join();
    auto f = std::async(std::launch::async, [] { return 2; });
    pid_t pid = fork();
    if (pid == 0) _exit(3);
    int st = 0;
    waitpid(pid, &st, 0);
    std::cout << t << f.get() << WEXITSTATUS(st) << '\n';
}
"""


@pytest.mark.docker
def test_toolchains_and_what_programs_use_still_work(engine: EngineHarness) -> None:
    """Threads (clone3 answers ENOSYS, glibc falls back to clone), fork, exec, multiprocessing,
    asyncio, libffi callbacks, unix and loopback sockets, getaddrinfo, temp files; C++ compiles."""
    resp = engine.score(code_request("python", PY_TOOLS, [stdio("", PY_TOOLS_OUT)]))
    assert verdict(resp) == "ACCEPTED", (resp.tests[0].stdout_head, resp.tests[0].stderr_head)
    resp = engine.score(code_request("cpp", CPP_TOOLS, [stdio("", "123\n")]))
    assert verdict(resp) == "ACCEPTED", (resp.compile_output, resp.tests[0].stderr_head)


@pytest.mark.docker
def test_containers_carry_our_profile_and_its_version(
    engine: EngineHarness, docker_client: docker.DockerClient, seccomp_watch: SeccompWatch
) -> None:
    for name in engine.engine.pool.live_names():
        attrs = docker_client.containers.get(name).attrs
        opts = [o for o in attrs["HostConfig"]["SecurityOpt"] if o.startswith("seccomp=")]
        assert len(opts) == 1 and json.loads(opts[0][len("seccomp=") :]) == json.loads(PROFILE.read_text())
        assert attrs["Config"]["Labels"][SECCOMP_LABEL] == profile_version()
        assert seccomp_watch.problem(name) is None
    # The session-wide watch has seen (and passed) this engine's containers.
    wait_until(lambda: len(seccomp_watch.checked) >= 2, 10, "the seccomp watch to check containers")


@pytest.fixture
def docker_default_engine(loop_thread: LoopThread) -> Iterator[EngineHarness]:
    settings = Settings(container_prefix=SECCOMP_OFF_PREFIX, pool_size=1, seccomp_profile=False)
    harness = EngineHarness(loop_thread, settings)
    yield harness
    harness.close()


@pytest.mark.docker
def test_turned_off_it_is_docker_default_and_the_watch_would_say_so(
    docker_default_engine: EngineHarness, docker_client: docker.DockerClient, seccomp_watch: SeccompWatch
) -> None:
    name = docker_default_engine.engine.pool.live_names()[0]
    attrs = docker_client.containers.get(name).attrs
    assert not [o for o in attrs["HostConfig"]["SecurityOpt"] if o.startswith("seccomp=")]
    assert attrs["Config"]["Labels"][SECCOMP_LABEL] == DOCKER_DEFAULT
    problem = seccomp_watch.problem(name)
    assert problem is not None and "without our seccomp profile" in problem
    # The hole the profile closes: Docker < 25's default profile lets io_uring through.
    if int(docker_client.version()["Version"].split(".")[0]) < 25:
        table = {"io_uring_setup": REMOVED["io_uring_setup"]}
        resp = docker_default_engine.score(code_request("python", probe_source(table), probe_tests(table)))
        assert outcomes(resp, table) == {"io_uring_setup": "allowed"}


@pytest.mark.docker
@pytest.mark.parametrize("lang", sorted(ROWS))
def test_every_toolchain_compiles_and_runs_under_the_profile(engine: EngineHarness, lang: str) -> None:
    """Every row's compiler and runtime (JVM, V8, mono's JIT, Go's threads, ...) under our profile:
    none needs memfd_create, io_uring or another denied call (the pool's containers all carry it)."""
    row = ROWS[lang]
    resp = engine.score(code_request(lang, row.add, [stdio("2 3\n", "5\n")]))
    assert verdict(resp) == "ACCEPTED", (
        resp.compile_output,
        resp.tests[0].message,
        resp.tests[0].stderr_head,
    )
    resp = engine.score(code_request(lang, row.program, [assertion(row.test_pass)]))
    assert verdict(resp) == "ACCEPTED", (
        resp.compile_output,
        resp.tests[0].message,
        resp.tests[0].stderr_head,
    )
