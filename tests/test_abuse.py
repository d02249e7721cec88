"""Hostile programs. Each gets the right verdict, and the next sample on the same pool still passes.

The pool has one container (``solo_engine``), so "the next sample" runs where the abuser ran, or in
its replacement if the abuse got the container recycled.
"""

from __future__ import annotations

import ast

import pytest

from .conftest import EngineHarness, code_request, stdio, verdict

pytestmark = pytest.mark.docker

# The healthy follow-up also proves the sweep: no process of the program uid but itself, and
# nothing left in the writable places.
HEALTHY = """
import os
mine = [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()
        and os.stat('/proc/' + p).st_uid == os.getuid()
        and open('/proc/' + p + '/stat').read().rpartition(')')[2].split()[0] != 'Z']
left = [d for d in ('/tmp', '/work', '/dev/shm', '/dev/mqueue') if os.listdir(d)]
print(int(input()) * 2, mine, left)
"""


def assert_next_sample_passes(engine: EngineHarness) -> None:
    resp = engine.score(code_request("python", HEALTHY, [stdio("21\n", "42 [] []\n")]))
    assert verdict(resp) == "ACCEPTED", (
        resp.tests[0].stdout_head,
        resp.tests[0].stderr_head,
        resp.tests[0].message,
    )


ABUSE = {
    "infinite loop": ("python", "while True:\n    pass\n", {"time_limit_ms": 500}, {"TIME_LIMIT_EXCEEDED"}),
    "sleep": (
        "python",
        "import time\ntime.sleep(60)\n",
        {"wall_time_limit_ms": 500},
        {"TIME_LIMIT_EXCEEDED"},
    ),
    "fork bomb": (
        "python",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        {"time_limit_ms": 1000, "wall_time_limit_ms": 2000},
        {"TIME_LIMIT_EXCEEDED", "RUNTIME_ERROR"},
    ),
    "c fork bomb": (
        "cpp",
        "#include <unistd.h>\nint main() { for (;;) fork(); }\n",
        {"time_limit_ms": 1000, "wall_time_limit_ms": 2000},
        {"TIME_LIMIT_EXCEEDED", "RUNTIME_ERROR"},
    ),
    "memory bomb": (
        "python",
        "x = []\nwhile True:\n    x.append(bytearray(1 << 24))\n",
        {"memory_limit_mb": 128},
        {"MEMORY_LIMIT_EXCEEDED"},
    ),
    "memory bomb in a child": (
        "python",
        "import os\nif os.fork() == 0:\n    x = []\n    while True:\n        x.append(bytearray(1 << 24))\nos.wait()\n",
        {"memory_limit_mb": 128},
        {"MEMORY_LIMIT_EXCEEDED"},
    ),
    "output flood": (
        "python",
        "import os\nwhile True:\n    os.write(1, b'y' * 65536)\n",
        {"max_output_bytes": 1 << 20},
        {"OUTPUT_LIMIT_EXCEEDED"},
    ),
    "tmpfs filler": (
        "python",
        "f = open('/tmp/fill', 'wb')\nwhile True:\n    f.write(b'z' * (1 << 20))\n",
        {"memory_limit_mb": 512},
        {"RUNTIME_ERROR", "MEMORY_LIMIT_EXCEEDED"},
    ),
    "daemon": (
        "python",
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30); open('/tmp/late', 'w').write('x')\n"
        "    os._exit(0)\n"
        "print('done')\n",
        {},
        {"WRONG_ANSWER"},
    ),
    "sigterm ignorer and stopped child": (
        "python",
        "import os, signal, time\n"
        "if os.fork() == 0:\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    while True: time.sleep(1)\n"
        "if os.fork() == 0:\n"
        "    os.kill(os.getpid(), signal.SIGSTOP)\n"
        "open('/dev/shm/x', 'w').write('x')\n"
        "print('bye')\n",
        {},
        {"WRONG_ANSWER"},
    ),
    "kill everything": (
        "python",
        "import os, signal\n"
        "for p in os.listdir('/proc'):\n"
        "    if p.isdigit() and int(p) != os.getpid():\n"
        "        try: os.kill(int(p), signal.SIGKILL)\n"
        "        except OSError: pass\n"
        "os.kill(-1, signal.SIGKILL)\n",  # spares the caller: it exits 0, printing nothing
        {},
        {"WRONG_ANSWER"},
    ),
}


