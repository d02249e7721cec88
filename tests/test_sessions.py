"""Sessions end to end: a real gRPC server, real Ray workers, real containers (service ``Sessions``).

One service of this module's own runs on the ``sandbox_small`` resource (one worker per Ray node);
the test that kills a worker runs last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import docker
import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sandbox_service.client import AsyncClient, Client
from sandbox_service.sessions import SessionManager
from sandbox_service.v1 import sandbox_pb2 as pb

from .conftest import (
    EngineHarness,
    LoopThread,
    RayCluster,
    ServiceHarness,
    _is_sandbox_uid,
    code_request,
    make_settings,
    service_settings,
    stdio,
    verdict,
    wait_until,
)

CS = pb.CellResult
OK, ERROR, TIMEOUT, MLE, OLE, LOST = (
    CS.OK,
    CS.ERROR,
    CS.TIMEOUT,
    CS.MEMORY_LIMIT_EXCEEDED,
    CS.OUTPUT_LIMIT_EXCEEDED,
    CS.SESSION_LOST,
)
CAP = 34  # sessions per worker; two workers


def status(result: pb.CellResult) -> str:
    return CS.CellStatus.Name(result.status)


@pytest.fixture(scope="module")
def sessions_service(loop_thread: LoopThread, ray_cluster: RayCluster) -> Iterator[ServiceHarness]:
    harness = ServiceHarness(
        loop_thread,
        service_settings(
            worker_resource="sandbox_small",
            session_max_per_worker=CAP,
            session_warm=2,
            session_reap_interval_s=0.2,
            session_interrupt_grace_ms=500,
            http_port=0,
        ),
    )
    yield harness
    harness.stop()


@pytest.fixture(scope="module")
def client(sessions_service: ServiceHarness) -> Iterator[Client]:
    with Client(sessions_service.address, retries=0) as c:
        yield c


def small(**fields: Any) -> dict[str, Any]:
    limits = {"memory_limit_mb": 192, "cell_wall_time_limit_ms": 3000, "cell_time_limit_ms": 3000}
    return {"limits": {**limits, **fields.pop("limits", {})}, **fields}


# -- notebook semantics ----------------------------------------------------------------------------
def test_state_display_errors_and_streams(client: Client) -> None:
    with client.session(**small(key="semantics")) as s:
        assert s.info.worker and s.id.startswith(s.info.worker + "/")
        assert s.info.expires_at_ms > time.time() * 1000
        r = s.run("x = 41\nimport math")
        assert (status(r), r.display, r.execution_count, r.state_preserved) == ("OK", "", 1, True)
        r = s.run("x + 1")
        assert (r.display, r.execution_count) == ("42", 2)
        r = s.run("print('out'); import sys; print('err', file=sys.stderr); 'last'")
        assert (r.stdout, r.stderr, r.display) == ("out\n", "err\n", "'last'")
        assert s.run("None").display == "" and s.run("print(1)").display == ""  # None is not shown
        assert s.run("[1, 2][0] if True else 0").display == "1"
        r = s.run("def f():\n    return 1 / 0\nf()")
        assert status(r) == "ERROR" and r.error.ename == "ZeroDivisionError"
        assert r.error.evalue == "division by zero" and r.state_preserved
        assert "return 1 / 0" in "".join(r.error.traceback)  # the cell's own lines, not the kernel's
        assert "session.py" not in "".join(r.error.traceback)
        assert s.run("x").display == "41"  # an exception keeps the state
        r = s.run("def broken(:")
        assert status(r) == "ERROR" and r.error.ename == "SyntaxError"
        r = s.run("raise SystemExit(3)")
        assert status(r) == "ERROR" and r.error.ename == "SystemExit" and r.state_preserved
        assert s.run("_").display == "41"  # the last displayed value, as in IPython
        assert s.run("input()").error.ename == "EOFError"  # stdin is empty, never the request channel


def test_setup_code_and_files(client: Client) -> None:
    files = [
        {"path": "data/in.csv", "content": "YSxiCjEsMgo="},
        {"path": "top.py", "content": "VkFMVUUgPSA3Cg=="},
    ]
    with client.session(**small(setup_code="import top\nSETUP = top.VALUE * 6", files=files)) as s:
        r = s.run("SETUP, open('data/in.csv').read(), __import__('os').getcwd()")
        assert r.display == "(42, 'a,b\\n1,2\\n', '/work')"
        assert r.execution_count == 1  # setup is not a cell of the user's
        r = s.run(
            "open('data/new.txt', 'w').write('mine'); import os; os.stat('data/in.csv').st_uid == os.getuid()"
        )
        assert r.display == "True"


def test_setup_failure_refuses_the_open(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.open_session(**small(setup_code="import no_such_module_here"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "setup_code" in info.value.details() and "ModuleNotFoundError" in info.value.details()


def test_idempotent_open_by_key_and_close(client: Client) -> None:
    a = client.open_session(**small(key="rollout-1"))
    b = client.open_session(**small(key="rollout-1"))
    assert a.session_id == b.session_id and a.key == "rollout-1"
    client.run_cell(a.session_id, "state = 'kept'")
    assert client.run_cell(b.session_id, "state").display == "'kept'"
    assert client.close_session(key="rollout-1") is True
    assert client.close_session(key="rollout-1") is False  # idempotent
    assert client.close_session(a.session_id) is False
    with pytest.raises(grpc.RpcError) as info:
        client.run_cell(a.session_id, "state")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    c = client.open_session(**small(key="rollout-1"))  # the key is free again: a fresh session
    assert c.session_id != a.session_id
    assert client.run_cell(c.session_id, "'state' in dir()").display == "False"
    assert client.close_session(c.session_id) is True


def test_close_sessions_by_labels(client: Client) -> None:
    run_a = [client.open_session(**small(labels={"run": "a", "n": str(i)})) for i in range(3)]
    run_b = client.open_session(**small(labels={"run": "b"}))
    assert client.close_sessions({"run": "a"}) == 3
    for s in run_a:
        with pytest.raises(grpc.RpcError) as info:
            client.run_cell(s.session_id, "1")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert client.run_cell(run_b.session_id, "1").display == "1"
    assert client.close_sessions({"run": "b"}) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"language": "cpp"}, "language"),
        ({"limits": {"memory_limit_mb": 10**6}}, "limits.memory_limit_mb"),
        ({"limits": {"cell_time_limit_ms": 10**8}}, "limits.cell_time_limit_ms"),
        ({"idle_timeout_s": 10**8}, "idle_timeout_s"),
        ({"max_lifetime_s": 10**8}, "max_lifetime_s"),
        ({"files": [{"path": "../etc/x", "content": ""}]}, "files[0].path"),
        ({"files": [{"path": "ok", "content": ""}, {"path": "/abs", "content": ""}]}, "files[1].path"),
    ],
)
def test_bad_open_names_the_field(client: Client, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.open_session(fields)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(f"{field}:")


def test_unknown_session_and_bad_cells(client: Client, sessions_service: ServiceHarness) -> None:
    worker = next(iter(sessions_service.dispatcher.workers))
    for sid in ("nope", f"{worker}/0123456789abcdef01234567", "gone-worker@x:1/abc"):
        with pytest.raises(grpc.RpcError) as info:
            client.run_cell(sid, "1")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        client.run_cell("", "1")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "session_id" in info.value.details()
    with client.session(**small()) as s:
        with pytest.raises(grpc.RpcError) as info:
            s.run("1", time_limit_ms=10**6)  # over the session's limit
        assert (
            info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "time_limit_ms" in info.value.details()
        )


# -- limits ------------------------------------------------------------------------------------------
def test_time_limits_interrupt_and_keep_state(client: Client) -> None:
    with client.session(**small(limits={"cell_wall_time_limit_ms": 1500})) as s:
        s.run("x = 'alive'")
        r = s.run("import time\ntime.sleep(30)")
        assert status(r) == "TIMEOUT" and r.state_preserved and r.error.ename == "KeyboardInterrupt"
        assert 1400 <= r.wall_ms < 5000
        r = s.run("while True: pass", time_limit_ms=500)  # CPU limit, overridden per cell
        assert status(r) == "TIMEOUT" and r.state_preserved
        r = s.run("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)")  # a stopped cell
        assert status(r) == "TIMEOUT" and r.state_preserved
        assert s.run("x").display == "'alive'"
        # A cell that will not be interrupted is killed: a fresh interpreter, and it says so.
        r = s.run("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)")
        assert status(r) == "TIMEOUT" and not r.state_preserved
        r = s.run("x")
        assert status(r) == "ERROR" and r.error.ename == "NameError" and r.state_preserved
        assert s.run("y = 2; y").display == "2"  # the fresh interpreter works


def test_memory_limit(client: Client) -> None:
    with client.session(**small(limits={"memory_limit_mb": 128})) as s:
        s.run("keep = 'me'")
        r = s.run("b = bytearray(60 << 20); len(b)")  # under the limit, and it stays held
        assert status(r) == "OK" and r.display == str(60 << 20)
        r = s.run("hog = []\nwhile True: hog.append(bytearray(8 << 20))")
        assert status(r) == "MEMORY_LIMIT_EXCEEDED" and not r.state_preserved
        assert status(s.run("keep")) == "ERROR"  # a fresh interpreter: honest, not silent
        r = s.run("small = bytearray(32 << 20); 'fine'")
        assert status(r) == "OK" and r.display == "'fine'"


def test_output_caps(client: Client) -> None:
    with client.session(**small(limits={"max_output_bytes": 4096})) as s:
        s.run("x = 1")
        r = s.run("while True: print('flood' * 100)")
        assert status(r) == "OUTPUT_LIMIT_EXCEEDED" and r.truncated and r.state_preserved
        assert 0 < len(r.stdout.encode()) <= 4096 and r.stdout.startswith("flood")
        r = s.run("'z' * 100000")
        assert status(r) == "OK" and r.truncated and len(r.display.encode()) <= 4096
        r = s.run("x")
        assert (status(r), r.display, r.truncated) == ("OK", "1", False)


def test_kernel_exit_is_reported(client: Client) -> None:
    with client.session(**small()) as s:
        s.run("v = 1")
        r = s.run("import os; os._exit(7)")
        assert status(r) == "ERROR" and r.error.ename == "KernelDied" and not r.state_preserved
        assert "exit code 7" in r.error.evalue
        assert s.run("1 + 1").display == "2"


def test_fork_bomb_and_forked_children(client: Client) -> None:
    with client.session(**small(limits={"cell_wall_time_limit_ms": 3000})) as s:
        s.run("x = 'before'")
        r = s.run("import os\nif os.fork() == 0:\n    print('child')\nos.getpid()")
        assert status(r) == "OK" and r.display  # the child ended at the cell's end, never replied
        assert s.run("x").display == "'before'" and s.run("2 + 2").display == "4"
        r = s.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
        assert status(r) == "TIMEOUT"
        r = s.run("1 + 1")
        assert status(r) in ("OK", "ERROR") and (r.display == "2" or not r.state_preserved)
        assert s.run("3 + 3").display == "6"


# -- isolation and clean-up ----------------------------------------------------------------------------
def test_sessions_cannot_see_each_other(client: Client) -> None:
    with client.session(**small()) as a, client.session(**small()) as b:
        a.run("open('/work/secret', 'w').write('A'); open('/tmp/secret', 'w').write('A')")
        a.run("import subprocess; p = subprocess.Popen(['sleep', '4242'])")
        r = b.run(
            "import os\n"
            "[os.path.exists(p) for p in ('/work/secret', '/tmp/secret')], "
            "[open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit() and "
            "'4242' in open(f'/proc/{p}/cmdline').read()]"
        )
        assert r.display == "([False, False], [])"
        assert a.run("p.poll() is None").display == "True"  # the daemon lives between cells
        assert a.run("import socket; socket.gethostname()").display != b.run("socket.gethostname()").display


def test_closed_session_leaves_nothing(client: Client, docker_client: docker.DockerClient) -> None:
    with client.session(**small()) as s:
        s.run("import subprocess, threading, time; p = subprocess.Popen(['sleep', '4343'])")
        s.run("threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()")
        s.run("open('/tmp/left', 'w').write('x'); SECRET = 'old'")
        host = s.run("import socket; socket.gethostname()").display.strip("'")
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(host)  # removed at close, never recycled into another session

    def sleepers() -> list[int]:
        return [
            p.pid
            for p in psutil.process_iter(["pid", "uids", "cmdline"])
            if p.info["uids"] and _is_sandbox_uid(p.info["uids"].real) and "4343" in (p.info["cmdline"] or [])
        ]

    wait_until(lambda: not sleepers(), 10, "the session's daemon to be gone")
    for _ in range(3):  # whichever warm container the next sessions get, it is a clean one
        with client.session(**small()) as fresh:
            r = fresh.run("import os\n(os.listdir('/tmp'), os.listdir('/work'), 'SECRET' in dir())")
            assert r.display == "([], [], False)"


def test_idle_timeout_and_lifetime_reap(client: Client, sessions_service: ServiceHarness) -> None:
    life = client.open_session(**small(max_lifetime_s=2))
    opened = time.monotonic()
    idle = client.open_session(**small(idle_timeout_s=1))
    client.run_cell(idle.session_id, "1")
    while time.monotonic() < opened + 1.5:  # kept busy (never idle for 1 s)...
        assert client.run_cell(life.session_id, "1").display == "1"
        time.sleep(0.2)
    time.sleep(2.0)  # ...the lifetime still ends it
    for s in (idle, life):
        with pytest.raises(grpc.RpcError) as info:
            client.run_cell(s.session_id, "1")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    closed: dict[str, int] = {}
    for stats in sessions_service.worker_stats().values():
        for reason, n in stats["sessions"]["closed"].items():
            closed[reason] = closed.get(reason, 0) + n
    assert closed.get("idle", 0) >= 1 and closed.get("lifetime", 0) >= 1


def test_health_and_reflection_cover_sessions(sessions_service: ServiceHarness) -> None:
    with grpc.insecure_channel(sessions_service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service="sandbox.v1.Sessions"), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        [reply] = list(
            stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
        names = {s.name for s in reply.list_services_response.service}
        assert {"sandbox.v1.Grader", "sandbox.v1.Sessions"} <= names


def test_async_client_session(sessions_service: ServiceHarness, loop_thread: LoopThread) -> None:
    async def go() -> list[str]:
        async with AsyncClient(sessions_service.address) as c:
            async with c.session(**small(key="async")) as s:
                await s.run("n = 10")
                results = await asyncio.gather(*(s.run(f"n += {i}; n") for i in range(1, 6)))
                return [r.display for r in results]

    displays = loop_thread.run(go())
    # One at a time: every cell saw the one before it, so no two saw the same n, and the last saw all.
    assert len(set(displays)) == 5 and max(int(d) for d in displays) == 25


def test_many_sessions_each_keep_their_state(client: Client, sessions_service: ServiceHarness) -> None:
    """64 live sessions on this 2-core machine, busy at once, each with its own state; then the cap."""

    async def go() -> tuple[list[str], list[str], str]:
        async with AsyncClient(sessions_service.address, retries=0) as c:
            opened = await asyncio.gather(*(c.open_session(**small(labels={"many": "1"})) for _ in range(64)))
            ids = [s.session_id for s in opened]
            await asyncio.gather(*(c.run_cell(sid, f"mine = {i}") for i, sid in enumerate(ids)))
            for _ in range(3):
                await asyncio.gather(*(c.run_cell(sid, "mine = mine * 1") for sid in ids))
            seen = await asyncio.gather(*(c.run_cell(sid, "mine") for sid in ids))
            more = await asyncio.gather(
                *(c.open_session(**small(labels={"many": "1"})) for _ in range(2 * CAP - 64))
            )
            try:
                await c.open_session(**small(labels={"many": "1"}))
                refused = "opened"
            except grpc.aio.AioRpcError as exc:
                refused = exc.code().name
            assert len(more) == 2 * CAP - 64
            return [r.display for r in seen], [str(i) for i in range(64)], refused

    seen, want, refused = loop_thread_run(sessions_service, go())
    try:
        assert seen == want
        assert refused == "RESOURCE_EXHAUSTED"
    finally:
        assert client.close_sessions({"many": "1"}) == 2 * CAP


def loop_thread_run(harness: ServiceHarness, coro: Any) -> Any:
    return harness.loop.run(coro, timeout=600)


def test_http_run_jupyter(sessions_service: ServiceHarness) -> None:
    import json
    import urllib.request

    assert sessions_service.service.http is not None
    url = f"http://127.0.0.1:{sessions_service.service.http.port}/run_jupyter"
    body = {"cells": ["a = 2", "print(a * 3)\na ** 10", "1/0", "a"], "cell_timeout": 5, "total_timeout": 30}
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = json.loads(resp.read())
    assert answer["status"] == "Success"
    cells = answer["cells"]
    assert [c["stdout"] for c in cells] == ["", "6\n", "", ""]
    assert cells[1]["display"] == [{"text/plain": "1024"}]
    assert cells[2]["error"][0]["ename"] == "ZeroDivisionError"
    assert cells[3]["display"] == [{"text/plain": "2"}]
    bad = urllib.request.Request(
        url, json.dumps({"cells": "x"}).encode(), {"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=30)
    assert info.value.code == 400 and "cells" in json.loads(info.value.read())["error"]["field"]


SPIN_CELL = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.5:\n    pass\n"
SLEEP_CELL = "import time\ntime.sleep(3)\n"


@pytest.mark.docker
def test_cells_take_the_workers_cpu_slots(loop_thread: LoopThread) -> None:
    """A worker's cores are shared by its tests and its sessions' cells (the worker hands its engine's
    admission to its session manager, as here): with one slot, a test submitted while a CPU-bound cell
    runs waits for the cell; one submitted while a cell sleeps runs at once, on the lent slot."""
    settings = make_settings(pool_size=1, session_warm=1)
    engine = EngineHarness(loop_thread, settings)
    manager = SessionManager(settings, "w")
    admission = engine.engine.pool.cpu
    try:
        loop_thread.run(manager.start(engine.engine.pool.image, engine.engine.pool.client, admission))
        sid = loop_thread.run(manager.open(pb.OpenSessionRequest())).session_id

        async def cell_beside_a_test(code: str) -> tuple[dict[str, Any], float, float, pb.CellResult]:
            """(admission stats while both are in, cell end, test end, cell result); times from start."""
            t0 = time.monotonic()
            cell_end = 0.0

            async def cell() -> pb.CellResult:
                nonlocal cell_end
                result = await manager.run_cell(pb.RunCellRequest(session_id=sid, code=code))
                cell_end = time.monotonic() - t0
                return result

            cell_task = asyncio.create_task(cell())
            await asyncio.sleep(0.6)  # the cell runs; a sleeping one has lent its slot by now
            test = asyncio.create_task(
                engine.engine.score(
                    code_request("python", "print(int(input()) * 2)\n", [stdio("2\n", "4\n")])
                )
            )
            await asyncio.sleep(0.2)
            snap = admission.stats()
            resp = await test
            assert verdict(resp) == "ACCEPTED"
            test_end = time.monotonic() - t0
            return snap, cell_end or 1e9, test_end, await cell_task

        snap, cell_end, test_end, result = loop_thread.run(cell_beside_a_test(SPIN_CELL))
        assert status(result) == "OK"
        assert snap["cells"] == snap["cells_cpu_bound"] == snap["cpu_bound"] == 1, snap
        assert snap["waiting"] == 1, snap  # the test waits for the cell's slot...
        assert test_end >= cell_end  # ...to its end

        snap, cell_end, test_end, result = loop_thread.run(cell_beside_a_test(SLEEP_CELL))
        assert status(result) == "OK"
        assert snap["cells"] == snap["cells_sleeping"] == 1 and snap["cells_cpu_bound"] == 0, snap
        assert test_end < cell_end - 1.0  # the test ran on the lent slot while the cell slept
        assert admission.stats()["running"] == 0 and admission.held == 0
    finally:
        loop_thread.run(manager.close())
        engine.close()


# -- last: a worker killed under its sessions -------------------------------------------------------------
def test_worker_killed_mid_session(
    client: Client, sessions_service: ServiceHarness, docker_client: docker.DockerClient
) -> None:
    import ray

    s = client.open_session(**small())
    host = client.run_cell(s.session_id, "import socket; socket.gethostname()").display.strip("'")
    worker = sessions_service.dispatcher.workers[s.worker]
    ray.kill(worker.actor)
    r_or_code: Any
    try:
        r = client.run_cell(s.session_id, "1")
        r_or_code = status(r)
    except grpc.RpcError as exc:
        r_or_code = exc.code().name
    assert r_or_code in ("SESSION_LOST", "NOT_FOUND")  # never a silent fresh state

    def gone() -> bool:
        try:
            docker_client.containers.get(host)
            return False
        except docker.errors.NotFound:
            return True

    wait_until(gone, 60, "the dead worker's session container to go")
    wait_until(
        lambda: s.worker not in sessions_service.dispatcher.workers, 30, "the dead worker to be dropped"
    )
    with pytest.raises(grpc.RpcError) as info:
        client.run_cell(s.session_id, "1")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    wait_until(lambda: len(sessions_service.dispatcher.workers) == 2, 120, "a replacement worker")
    with client.session(**small()) as fresh:
        assert fresh.run("1 + 1").display == "2"


def test_verl_tool_through_verls_loader(
    sessions_service: ServiceHarness, loop_thread: LoopThread, tmp_path: Any
) -> None:
    """Loaded by verl's own tool-config code and called as its agent loop does: create, execute with
    ``agent_data``, release, once per tool call; the trajectory's state survives between calls."""
    from types import SimpleNamespace

    from verl.tools.base_tool import BaseTool
    from verl.tools.tool_registry import initialize_tools_from_config

    config = tmp_path / "tools.yaml"
    config.write_text(
        "tools:\n"
        "  - class_name: sandbox_service.integrations.SandboxSessionTool\n"
        "    config:\n"
        "      type: native\n"
        f"      address: {sessions_service.address}\n"
        "      idle_timeout_s: 60\n"
        "      limits: {cell_wall_time_limit_ms: 2000, memory_limit_mb: 192}\n"
        "      labels: {run: verl-test}\n"
    )
    [tool] = initialize_tools_from_config(str(config))
    assert isinstance(tool, BaseTool) and tool.name == "code_interpreter"
    schema = tool.get_openai_tool_schema().model_dump()
    assert schema["function"]["parameters"]["required"] == ["code"]

    async def call(agent: Any, code: str) -> tuple[str, dict[str, Any]]:
        instance_id, _ = await tool.create(create_kwargs={})
        try:
            response, reward, metrics = await tool.execute(instance_id, {"code": code}, agent_data=agent)
        finally:
            await tool.release(instance_id)
        assert reward == 0.0
        return response.text, metrics

    async def go() -> list[tuple[str, dict[str, Any]]]:
        one, two = SimpleNamespace(request_id="traj-1"), SimpleNamespace(request_id="traj-2")
        return [
            await call(one, "import math\nx = 6"),
            await call(two, "x = 'other'"),
            await call(one, "print('x is', x)\nmath.factorial(x)"),
            await call(two, "x"),
            await call(one, "1/0"),
            await call(one, "import time; time.sleep(30)"),
        ]

    out = loop_thread.run(go(), timeout=120)
    assert out[0][0] == "" and out[1][0] == ""
    assert out[2] == ("x is 6\n720", {"status": "OK", "wall_ms": out[2][1]["wall_ms"]})
    assert out[3][0] == "'other'"  # trajectories do not share state
    assert "ZeroDivisionError: division by zero" in out[4][0] and out[4][1]["status"] == "ERROR"
    assert out[5][1]["status"] == "TIMEOUT" and "time limit" in out[5][0]
    with Client(sessions_service.address) as c:
        assert c.close_sessions({"run": "verl-test"}) == 2
