"""The warm pool's lifecycle on a real Docker engine: hardening, recycling, leftovers, lost agents."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any
from unittest import mock

import docker
import pytest

from sandbox_service.errors import DockerUnavailable, ImageError
from sandbox_service.images import ensure_image, runtime_tag
from sandbox_service.pool import OWNER_LABEL, POOL_LABEL, ContainerPool
from sandbox_service.seccomp import SECCOMP_LABEL, seccomp_options

from .conftest import (
    TEST_PREFIX,
    EngineHarness,
    LoopThread,
    code_request,
    make_settings,
    stdio,
    verdict,
    wait_until,
)

pytestmark = pytest.mark.docker

PRINT_TWICE = "print(int(input()) * 2)\n"


def test_containers_are_hardened(engine: EngineHarness, docker_client: docker.DockerClient) -> None:
    name = engine.engine.pool.live_names()[0]
    attrs = docker_client.containers.get(name).attrs
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and sorted(host["CapAdd"]) == ["KILL", "SETGID", "SETUID"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["PidsLimit"] > 0 and host["Init"] is True
    assert host["Memory"] > 0 and host["Memory"] == host["MemorySwap"]
    assert host["NanoCpus"] > 0
    assert host["LogConfig"]["Type"] == "none"
    assert {u["Name"] for u in host["Ulimits"]} >= {"nofile", "fsize", "core"}
    assert set(host["Tmpfs"]) == {"/tmp", "/work", "/box"}
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    assert mounts["/run/agent"]["RW"] is False
    assert attrs["Config"]["Labels"][POOL_LABEL] == TEST_PREFIX


def test_memory_limit_without_cgroup_access_uses_docker_update(
    loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the host may not write cgroup files, per-sample memory limits still hold (docker update)."""
    import sandbox_service.pool

    # as on a host where no child cgroup can be made (then the container-wide rule holds)...
    monkeypatch.setattr(sandbox_service.pool, "_make_run_cgroup", lambda files, pid: None)
    harness = EngineHarness(loop_thread, make_settings(pool_size=1, max_uses=100))
    try:
        container = next(iter(harness.engine.pool._live.values()))
        assert container.run_cgroup is None
        container.memory_files = []  # ...and the cgroup files are not writable
        assert container.client is not None
        src = "x = bytearray(200 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\nprint('survived')\n"
        big = harness.score(
            code_request("python", src, [stdio("", "survived\n")], limits={"memory_limit_mb": 512})
        )
        assert verdict(big) == "ACCEPTED", big.tests[0].message
        host = container.client.containers.get(container.docker_id).attrs["HostConfig"]
        assert (
            host["Memory"] == host["MemorySwap"] == (512 + harness.engine.settings.memory_overhead_mb) << 20
        )
        small = harness.score(
            code_request("python", src, [stdio("", "survived\n")], limits={"memory_limit_mb": 64})
        )
        assert verdict(small) == "MEMORY_LIMIT_EXCEEDED"
        assert small.worker == big.worker  # lowered on the same container, through docker update
    finally:
        harness.close()


def test_recycled_after_max_uses(loop_thread: LoopThread, docker_client: docker.DockerClient) -> None:
    harness = EngineHarness(loop_thread, make_settings(pool_size=1, max_uses=2))
    try:
        workers = []
        for _ in range(5):
            resp = harness.score(code_request("python", PRINT_TWICE, [stdio("2\n", "4\n")]))
            assert verdict(resp) == "ACCEPTED"
            workers.append(resp.worker)
        assert workers[0] == workers[1] != workers[2] == workers[3] != workers[4]
        assert harness.engine.pool.recycles["max_uses"] >= 2
    finally:
        harness.close()
    left = docker_client.containers.list(all=True, ignore_removed=True, filters={"name": workers[0]})
    assert not left


#: Leaves what a timed-out program can: files in every writable dir, a detached child (its own session,
#: reparented to init), then spins to its CPU limit or sleeps to its wall limit.
LITTER_THEN = """import os, time
for d in ("/tmp", "/work", "/dev/shm"):
    os.makedirs(d + "/litter/deep", exist_ok=True)
    open(d + "/litter/deep/f", "w").write("x")
    open(d + "/top", "w").write("x")
os.chmod("/tmp/litter", 0o000)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
    os._exit(0)
os.wait()
{tail}
"""
#: The next sample: ACCEPTED only if it sees none of the former one's files or processes.
LOOK_AROUND = """import os
me = os.getpid()
files = {d: sorted(os.listdir(d)) for d in ("/tmp", "/work", "/dev/shm")}
mine = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != me and os.stat("/proc/" + p).st_uid == os.getuid()]
print("clean" if not any(files.values()) and not mine else f"dirty {files} {mine}")
"""


