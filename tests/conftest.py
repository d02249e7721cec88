"""Shared fixtures: real engines on a real Docker engine, and a leak check over the whole session.

Tests that need Docker are not skipped when it is missing: they fail, saying so (CI has Docker).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import psutil
import pytest

from sandbox_service.config import Settings
from sandbox_service.engine import Engine
from sandbox_service.pool import OWNER_LABEL, POOL_LABEL, TRUSTED_UID_OFFSET, UID_BASE, UID_LIMIT
from sandbox_service.seccomp import SECCOMP_LABEL, profile_version, seccomp_options
from sandbox_service.v1 import sandbox_pb2 as pb

T = TypeVar("T")
TEST_PREFIX = "sandbox-test"
SECCOMP_OFF_PREFIX = "sandbox-test-docker-default"
"""The one pool a test starts on purpose without our seccomp profile; `SeccompWatch` lets it be."""


class LoopThread:
    """An asyncio loop on its own thread, so sync tests can drive async engines."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class EngineHarness:
    """A started engine plus sync helpers."""

    def __init__(self, loop: LoopThread, settings: Settings) -> None:
        self.loop = loop
        self.engine = Engine(settings)
        loop.run(self.engine.start())

    def score(self, request: pb.ScoreRequest) -> pb.ScoreResponse:
        return self.loop.run(self.engine.score(request))

    def close(self) -> None:
        self.loop.run(self.engine.close())


def make_settings(**overrides: Any) -> Settings:
    return Settings(container_prefix=TEST_PREFIX, **overrides)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"these tests need a running Docker engine (scripts/install starts one): {exc}")
    return client


@pytest.fixture(scope="session")
def engine(loop_thread: LoopThread, docker_client: docker.DockerClient) -> Iterator[EngineHarness]:
    """A shared engine with two warm containers."""
    harness = EngineHarness(loop_thread, make_settings(pool_size=2))
    yield harness
    harness.close()


@pytest.fixture
def solo_engine(loop_thread: LoopThread, docker_client: docker.DockerClient) -> Iterator[EngineHarness]:
    """A fresh one-container engine: the next sample runs where the last one did (or its replacement)."""
    harness = EngineHarness(loop_thread, make_settings(pool_size=1, retries=0))
    yield harness
    harness.close()


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition", interval: float = 0.1) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayCluster:
    """Two Ray nodes on this machine, each offering ``sandbox: 2`` and ``sandbox_small: 1``."""

    def __init__(self) -> None:
        import ray
        from ray.cluster_utils import Cluster

        # Everything Ray writes goes under a dir this fixture owns and removes: the nodes' session
        # files (temp_dir) and the address file `Cluster` writes under $RAY_TMPDIR/ray, which would
        # otherwise be /tmp/ray, a dir only machines where some earlier Ray ran have.
        self.temp_dir = tempfile.mkdtemp(prefix="ray-")
        self._saved_ray_tmpdir = os.environ.get("RAY_TMPDIR")
        os.environ["RAY_TMPDIR"] = self.temp_dir
        os.makedirs(os.path.join(self.temp_dir, "ray"))
        node = {"num_cpus": 1, "resources": {"sandbox": 2, "sandbox_small": 1}}
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={**node, "include_dashboard": False, "temp_dir": self.temp_dir},
        )
        self.cluster.add_node(**node)
        ray.init(address=self.cluster.address)
        self.cluster.wait_for_nodes()
        self.node_ids = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        assert len(self.node_ids) == 2

    def shutdown(self) -> None:
        import ray

        ray.shutdown()
        self.cluster.shutdown()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.processes():
            time.sleep(0.2)
        left = self.processes()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        if self._saved_ray_tmpdir is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = self._saved_ray_tmpdir
        assert not left, f"Ray processes outlived the cluster: {left}"

    def processes(self) -> list[str]:
        out = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or ())
            if self.temp_dir in cmd:
                out.append(f"{p.info['pid']}: {cmd[:120]}")
        return out


@pytest.fixture(scope="session")
def ray_cluster(docker_client: docker.DockerClient) -> Iterator[RayCluster]:
    cluster = RayCluster()
    yield cluster
    cluster.shutdown()


def service_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "port": 0,
        "metrics_port": 0,
        "stats_interval_s": 0.5,
        "worker_start_timeout_s": 60,
        "max_source_bytes": 256 << 10,
        "max_tests_bytes": 1 << 20,
        # Off unless a test is about it: the dispatch tests send identical requests on purpose
        # (three copies of one spin loop to cancel, the same program on both nodes, ...).
        "result_cache": False,
    }
    return make_settings(**{**base, **overrides})


