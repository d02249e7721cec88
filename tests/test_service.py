"""The service end to end: a real gRPC server on a free port, real Ray workers on a two-node cluster,
real containers. Every RPC, streaming semantics, failures of workers, deadlines, admission, bad input,
auth, TLS and metrics."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
import ray
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from runners.languages import ALIASES, LANGUAGES
from sandbox_service import Client
from sandbox_service.client import AsyncClient
from sandbox_service.dispatch import Dispatcher, WorkerHandle
from sandbox_service.errors import InfrastructureError, Overloaded
from sandbox_service.seccomp import profile_version
from sandbox_service.v1 import sandbox_pb2 as pb
from sandbox_service.v1 import sandbox_pb2_grpc as pb_grpc

from .conftest import (
    LoopThread,
    RayCluster,
    ServiceHarness,
    call,
    code_request,
    pool_containers,
    service_settings,
    stdio,
    verdict,
    wait_until,
)

pytestmark = [pytest.mark.docker]


def py(source: str, expected: str, rid: str = "t", **code: Any) -> pb.ScoreRequest:
    return code_request("python", source, [stdio("", expected)], rid=rid, **code)


def total_recycles(service: ServiceHarness, reason: str) -> int:
    return sum(s["recycles"].get(reason, 0) for s in service.worker_stats().values())


def all_idle(service: ServiceHarness) -> bool:
    stats = service.worker_stats()
    # every container idle and at least the warm two (the pool may still hold containers it grew
    # while earlier tests slept: they go after SANDBOX_POOL_IDLE_S)
    return bool(stats) and all(s["idle"] == s["size"] >= 2 and s["running"] == 0 for s in stats.values())


# -- the RPCs ------------------------------------------------------------------------------------
def test_score_unary(service: ServiceHarness) -> None:
    with Client(service.address) as client:
        ok = client.score(py("print(int(input()) * 2)", "", rid="x"))
        good = client.score(code_request("python", "print(int(input()) * 2)", [stdio("21", "42")], rid="ok"))
        wrong = client.score(
            {
                "id": "w",
                "code": {
                    "language": "python",
                    "source": "print(1)",
                    "tests": [{"stdio": {"expected_stdout": "2"}}],
                },
            }
        )
    assert verdict(ok) == "RUNTIME_ERROR" and ok.id == "x"  # input() on empty stdin: EOFError
    assert verdict(good) == "ACCEPTED" and good.reward == 1.0 and good.accepted
    assert verdict(wrong) == "WRONG_ANSWER" and wrong.reward == 0.0
    names = set(service.dispatcher.workers)
    assert good.worker in names and wrong.worker in names
    assert good.timing.total_ms >= good.timing.run_ms > 0


def test_list_languages(service: ServiceHarness) -> None:
    with Client(service.address) as client:
        reply = client.list_languages()
    langs = {lang.name: lang for lang in reply.languages}
    assert reply.seccomp_profile == profile_version()  # what the Ray workers' containers run under
    assert set(langs) == set(LANGUAGES)
    assert langs["python"].version.startswith("3.11")
    assert langs["java"].version.startswith("17.") and langs["go"].version.startswith("1.19")
    assert all(lang.version for lang in langs.values()), {n: lang.version for n, lang in langs.items()}
    assert set(langs["cpp"].test_kinds) == {"stdio", "assertion"}
    assert set(langs["python"].test_kinds) == {"assertion", "call", "stdio"}
    assert {"js", "nodejs"} <= set(langs["javascript"].aliases) and list(langs["c"].aliases) == []
    assert {alias: lang.name for lang in langs.values() for alias in lang.aliases} == ALIASES
    s = service.settings
    assert langs["python"].default_limits.time_limit_ms == s.default_time_limit_ms
    assert langs["python"].max_limits.memory_limit_mb == s.max_memory_limit_mb


def test_health_and_reflection(service: ServiceHarness) -> None:
    with grpc.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "sandbox.v1.Grader"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(
            refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
        names = {s.name for s in replies[0].list_services_response.service}
        assert {"sandbox.v1.Grader", "grpc.health.v1.Health"} <= names


# -- streaming ---------------------------------------------------------------------------------
def _mixed(i: int) -> tuple[pb.ScoreRequest, str]:
    rid = f"m{i}"
    if i % 250 == 0:
        return py("while True: pass", "", rid, limits={"time_limit_ms": 300}), "TIME_LIMIT_EXCEEDED"
    if i % 100 == 50:
        src = '#include <cstdio>\nint main(){int a; if(scanf("%d",&a)!=1) return 1; printf("%d\\n", a+1);}'
        return code_request("cpp", src, [stdio(str(i), str(i + 1))], rid=rid), "ACCEPTED"
    kind = i % 10
    if kind == 6:
        return py(f"print({i})", str(i + 1), rid), "WRONG_ANSWER"
    if kind == 7:
        return py("raise ValueError('boom')", "", rid), "RUNTIME_ERROR"
    if kind == 8:
        return code_request(
            "python", "def f(a):\n    return a * 3\n", [call("f", f"[{i}]", str(3 * i))], rid=rid
        ), "ACCEPTED"
    if kind == 9:
        return py(f"import time\ntime.sleep(0.2)\nprint({i})", str(i), rid), "ACCEPTED"
    return py(f"print({i})", str(i), rid), "ACCEPTED"


def test_stream_1000_mixed_exactly_once_out_of_order_on_both_nodes(
    service: ServiceHarness, ray_cluster: RayCluster
) -> None:
    cases = [_mixed(i) for i in range(1000)]
    expected = {req.id: want for req, want in cases}
    with Client(service.address) as client:
        responses = list(client.score_many((req for req, _ in cases), window=128))
    ids = [r.id for r in responses]
    assert len(ids) == 1000 and Counter(ids).most_common(1)[0][1] == 1, "every request answered exactly once"
    got = {r.id: verdict(r) for r in responses}
    assert got == expected
    assert ids != [req.id for req, _ in cases], "answers come as each finishes, not in request order"
    # Work landed on both nodes, each through its own worker.
    used = Counter(r.worker for r in responses)
    nodes = {w.name: w.node_id for w in service.dispatcher.workers.values()}
    assert len(used) == 2 and {nodes[name] for name in used} == set(ray_cluster.node_ids)
    assert min(used.values()) > 100, used


def test_stream_answers_a_bad_request_in_place_and_goes_on(service: ServiceHarness) -> None:
    requests = [py("print(1)", "1", "a"), pb.ScoreRequest(id="empty"), py("print(2)", "2", "b")]
    with Client(service.address) as client:
        responses = {r.id: r for r in client.score_many(requests)}
    assert set(responses) == {"a", "empty", "b"}
    assert responses["empty"].error.code == "INVALID_ARGUMENT" and responses["empty"].error.field == "task"
    assert verdict(responses["a"]) == verdict(responses["b"]) == "ACCEPTED"
    assert not responses["a"].error.code


# -- failures, deadlines, cancellation ------------------------------------------------------------
def test_killing_a_worker_mid_stream_loses_nothing(service: ServiceHarness, docker_client: Any) -> None:
    requests = [py(f"import time\ntime.sleep(0.05)\nprint({i})", str(i), f"k{i}") for i in range(300)]
    victim = next(iter(service.dispatcher.workers.values()))
    victim_pid = victim.info["pid"]
    got: list[pb.ScoreResponse] = []
    with Client(service.address) as client:
        for response in client.score_many(requests, window=64):
            got.append(response)
            if len(got) == 40:
                assert victim.inflight, "the victim had work in flight when it was killed"
                ray.kill(victim.actor)
    assert sorted(r.id for r in got) == sorted(r.id for r in requests)
    assert Counter(verdict(r) for r in got) == {"ACCEPTED": 300}, "re-queued elsewhere, never SANDBOX_ERROR"
    assert any(r.worker == victim.name for r in got) and any(r.worker != victim.name for r in got)
    assert service.dispatcher.metrics.worker_deaths._value.get() >= 1
    # The monitor brings the node back; the dead worker's containers remove themselves.
    wait_until(lambda: len(service.dispatcher.workers) == 2, 60, "a replacement worker")
    assert victim.name not in service.dispatcher.workers

    wait_until(
        lambda: not pool_containers(docker_client, victim_pid), 60, "the dead worker's containers to go"
    )
    with Client(service.address) as client:
        assert verdict(client.score(py("print(7)", "7"))) == "ACCEPTED"


def test_deadline_cancels_the_sample_and_reclaims_its_container(service: ServiceHarness) -> None:
    wait_until(lambda: all_idle(service), 30, "idle pools")
    before = total_recycles(service, "aborted")
    spin = py("while True: pass", "", limits={"time_limit_ms": 20_000, "wall_time_limit_ms": 40_000})
    t0 = time.monotonic()
    with Client(service.address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            client.score(spin, timeout=1.0)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - t0 < 5
        wait_until(
            lambda: total_recycles(service, "aborted") == before + 1, 15, "the aborted container's recycle"
        )
        wait_until(lambda: all_idle(service), 30, "the pool refilled")
        assert service.dispatcher.in_flight == 0 and service.dispatcher.queued == 0
        assert verdict(client.score(py("print(1)", "1"))) == "ACCEPTED"


def test_cancelling_a_stream_stops_its_samples(service: ServiceHarness, loop_thread: LoopThread) -> None:
    wait_until(lambda: all_idle(service), 30, "idle pools")
    before = total_recycles(service, "aborted")
    spin = py("while True: pass", "", limits={"time_limit_ms": 20_000, "wall_time_limit_ms": 40_000})

    async def start_and_cancel() -> None:
        async with grpc.aio.insecure_channel(service.address) as channel:
            call = pb_grpc.GraderStub(channel).ScoreStream()
            for i in range(3):
                spin.id = f"s{i}"
                await call.write(spin)
            deadline = time.monotonic() + 15
            while service.dispatcher.in_flight < 3:
                assert time.monotonic() < deadline, f"only {service.dispatcher.in_flight} of 3 in flight"
                await asyncio.sleep(0.05)
            call.cancel()
            await asyncio.sleep(0.2)

    loop_thread.run(start_and_cancel())
    wait_until(lambda: total_recycles(service, "aborted") == before + 3, 15, "three aborted recycles")
    wait_until(lambda: all_idle(service), 30, "the pools refilled")
    assert service.dispatcher.in_flight == 0


# -- math ------------------------------------------------------------------------------------------
def test_math_answers_through_the_service_with_detail(service: ServiceHarness) -> None:
    cases = {
        "frac": ("So $\\boxed{\\dfrac{6}{8}}$.", "0.75", True),
        "pct": ("The answer is $\\boxed{0.5}$.", "50\\%", True),
        "x100": ("The answer is $\\boxed{0.5}$.", "50", False),
        "unfinished": ("<think>it is 3", "3", False),
        "mcq": ("$\\boxed{24}$", "C", True),
        # the shapes of issue 12, end to end
        "matrix": (
            "$\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}$",
            "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
            True,
        ),
        "transpose": (
            "$\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}$",
            "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}",
            False,
        ),
        "digit-groups": ("$\\boxed{1 000}$", "0", False),
        "hedged-boxes": ("$\\boxed{3} \\quad \\text{or} \\quad \\boxed{5}$", "5", False),
        "pair": ("$\\boxed{1234}$", "(1,234)", False),
        "gsm8k": ("He pays $5 and $13, so $18.\n#### 18", "18", True),
        "minerva": ("Final Answer: The final answer is 12,000,023. I hope it is correct.", "12000023", True),
    }
    requests: list[pb.ScoreRequest] = []
    for rid, (response, gold, _) in cases.items():
        choices = ["12", "18", "24"] if rid == "mcq" else []
        requests.append(
            pb.ScoreRequest(id=rid, math=pb.MathTask(response=response, gold=gold, choices=choices))
        )
    requests.append(py("print(7)", "7", rid="code"))
    with Client(service.address) as client:
        answers = {a.id: a for a in client.score_many(requests)}
        unary = client.score(requests[0])
    assert verdict(answers["code"]) == "ACCEPTED"
    for rid, (_, _, correct) in cases.items():
        a = answers[rid]
        assert a.accepted is correct and a.reward == float(correct), (rid, a)
        assert verdict(a) == ("ACCEPTED" if correct else "WRONG_ANSWER") and a.total == 1
        assert a.math.reason and a.worker in service.dispatcher.workers
    assert answers["frac"].math.extracted_answer == "\\dfrac{6}{8}"
    assert answers["frac"].math.normalized_answer == "6/8" and answers["frac"].math.normalized_gold == "0.75"
    assert "unfinished" in answers["unfinished"].math.reason
    assert unary.accepted and unary.math.reason == "equal"


# -- bad input -------------------------------------------------------------------------------
BAD_INPUTS = {
    "unknown language": (code_request("cobol", "DISPLAY 1", [stdio("", "1")]), "code.language"),
    "empty task": (pb.ScoreRequest(id="e"), "task"),
    "no tests": (code_request("python", "print(1)", []), "code.tests"),
    "empty source": (code_request("python", "  ", [stdio("", "1")]), "code.source"),
    "test without a kind": (code_request("python", "print(1)", [pb.TestCase()]), "code.tests[0]"),
    "oversized source": (code_request("python", "#" * (300 << 10), [stdio("", "")]), "code.source"),
    "oversized tests": (code_request("python", "print(1)", [stdio("x" * (1 << 20), "")]), "code.tests"),
    "time limit over the maximum": (
        py("print(1)", "1", limits={"time_limit_ms": 10_000_000}),
        "code.limits.time_limit_ms",
    ),
    "memory over the maximum": (
        py("print(1)", "1", limits={"memory_limit_mb": 1 << 20}),
        "code.limits.memory_limit_mb",
    ),
    "oversized math response": (
        pb.ScoreRequest(id="m", math=pb.MathTask(response="9" * ((1 << 20) + 1), gold="9")),
        "math.response",
    ),
    "bad args_json": (
        code_request("python", "def f(): pass", [call("f", "not json", "1")]),
        "code.tests[0].call.args_json",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_invalid_argument_naming_the_field(service: ServiceHarness, case: str) -> None:
    request, field = BAD_INPUTS[case]
    with Client(service.address, retries=0) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            client.score(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith(field + ":"), info.value.details()
        # the same request inside a stream: answered in place, the stream goes on
        answers = list(client.score_many([request, py("print(5)", "5", "after")]))
        assert {a.id: a.error.field for a in answers} == {request.id: field, "after": ""}
        assert verdict(client.score(py("print(1)", "1"))) == "ACCEPTED", "the server is unharmed"


# -- auth, TLS ---------------------------------------------------------------------------------
def test_token_auth(service: ServiceHarness, loop_thread: LoopThread) -> None:
    door = ServiceHarness(loop_thread, service_settings(token="s3cret"), dispatcher=service.dispatcher)
    try:
        for token in (None, "wrong"):
            with Client(door.address, token=token, retries=0) as client:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    client.score(py("print(1)", "1"))
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    list(client.score_many([py("print(1)", "1")]))
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with Client(door.address, token="s3cret") as client:
            assert verdict(client.score(py("print(1)", "1"))) == "ACCEPTED"
            assert [verdict(r) for r in client.score_many([py("print(2)", "2")])] == ["ACCEPTED"]
        with grpc.insecure_channel(door.address) as channel:  # health stays open for load balancers
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        door.stop()
    assert service.dispatcher.workers, "stopping an extra door leaves the shared workers running"


def test_tls(service: ServiceHarness, loop_thread: LoopThread, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    door = ServiceHarness(
        loop_thread, service_settings(tls_cert=str(cert), tls_key=str(key)), dispatcher=service.dispatcher
    )
    try:
        with Client(f"localhost:{door.service.port}", root_certificates=cert.read_bytes()) as client:
            assert verdict(client.score(py("print(1)", "1"))) == "ACCEPTED"
        with Client(door.address, retries=0) as plain:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                plain.score(py("print(1)", "1"), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        door.stop()


def test_binds_localhost_by_default() -> None:
    assert service_settings().host == "127.0.0.1"


# -- metrics -----------------------------------------------------------------------------------
def test_metrics_endpoint(service: ServiceHarness) -> None:
    with Client(service.address) as client:
        client.score(py("print(1)", "1"))
        client.score(py("print(1)", "2"))
    wait_until(lambda: len(service.service.metrics._workers.snapshots) == 2, 10, "worker snapshots")

    def scrape() -> list[Any]:
        text = urllib.request.urlopen(
            f"http://127.0.0.1:{service.service.metrics_port}/metrics", timeout=10
        ).read()
        return [s for fam in text_string_to_metric_families(text.decode()) for s in fam.samples]

    def pools_reported() -> bool:
        """Snapshots are taken every stats interval: wait for one of full pools taken after the last
        sample ended (one taken while a sample of an earlier test still ran counts it running)."""
        found = scrape()

        def total(name: str, w: str) -> float:
            return sum(s.value for s in found if s.name == name and s.labels.get("worker") == w)

        return all(
            total("sandbox_pool_containers", w) >= 2
            and all(
                total(f"sandbox_tests_{g}", w) == 0 for g in ("cpu_bound", "sleeping", "woken", "waiting")
            )
            for w in service.dispatcher.workers
        )

    wait_until(pools_reported, 15, "both pools in the metrics, nothing running")
    samples = scrape()

    def value(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    assert value("sandbox_samples_total", verdict="ACCEPTED", language="python") >= 1
    assert value("sandbox_samples_total", verdict="WRONG_ANSWER") >= 1
    assert value("sandbox_latency_seconds_count") >= 2
    assert any(s.name == "sandbox_queue_depth" for s in samples)
    assert any(s.name == "sandbox_in_flight" for s in samples)
    for name in service.dispatcher.workers:
        assert value("sandbox_pool_containers", worker=name) >= 2  # and more while tests sleep
        assert any(s.name == "sandbox_tests_running" and s.labels["worker"] == name for s in samples)
        assert any(s.name == "sandbox_tests_cells" and s.labels["worker"] == name for s in samples)
        for gauge in ("cpu_bound", "sleeping", "woken", "waiting"):
            assert value(f"sandbox_tests_{gauge}", worker=name) == 0  # nothing runs between samples
        assert any(s.name == "sandbox_tests_reruns_total" for s in samples)
    assert value("sandbox_workers") == 2


# -- placement, admission, shutdown (own small services on the sandbox_small resource) ------------
def test_no_node_with_the_resource_fails_clearly(ray_cluster: RayCluster, loop_thread: LoopThread) -> None:
    dispatcher = Dispatcher(service_settings(worker_resource="gpu_sandbox"))
    with pytest.raises(InfrastructureError, match="no Ray node offers the 'gpu_sandbox' resource"):
        loop_thread.run(dispatcher.start())


def test_a_worker_that_cannot_be_placed_is_reported_not_awaited(
    service: ServiceHarness, ray_cluster: RayCluster, loop_thread: LoopThread
) -> None:
    dispatcher = Dispatcher(service_settings(worker_start_timeout_s=3))
    node = ray_cluster.node_ids[0]
    # The node never has the resource: Ray says so at once, and we pass its reason on.
    handle = loop_thread.run(dispatcher.spawn(node, 1, resource="nonexistent"))
    assert handle is None and "not schedulable" in dispatcher.unplaced[node]
    # The node has it, but the shared service's worker holds all of it: Ray would wait forever.
    t0 = time.monotonic()
    handle = loop_thread.run(dispatcher.spawn(node, 2, resource="sandbox"))
    assert handle is None and 3 <= time.monotonic() - t0 < 15
    assert "was not placed and started within 3s" in dispatcher.unplaced[node]
    loop_thread.run(dispatcher.close())
    assert len(service.dispatcher.workers) == 2


def small_service(loop_thread: LoopThread, **overrides: Any) -> ServiceHarness:
    return ServiceHarness(
        loop_thread, service_settings(worker_resource="sandbox_small", worker_prefetch=0, **overrides)
    )


def test_calls_admitted_before_the_pump_runs_are_not_counted_as_waiting() -> None:
    """Logic only (workers without actors, pump not started). Several calls can be admitted in
    one loop turn, before the pump hands any to a worker: the queue bound counts only the
    samples no worker has credit for. Counting the raw queue refused the 2nd of 3 calls with
    2 free credits and max_queue 1 (a CI failure)."""

    async def scenario() -> None:
        d = Dispatcher(service_settings(max_queue=1))
        d.workers = {n: WorkerHandle(n, n, actor=None, pool_size=1, credits=1) for n in ("a", "b")}
        for i in range(3):  # two for the free credits, one waiting
            d.admit(py("print(1)", "1", f"r{i}"))
        assert (d.queued, d.waiting) == (3, 1)
        with pytest.raises(Overloaded, match=r"queue full \(1 samples waiting\)"):
            d.admit(py("print(1)", "1", "r3"))
        d.workers["a"].alive = False  # a dead worker's credits are not room
        assert d.waiting == 2
        d.workers["a"].alive = True
        d.workers["b"].credits = 3  # more credit: more room, one call at a time
        assert d.waiting == 0
        d.admit(py("print(1)", "1", "r4"))
        d.admit(py("print(1)", "1", "r5"))
        with pytest.raises(Overloaded):
            d.admit(py("print(1)", "1", "r6"))

    asyncio.run(scenario())


def test_full_queue_is_resource_exhausted_and_the_client_retries(
    ray_cluster: RayCluster, loop_thread: LoopThread
) -> None:
    small = small_service(loop_thread, max_queue=1)
    try:
        assert len(small.dispatcher.workers) == 2  # one container per node: 2 credits in all
        slow = [py(f"import time\ntime.sleep(2)\nprint({i})", str(i), f"slow{i}") for i in range(3)]

        async def scenario() -> tuple[list[pb.ScoreResponse], grpc.StatusCode, pb.ScoreResponse]:
            async with (
                AsyncClient(small.address, retries=0) as strict,
                AsyncClient(small.address, retries=10, backoff=(0.2, 1.0)) as patient,
            ):
                running = [asyncio.ensure_future(strict.score(r)) for r in slow]
                deadline = time.monotonic() + 30
                while small.dispatcher.queued < 1:  # two run, the third waits: the queue is full
                    ended = [f.exception() or verdict(f.result()) for f in running if f.done()]
                    assert not ended and time.monotonic() < deadline, f"the third never queued: {ended}"
                    await asyncio.sleep(0.01)
                try:
                    await strict.score(py("print(1)", "1"))
                    code = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as exc:
                    code = exc.code()
                retried = await patient.score(py("print(9)", "9", "patient"))
                return list(await asyncio.gather(*running)), code, retried

        done, code, retried = loop_thread.run(scenario())
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [verdict(r) for r in done] == ["ACCEPTED"] * 3
        assert verdict(retried) == "ACCEPTED"
        assert small.service.metrics.rejected.labels("RESOURCE_EXHAUSTED")._value.get() >= 1
        # A stream is not refused: it waits for room (flow control) and gets every answer.
        with Client(small.address) as client:
            answers = list(
                client.score_many([py(f"print({i})", str(i), f"q{i}") for i in range(20)], window=20)
            )
        assert sorted(a.id for a in answers) == sorted(f"q{i}" for i in range(20))
        assert {verdict(a) for a in answers} == {"ACCEPTED"}
    finally:
        small.stop()


def test_graceful_shutdown_drains_then_refuses(ray_cluster: RayCluster, loop_thread: LoopThread) -> None:
    small = small_service(loop_thread)
    pids = [w.info["pid"] for w in small.dispatcher.workers.values()]
    slow = [py(f"import time\ntime.sleep(1.5)\nprint({i})", str(i), f"d{i}") for i in range(2)]
    results: dict[str, Any] = {}

    def run(req: pb.ScoreRequest) -> None:
        with Client(small.address, retries=0) as client:
            try:
                results[req.id] = verdict(client.score(req))
            except grpc.aio.AioRpcError as exc:
                results[req.id] = exc.code()

    threads = [threading.Thread(target=run, args=(r,)) for r in slow]
    for t in threads:
        t.start()
    wait_until(lambda: small.dispatcher.in_flight == 2, 10, "two samples in flight")
    stopper = threading.Thread(target=small.stop)
    stopper.start()
    wait_until(lambda: small.dispatcher.draining, 5, "draining")
    with Client(small.address, retries=0) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            client.score(py("print(1)", "1"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    for t in (*threads, stopper):
        t.join(60)
    assert results == {"d0": "ACCEPTED", "d1": "ACCEPTED"}, "admitted work finished before the stop"
    assert not small.dispatcher.workers
    wait_until(lambda: not any(psutil.pid_exists(p) for p in pids), 30, "the workers' processes to exit")
