"""A pool of warm, hardened sandbox containers, checked out one sample at a time.

Each container runs the agent (``runners/agent.py``) and nothing else; the Docker daemon is called only
to create and remove containers, never on the per-test path. A container is recycled (removed and
replaced in the background) after an OOM kill, a lost agent, leftover processes, a slow reset,
``max_uses`` samples, or a timeout it is not proven clean after (``Lease.timed_out``). Containers
carry the label ``sandbox-service.pool`` (the configured prefix) and the owning process; at
start-up, containers of owners that no longer run are removed, and at shutdown all of ours are.

Isolation flags (see ``architecture.md``): no network, read-only root, size-capped tmpfs work dirs,
pids limit, memory = memory+swap, CPU quota, nofile/fsize/core ulimits, all capabilities dropped but
SETUID/SETGID/KILL (the agent's), no-new-privileges, our seccomp profile (``seccomp.py``; its version
in the label ``sandbox-service.seccomp``), an init process, and no log driver. Programs run under a
per-container unprivileged uid.

The host process must be root (or own the Docker socket and cgroup files) so the container's uid 0
can reach the agent socket and the per-sample memory limit can be written to the cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import socket
import struct
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import psutil

from .admission import SHARES_SLOT, CpuAdmission, CpuProbe, Ticket, find_cpu_probe
from .agent_client import AgentConnection
from .config import Settings
from .errors import AgentLost, DockerUnavailable, InfrastructureError
from .seccomp import SECCOMP_LABEL, seccomp_options

__all__ = [
    "POOL_LABEL",
    "RUN_SLACK_BYTES",
    "TRUSTED_UID_OFFSET",
    "UID_BASE",
    "UID_LIMIT",
    "Container",
    "ContainerPool",
    "RunMemory",
]

log = logging.getLogger(__name__)

POOL_LABEL = "sandbox-service.pool"
OWNER_LABEL = "sandbox-service.owner"
UID_BASE = 61000  # program uids: one per live container, never shared, never 0
UID_SLOTS = 1024  # pools on one host each hold a distinct block of uids...
UID_BLOCK = 1024  # ...of this many (RLIMIT_NPROC counts a uid's processes host-wide, across containers)
UID_LIMIT = UID_BASE + UID_SLOTS * UID_BLOCK
# A program uid plus this is the uid of the trusted side of its assertion and call tests (runners/boundary):
# above every program uid, so no program uid is ever a trusted one.
TRUSTED_UID_OFFSET = 1 << 21
AGENT_SOCKET = "/run/agent/agent.sock"
_MB = 1 << 20
GROW_PARALLEL = 4  # containers started on demand at once (each costs ~0.4 s of host CPU)
_SERIAL = itertools.count()  # process-wide: several pools may live in one process


def _owner_tag() -> str:
    me = psutil.Process()
    return f"{me.pid}:{me.create_time():.3f}"


def _claim_uid_block() -> tuple[socket.socket, int]:
    """Hold one host-wide block of program uids for as long as the returned socket stays open.

    A bound abstract unix socket is the lock: the name is unique per host (network namespace), and
    the kernel releases it when the owner exits, however it dies. No files are left behind.
    """
    for slot in range(UID_SLOTS):
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lock.bind(f"\0sandbox-service-uids-{slot}")
        except OSError:
            lock.close()
            continue
        return lock, UID_BASE + slot * UID_BLOCK
    raise InfrastructureError(f"all {UID_SLOTS} program-uid blocks of this host are taken")


def _peer_pid(sock: socket.socket) -> int:
    """Pid of the process at the other end of a connected unix socket (SO_PEERCRED)."""
    pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return int(pid)


def _owner_alive(tag: str) -> bool:
    try:
        pid_s, created = tag.split(":", 1)
        proc = psutil.Process(int(pid_s))
        return f"{proc.create_time():.3f}" == created
    except (ValueError, psutil.Error):
        return False


#: Room the run cgroup gives beyond a test's limit before the OOM killer stops it: the trusted side of
#: a boundary run and the fork server's own growth. The verdict does not use it: a program whose peak
#: is over its limit by one byte is MEMORY_LIMIT_EXCEEDED.
RUN_SLACK_BYTES = 16 * _MB
#: How long a removal Docker already has under way (auto_remove) may take before we call it stuck.
REMOVAL_WAIT_S = 30.0
#: Room for the agent beyond its measured baseline and its output buffers (2 x max_output).
AGENT_MARGIN_BYTES = 16 * _MB


@dataclass
class RunMemory:
    """The run cgroup's state as a test starts: what is charged already, and OOM kills so far."""

    baseline: int
    oom_kills: int