class ServiceHarness:
    """A started service (real gRPC server, real Ray workers) driven from sync tests."""

    def __init__(self, loop: LoopThread, settings: Settings, dispatcher: Any = None) -> None:
        from sandbox_service.server import Service

        self.loop = loop
        self.settings = settings
        self.service = loop.run(Service.start(settings, dispatcher))
        self.address = f"127.0.0.1:{self.service.port}"

    @property
    def dispatcher(self) -> Any:
        return self.service.dispatcher

    def worker_stats(self) -> dict[str, dict[str, Any]]:
        async def collect() -> dict[str, dict[str, Any]]:
            workers = list(self.dispatcher.workers.values())
            stats = await asyncio.gather(*(w.actor.stats.remote() for w in workers))
            return {w.name: s for w, s in zip(workers, stats, strict=True)}

        return self.loop.run(collect())

    def stop(self, drain_timeout: float | None = None) -> None:
        self.loop.run(self.service.stop(drain_timeout))


@pytest.fixture(scope="session")
def service(loop_thread: LoopThread, ray_cluster: RayCluster) -> Iterator[ServiceHarness]:
    """The shared service: one worker (two containers) on each of the two Ray nodes."""
    harness = ServiceHarness(loop_thread, service_settings(metrics_port=free_port()))
    yield harness
    harness.stop()


def pool_containers(client: docker.DockerClient, owner_pid: int | None = None) -> list[Any]:
    """Our pools' containers (any prefix), or only those of the engine in process ``owner_pid``.

    One may remove itself while Docker lists them: it is left out, not an error."""
    found = client.containers.list(all=True, ignore_removed=True, filters={"label": POOL_LABEL})
    if owner_pid is None:
        return found
    return [c for c in found if c.labels.get(OWNER_LABEL, "").startswith(f"{owner_pid}:")]


