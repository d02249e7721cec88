"""The one generic runner: runs a validated ``CodeTask`` in a leased container, for every language row.

Per sample: write the source into ``/box``; compile once if the language has a compile step (its own
time, memory and output limits; failure is COMPILE_ERROR with the diagnostics); then run each test
and decide its verdict here, on the host, from the raw facts the agent reports. Expected outputs never
enter the container, except for a CUSTOM checker, which runs after the program's processes are all
killed and whose input files are deleted right after.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runners.checkers import compare_json, compare_output
from runners.languages import LANGUAGES, AssertionSpec, LanguageSpec, entry_class

from .compile_cache import Build, CompileCache
from .config import Settings
from .errors import InfrastructureError
from .models import (
    AssertionTest,
    CallTest,
    Checker,
    CheckerKind,
    CodeResult,
    CodeTask,
    StdioTest,
    Test,
    TestResult,
    Verdict,
)
from .pool import ContainerPool, Lease

__all__ = ["HEAD_BYTES", "Runner"]

#: How much of stdout/stderr a result carries back (the full output is compared, then dropped).
HEAD_BYTES = 4096
COMPILE_OUTPUT_BYTES = 16 << 10
_MB = 1 << 20


#: A test's outcome, plus the compile output it sets on the sample (an assertion build that failed, a
#: Python syntax error) and whether it ends the sample (a syntax error: no test can pass).
Outcome = tuple[TestResult, str | None, bool]
#: A build's files for a given nonce, and the ``{cls}`` values of their names.
FilesFor = Callable[[str], tuple[list[tuple[str, str]], dict[str, str]]]


@dataclass
class RawRun:
    """What the agent reported about one process."""

    info: dict[str, Any]
    stdout: bytes
    stderr: bytes
    status: bytes
    collected: tuple[bytes, ...] = ()  # the ``collect``ed files' bytes, when asked for (``send_collected``)

    @property
    def exited_ok(self) -> bool:
        return bool(self.info["exit_code"] == 0 and self.info["signal"] == 0)


def _fmt(spec_part: tuple[str, ...], name: str, **values: Any) -> list[str]:
    return [part.format(name=name, **values) for part in spec_part]


def _memory_values(memory_mb: int) -> dict[str, int]:
    """``{heap_mb}``, ``{stack_mb}``, ``{stack_kb}`` of a step's argv, from its memory limit.

    The cgroup judges the process's real peak; these only make a JVM or V8 collect (and fail with
    its own out-of-memory error) before the kernel would kill it: heap 3/4 of the limit, a main
    stack of a quarter (at most 256 MB; V8's a little less than that, as it must stay below the
    thread's real stack, RLIMIT_STACK = the limit).
    """
    stack_mb = max(4, min(256, memory_mb // 4))
    return {
        "heap_mb": max(16, memory_mb * 3 // 4),
        "stack_mb": stack_mb,
        "stack_kb": stack_mb * 1024 * 7 // 8,
    }


def _source_values(spec: LanguageSpec, source: str) -> dict[str, str]:
    return {"cls": entry_class(source) if "{cls}" in spec.source_file else ""}


def _go_package(source: str) -> str:
    found = re.search(r"(?m)^\s*package\s+([A-Za-z_]\w*)", source)
    return found.group(1) if found else "main"


def _program_signal(info: dict[str, Any]) -> int:
    """The signal that ended the program's process of a boundary run (its trusted side reports the
    run; RLIMIT_CPU's SIGXCPU lands on the program), 0 for other runs."""
    status = info.get("program_status")
    return status & 0x7F if status is not None else 0


def _program_exit(status: int | None) -> str:
    """How the program's process of a boundary run ended, when that says more than the test did."""
    if status is None or status == 9:  # SIGKILL: the fork server ends the program once the verdict is in
        return ""
    if not status & 0x7F:
        return ""  # an exit: the trusted side's message already says so
    try:
        return f" (the program was killed by {signal.Signals(status & 0x7F).name})"
    except ValueError:
        return f" (the program was killed by signal {status & 0x7F})"


class Runner:
    """Runs code tasks on leased containers. Holds settings and the worker's compile cache (set by
    the engine once it knows the image; ``None``: every sample compiles); safe to share."""

    def __init__(self, settings: Settings, compile_cache: CompileCache | None = None) -> None:
        self.settings = settings
        self.compile_cache = compile_cache
        self.fanouts = 0  # samples whose tests ran on more than one container

    async def run(self, lease: Lease, task: CodeTask, pool: ContainerPool | None = None) -> CodeResult:
        """Run every test of ``task``; raises ``AgentLost`` when the sandbox itself fails.

        With ``pool``, a sample of ``Settings.fanout_min_tests`` tests or more also runs its tests on
        the pool's idle containers (see ``_fan_out``), with the same results as one after another.

        On any exception (including cancellation) the agent may still be mid-run, so nothing more is
        sent to it: the caller's lease recycles the container instead.
        """
        result = await self._run_all(lease, task, pool)
        if not lease.container.conn.lost:
            await self._call(lease, {"op": "clear"}, [])  # memory limits are set before every run
        return result

    async def _run_all(self, lease: Lease, task: CodeTask, pool: ContainerPool | None) -> CodeResult:
        spec = LANGUAGES[task.language]
        t0 = time.monotonic()
        result = CodeResult(tests=[], weights=[t.weight for t in task.tests], worker=lease.container.name)
        try:
            values = _source_values(spec, task.source)
            src = spec.source_file.format(name="prog", **values)
            # /box emptied first (what a sample before this one left, if it did not end cleanly) and
            # the source written: one round trip.
            await self._call(
                lease, {"op": "write", "clear": True, "files": [{"name": src}]}, [task.source.encode()]
            )
            # Assertion tests of the exec'd languages build the program with their test code, each on
            # its own; the program alone is built only when some other test runs it.
            plain = spec.assertion is None or any(not isinstance(t.kind, AssertionTest) for t in task.tests)
            artifact: tuple[str, bytes] | None = None
            if spec.compile_argv is not None and plain:
                build = await self._build(
                    lease,
                    spec,
                    "prog",
                    task.limits.compile_time_limit_ms,
                    values=values,
                    sources=[task.source],
                )
                result.compile_output = build.output
                if not build.ok:
                    result.tests = [
                        TestResult(Verdict.COMPILE_ERROR, message=build.message) for _ in task.tests
                    ]
                    return result
                if spec.artifact is not None:
                    name = spec.artifact.format(
                        name="prog", **_memory_values(self.settings.compile_memory_mb), **values
                    )
                    artifact = (name, build.artifact) if build.artifact is not None else (name, b"")
            lanes = self._lanes(task, pool)
            if lanes > 1 and pool is not None:
                if artifact is not None and not artifact[1]:  # built without the cache: fetch it once
                    artifact = (artifact[0], (await self._read(lease, [artifact[0]]))[0])
                outcomes = await self._fan_out(lease, pool, lanes, spec, task, values, (src, artifact))
            else:
                outcomes = await self._sequential(lease, spec, task, values)
            _assemble(result, task, outcomes)
            return result
        finally:
            result.run_ms = (time.monotonic() - t0) * 1000.0

    async def _sequential(
        self, lease: Lease, spec: LanguageSpec, task: CodeTask, values: dict[str, str]
    ) -> list[Outcome | None]:
        """Every test in order on one container, up to where ``_assemble`` stops looking."""
        checker_ready: dict[str, str] = {}
        outcomes: list[Outcome | None] = [None] * len(task.tests)
        for i, test in enumerate(task.tests):
            outcomes[i] = outcome = await self._one(lease, spec, task, test, checker_ready, values)
            if _stops(task, outcome):
                break
        return outcomes

    def _lanes(self, task: CodeTask, pool: ContainerPool | None) -> int:
        """Containers this sample's tests run on: 1, or more when it is big and containers are idle."""
        s = self.settings
        n = len(task.tests)
        if pool is None or s.fanout_min_tests == 0 or n < s.fanout_min_tests or not pool.idle:
            return 1
        most = s.fanout_max_containers or s.pool_size
        return max(1, min(1 + pool.idle, most, n // max(1, s.fanout_tests_per_container)))

    async def _fan_out(
        self,
        lease: Lease,
        pool: ContainerPool,
        lanes: int,
        spec: LanguageSpec,
        task: CodeTask,
        values: dict[str, str],
        files: tuple[str, tuple[str, bytes] | None],
    ) -> list[Outcome | None]:
        """Run the tests on ``lease`` and up to ``lanes - 1`` idle containers of ``pool`` at once.

        Each container takes the next test in order when it is free, so every test before the first
        one that ends the sample (a failure with ``stop_on_first_failure``, a syntax error) has run
        when it is known; tests after it that are still running are cancelled (their containers are
        recycled: the agent was mid-run) and none after it starts. ``_assemble`` then reads the
        outcomes exactly as the sequential path would have left them. The extra containers get the
        program's source and its artifact copied in (built once, on ``lease``); each run takes a CPU
        slot like any other. An extra container goes back to the pool after its current test as soon
        as another sample waits for one (the sample's own container runs what is left), so a sample
        fans out only over capacity nobody else asks for. An infrastructure failure on any container
        fails the sample (the engine retries it).
        """
        n = len(task.tests)
        outcomes: list[Outcome | None] = [None] * n
        running: dict[int, asyncio.Task[Outcome]] = {}
        state = {"next": 0, "stop": n, "extra": 0}

        async def lane(this: Lease, fresh: bool) -> None:
            if fresh:
                src, artifact = files
                await self._call(this, {"op": "clear"}, [])
                names: list[dict[str, Any]] = [{"name": src}]
                blobs = [task.source.encode()]
                if artifact is not None:
                    names.append({"name": artifact[0], "mode": 0o755})
                    blobs.append(artifact[1])
                await self._call(this, {"op": "write", "files": names}, blobs)
            checker_ready: dict[str, str] = {}
            while state["next"] < min(n, state["stop"]):
                if fresh and pool.waiting:  # another sample wants a container: this one goes back
                    break
                i = state["next"]
                state["next"] += 1
                job = asyncio.create_task(self._one(this, spec, task, task.tests[i], checker_ready, values))
                running[i] = job
                try:
                    await asyncio.wait({job})
                except asyncio.CancelledError:
                    job.cancel()
                    raise
                finally:
                    running.pop(i, None)
                if job.cancelled():  # a test before it ended the sample; the agent was mid-run
                    this.recycle("fanout_cancelled")
                    this.container.conn.close()  # nothing more is said to it (its reply is pending)
                    return
                outcomes[i] = outcome = job.result()
                if _stops(task, outcome) and i < state["stop"]:
                    state["stop"] = i
                    for j, other in list(running.items()):
                        if j > i:
                            other.cancel()
            if fresh and not this.container.conn.lost and this.reason is None:
                await self._call(this, {"op": "clear"}, [])

        async def extra_lane() -> None:
            if not pool.idle:  # taken meanwhile: nothing to wait for
                return
            async with pool.lease() as this:  # an idle one: no wait (checked above, no await between)
                if not state["extra"]:
                    self.fanouts += 1
                state["extra"] += 1
                await lane(this, True)

        # Started only now, each extra container is its own lease, given back when its lane ends.
        jobs = [asyncio.create_task(lane(lease, False))]
        jobs += [asyncio.create_task(extra_lane()) for _ in range(min(lanes - 1, pool.idle))]
        try:
            await asyncio.gather(*jobs)
        except BaseException:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            raise
        return outcomes

    async def _one(
        self,
        lease: Lease,
        spec: LanguageSpec,
        task: CodeTask,
        test: Test,
        checker_ready: dict[str, str],
        values: dict[str, str],
    ) -> Outcome:
        """One test on ``lease``."""
        if spec.assertion is not None and isinstance(test.kind, AssertionTest):
            # Built with its own test code: a build failure is this test's alone.
            return await self._run_assertion(lease, spec, spec.assertion, task, test.kind)
        outcome = await self._run_test(lease, spec, task, test, checker_ready, values)
        if outcome.verdict is Verdict.COMPILE_ERROR:  # a Python syntax error: no test can pass
            return outcome, outcome.stderr.decode("utf-8", "replace"), True
        return outcome, None, False

    # -- agent calls -------------------------------------------------------------------------
    async def _call(
        self, lease: Lease, header: dict[str, Any], blobs: list[bytes], timeout: float = 30.0
    ) -> dict[str, Any]:
        reply, _ = await lease.container.conn.call(header, blobs, timeout)
        return reply

    async def _exec(
        self,
        lease: Lease,
        *,
        cpu_ms: int,
        wall_ms: int,
        memory_mb: int,
        max_output: int,
        stdin: bytes = b"",
        files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
        **fields: Any,
    ) -> RawRun:
        s = self.settings
        container = lease.container
        cpu_s = max(1, math.ceil(cpu_ms / 1000))
        mem = memory_mb * _MB
        header: dict[str, Any] = {
            "op": "run",
            "wall_ms": wall_ms,
            "cpu_ms": cpu_ms,
            "max_output": max_output,
            "rlimits": {
                "CPU": [cpu_s, cpu_s + 1],
                "NPROC": max(8, s.pids_limit - 16),
                "FSIZE": s.tmpfs_mb * _MB,
                "NOFILE": 256,
                "CORE": 0,
                "STACK": min(mem, 1 << 30),
            },
            "files": [{"name": name} for name, _ in files],
            "remove_after": [name for name, _ in files],
            **fields,
        }
        timeout = wall_ms / 1000 + s.agent_grace_ms / 1000 + s.slow_reset_ms / 1000
        blobs_in = [stdin, *(data for _, data in files)]
        for hold in (False, True):
            memory = await container.begin_run(memory_mb * _MB, max_output, s.memory_overhead_mb * _MB)
            async with lease.cpu_slot(wall_ms, hold) as ticket:
                info, blobs = await container.conn.call(header, blobs_in, timeout)
            # Its wall clock ran while it could not run (it wanted CPU while its slot was lent): a
            # wall-clock timeout within the CPU limit may be ours, so it runs again, holding its
            # slot from start to end (a clean container only: the agent swept everything).
            ours = (
                ticket is not None
                and ticket.exposed
                and info["timed_out"]
                and not info["cpu_exceeded"]
                and info["cpu_ms"] <= cpu_ms
                and not info["leftover"]
                and not info["oom_kills"]
            )
            if hold or not ours or lease.admission is None:
                break
            lease.admission.reruns += 1
        peak, run_ooms = container.end_run(memory)
        info["oom_kills"] += run_ooms
        # The program's peak memory, all its processes together, from the kernel (the run cgroup's
        # peak); where that cannot be had, the largest process's maxrss.
        info["program_kb"] = peak // 1024 if peak is not None else int(info["maxrss_kb"])
        info["over_memory"] = peak is not None and peak > memory_mb * _MB
        raw = RawRun(info, blobs[0], blobs[1], blobs[2], tuple(blobs[3:]))
        # Recycle after anything that may leave the container worse than new.
        if info["leftover"]:
            lease.recycle("leftover_processes")
        elif info["oom_kills"]:
            lease.recycle("oom")  # the OOM killer may have picked more than the program
        elif info["sweep_ms"] > s.slow_reset_ms:
            lease.recycle("slow_reset")
        elif info["timed_out"] or info["cpu_exceeded"] or info["cpu_ms"] > cpu_ms:
            lease.timed_out(bool(info.get("clean")))  # kept only if proven clean (see Lease.timed_out)
        return raw

    async def _read(self, lease: Lease, names: list[str]) -> list[bytes]:
        _, blobs = await lease.container.conn.call({"op": "read", "files": names}, [], 30.0)
        return blobs

    async def _build(
        self,
        lease: Lease,
        spec: LanguageSpec,
        name: str,
        limit: int,
        *,
        argv: tuple[str, ...] | None = None,
        values: dict[str, str] | None = None,
        sources: list[str] | None = None,
        files_for: FilesFor | None = None,
    ) -> Build:
        """Build ``name`` in ``lease``'s container, through the compile cache where the row allows.

        Either the caller wrote the sources already (``sources``: their text, for the key), or
        ``files_for(nonce)`` gives the files to write (an assertion build; the key is taken over them
        with the nonce a placeholder, and a cached build brings its own nonce). Afterwards the
        artifact is in ``/box`` (built here or copied in) and its bytes are in the returned ``Build``
        when the cache holds them (else ``None``).
        """
        argv = argv or spec.compile_argv
        assert argv is not None
        fmt = {**_memory_values(self.settings.compile_memory_mb), **(values or {})}
        cache = self.compile_cache

        async def make() -> Build:
            nonce = secrets.token_hex(16) if files_for is not None else ""
            if files_for is not None:
                files, _ = files_for(nonce)
                await self._call(
                    lease,
                    {"op": "write", "files": [{"name": n} for n, _ in files]},
                    [t.encode() for _, t in files],
                )
            # The artifact's bytes for the cache come back with the compile's reply (no read after it).
            want = cache is not None and bool(spec.artifact)
            made = await self._compile(lease, spec, name, limit, argv=argv, values=values, send_artifact=want)
            keep = made.artifact if made.ok and made.cacheable and want else None
            return Build(made.ok, made.output, made.message, made.cpu_ms, made.cacheable, nonce, keep)

        if cache is None or not spec.artifact:  # check-only steps are never cached (module doc)
            return await make()
        if files_for is not None:
            templates, _ = files_for("@NONCE@")
            parts = [p for pair in templates for p in pair]
        else:
            parts = list(sources or ())
        key = cache.key(
            spec.name,
            "\0".join(_fmt(argv, name, **fmt)),
            spec.artifact.format(name=name, **fmt),
            str(self.settings.compile_memory_mb),
            *parts,
        )
        build, made_here = await cache.build(key, limit, make)
        if made_here:
            return build
        names: list[dict[str, Any]] = []
        blobs: list[bytes] = []
        if files_for is not None:  # the build's own files, with the nonce it was built with
            files, _ = files_for(build.nonce)
            names += [{"name": n} for n, _ in files]
            blobs += [t.encode() for _, t in files]
        if build.ok and build.artifact is not None:
            names.append({"name": spec.artifact.format(name=name, **fmt), "mode": 0o755})
            blobs.append(build.artifact)
        if names:
            await self._call(lease, {"op": "write", "files": names}, blobs)
        return build

    async def _compile(
        self,
        lease: Lease,
        spec: LanguageSpec,
        name: str,
        limit: int,
        argv: tuple[str, ...] | None = None,
        values: dict[str, str] | None = None,
        status_fd: bool = False,
        send_artifact: bool = False,
    ) -> Build:
        """Build (or syntax-check) one program in the container (no cache); the artifact is left in
        ``/box``, and returned too with ``send_artifact`` (in ``Build.artifact``, when built)."""
        argv = argv or spec.compile_argv
        assert argv is not None
        memory_mb = self.settings.compile_memory_mb
        fmt = {**_memory_values(memory_mb), **(values or {})}
        collect = [spec.artifact.format(name=name, **fmt)] if spec.artifact else []
        raw = await self._exec(
            lease,
            cpu_ms=limit,
            wall_ms=limit * 2,
            memory_mb=memory_mb,
            max_output=COMPILE_OUTPUT_BYTES * 4,
            mode="exec",
            argv=_fmt(argv, name, **fmt),
            collect=collect,
            send_collected=send_artifact,
        )
        info = raw.info
        output = (raw.stderr + raw.stdout)[:COMPILE_OUTPUT_BYTES].decode("utf-8", "replace")
        cpu = float(info["cpu_ms"])
        if info["timed_out"] or info["cpu_ms"] > limit:
            return Build(False, output, f"compilation exceeded {limit} ms", cpu, cacheable=False)
        if info["oom_kills"] or info["over_memory"]:
            return Build(False, output, f"compilation exceeded {memory_mb} MB", cpu, cacheable=False)
        if not raw.exited_ok or len(info["collected"]) != len(collect):
            # The compiler's own verdict (an exit status) is the same next time; a signal or
            # something the sandbox did (output cut, processes left behind) may not be.
            steady = bool(info["signal"] == 0 and not info["exceeded"] and not info["leftover"])
            return Build(False, output, "compilation failed", cpu, cacheable=steady)
        artifact = raw.collected[0] if send_artifact and raw.collected else None
        return Build(True, output, "", cpu, cacheable=not info["leftover"], artifact=artifact)

    async def _run_assertion(
        self,
        lease: Lease,
        spec: LanguageSpec,
        how: AssertionSpec,
        task: CodeTask,
        kind: AssertionTest,
    ) -> Outcome:
        """One assertion test of an exec'd language: program + test code built and run as one program.

        It passes only if it exits 0 cleanly and its harness wrote the build's nonce to fd 3 (the test
        code ran to its end; see ``runners/harness/``). The build goes through the compile cache, keyed
        by the whole built source (a GRPO group's identical programs, or re-scoring, build it once).
        """
        refused = how.check(task.source, kind.code) if how.check is not None else None
        if refused is not None:
            return TestResult(Verdict.COMPILE_ERROR, message=refused), None, False
        lim = task.limits
        name = "prog"

        def files_for(nonce: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
            if how.compose is not None:
                source = how.compose(task.source, kind.code, nonce)
            elif how.stdin and not how.split_mark:  # the test code goes on stdin, never into a file
                source = task.source + "\n"
            else:
                source = task.source + "\n" + how.between.replace("@NONCE@", nonce) + kind.code + "\n"
            source += how.after.replace("@NONCE@", nonce)
            values = _source_values(spec, source)
            fill = {"@NONCE@": nonce, "@CLASS@": values["cls"], "@PACKAGE@": _go_package(source)}
            files = [((how.source_file or spec.source_file).format(name=name, **values), source)]
            for file_name, template in how.files:
                for key, value in fill.items():
                    template = template.replace(key, value)
                files.append((file_name.format(name=name), template))
            return files, values

        _, values = files_for("@NONCE@")  # the names do not depend on the nonce
        argv = how.compile_argv or spec.compile_argv
        if how.test_mode is not None and how.test_mode[0] in kind.code:
            argv = how.test_mode[1]
        if argv is not None:
            build = await self._build(
                lease, spec, name, lim.compile_time_limit_ms, argv=argv, values=values, files_for=files_for
            )
            if not build.ok:
                verdict = TestResult(
                    Verdict.COMPILE_ERROR, message=build.message, stderr=build.output.encode()[:HEAD_BYTES]
                )
                return verdict, build.output, False
            nonce = build.nonce
        else:
            nonce = secrets.token_hex(16)
            files, _ = files_for(nonce)
            await self._call(
                lease,
                {"op": "write", "files": [{"name": n} for n, _ in files]},
                [t.encode() for _, t in files],
            )
        # What the program may read in /box holds neither the test's text nor (where the row allows)
        # the nonce: JS/TS get both on stdin, Ruby/Lua/PHP/Perl their whole source, a built row keeps
        # its artifact alone (its nonce is in it: README).
        stdin = b""
        if how.stdin:
            nonce = secrets.token_hex(16)
            test = kind.code
            if how.split_mark:
                test = await self._split_built_test(lease, spec, how, name, values, files_for, build)
            stdin = f"{nonce}\n{test}".encode()
        elif how.source_on_stdin:
            (_, source), *harness = files_for(nonce)[0]
            stdin = source.encode()
            await self._box_holds_only(lease, [(n, t.encode(), 0o644) for n, t in harness])
        elif argv is not None and spec.artifact:
            artifact, data = await self._built(lease, spec, name, values, build)
            await self._box_holds_only(lease, [(artifact, data, 0o755)])
        raw = await self._exec(
            lease,
            cpu_ms=lim.time_limit_ms,
            wall_ms=lim.wall_time_limit_ms,
            memory_mb=lim.memory_limit_mb,
            max_output=lim.max_output_bytes,
            mode="exec",
            argv=_fmt(how.run_argv or spec.run_argv, name, **_memory_values(lim.memory_limit_mb), **values),
            status_fd=True,
            stdin=stdin,
        )
        outcome = self._limits_verdict(raw, lim.time_limit_ms, lim.memory_limit_mb, spec)
        if outcome.verdict is Verdict.ACCEPTED and raw.status != f"{nonce} ok\n".encode():
            outcome.verdict = Verdict.WRONG_ANSWER
            outcome.message = "the test code did not run to its end (the program exited early)"
        return outcome, None, False

    async def _built(
        self, lease: Lease, spec: LanguageSpec, name: str, values: dict[str, str], build: Build
    ) -> tuple[str, bytes]:
        """The name and bytes of the artifact ``build`` left in ``/box`` (read back unless cached)."""
        assert spec.artifact is not None
        artifact = spec.artifact.format(name=name, **values)
        data = build.artifact if build.artifact is not None else (await self._read(lease, [artifact]))[0]
        return artifact, data

    async def _split_built_test(
        self,
        lease: Lease,
        spec: LanguageSpec,
        how: AssertionSpec,
        name: str,
        values: dict[str, str],
        files_for: FilesFor,
        build: Build,
    ) -> str:
        """The built test code of a ``split_mark`` row, cut out of the built file: ``/box`` is left
        with the harness and the built program alone (no source, no test), which the program may read."""
        artifact, data = await self._built(lease, spec, name, values, build)
        text = data.decode("utf-8", "replace")
        at = text.rfind(how.split_mark)  # the program's own text comes before the test's
        if at < 0:  # not the build we made: nothing would be tested
            raise InfrastructureError(f"the built {spec.name} program lost its test code")
        program, test = text[:at], text[at + len(how.split_mark) :]
        _, *harness = files_for("")[0]  # the source comes first
        files = [(n, t.encode(), 0o644) for n, t in harness] + [(artifact, program.encode(), 0o755)]
        await self._box_holds_only(lease, files)
        return test

    async def _box_holds_only(self, lease: Lease, files: list[tuple[str, bytes, int]]) -> None:
        """Empty ``/box`` and write ``files`` (name, bytes, mode) into it: what the program may read."""
        names = [{"name": n, "mode": mode} for n, _, mode in files]
        await self._call(
            lease, {"op": "write", "clear": True, "files": names}, [data for _, data, _ in files]
        )

    # -- tests -------------------------------------------------------------------------------
    def _launch_fields(
        self,
        spec: LanguageSpec,
        name: str,
        harness: str,
        args: list[str] | None = None,
        values: dict[str, str] | None = None,
        memory_mb: int = 256,
    ) -> dict[str, Any]:
        """How the agent starts the process: forked from the Python fork server, or exec'd.

        call and assertion harnesses live in the fork server, so those tests always use it;
        ``python_fast_path=False`` makes stdio tests exec a fresh interpreter (for comparison).
        """
        if spec.fork_server and (self.settings.python_fast_path or harness not in ("stdio", "checker")):
            path = _fmt(spec.run_argv, name)[-1]
            return {"mode": "python", "path": path, "harness": harness, "args": args or []}
        argv = _fmt(spec.run_argv, name, **_memory_values(memory_mb), **(values or {"cls": ""}))
        return {"mode": "exec", "argv": [*argv, *(args or [])]}

    async def _run_test(
        self,
        lease: Lease,
        spec: LanguageSpec,
        task: CodeTask,
        test: Test,
        checker_ready: dict[str, str],
        values: dict[str, str],
    ) -> TestResult:
        lim = task.limits
        kind = test.kind
        nonce = secrets.token_hex(16)
        extra: dict[str, Any] = {}
        # call and assertion tests: stdin carries the arguments or the test code to the trusted side of
        # the boundary (runners/boundary); the program itself reads /dev/null.
        if isinstance(kind, StdioTest):
            stdin, harness = kind.stdin, "stdio"
        elif isinstance(kind, CallTest):
            stdin, harness = kind.args_json.encode(), "call"
            extra = {"function": kind.function}
        else:
            stdin, harness = kind.code.encode(), "assert"
        raw = await self._exec(
            lease,
            cpu_ms=lim.time_limit_ms,
            wall_ms=lim.wall_time_limit_ms,
            memory_mb=lim.memory_limit_mb,
            max_output=lim.max_output_bytes,
            stdin=stdin,
            nonce=nonce,
            **self._launch_fields(spec, "prog", harness, values=values, memory_mb=lim.memory_limit_mb),
            **extra,
        )
        result = self._limits_verdict(raw, lim.time_limit_ms, lim.memory_limit_mb, spec)
        status_kind, _, status_text = raw.status.partition(b"\n")
        if status_kind == f"{nonce} syntax".encode():  # reported before any program code ran
            result.verdict, result.message = (
                Verdict.COMPILE_ERROR,
                "the program does not compile (syntax error)",
            )
            return result
        if result.verdict is Verdict.RUNTIME_ERROR and not isinstance(kind, StdioTest):
            # The trusted side ran to a verdict of its own (exit 1): say what it found.
            text = status_text.decode("utf-8", "replace")
            if status_kind == f"{nonce} fail".encode():
                result.verdict, result.message = Verdict.WRONG_ANSWER, text or "assertion failed"
            elif status_kind in (f"{nonce} error".encode(), f"{nonce} lost".encode()):
                result.message = text + _program_exit(raw.info.get("program_status"))
        if result.verdict is not Verdict.ACCEPTED:
            return result
        if isinstance(kind, StdioTest):
            if test.checker.kind is CheckerKind.CUSTOM:
                return await self._custom_check(lease, test, kind, raw, result, checker_ready)
            ok, msg = compare_output(
                test.checker.kind.name,
                kind.expected_stdout,
                raw.stdout,
                test.checker.abs_tol,
                test.checker.rel_tol,
            )
        elif isinstance(kind, CallTest):
            prefix = f"{nonce} ok\n".encode()
            if not raw.status.startswith(prefix):
                ok, msg = False, "the function did not return (the program exited before the call finished)"
            else:
                ok, msg = compare_json(
                    kind.expected_json,
                    raw.status[len(prefix) :].decode("utf-8", "replace"),
                    test.checker.abs_tol,
                    test.checker.rel_tol,
                    tolerant=test.checker.kind is CheckerKind.FLOAT,
                )
        else:
            ok = raw.status == f"{nonce} ok\n".encode()
            msg = "" if ok else "the test code did not run to its end (the program exited early)"
        if not ok:
            result.verdict, result.message = Verdict.WRONG_ANSWER, msg
        return result

    def _limits_verdict(
        self, raw: RawRun, time_limit_ms: int, memory_limit_mb: int, spec: LanguageSpec | None = None
    ) -> TestResult:
        """Verdict from exit facts alone: ACCEPTED here means only "ran cleanly", output not yet checked."""
        info = raw.info
        result = TestResult(
            Verdict.ACCEPTED,
            time_ms=round(info["cpu_ms"]),
            wall_ms=round(info["wall_ms"]),
            memory_kb=int(info["program_kb"]),
            exit_code=info["exit_code"] if info["exit_code"] is not None else -info["signal"],
            signal=info["signal"],
            stdout=raw.stdout[:HEAD_BYTES],
            stderr=raw.stderr[:HEAD_BYTES],
        )
        sig = info["signal"]
        if info["oom_kills"] or info["over_memory"]:
            result.verdict, result.message = (
                Verdict.MEMORY_LIMIT_EXCEEDED,
                f"memory limit of {memory_limit_mb} MB exceeded (peak {info['program_kb'] / 1024:.1f} MiB)",
            )
        elif info["exceeded"]:
            result.verdict = Verdict.OUTPUT_LIMIT_EXCEEDED
            result.message = f"{info['exceeded']} exceeded the output limit"
        elif info["timed_out"]:
            result.verdict, result.message = Verdict.TIME_LIMIT_EXCEEDED, "wall-clock limit exceeded"
        elif info["cpu_ms"] > time_limit_ms or signal.SIGXCPU in (sig, _program_signal(info)):
            result.verdict, result.message = (
                Verdict.TIME_LIMIT_EXCEEDED,
                f"CPU time limit of {time_limit_ms} ms exceeded",
            )
        elif sig:
            result.verdict, result.message = (
                Verdict.RUNTIME_ERROR,
                f"killed by signal {signal.Signals(sig).name}",
            )
        elif info["exit_code"] != 0:
            result.verdict, result.message = Verdict.RUNTIME_ERROR, f"exit code {info['exit_code']}"
        if (
            result.verdict is Verdict.RUNTIME_ERROR
            and spec is not None
            and any(marker in raw.stderr for marker in spec.oom_markers)
        ):  # the runtime's own heap limit (-Xmx, V8's), set from the memory limit, was hit first
            result.verdict = Verdict.MEMORY_LIMIT_EXCEEDED
            result.message = f"memory limit of {memory_limit_mb} MB exceeded (the runtime ran out of heap)"
        return result

    async def _custom_check(
        self,
        lease: Lease,
        test: Test,
        kind: StdioTest,
        raw: RawRun,
        result: TestResult,
        ready: dict[str, str],
    ) -> TestResult:
        checker: Checker = test.checker
        spec = LANGUAGES[checker.language]
        key = f"{checker.language}\0{checker.source}"
        if key not in ready:
            checker_values = _source_values(spec, checker.source)
            src = spec.source_file.format(name="checker", **checker_values)
            await self._call(lease, {"op": "write", "files": [{"name": src}]}, [checker.source.encode()])
            ready[key] = ""
            if spec.compile_argv is not None:
                build = await self._build(
                    lease,
                    spec,
                    "checker",
                    self.settings.default_compile_time_limit_ms,
                    values=checker_values,
                    sources=[checker.source],
                )
                if not build.ok:
                    ready[key] = f"custom checker did not compile: {build.message}\n{build.output[:2000]}"
        if ready[key]:
            result.verdict, result.message = Verdict.SANDBOX_ERROR, ready[key]
            return result
        files = [
            ("input.txt", kind.stdin),
            ("expected.txt", kind.expected_stdout),
            ("actual.txt", raw.stdout),
        ]
        lim = self.settings
        check = await self._exec(
            lease,
            cpu_ms=lim.default_time_limit_ms * 5,
            wall_ms=lim.default_time_limit_ms * 10,
            memory_mb=lim.default_memory_limit_mb,
            max_output=1 << 20,
            files=files,
            nonce=secrets.token_hex(8),
            **self._launch_fields(
                spec,
                "checker",
                "checker",
                ["/box/input.txt", "/box/expected.txt", "/box/actual.txt"],
                values=_source_values(spec, checker.source),
                memory_mb=lim.default_memory_limit_mb,
            ),
        )
        code = check.info["exit_code"]
        note = (check.stdout + check.stderr)[:500].decode("utf-8", "replace").strip()
        if code == 0 and not check.info["signal"]:
            return result
        if code in (1, 2):  # testlib: 1 wrong answer, 2 presentation error
            result.verdict, result.message = Verdict.WRONG_ANSWER, note or "rejected by the checker"
        else:  # the checker itself failed: not the program's fault
            result.verdict = Verdict.SANDBOX_ERROR
            result.message = f"custom checker failed (exit {code}, signal {check.info['signal']}): {note}"
        return result


def _stops(task: CodeTask, outcome: Outcome) -> bool:
    """Whether no test after this one needs to run."""
    result, _, fatal = outcome
    return fatal or (task.stop_on_first_failure and result.verdict is not Verdict.ACCEPTED)


def _assemble(result: CodeResult, task: CodeTask, outcomes: list[Outcome | None]) -> None:
    """The per-test results, read in test order as the sequential path produces them: after the first
    failure with ``stop_on_first_failure`` SKIPPED, after a syntax error COMPILE_ERROR (outcomes
    past that point are never looked at, run or not)."""
    failed = False
    for i, _test in enumerate(task.tests):
        if failed and task.stop_on_first_failure:
            result.tests.append(TestResult(Verdict.SKIPPED))
            continue
        outcome = outcomes[i]
        assert outcome is not None, f"test {i} did not run"
        test_result, compile_output, fatal = outcome
        result.tests.append(test_result)
        if compile_output is not None:
            result.compile_output = compile_output
        failed = failed or test_result.verdict is not Verdict.ACCEPTED
        if fatal:
            result.tests += [
                TestResult(Verdict.COMPILE_ERROR, message=test_result.message) for _ in task.tests[i + 1 :]
            ]
            return
