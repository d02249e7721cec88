"""README's "Many machines" recipe, run as written with the real `ray start` CLI: two nodes on this host.

The commands come from README's code block itself (placeholders filled in: the token, the head's
address, the ports, smaller `sandbox` amounts); on top of them only what two nodes sharing one host
need (a temp dir and a dashboard port each). Everything Ray writes goes under a dir this module owns:
`HOME` (so `~/.ray`, Ray's token file and config, is ours) and `RAY_TMPDIR` point into it. Teardown
never runs `ray stop` (it stops every Ray on the host): it stops exactly the processes that carry that
dir in their command line or environment, and their children, then checks none is left.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from sandbox_service import Client, pb

from .conftest import free_port, wait_until

README = Path(__file__).resolve().parents[1] / "README.md"
RAY = str(Path(sys.executable).with_name("ray"))
# what serve may take to start and give up: Python + Ray imports, the check's 10 s bound, slack
FAIL_FAST_S = 30.0
# Ray's auth settings (and address) a test's environment must not inherit: this process's own
# local Ray sets RAY_AUTH_MODE=token in os.environ when it starts
RAY_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def recipe() -> dict[str, Any]:
    """README's Many-machines commands, by role."""
    section = README.read_text().split("### Many machines\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [ln.split("  #", 1)[0].strip() for ln in block.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]

    def one(prefix: str) -> str:
        found = [ln for ln in lines if ln.startswith(prefix)]
        assert len(found) == 1, f"README's recipe has {len(found)} lines starting {prefix!r}"
        return found[0]

    exports = dict(w.split("=", 1) for ln in lines if ln.startswith("export ") for w in ln.split()[1:])
    return {
        "exports": exports,
        "ports": shlex.split(one("PORTS="))[0].removeprefix("PORTS=").split(),
        "head": one("ray start --head"),
        "join": one("ray start --address="),
        "status": one("ray status"),
        "serve": one("sandbox-service serve"),
        "lines": lines,
    }


class Ports:
    """Free ports below the ephemeral range (so no other process is handed one meanwhile)."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    @staticmethod
    def _free(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                return False
        return True

    def range(self, n: int) -> tuple[int, int]:
        for _ in range(200):
            base = random.randrange(20_000, 32_000 - n)
            span = range(base, base + n)
            if not self.taken.intersection(span) and all(self._free(p) for p in span):
                self.taken.update(span)
                return base, base + n - 1
        raise AssertionError(f"no {n} free consecutive ports")

    def one(self) -> int:
        return self.range(1)[0]


class RecipeCluster:
    """Nodes started with README's commands; every process and file of theirs under one temp dir."""

    def __init__(self) -> None:
        self.recipe = recipe()
        self.root = tempfile.mkdtemp(prefix="rc-")  # short: Ray's socket paths live under it
        self.home = os.path.join(self.root, "home")
        self.ray_tmp = os.path.join(self.root, "tmp")
        os.makedirs(self.home)
        os.makedirs(os.path.join(self.ray_tmp, "ray"))
        self.ports = Ports()
        self.gcs_port = self.ports.one()
        self.address = f"127.0.0.1:{self.gcs_port}"
        self.token = secrets.token_hex(32)
        self.serve_token_file = os.path.join(self.root, "serve-token")
        Path(self.serve_token_file).write_text(secrets.token_hex(16))
        self.worker_ranges: list[tuple[int, int]] = []
        self.nodes = 0
        # the environment without Ray's settings, and with README's exports
        self.bare = {k: v for k, v in os.environ.items() if k not in RAY_VARS}
        self.bare.update(HOME=self.home, RAY_TMPDIR=self.ray_tmp)
        self.env = {**self.bare, **{k: self.fill(v) for k, v in self.recipe["exports"].items()}}

    def fill(self, text: str) -> str:
        text = text.replace("--port=6379", f"--port={self.gcs_port}").replace(":6379", f":{self.gcs_port}")
        text = text.replace("<head-ip>", "127.0.0.1").replace("<token>", self.token)
        text = re.sub(r'"sandbox": \d+', '"sandbox": 2', text)
        return text.replace("0.0.0.0", "127.0.0.1").replace("/etc/sandbox/token", self.serve_token_file)

    def argv(self, line: str) -> list[str]:
        """One README line as argv, with this node's own values for every port in $PORTS."""
        out: list[str] = []
        for word in shlex.split(self.fill(line)):
            if word == "$PORTS":
                lo, hi = self.ports.range(40)
                self.worker_ranges.append((lo, hi))
                for flag in self.recipe["ports"]:
                    name = flag.split("=", 1)[0]
                    value = {"--min-worker-port": lo, "--max-worker-port": hi}.get(name) or self.ports.one()
                    out.append(f"{name}={value}")
            else:
                out.append(word)
        if out[0] == "ray":
            out[0] = RAY
        elif out[0] == "sandbox-service":
            out[0:1] = [sys.executable, "-m", "sandbox_service"]
        return out

    def start_node(self, line: str) -> None:
        """`ray start` as README writes it, plus what sharing one host with other nodes needs."""
        self.nodes += 1
        extra = [f"--temp-dir={self.ray_tmp}/n{self.nodes}", "--num-cpus=1", "--disable-usage-stats"]
        if "--head" in line:  # the head's own services, on ports of their own
            extra += ["--include-dashboard=false", f"--dashboard-port={self.ports.one()}"]
            extra.append(f"--ray-client-server-port={self.ports.one()}")
        proc = subprocess.run(
            [*self.argv(line), *extra], env=self.env, capture_output=True, text=True, timeout=180
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def status(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(self.recipe["status"]), env=env or self.env, capture_output=True, text=True, timeout=60
        )

    def node_ids(self) -> list[str]:
        """The cluster's active nodes, as README's `ray status` lists them (none before its first report)."""
        out = self.status()
        assert out.returncode == 0, out.stdout + out.stderr
        if "Active:" not in out.stdout:
            return []
        active = out.stdout.split("Active:", 1)[1].split("Pending:", 1)[0]
        return re.findall(r"node_([0-9a-f]+)", active)

    def wait_for_nodes(self, n: int) -> list[str]:
        wait_until(
            lambda: len(self.node_ids()) == n, timeout=90, what=f"{n} nodes in `ray status`", interval=1
        )
        return self.node_ids()

    def serve_argv(self) -> list[str]:
        return [*self.argv(self.recipe["serve"]), "--port", "0", "--metrics-port", "0"]

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: its dir in the command line or environment, and children."""
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline", "environ"]):
            env = p.info["environ"] or {}
            if self.root in " ".join(p.info["cmdline"] or ()) or env.get("RAY_TMPDIR") == self.ray_tmp:
                found[p.pid] = p
                with_children = p.children(recursive=True) if p.is_running() else []
                found.update((c.pid, c) for c in with_children)
        return list(found.values())

    def shutdown(self) -> None:
        """Stop the cluster's processes as `ray stop` orders it: raylets, then the rest, GCS last."""
        procs = self.processes()
        last = [p for p in procs if _name(p) == "gcs_server"]
        first = [p for p in procs if _name(p) == "raylet"]
        for bucket in (first, [p for p in procs if p not in first and p not in last], last):
            for p in bucket:
                with _gone():
                    p.terminate()
            _, alive = psutil.wait_procs(bucket, timeout=30)
            for p in alive:
                with _gone():
                    p.kill()
            psutil.wait_procs(alive, timeout=10)
        left = [f"{p.pid} {' '.join(p.cmdline())[:100]}" for p in self.processes() if _alive(p)]
        shutil.rmtree(self.root, ignore_errors=True)
        assert not left, f"processes of the recipe's cluster outlived it: {left}"


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.NoSuchProcess:
        return ""


class _gone:
    """Ignore a process that ended by itself meanwhile."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> bool:
        return kind is not None and issubclass(kind, psutil.NoSuchProcess)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _serve(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start serve; return it, its address and what it printed up to the workers line."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen: list[str] = []
    address = ""
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("serving sandbox.v1.Grader on "):
            address = line.split(" on ", 1)[1].split()[0]
        if line.startswith("workers: "):
            return proc, address, seen
    proc.wait(30)
    proc.stdout.close()
    raise AssertionError("serve exited early:\n" + "".join(seen))


def _requests(prefix: str, n: int) -> list[dict[str, Any]]:
    # the source names its batch: serve's result cache would answer a repeated batch from memory
    return [
        {"id": f"{prefix}{i}", "code": {"language": "python", "source": f"print({i} * 2)  # {prefix}",
                                        "tests": [{"stdio": {"expected_stdout": str(i * 2)}}]}}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def recipe_cluster(docker_client: Any) -> Iterator[RecipeCluster]:
    cluster = RecipeCluster()
    try:
        cluster.start_node(cluster.recipe["head"])
        cluster.start_node(cluster.recipe["join"])
        yield cluster
    finally:
        cluster.shutdown()


def test_readme_recipe_has_every_step() -> None:
    r = recipe()
    assert r["exports"] == {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "<token>"}
    assert "--ray-address <head-ip>:6379" in r["serve"] and "--address=<head-ip>:6379" in r["status"]
    named = {flag.split("=")[0] for flag in r["ports"]}
    assert {"--node-manager-port", "--object-manager-port", "--min-worker-port", "--max-worker-port"} <= named
    assert all("$PORTS" in r[k] for k in ("head", "join"))


@pytest.mark.docker
@pytest.mark.slow
def test_recipe_serves_on_every_node_and_takes_a_node_added_while_serving(
    recipe_cluster: RecipeCluster,
) -> None:
    cluster = recipe_cluster
    two = cluster.wait_for_nodes(2)
    assert "/4.0 sandbox" in cluster.status().stdout, "README: the sandbox total under Resources"
    proc, address, seen = _serve(cluster.serve_argv(), cluster.env)
    try:
        assert seen[-1].count("containers") == 2, "".join(seen)
        assert not [ln for ln in seen if "InvalidAuthToken" in ln], "".join(seen)
        # the front end's own Ray port is drawn from a node's pinned worker range (README's claim)
        listening = {c.laddr.port for c in psutil.Process(proc.pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}  # fmt: skip
        assert any(lo <= p <= hi for p in listening for lo, hi in cluster.worker_ranges), listening
        token = Path(cluster.serve_token_file).read_text()
        with Client(address, token=token) as client:
            responses = list(client.score_many(_requests("a", 40)))
            assert {r.verdict for r in responses} == {pb.ACCEPTED}
            assert {r.worker.rsplit(":", 1)[1] for r in responses} == {n[:6] for n in two}

            # a node added while serving, with README's command: it gets a worker and takes samples
            cluster.start_node(cluster.recipe["join"])
            third = (set(cluster.wait_for_nodes(3)) - set(two)).pop()
            workers: set[str] = set()
            rounds = itertools.count()

            def third_answers() -> bool:
                batch = _requests(f"b{next(rounds)}-", 40)
                workers.update(r.worker for r in client.score_many(batch) if not r.cached)
                return any(w.endswith(":" + third[:6]) for w in workers)

            wait_until(third_answers, timeout=90, what="the added node's worker to answer", interval=0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({}, ["RAY_AUTH_MODE unset", "set RAY_AUTH_MODE=token"]),
        ({"RAY_AUTH_TOKEN": "<token>"}, ["a token is there (RAY_AUTH_TOKEN)", "set RAY_AUTH_MODE=token"]),
        ({"RAY_AUTH_MODE": "token"}, ["RAY_AUTH_MODE=token but this process has no Ray token"]),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}, ["rejected this process's token"]),
    ],
    ids=["nothing", "token-without-mode", "mode-without-token", "wrong-token"],
)
def test_serve_without_the_clusters_token_fails_fast_saying_what_to_set(
    recipe_cluster: RecipeCluster, settings: dict[str, str], says: list[str]
) -> None:
    cluster = recipe_cluster
    env = {**cluster.bare, **{k: cluster.fill(v) for k, v in settings.items()}}
    denied = cluster.status(env)  # Ray's own CLI refuses the same settings: README's check shows it
    assert denied.returncode != 0 and "token" in denied.stderr, denied.stderr[-2000:]
    t0 = time.monotonic()
    out = subprocess.run(cluster.serve_argv(), env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert took < FAIL_FAST_S, f"took {took:.1f} s"
    for phrase in says:
        assert phrase in text, text
    assert "RAY_AUTH_TOKEN_PATH" in text and ("~/.ray/auth_token" in text or "/.ray/auth_token" in text)
    assert "Failed to get cluster ID" not in text, "Ray's retry warnings: serve tried ray.init anyway"


def _serve_once(address: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    base = {k: v for k, v in os.environ.items() if k not in RAY_VARS}
    argv = [sys.executable, "-m", "sandbox_service", "serve", "--port", "0", "--metrics-port", "0"]
    t0 = time.monotonic()
    out = subprocess.run(
        [*argv, "--ray-address", address], env={**base, **env}, capture_output=True, text=True, timeout=120
    )
    return out, time.monotonic() - t0


def test_serve_at_an_address_where_nothing_listens_fails_fast() -> None:
    port = free_port()
    out, took = _serve_once(f"127.0.0.1:{port}")
    text = out.stdout + out.stderr
    assert out.returncode == 1 and took < FAIL_FAST_S, (took, text)
    assert "no Ray cluster answers at" in text and f":{port}" in text and "ray start --head" in text, text
    assert "Failed to connect to GCS" not in text and "Traceback" not in text, text


def test_serve_at_an_address_that_never_answers_gives_up_after_the_join_timeout() -> None:
    # a socket that completes TCP handshakes (the kernel does) but never speaks: a hung or wrong peer
    with socket.socket() as silent:
        silent.bind(("0.0.0.0", 0))  # Ray dials this host by its address, not loopback
        silent.listen(8)
        port = silent.getsockname()[1]
        out, took = _serve_once(f"127.0.0.1:{port}", SANDBOX_RAY_JOIN_TIMEOUT_S="3")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert 3 <= took < 3 + FAIL_FAST_S, (took, text)
    assert "no Ray cluster answers at" in text and "within 3 s" in text, text