@pytest.mark.parametrize("name", list(ABUSE))
def test_abuse_gets_its_verdict_and_the_pool_survives(solo_engine: EngineHarness, name: str) -> None:
    language, src, limits, want = ABUSE[name]
    resp = solo_engine.score(code_request(language, src, [stdio("", "never")], limits=limits))
    assert verdict(resp) in want, (name, verdict(resp), resp.tests[0].message)
    assert_next_sample_passes(solo_engine)


PROBE = r"""
import os, socket
results = {}
def attempt(name, fn):
    try:
        fn(); results[name] = 'ALLOWED'
    except Exception as exc:
        results[name] = 'blocked'
attempt('write /etc', lambda: open('/etc/evil', 'w'))
attempt('write /usr', lambda: open('/usr/bin/evil', 'w'))
attempt('overwrite program', lambda: open('/box/prog.py', 'a'))
attempt('write /box', lambda: open('/box/new', 'w'))
attempt('overwrite agent', lambda: open('/opt/runners/agent.py', 'a'))
attempt('agent socket dir', lambda: os.listdir('/run/agent'))
attempt('ptrace agent', lambda: open('/proc/1/mem', 'rb').read(1))
attempt('agent environ', lambda: open('/proc/2/environ', 'rb').read())
attempt('setuid root', lambda: os.setuid(0))
attempt('chroot', lambda: os.chroot('/tmp'))
attempt('mount', lambda: os.system('mount -t tmpfs x /tmp 2>/dev/null') == 0 or 1 / 0)
attempt('dns', lambda: socket.getaddrinfo('example.com', 80))
attempt('loopback port', lambda: socket.create_connection(('127.0.0.1', 22), timeout=1))
results['interfaces'] = sorted(os.listdir('/sys/class/net'))
results['uid'] = os.getuid() != 0
print(results)
"""


def test_isolation_probe(solo_engine: EngineHarness) -> None:
    resp = solo_engine.score(code_request("python", PROBE, [stdio("", "")]))
    found = ast.literal_eval(resp.tests[0].stdout_head)  # a dict of str -> str/bool/list, never eval'd
    allowed = [k for k, v in found.items() if v == "ALLOWED"]
    assert not allowed, found
    assert found["interfaces"] == ["lo"] and found["uid"] is True
    assert_next_sample_passes(solo_engine)


# System V IPC objects belong to the container's IPC namespace, not to a process or a dir: a message
# queue, a shared memory segment and a semaphore set a sample leaves must not reach the next sample.
IPC_LIBC = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 32)]
"""
IPC_LEAVE = (
    IPC_LIBC
    + r"""
q = libc.msgget(0x5EC1, 0o1666)
assert libc.msgsnd(q, ctypes.byref(Msg(1, b"answer from sample one")), 32, 0) == 0
shm = libc.shmget(0x5EC2, 4096, 0o1666)
ctypes.memmove(libc.shmat(shm, None, 0), b"answer from sample one", 22)
assert libc.semget(0x5EC3, 1, 0o1666) >= 0
print("left", q >= 0, shm >= 0)
if {spin}:  # until the CPU limit stops it
    while True:
        pass
"""
)
IPC_LOOK = (
    IPC_LIBC
    + r"""
found = [libc.msgget(0x5EC1, 0o666), libc.shmget(0x5EC2, 0, 0o666), libc.semget(0x5EC3, 0, 0o666)]
print([open('/proc/sysvipc/' + k).read().count('\n') - 1 for k in ('msg', 'shm', 'sem')], found)
"""
)


@pytest.mark.parametrize("ending", ["exit", "cpu_timeout"])
def test_sysv_ipc_does_not_reach_the_next_sample(solo_engine: EngineHarness, ending: str) -> None:
    pool = solo_engine.engine.pool
    spin = ending == "cpu_timeout"  # a timed-out container may be kept when its sweep proves it clean
    leave = solo_engine.score(
        code_request(
            "python",
            IPC_LEAVE.replace("{spin}", str(spin)),
            [stdio("", "left True True\n")],
            limits={"time_limit_ms": 500},
        )
    )
    assert verdict(leave) == ("TIME_LIMIT_EXCEEDED" if spin else "ACCEPTED"), leave.tests[0].message
    names = pool.live_names()
    look = solo_engine.score(code_request("python", IPC_LOOK, [stdio("", "[0, 0, 0] [-1, -1, -1]\n")]))
    assert verdict(look) == "ACCEPTED", (look.tests[0].stdout_head, names, pool.live_names())