@dataclass
class Container:
    """One warm container and its agent connection.

    Memory: where the host can (cgroup v1, root), the fork server lives in a child cgroup of the
    container's, ``run``, so every test process is charged there and the agent (with its output
    buffers) is not. Before each test the host sets the run cgroup's limit and resets its peak; after
    it, the peak minus what was charged before is the program's own peak memory, all its processes
    together. ``run_cgroup`` is ``None`` where that is not possible: then the container-wide limit
    (test limit + ``memory_overhead_mb``) and its OOM kills are all there is.
    """

    name: str
    docker_id: str
    uid: int
    conn: AgentConnection
    init_pid: int
    memory_files: list[Path] = field(default_factory=list)
    memory_bytes: int = 0
    client: docker.DockerClient | None = None
    uses: int = 0
    run_cgroup: Path | None = None
    run_limit_bytes: int = 0  # the run cgroup's limit as last written here (0: not yet)
    service_bytes: int = 0  # the agent and fork server, measured once both are up
    cpu: CpuProbe | None = None  # where the admission reads its CPU use (None: its runs hold their slot)
    idle_since: float = 0.0

    async def begin_run(self, program_bytes: int, output_bytes: int, overhead_bytes: int) -> RunMemory | None:
        """Set the limits for one test and start measuring its peak (``None``: not measured)."""
        if self.run_cgroup is None:
            await self.set_memory(program_bytes + overhead_bytes)
            return None
        run_limit = program_bytes + RUN_SLACK_BYTES
        await self.set_memory(run_limit + self.service_bytes + 2 * output_bytes + AGENT_MARGIN_BYTES)
        try:
            if run_limit != self.run_limit_bytes:  # most tests have the limit of the one before
                _write_limit(self.run_cgroup, run_limit)
                self.run_limit_bytes = run_limit
            (self.run_cgroup / "memory.max_usage_in_bytes").write_text("0")  # peak := now
            return RunMemory(
                baseline=int((self.run_cgroup / "memory.usage_in_bytes").read_text()),
                oom_kills=_oom_kills(self.run_cgroup),
            )
        except (OSError, ValueError) as exc:
            raise InfrastructureError(f"cannot set up the run cgroup of {self.name}: {exc}") from exc

    def end_run(self, start: RunMemory | None) -> tuple[int | None, int]:
        """(the program's peak memory in bytes, OOM kills in the run cgroup) since ``begin_run``."""
        if start is None or self.run_cgroup is None:
            return None, 0
        try:
            peak = int((self.run_cgroup / "memory.max_usage_in_bytes").read_text())
            return max(0, peak - start.baseline), max(0, _oom_kills(self.run_cgroup) - start.oom_kills)
        except (OSError, ValueError) as exc:
            raise InfrastructureError(f"cannot read the run cgroup of {self.name}: {exc}") from exc

    def only_service_left(self) -> bool:
        """Whether the container runs nothing but its own processes (init, agent, fork server) at its
        usual CPU weight: read on the host from its cgroup, not from the agent. False where that
        cannot be read."""
        probe = self.cpu
        if probe is None or not probe.service_tids:
            return False
        try:
            tids = {int(t) for t in probe.threads_file.read_text().split()}
        except (OSError, ValueError):
            return False
        return tids == probe.service_tids and probe.shares_set == SHARES_SLOT

    def agent_host_pid(self) -> int:
        """Host pid of the agent (the child of the container's init); for tests and diagnostics."""
        for child in psutil.Process(self.init_pid).children():
            if "agent.py" in " ".join(child.cmdline()):
                return child.pid
        raise InfrastructureError(f"no agent process in {self.name}")

    async def set_memory(self, limit_bytes: int) -> None:
        """Set the container's memory (= memory+swap) limit before a run.

        Writes the container's cgroup files directly (no daemon call on the per-test path); where the
        host may not write them (not root, another cgroup layout), falls back to ``docker update``.
        """
        if limit_bytes == self.memory_bytes:
            return
        try:
            if self.memory_files:
                # memory+swap must never be below memory: raise it first when growing, last when shrinking.
                growing = limit_bytes > self.memory_bytes
                for path in self.memory_files[::-1] if growing else self.memory_files:
                    path.write_text(str(limit_bytes))
            else:
                await asyncio.to_thread(self._docker_update, limit_bytes)
        except (OSError, docker.errors.DockerException) as exc:
            raise InfrastructureError(f"cannot set the memory limit of {self.name}: {exc}") from exc
        self.memory_bytes = limit_bytes

    def _docker_update(self, limit_bytes: int) -> None:
        assert self.client is not None
        # One API call sets both; the daemon orders the two writes itself.
        self.client.containers.get(self.docker_id).update(mem_limit=limit_bytes, memswap_limit=limit_bytes)


