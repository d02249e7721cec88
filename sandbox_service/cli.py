"""The ``sandbox-service`` command: build the images, score JSONL files on the local engine."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .config import Settings
from .errors import InvalidRequest, SandboxServiceError
from .v1 import sandbox_pb2 as pb

__all__ = ["main"]

EXIT_INVALID_INPUT = 2
EXIT_SANDBOX_ERRORS = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Reward service for RL on code and math."""


@main.command("build-images")
def build_images_cmd() -> None:
    """Build the runtime image from Debian packages (idempotent; rebuilds only what changed)."""
    from .images import build_images

    settings = Settings()
    tag = build_images(
        settings.image, settings.debian_mirror, say=lambda m: click.echo(f"[build-images] {m}")
    )
    click.echo(tag)


def _read_requests(path: Path, err: Console) -> tuple[list[pb.ScoreRequest], int]:
    from .wire import request_from_json

    requests, bad = [], 0
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                requests.append(request_from_json(line, where=f"{path.name}:{n}"))
            except InvalidRequest as exc:
                bad += 1
                err.print(f"[red]skipped[/red] {exc}")
    return requests, bad


async def _score_all(
    requests: list[pb.ScoreRequest], out: TextIO, settings: Settings, err: Console
) -> Counter[str]:
    from .engine import Engine
    from .wire import response_to_json

    verdicts: Counter[str] = Counter()
    async with Engine(settings) as engine:
        queue: asyncio.Queue[pb.ScoreRequest] = asyncio.Queue()
        for r in requests:
            queue.put_nowait(r)
        columns = (
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[v]}"),
        )
        with Progress(*columns, console=err, transient=False) as progress:
            bar = progress.add_task("score", total=len(requests), v="")

            async def worker() -> None:
                while not queue.empty():
                    request = queue.get_nowait()
                    try:
                        response = await engine.score(request)
                        verdicts[pb.Verdict.Name(response.verdict)] += 1
                        out.write(response_to_json(response) + "\n")
                        out.flush()
                    except InvalidRequest as exc:
                        verdicts["INVALID"] += 1
                        err.print(f"[red]invalid[/red] id={request.id!r}: {exc}")
                    progress.update(
                        bar, advance=1, v=" ".join(f"{k}={n}" for k, n in sorted(verdicts.items()))
                    )

            await asyncio.gather(*(worker() for _ in range(settings.pool_size)))
    return verdicts


@main.command("score")
@click.argument("requests", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where result lines go (default: standard output).",
)
@click.option(
    "--pool-size", type=click.IntRange(1, 256), default=None, help="Warm containers (default: cores)."
)
def score_cmd(requests: Path, output: Path | None, pool_size: int | None) -> None:
    """Score REQUESTS (JSON Lines of sandbox.v1.ScoreRequest) on the local engine.

    Writes one ScoreResponse line per valid request, in completion order. Exit status: 0 when all
    were judged, 2 when some lines were invalid, 3 when the sandbox failed on some samples.
    """
    err = Console(stderr=True)
    overrides = {"pool_size": pool_size} if pool_size else {}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    reqs, bad = _read_requests(requests, err)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        verdicts = asyncio.run(_score_all(reqs, out, settings, err))
    except SandboxServiceError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    finally:
        if output:
            out.close()
    bad += verdicts.pop("INVALID", 0)
    summary = ", ".join(f"{k} {n}" for k, n in verdicts.most_common()) or "nothing scored"
    err.print(f"{sum(verdicts.values())} scored: {summary}" + (f"; {bad} invalid" if bad else ""))
    if verdicts.get("SANDBOX_ERROR"):
        sys.exit(EXIT_SANDBOX_ERRORS)
    if bad:
        sys.exit(EXIT_INVALID_INPUT)


@main.command("serve")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1; 0.0.0.0 for every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="gRPC port (default 50051).")
@click.option(
    "--ray-address",
    default=None,
    help="Join this Ray cluster ('auto' or host:port) instead of starting a local one in-process.",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1, 256),
    default=None,
    help="Containers of the embedded worker (default: cores). In a cluster each node's 'sandbox' "
    "resource sets its own.",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, help="Prometheus port (0: off).")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the shared token clients must send (or set SANDBOX_TOKEN).",
)
@click.option(
    "--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None, help="PEM cert chain."
)
@click.option(
    "--tls-key", type=click.Path(exists=True, dir_okay=False), default=None, help="PEM private key."
)
def serve_cmd(
    host: str | None,
    port: int | None,
    ray_address: str | None,
    pool_size: int | None,
    metrics_port: int | None,
    token_file: Path | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Run the gRPC service until Ctrl-C / SIGTERM (then drain in-flight work and stop).

    With no --ray-address it starts a local Ray in this process and one worker with a warm pool:
    nothing to set up beyond Docker and the image (scripts/install).
    """
    import logging

    from .server import Service, init_ray, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    err = Console(stderr=True)
    given = {
        "host": host,
        "port": port,
        "ray_address": ray_address,
        "pool_size": pool_size,
        "metrics_port": metrics_port,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "token": token_file.read_text().strip() if token_file else None,
    }
    settings = Settings(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]

    def ready(service: Service) -> None:
        scheme = "TLS" if settings.tls_cert else "plaintext"
        auth = "token required" if settings.token else "no auth"
        workers = ", ".join(
            f"{w.name} ({w.pool_size} containers)" for w in service.dispatcher.workers.values()
        )
        err.print(f"serving sandbox.v1.Grader on {settings.host}:{service.port} ({scheme}, {auth})")
        err.print(f"workers: {workers}")
        for why in service.dispatcher.unplaced.values():
            err.print(f"[yellow]not placed:[/yellow] {why}")
        if service.metrics_port:
            err.print(f"metrics: http://{settings.host}:{service.metrics_port}/metrics")

    import shutil
    import tempfile

    import ray

    ray_dir = None if settings.ray_address else tempfile.mkdtemp(prefix="sandbox-ray-")
    try:
        err.print(init_ray(settings, temp_dir=ray_dir))
        asyncio.run(serve(settings, ready))
    except (SandboxServiceError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if ray_dir:
            shutil.rmtree(ray_dir, ignore_errors=True)
    err.print("stopped")