@pytest.fixture(scope="session", autouse=True)
def torch_caches_removed() -> Iterator[None]:
    """torch makes $TMPDIR/torchinductor_<user> when the trainer tests import it (some of its code
    ignores TORCHINDUCTOR_CACHE_DIR): the run removes it if the run made it."""
    import getpass

    made = Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}"
    existed = made.exists()
    yield
    if not existed:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def no_leaks_after_session(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test has finished: no container, socket dir or program process of ours is left."""
    try:
        before = {c["Id"] for c in docker.from_env().api.containers(all=True)}
    except docker.errors.DockerException:
        before = set()
    yield
    # Runs after the session-scoped engines are closed (it is set up first, so torn down last).
    # Another test run may share this machine: its pools' containers (owner alive, not of this run)
    # and their program processes are not ours to judge.
    ours = {os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))}
    try:
        client = docker.from_env()
        # Any prefix: the CLI tests start engines in subprocesses with the default one.
        left = [c for c in pool_containers(client) if not _foreign(c.labels, ours)]
        # Nor any other container the tests made (image builds, helpers), whatever its labels.
        made = [
            c
            for c in client.api.containers(all=True)
            if c["Id"] not in before and not _foreign(c.get("Labels") or {}, ours)
        ]
        foreign_ids = {
            c["Id"] for c in client.api.containers(all=True) if _foreign(c.get("Labels") or {}, ours)
        }
    except docker.errors.DockerException:
        return
    assert not made, f"containers left by the tests: {[(c['Names'], c['Image']) for c in made]}"
    socks = [
        p
        for pattern in ("sandbox-sock-*", "sandbox-ccache-*")  # pool socket dirs, compile caches
        for p in Path(tempfile.gettempdir()).glob(pattern)
        if not psutil.pid_exists(int(p.name.split("-")[2])) or int(p.name.split("-")[2]) == os.getpid()
    ]
    procs = [
        p.info
        for p in psutil.process_iter(["pid", "uids", "name"])
        if p.info["uids"]
        and _is_sandbox_uid(p.info["uids"].real)
        and _container_of(p.info["pid"]) not in foreign_ids
    ]
    math_workers = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "ppid", "cmdline"])
        if "sandbox_service.mathcheck.child" in (p.info["cmdline"] or [])
        and (p.info["ppid"] in ours or p.info["ppid"] == 1)
    ]
    assert not left, f"containers leaked: {[c.name for c in left]}"
    assert not math_workers, f"math worker processes leaked: {math_workers}"
    assert not socks, f"socket dirs leaked: {socks}"
    assert not procs, f"program processes leaked: {procs}"


class SeccompWatch:
    """Checks every pool container this test run creates, as Docker holds it, on its ``create`` event:
    our seccomp profile in ``HostConfig.SecurityOpt`` and its version in the label. Containers of a
    concurrent run (owner not a process of this one) are not ours to judge."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.want_opt = seccomp_options(True).security_opt[0]
        self.version = profile_version()
        self.checked: list[str] = []
        self.bad: list[str] = []
        self.vanished = 0  # removed before it could be inspected
        self.error: BaseException | None = None
        self._closing = False
        self._events = client.events(
            decode=True, filters={"type": "container", "event": "create", "label": POOL_LABEL}
        )
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        try:
            for event in self._events:
                attrs = event.get("Actor", {}).get("Attributes", {})
                if attrs.get(POOL_LABEL) == SECCOMP_OFF_PREFIX or not _owned_by_this_run(
                    attrs.get(OWNER_LABEL, "")
                ):
                    continue
                try:
                    problem = self.problem(event["id"])
                except docker.errors.NotFound:
                    self.vanished += 1
                    continue
                (self.bad if problem else self.checked).append(f"{attrs.get('name')}: {problem or 'ok'}")
        except Exception as exc:  # the stream ends with an error when closed
            if not self._closing:
                self.error = exc

    def problem(self, container_id: str) -> str | None:
        """What is wrong with a container's seccomp set-up, or None."""
        info = self.client.api.inspect_container(container_id)
        opts = info["HostConfig"].get("SecurityOpt") or []
        label = (info["Config"].get("Labels") or {}).get(SECCOMP_LABEL)
        if self.want_opt not in opts:
            seen = [o[:40] + "..." if len(o) > 40 else o for o in opts]
            return f"started without our seccomp profile (SecurityOpt {seen})"
        if label != self.version:
            return f"label {SECCOMP_LABEL}={label!r}, not {self.version}"
        return None

    def close(self) -> None:
        self._closing = True
        self._events.close()
        self._thread.join(10)


def _owned_by_this_run(owner: str) -> bool:
    """The owner label names this test process or one of its descendants (Ray workers, CLI runs)."""
    try:
        proc = psutil.Process(int(owner.split(":", 1)[0]))
        return proc.pid == os.getpid() or any(p.pid == os.getpid() for p in proc.parents())
    except (ValueError, psutil.Error):
        return False


@pytest.fixture(scope="session", autouse=True)
def seccomp_watch() -> Iterator[SeccompWatch | None]:
    """Fails the session if any pool container of this run was started without our seccomp profile."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException:
        yield None  # the Docker tests fail on their own, saying so
        return
    watch = SeccompWatch(client)
    yield watch
    watch.close()
    assert watch.error is None, f"the seccomp watch lost Docker's event stream: {watch.error!r}"
    assert not watch.bad, f"containers without our seccomp profile: {watch.bad}"


def _foreign(labels: dict[str, str], ours: set[int]) -> bool:
    """A pool container of another live process that is not this test run (a concurrent run)."""
    owner = labels.get(OWNER_LABEL, "")
    if POOL_LABEL not in labels or ":" not in owner:
        return False
    pid = int(owner.split(":", 1)[0])
    return pid not in ours and psutil.pid_exists(pid)


def _is_sandbox_uid(uid: int) -> bool:
    """A program uid, or the uid of a run's trusted test side."""
    return UID_BASE < uid < UID_LIMIT or UID_BASE < uid - TRUSTED_UID_OFFSET < UID_LIMIT


def _container_of(pid: int) -> str:
    """The Docker container id a process runs in ('' if none or gone)."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        tail = line.rsplit("/", 1)[-1]
        if len(tail) == 64 and "docker" in line:
            return tail
    return ""


# -- request builders -------------------------------------------------------------------------
def code_request(
    language: str, source: str, tests: list[pb.TestCase], rid: str = "t", **code: Any
) -> pb.ScoreRequest:
    req = pb.ScoreRequest(id=rid)
    req.code.language = language
    req.code.source = source
    req.code.tests.extend(tests)
    for key, value in code.items():
        if key == "limits":
            req.code.limits.CopyFrom(pb.Limits(**value))
        else:
            setattr(req.code, key, value)
    return req


def stdio(stdin: str = "", expected: str = "", **checker: Any) -> pb.TestCase:
    t = pb.TestCase(stdio=pb.StdioTest(stdin=stdin, expected_stdout=expected))
    if checker:
        t.checker.CopyFrom(pb.Checker(**checker))
    return t


def call(function: str, args_json: str, expected_json: str, **checker: Any) -> pb.TestCase:
    t = pb.TestCase(call=pb.CallTest(function=function, args_json=args_json, expected_json=expected_json))
    if checker:
        t.checker.CopyFrom(pb.Checker(**checker))
    return t


def assertion(code: str) -> pb.TestCase:
    return pb.TestCase(assertion=pb.AssertionTest(code=code))


def verdicts(resp: pb.ScoreResponse) -> list[str]:
    return [pb.Verdict.Name(t.verdict) for t in resp.tests]


def verdict(resp: pb.ScoreResponse) -> str:
    return pb.Verdict.Name(resp.verdict)