def _write_limit(cgroup: Path, limit: int) -> None:
    """memory and memory+swap limits of a v1 cgroup; memory+swap is never below memory."""
    mem, memsw = cgroup / "memory.limit_in_bytes", cgroup / "memory.memsw.limit_in_bytes"
    current = int(mem.read_text())
    order = [memsw, mem] if limit > current else [mem, memsw]
    for f in order:
        if f.exists():
            f.write_text(str(limit))


def _oom_kills(cgroup: Path) -> int:
    for line in (cgroup / "memory.oom_control").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def _make_run_cgroup(memory_files: list[Path], zygote_pid: int) -> Path | None:
    """A child memory cgroup holding the fork server, so test processes are charged apart from the agent."""
    if len(memory_files) != 2 or memory_files[0].name != "memory.limit_in_bytes":
        return None  # cgroup v2, or not writable: see Container
    run = memory_files[0].parent / "run"
    try:
        run.mkdir(exist_ok=True)
        (run / "cgroup.procs").write_text(str(zygote_pid))
        return run
    except OSError:
        return None


def _memory_files(init_pid: int) -> list[Path]:
    """The cgroup files that hold a container's memory limit: [memory, memory+swap] (v1) or [max] (v2)."""
    try:
        lines = Path(f"/proc/{init_pid}/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            files = [base / "memory.limit_in_bytes", base / "memory.memsw.limit_in_bytes"]
            return [f for f in files if f.exists() and os.access(f, os.W_OK)]
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            f = Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.max"
            return [f] if f.exists() and os.access(f, os.W_OK) else []
    return []


class ContainerPool:
    """Warm containers for one worker. Async; use from one event loop.

    ``Settings.warm`` containers (default ``pool_size``) are started up front and kept. Beyond them
    the pool grows on demand, up to ``Settings.container_limit`` containers and while the host has
    ``pool_min_free_memory_mb`` available: while runs sleep (their CPU slot lent, see ``admission``)
    it may hold one container per sleeping run plus ``2 * pool_size`` for the cores (half of them
    spare: a container takes ~0.3 s to start, sleepers come in bursts); a container is started only
    when a sample is waiting for one. Containers beyond the warm ones idle for ``pool_idle_s`` are
    removed, and a recycled one is replaced only while the pool is below the warm count. Idle
    containers are handed out most recently used first, so the extra ones are the ones left idle.

    Args:
        settings: deployment settings (pool size, isolation knobs).
        image: the runtime image tag (see ``images.ensure_image``).
        client: a Docker client (default: from the environment).
    """

    def __init__(self, settings: Settings, image: str, client: docker.DockerClient | None = None) -> None:
        self.settings = settings
        self.image = image
        self.seccomp = seccomp_options(settings.seccomp_profile)
        try:
            self.client = client or docker.from_env()
        except docker.errors.DockerException as exc:
            raise DockerUnavailable(f"cannot reach the Docker engine: {exc}") from exc
        self._owner = _owner_tag()
        self._sock_root = Path(
            tempfile.mkdtemp(prefix=f"sandbox-sock-{os.getpid()}-", dir=settings.socket_dir or None)
        )
        os.chmod(self._sock_root, 0o700)
        self._idle: asyncio.LifoQueue[Container] = asyncio.LifoQueue()
        self._live: dict[str, Container] = {}
        self._uid_lock, base = _claim_uid_block()
        self._free_uids = list(range(base + UID_BLOCK - 1, base, -1))  # never uid `base` itself
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.recycles: Counter[str] = Counter()
        self.reuses: Counter[str] = Counter()  # containers kept after an event that used to recycle them
        self.start_failures = 0
        self.cpu = CpuAdmission(
            settings.pool_size,
            window_s=settings.cpu_window_ms / 1000.0,
            idle_fraction=settings.cpu_idle_fraction,
            lending=settings.cpu_admission,
            on_change=self._maybe_grow,
        )
        self._waiting = 0  # acquire() calls waiting for a container
        self._starting = 0  # containers being started on demand
        self._grow_failed_at = -1e9
        self._progress = time.monotonic()  # last time a container became idle (acquire's watchdog)
        self._reaper: asyncio.Task[None] | None = None
        self.grown = 0
        self.shrunk = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Remove leftovers of dead owners, then start ``pool_size`` containers."""
        try:
            await asyncio.to_thread(self._remove_orphans)
            started = await asyncio.gather(
                *(self._start_container() for _ in range(self.settings.warm)), return_exceptions=True
            )
            for item in started:
                if isinstance(item, BaseException):
                    raise item
                self._put_idle(item)
        except BaseException:
            await self.close()  # the started ones, the socket dir and the uid block
            raise
        self._reaper = asyncio.create_task(self._reap())

    async def close(self) -> None:
        """Remove every container of this pool and its sockets. Idempotent."""
        self._closed = True
        await self.cpu.close()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        # Not cancelled: a replacement may be inside `docker run` on a thread, which cancelling cannot
        # stop; it would create its container after we looked. Each one discards its own once done.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        live = list(self._live.values())
        self._live.clear()
        for c in live:
            c.conn.close()
        await asyncio.gather(*(asyncio.to_thread(self._remove, c.name) for c in live))
        shutil.rmtree(self._sock_root, ignore_errors=True)
        self._uid_lock.close()

    def _remove_orphans(self) -> None:
        try:
            leftovers = self.client.containers.list(
                all=True,
                ignore_removed=True,
                filters={"label": f"{POOL_LABEL}={self.settings.container_prefix}"},
            )
        except docker.errors.DockerException as exc:
            raise DockerUnavailable(f"cannot list containers: {exc}") from exc
        for c in leftovers:
            if not _owner_alive(c.labels.get(OWNER_LABEL, "")):
                with contextlib.suppress(docker.errors.DockerException):
                    c.remove(force=True)
        for stale in Path(self._sock_root.parent).glob("sandbox-sock-*"):
            pid = stale.name.split("-")[2]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)

    def _remove(self, name: str) -> None:
        """Remove a container and return only once it is gone.

        Closing a container's connection makes its agent exit, and ``auto_remove`` then has Docker
        remove it on its own; our ``remove`` can meet that removal half-way ("already in progress").
        Then we wait for Docker to finish it: a retired container must not outlive ``retire``.
        """
        try:
            with contextlib.suppress(docker.errors.NotFound):
                try:
                    self.client.containers.get(name).remove(force=True)
                except docker.errors.APIError as exc:
                    if "already in progress" not in str(exc):
                        raise
                    deadline = time.monotonic() + REMOVAL_WAIT_S
                    while time.monotonic() < deadline:
                        self.client.containers.get(name)  # NotFound ends the wait
                        time.sleep(0.05)
                    stuck = f"container {name} still there {REMOVAL_WAIT_S:.0f} s after removal"
                    raise InfrastructureError(stuck) from exc
        finally:
            shutil.rmtree(self._sock_root / name, ignore_errors=True)

    def _run_container(self, name: str, uid: int, sock_dir: Path) -> str:
        if self._closed:  # queued for a thread while the pool closed: start nothing
            raise InfrastructureError("pool is closed")
        s = self.settings
        tmpfs_opts = f"rw,nosuid,nodev,size={s.tmpfs_mb}m"  # Docker adds noexec unless told "exec"
        memory = (s.default_memory_limit_mb + s.memory_overhead_mb) * _MB
        container = self.client.containers.run(
            self.image,
            [
                "/usr/bin/python3",
                "-I",
                "/opt/runners/agent.pyc",  # baked in at build (docker/Dockerfile): no compile per start
                "--socket",
                AGENT_SOCKET,
                "--uid",
                str(uid),
                "--trusted-uid",
                str(uid + TRUSTED_UID_OFFSET),
            ],
            name=name,
            detach=True,
            auto_remove=True,  # the agent exits when its host connection dies: a dead owner leaves nothing
            labels={
                POOL_LABEL: s.container_prefix,
                OWNER_LABEL: self._owner,
                SECCOMP_LABEL: self.seccomp.version,
            },
            network_mode="none",
            read_only=True,
            tmpfs={
                "/tmp": tmpfs_opts + ",mode=1777",
                "/work": tmpfs_opts + ",mode=1777",
                "/box": tmpfs_opts + ",exec",  # root-owned: source and binaries, read-only to programs
            },
            volumes={str(sock_dir): {"bind": "/run/agent", "mode": "ro"}},
            pids_limit=s.pids_limit,
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(s.container_cpus * 1e9),
            ulimits=[
                docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                docker.types.Ulimit(name="fsize", soft=s.tmpfs_mb * _MB, hard=s.tmpfs_mb * _MB),
                docker.types.Ulimit(name="core", soft=0, hard=0),
            ],
            cap_drop=["ALL"],
            cap_add=["SETUID", "SETGID", "KILL"],
            security_opt=["no-new-privileges", *self.seccomp.security_opt],
            init=True,
            log_config=docker.types.LogConfig(type="none"),
            shm_size=f"{s.tmpfs_mb}m",
            user="0:0",
            working_dir="/",
        )
        # No reload() for the init's pid: the agent's connection tells it (see _start_container).
        return str(container.id)

    async def _start_container(self) -> Container:
        if not self._free_uids:
            raise InfrastructureError("no free program uid (too many containers)")
        uid = self._free_uids.pop()
        name = f"{self.settings.container_prefix}-{os.getpid()}-{next(_SERIAL)}"
        sock_dir = self._sock_root / name
        sock_dir.mkdir(mode=0o700)
        path = sock_dir / "agent.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            os.chmod(path, 0o600)
            listener.listen(1)
            listener.setblocking(False)
            try:
                docker_id = await asyncio.to_thread(self._run_container, name, uid, sock_dir)
            except docker.errors.DockerException as exc:
                raise DockerUnavailable(f"cannot start a sandbox container: {exc}") from exc
            loop = asyncio.get_running_loop()
            try:
                conn_sock, _ = await asyncio.wait_for(
                    loop.sock_accept(listener), self.settings.agent_start_timeout_s
                )
            except TimeoutError:
                await asyncio.to_thread(self._remove, name)
                raise AgentLost(
                    f"agent of {name} did not connect within {self.settings.agent_start_timeout_s:.0f}s"
                ) from None
        except BaseException:
            self._free_uids.append(uid)
            shutil.rmtree(sock_dir, ignore_errors=True)
            raise
        finally:
            listener.close()
        path.unlink()  # connected: nobody else may ever connect
        try:
            # The peer's host pid (the kernel translates it into our pid namespace) is the agent's;
            # its parent is the container's init. Saves a daemon round trip (inspect) per start.
            init_pid = psutil.Process(_peer_pid(conn_sock)).ppid()
            if docker_id not in Path(f"/proc/{init_pid}/cgroup").read_text():  # never a stranger's
                raise OSError(f"pid {init_pid} is not in container {docker_id[:12]}")
        except (OSError, psutil.Error) as exc:
            conn_sock.close()
            self._free_uids.append(uid)
            await asyncio.to_thread(self._remove, name)
            raise AgentLost(f"agent of {name} is gone as it connected: {exc}") from exc
        reader, writer = await asyncio.open_unix_connection(sock=conn_sock)
        conn = AgentConnection(reader, writer)
        container = Container(
            name=name, docker_id=docker_id, uid=uid, conn=conn, init_pid=init_pid, client=self.client
        )
        self._live[name] = container
        try:
            hello, _ = await conn.receive(self.settings.agent_start_timeout_s)
            if hello.get("uid") != uid:
                raise AgentLost(f"agent of {name} greeted with {hello!r}")
        except AgentLost:
            await self._discard(container)
            raise
        container.memory_files = _memory_files(init_pid)
        container.cpu = find_cpu_probe(init_pid)
        container.memory_bytes = (
            self.settings.default_memory_limit_mb + self.settings.memory_overhead_mb
        ) * _MB
        await self._measure(container)
        return container

    async def _measure(self, container: Container) -> None:
        """Put the fork server in its own cgroup and measure what the agent and it use at rest."""
        zygote = None
        for _ in range(50):  # on a loaded host the processes may not be listed at once
            try:
                agent = psutil.Process(container.agent_host_pid())
                zygote = next(p for p in agent.children() if "zygote.py" in " ".join(p.cmdline()))
                break
            except (InfrastructureError, StopIteration, psutil.Error):
                await asyncio.sleep(0.02)
        if zygote is None:
            log.warning("no fork server found in %s: its memory is judged container-wide", container.name)
            return
        container.run_cgroup = _make_run_cgroup(container.memory_files, zygote.pid)
        if container.cpu is not None:
            try:
                container.cpu.mark_service()
            except OSError:
                container.cpu = None
        if container.run_cgroup is not None:
            usage = container.memory_files[0].parent / "memory.usage_in_bytes"
            try:
                container.service_bytes = int(usage.read_text())
            except (OSError, ValueError):
                container.run_cgroup = None

    async def _discard(self, container: Container) -> None:
        container.conn.close()
        self._live.pop(container.name, None)
        await asyncio.to_thread(self._remove, container.name)
        self._free_uids.append(container.uid)

    async def _replace(self, old: Container) -> None:
        await self._discard(old)
        if self.size + self._starting >= self.settings.warm:
            self._maybe_grow()  # a grown container: replaced only if a sample is waiting for one
            return
        self._starting += 1
        delay = 0.5
        try:
            while not self._closed:
                try:
                    fresh = await self._start_container()
                    if self._closed:
                        await self._discard(fresh)
                    else:
                        self._put_idle(fresh)
                    return
                except InfrastructureError:
                    self.start_failures += 1
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            self._starting -= 1

    # -- growth ------------------------------------------------------------------------------
    @property
    def target(self) -> int:
        """How many containers the pool may hold now (see the class doc)."""
        lent = self.cpu.lent
        busy = 2 * self.settings.pool_size + lent if lent else 0
        return min(self.settings.container_limit, max(self.settings.warm, busy))

    def _memory_ok(self) -> bool:
        need = (self.settings.pool_min_free_memory_mb + self.settings.default_memory_limit_mb) * _MB
        return bool(psutil.virtual_memory().available >= need)

    def _maybe_grow(self) -> None:
        """Start containers for waiting samples while runs that hold containers sleep (see class doc)."""
        if self._closed or self._waiting <= self._starting:
            return
        if time.monotonic() - self._grow_failed_at < 1.0:
            return  # back off after a failed start; the next change tries again
        while (
            self._waiting > self._starting
            and self.size + self._starting < self.target
            and self._starting < GROW_PARALLEL
            and self._memory_ok()
        ):
            self._starting += 1
            task = asyncio.create_task(self._grow())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _grow(self) -> None:
        try:
            fresh = await self._start_container()
        except InfrastructureError:
            if not self._closed:
                self.start_failures += 1
                self._grow_failed_at = time.monotonic()
            return
        finally:
            self._starting -= 1
        if self._closed:
            await self._discard(fresh)
            return
        self.grown += 1
        self._put_idle(fresh)
        self._maybe_grow()

    async def _reap(self) -> None:
        """Remove containers beyond the warm ones that have been idle for ``pool_idle_s``."""
        period = max(0.5, self.settings.pool_idle_s / 4)
        warm = self.settings.warm
        while not self._closed:
            await asyncio.sleep(period)
            if self.size <= warm:
                continue
            now = time.monotonic()
            idle: list[Container] = []
            while not self._idle.empty():
                idle.append(self._idle.get_nowait())
            idle.sort(key=lambda c: c.idle_since)  # oldest first
            stale: list[Container] = []
            for c in idle:
                extra = self.size - len(stale) > warm
                if extra and now - c.idle_since >= self.settings.pool_idle_s:
                    stale.append(c)
            for c in idle[::-1]:  # keep most recently used on top
                if c not in stale:
                    self._idle.put_nowait(c)
            for c in stale:
                self.shrunk += 1
                await self._discard(c)

    # -- checkout ----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._live)

    @property
    def idle(self) -> int:
        return self._idle.qsize()

    @property
    def waiting(self) -> int:
        """Callers waiting for a container now (a fanned-out sample gives its extra ones back)."""
        return self._waiting

    def live_names(self) -> list[str]:
        return list(self._live)

    def _put_idle(self, container: Container) -> None:
        container.idle_since = self._progress = time.monotonic()
        self._idle.put_nowait(container)

    async def acquire(self, timeout: float = 120.0) -> Container:
        """Wait for an idle container; ``InfrastructureError`` if none became free for ``timeout`` s
        (no container at all came back in that time: a stuck pool, not a long queue)."""
        if self._closed:
            raise InfrastructureError("pool is closed")
        if not self._idle.empty():
            return self._idle.get_nowait()
        self._waiting += 1
        try:
            self._maybe_grow()
            while True:
                try:
                    return await asyncio.wait_for(self._idle.get(), timeout)
                except TimeoutError:
                    if self._closed or time.monotonic() - self._progress >= timeout:
                        raise InfrastructureError(
                            f"no sandbox container became free within {timeout:.0f}s"
                        ) from None
        finally:
            self._waiting -= 1

    def release(self, container: Container, recycle_reason: str | None = None) -> None:
        """Return a container; with a reason (or worn out or its agent lost) it is replaced instead."""
        container.uses += 1
        if recycle_reason is None and container.conn.lost:
            recycle_reason = "agent_lost"
        if recycle_reason is None and container.uses >= self.settings.max_uses:
            recycle_reason = "max_uses"
        if self._closed:
            return
        if recycle_reason is None:
            self._put_idle(container)
            return
        self.recycles[recycle_reason] += 1
        task = asyncio.create_task(self._replace(container))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- containers for keeps (sessions) ---------------------------------------------------------
    async def take(self) -> Container:
        """A container for as long as the caller wants (a session), never given back for reuse.

        An idle one when there is one, and a replacement starts at once so the warm level holds;
        else a new one is started for the caller. End it with ``retire``.
        """
        if self._closed:
            raise InfrastructureError("pool is closed")
        try:
            container = self._idle.get_nowait()
        except asyncio.QueueEmpty:
            return await self._start_container()
        task = asyncio.create_task(self._top_up())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return container

    async def retire(self, container: Container, reason: str = "retired") -> None:
        """Remove a container obtained with ``take`` (its processes and files go with it)."""
        if container.name not in self._live:
            return
        self.recycles[reason] += 1
        await self._discard(container)

    async def _top_up(self) -> None:
        delay = 0.5
        while not self._closed:
            try:
                fresh = await self._start_container()
            except InfrastructureError:
                self.start_failures += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if self._closed:
                await self._discard(fresh)
            else:
                self._put_idle(fresh)  # with its idle time, or the reaper would take it for stale
            return

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease]:
        """``async with pool.lease() as lease:`` — a container for one sample, always given back."""
        container = await self.acquire()
        lease = Lease(container, admission=self.cpu, reuses=self.reuses)
        try:
            yield lease
        except BaseException:
            lease.recycle("aborted")
            raise
        finally:
            self.release(container, lease.reason)

    def stats(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "idle": self.idle,
            "recycles": dict(self.recycles),
            "reuses": dict(self.reuses),
            "grown": self.grown,
            "shrunk": self.shrunk,
            "cpu": self.cpu.stats(),
        }


@dataclass
class Lease:
    """A checked-out container plus the reason, if any, to recycle it on release."""

    container: Container
    reason: str | None = None
    admission: CpuAdmission | None = None
    reuses: Counter[str] | None = None

    def recycle(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def timed_out(self, swept_clean: bool) -> None:
        """A run ended on a time limit (wall or CPU) and was killed: keep the container only if it is
        proven as clean as after any other run, else recycle it (reason ``timeout``).

        Proof, both sides: the agent's own look after its sweep (``swept_clean``: no process or SysV IPC
        object of either program uid, ``/tmp``, ``/work``, ``/dev/shm``, ``/dev/mqueue`` empty) and the host's
        look at the container's cgroup (nothing but init, the agent and the fork server; CPU weight back to a
        slot's). The run cgroup's limit and peak are set afresh before every run. A sleeper's container then
        serves the next sample instead of costing a container start (~0.3 s of the host's CPU).
        """
        if swept_clean and self.container.only_service_left():
            if self.reuses is not None:
                self.reuses["timeout"] += 1
            return
        self.recycle("timeout")

    @contextlib.asynccontextmanager
    async def cpu_slot(self, wall_ms: float, hold: bool = False) -> AsyncIterator[Ticket | None]:
        """``async with lease.cpu_slot(wall_ms):`` around one process run (see ``admission``);
        ``hold`` keeps the slot throughout. Yields the run's ticket (None without an admission)."""
        if self.admission is None:
            yield None
            return
        async with self.admission.slot(self.container.cpu, hold, wall_ms) as ticket:
            yield ticket