@pytest.mark.parametrize(
    "tail, limits",
    [
        ("while True: pass", {"time_limit_ms": 300}),  # the CPU limit
        ("time.sleep(60)", {"wall_time_limit_ms": 1_000}),  # the wall-clock limit
    ],
    ids=["cpu", "wall"],
)
def test_a_timed_out_container_is_reused_only_clean(
    solo_engine: EngineHarness, tail: str, limits: dict[str, int]
) -> None:
    """A timeout's kill and sweep leave the container as clean as any run does, so it serves the next
    sample (no container start per sleeper), and that sample sees nothing of the former one."""
    first = solo_engine.score(code_request("python", LITTER_THEN.format(tail=tail), [stdio()], limits=limits))
    assert verdict(first) == "TIME_LIMIT_EXCEEDED", first.tests[0].message
    second = solo_engine.score(code_request("python", LOOK_AROUND, [stdio("", "clean\n")]))
    assert verdict(second) == "ACCEPTED", second.tests[0].stdout
    assert second.worker == first.worker
    pool = solo_engine.engine.pool
    assert pool.reuses["timeout"] == 1 and pool.recycles["timeout"] == 0


def test_a_timed_out_container_with_a_stray_process_is_recycled(
    solo_engine: EngineHarness, docker_client: docker.DockerClient
) -> None:
    """The host's own look at the container's cgroup decides too: a process the agent does not sweep
    (here one `docker exec` put there, not of the program uid) makes the container go after a timeout."""
    pool = solo_engine.engine.pool
    wait_until(lambda: pool.idle == 1, 30, "the container ready")
    name = pool.live_names()[0]

    def intrude() -> None:
        wait_until(lambda: pool.idle == 0, 30, "the sample to take the container", interval=0.01)
        docker_client.containers.get(name).exec_run(["sleep", "300"], detach=True)

    thread = threading.Thread(target=intrude)
    thread.start()
    first = solo_engine.score(
        code_request(
            "python", "import time\ntime.sleep(60)\n", [stdio()], limits={"wall_time_limit_ms": 2_000}
        )
    )
    thread.join()
    assert verdict(first) == "TIME_LIMIT_EXCEEDED"
    second = solo_engine.score(code_request("python", PRINT_TWICE, [stdio("1\n", "2\n")]))
    assert verdict(second) == "ACCEPTED"
    assert second.worker != first.worker
    assert pool.recycles["timeout"] == 1 and pool.reuses["timeout"] == 0


def _kill_agent_soon(harness: EngineHarness, delay: float) -> threading.Thread:
    """Kill the one container's agent ``delay`` s after the next sample takes the container."""
    pool = harness.engine.pool
    wait_until(lambda: pool.idle == 1, 30, "the container ready")
    pid = next(iter(pool._live.values())).agent_host_pid()

    def kill() -> None:
        wait_until(lambda: pool.idle == 0, 30, "the sample to take the container", interval=0.01)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def test_killed_agent_is_sandbox_error_not_the_programs_fault(solo_engine: EngineHarness) -> None:
    thread = _kill_agent_soon(solo_engine, 0.5)
    resp = solo_engine.score(
        code_request(
            "python",
            "import time\ntime.sleep(3)\nprint(1)\n",
            [stdio("", "1\n")],
            limits={"wall_time_limit_ms": 10000},
        )
    )
    thread.join()
    assert verdict(resp) == "SANDBOX_ERROR"
    assert "sandbox" in resp.tests[0].message
    assert (
        solo_engine.engine.pool.recycles["agent_lost"] + solo_engine.engine.pool.recycles["sandbox_error"]
        >= 1
    )
    after = solo_engine.score(code_request("python", PRINT_TWICE, [stdio("4\n", "8\n")]))
    assert verdict(after) == "ACCEPTED" and after.worker != resp.worker


def test_killed_agent_is_retried_on_a_fresh_container(loop_thread: LoopThread) -> None:
    harness = EngineHarness(loop_thread, make_settings(pool_size=1, retries=1))
    try:
        thread = _kill_agent_soon(harness, 0.5)
        resp = harness.score(
            code_request("python", "import time\ntime.sleep(1.5)\nprint(1)\n", [stdio("", "1\n")])
        )
        thread.join()
        assert verdict(resp) == "ACCEPTED"
    finally:
        harness.close()


