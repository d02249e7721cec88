"""Several front ends over one worker fleet: ``serve --front-ends 2`` as its own process (its own
local Ray, real workers and containers), both front ends answering on one gRPC and one HTTP port."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox_service.client import AsyncClient
from sandbox_service.dispatch import Dispatcher
from sandbox_service.v1 import sandbox_pb2 as pb

from .conftest import TEST_PREFIX, code_request, free_port, service_settings, stdio


def test_each_front_end_takes_its_share_of_the_credits() -> None:
    one, two = Dispatcher(service_settings()), Dispatcher(service_settings(front_ends=2))
    assert (one._credits(2), two._credits(2)) == (2 * 9, 9)
    assert Dispatcher(service_settings(front_ends=64))._credits(1) == 1, "never none"
    assert two.namespace.startswith("sandbox-") and not two.attached and one.namespace == ""
    attached = Dispatcher(service_settings(front_ends=2, front_end_namespace="ns"))
    assert attached.attached and attached.namespace == "ns"


def samples(metrics_port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "sandbox_samples_total"
    )


@pytest.mark.docker
def test_two_front_ends_answer_on_one_port(tmp_path: Path) -> None:
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    env = {**os.environ, "SANDBOX_CONTAINER_PREFIX": TEST_PREFIX}
    argv = [sys.executable, "-m", "sandbox_service", "serve", "--front-ends", "2", "--pool-size", "1",
            "--port", str(port), "--http-port", str(http_port), "--metrics-port", str(metrics_port)]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=out)
    try:

        async def up() -> None:
            deadline = time.monotonic() + 180
            while True:
                assert server.poll() is None, f"serve exited: {log.read_text()[-3000:]}"
                try:
                    samples(metrics_port + 1)  # the second front end's metrics: it is serving
                    return
                except OSError:
                    assert time.monotonic() < deadline, "the second front end never came up"
                    await asyncio.sleep(0.5)

        async def load(n: int) -> list[pb.ScoreResponse]:
            answers = []
            for i in range(n):  # a connection each: the kernel spreads new connections over the two
                async with AsyncClient(f"127.0.0.1:{port}", retries=0) as client:
                    req = code_request("python", f"print({i})", [stdio("", str(i))], rid=f"f{i}")
                    answers.append(await client.score(req))
            return answers

        asyncio.run(up())
        children = psutil.Process(server.pid).children()
        fronts = [p for p in children if "sandbox_service" in " ".join(p.cmdline())]
        assert len(fronts) == 1, "the first front end started one more"
        answers = asyncio.run(load(24))
        assert [a.id for a in answers] == [f"f{i}" for i in range(24)]
        assert all(a.accepted for a in answers)
        body = json.dumps({"code": "print('door')", "language": "python"}).encode()
        for _ in range(12):
            req = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/run_code",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=60) as resp:
                answer: dict[str, Any] = json.loads(resp.read())
            assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "door\n"
        first, second = samples(metrics_port), samples(metrics_port + 1)
        # 24 over gRPC and 12 over HTTP (all but the first HTTP one cache hits, counted too)
        assert first + second == 36
        assert first > 0 and second > 0, f"both front ends answered: {first} + {second}"
    finally:
        server.terminate()
        rc = server.wait(120)
    assert rc == 0, log.read_text()[-3000:]
    assert not [p for p in fronts if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], "front ends left"