def pool_labelled_sleeper(docker_client: docker.DockerClient, owner_pid: int) -> Any:
    """A container carrying our pool's labels, as if an engine in process ``owner_pid`` had made it
    (with our seccomp profile too: `SeccompWatch` checks every pool container of the run)."""
    seccomp = seccomp_options(True)
    return docker_client.containers.run(
        runtime_tag(make_settings().image),
        ["sleep", "300"],
        detach=True,
        labels={
            POOL_LABEL: TEST_PREFIX,
            OWNER_LABEL: f"{owner_pid}:12345.000",
            SECCOMP_LABEL: seccomp.version,
        },
        network_mode="none",
        security_opt=list(seccomp.security_opt),
    )


def test_leftovers_of_a_dead_owner_are_removed_at_start(
    loop_thread: LoopThread, docker_client: docker.DockerClient
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = pool_labelled_sleeper(docker_client, owner_pid=dead.pid)
    try:
        harness = EngineHarness(loop_thread, make_settings(pool_size=1))
        harness.close()
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(orphan.id)
    finally:
        try:
            orphan.remove(force=True)
        except docker.errors.NotFound:
            pass


def test_a_container_removed_while_listing_does_not_fail_the_start(
    loop_thread: LoopThread, docker_client: docker.DockerClient
) -> None:
    """Another engine's container may go between Docker's listing and its inspection (seen in CI)."""
    other = pool_labelled_sleeper(docker_client, owner_pid=os.getpid())
    client = docker.from_env()
    listed = client.api.containers

    def list_then_remove(*args: object, **kwargs: object) -> object:
        rows = listed(*args, **kwargs)
        docker_client.api.remove_container(other.id, force=True)  # gone before it can be inspected
        return rows

    client.api.containers = list_then_remove  # type: ignore[method-assign]
    try:
        pool = ContainerPool(make_settings(pool_size=1), runtime_tag(make_settings().image), client)
        loop_thread.run(pool.start())
        loop_thread.run(pool.close())
    finally:
        try:
            other.remove(force=True)
        except docker.errors.NotFound:
            pass
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(other.id)


def test_a_failed_start_leaves_no_socket_dir(loop_thread: LoopThread) -> None:
    client = docker.from_env()

    def refuse(*args: object, **kwargs: object) -> object:
        raise docker.errors.APIError("listing refused")

    client.api.containers = refuse  # type: ignore[method-assign]
    pool = ContainerPool(make_settings(pool_size=1), runtime_tag(make_settings().image), client)
    sock_root = pool._sock_root
    assert sock_root.is_dir()
    with pytest.raises(DockerUnavailable, match="cannot list containers: listing refused"):
        loop_thread.run(pool.start())
    assert not sock_root.exists()


def test_close_removes_every_container(loop_thread: LoopThread, docker_client: docker.DockerClient) -> None:
    harness = EngineHarness(loop_thread, make_settings(pool_size=2))
    names = harness.engine.pool.live_names()
    assert len(names) == 2
    harness.close()
    for name in names:
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(name)


def test_retire_waits_for_a_removal_docker_has_under_way(
    loop_thread: LoopThread, docker_client: docker.DockerClient
) -> None:
    """A session's container whose agent exits at close is auto-removed by Docker; our own remove
    then meets "removal already in progress", and retire must still return only once it is gone
    (CI saw a closed session's container still listed right after close)."""
    client = docker.from_env()
    pool = ContainerPool(make_settings(pool_size=1), runtime_tag(make_settings().image), client)
    loop_thread.run(pool.start())
    try:
        container = loop_thread.run(pool.take())
        real_remove = client.api.remove_container
        conn, container.conn = container.conn, mock.Mock()  # the agent lives on until "Docker" removes it

        def removal_under_way(name: str, **kwargs: Any) -> None:
            # Docker's own removal, a little late, while ours is told it is already in progress
            threading.Timer(0.5, lambda: real_remove(name, force=True)).start()
            raise docker.errors.APIError(f"removal of container {name} is already in progress")

        client.api.remove_container = removal_under_way  # type: ignore[method-assign]
        try:
            loop_thread.run(pool.retire(container, "test"))
        finally:
            client.api.remove_container = real_remove  # type: ignore[method-assign]
            conn.close()
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(container.name)
    finally:
        loop_thread.run(pool.close())


def test_missing_image_says_how_to_rebuild(docker_client: docker.DockerClient) -> None:
    with pytest.raises(ImageError, match="sandbox-service build-images"):
        ensure_image(docker_client, "sandbox-no-such-image")
