"""A worker's cache of build products: a program compiled once is copied into later containers.

The runner asks ``CompileCache.build(key, limit_ms, make)``; on a miss ``make`` compiles in the
caller's container and reads the artifact back out of ``/box`` (the agent copied it there after the
compiler exited, before the program could run); later samples with the same key get the same bytes
written into their own ``/box``. Containers never share files: the bytes travel through the host.

The key (``key()``) hashes everything the artifact depends on: the image version (which fixes the
toolchain and the harness files), the language row, the compile command as run (flags, file and
class names), the compile memory limit, and every file written for the build with its content (the
program, an assertion test's code and harness). An assertion build embeds a per-build nonce (its
harness writes it to fd 3 when the test code ran to its end); its key is taken over the files with
the nonce still a placeholder, and the entry keeps the nonce it was built with.

What is cached, and why that cannot be poisoned: only rows whose compile step leaves an artifact
(compilers: C, C++, Go, Rust, Java, C#, TypeScript), which run no code of the program's at build
time (single-file builds: no build scripts, proc-macro crates, cgo or annotation processors;
constexpr and templates run inside the compiler). Check-only steps (``node --check``, ``ruby -c``,
``perl -c``, which runs ``BEGIN`` blocks, ...) are never cached: they leave nothing and cost little.
A build that succeeded, and a build that failed with the compiler's own exit status (COMPILE_ERROR
with its diagnostics), are kept; a build that ran out of time or memory, or was killed by a signal,
is not (a re-run may end differently). An entry answers a later request only when its build's CPU
time fits that request's compile time limit (else it is built again, and may time out as it would
have without the cache).

Bounds: at most ``max_entries`` entries and ``max_bytes`` bytes (artifacts and diagnostics), least
recently used out first, on disk under a private temp dir (mode 0700, named after the owning pid)
the cache removes at ``close``; a worker killed without closing (``ray.kill``) leaves its dir, which
the next cache started in the same parent dir removes, as the pool does with socket dirs. Identical
builds already under way are waited for, not run twice. One asyncio loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil

__all__ = ["DIR_PREFIX", "Build", "CompileCache"]

#: Name prefix of a cache's dir: ``sandbox-ccache-<owner pid>-<random>``.
DIR_PREFIX = "sandbox-ccache-"


@dataclass(frozen=True)
class Build:
    """One build's outcome.

    Attributes:
        ok: the artifact was produced.
        output: the compiler's diagnostics (what ``CodeResult.compile_output`` shows).
        message: why it failed ("" when ``ok``).
        cpu_ms: the build's CPU time (an entry serves only requests whose compile limit it fits).
        cacheable: the outcome would be the same on a re-run (see the module doc).
        nonce: the nonce compiled into an assertion build ("" for others).
        artifact: the artifact's bytes (``None`` when not ``ok``).
    """

    ok: bool
    output: str
    message: str
    cpu_ms: float
    cacheable: bool
    nonce: str = ""
    artifact: bytes | None = None


@dataclass
class _Entry:
    build: Build  # without its artifact: that lives in a file
    size: int


class CompileCache:
    """Build products of one worker, bounded, on disk.

    Args:
        salt: the image version (every key includes it).
        max_entries: most entries kept.
        max_bytes: most bytes kept (artifacts plus diagnostics); a larger single build is not kept.
        directory: parent of the cache's private temp dir (default: the system's).
    """

    def __init__(self, salt: str, max_entries: int, max_bytes: int, directory: str = "") -> None:
        self.salt = salt
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.root = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir=directory or None))
        os.chmod(self.root, 0o700)
        for stale in self.root.parent.glob(f"{DIR_PREFIX}*"):  # of owners killed without closing
            pid = stale.name[len(DIR_PREFIX) :].split("-")[0]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._building: dict[str, asyncio.Future[Build]] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.waits = 0  # served by an identical build that was under way
        self.evictions = 0
        self.stale = 0  # entries whose build took longer than the asking request's limit
        self._closed = False

    def key(self, *parts: str | bytes) -> str:
        """A key over ``parts`` (length-prefixed, so no two different lists hash alike) and the salt."""
        h = hashlib.sha256()
        for part in (self.salt, *parts):
            data = part.encode() if isinstance(part, str) else part
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
        return h.hexdigest()

    async def build(
        self, key: str, limit_ms: float, make: Callable[[], Awaitable[Build]]
    ) -> tuple[Build, bool]:
        """The build of ``key``: cached, waited for, or made now by ``make``.

        Returns ``(build, made)``: ``made`` is True when ``make`` ran here (its artifact is in the
        caller's container already); otherwise the caller copies ``build.artifact`` in. Exceptions of
        ``make`` propagate (nothing is cached); a waiter whose builder failed builds itself.
        """
        while True:
            entry = self._entries.get(key)
            if entry is not None:
                if entry.build.cpu_ms <= limit_ms:
                    found = self._load(key, entry)
                    if found is not None:
                        self.hits += 1
                        return found, False
                else:
                    self.stale += 1
                break
            pending = self._building.get(key)
            if pending is None:
                break
            try:
                found = await asyncio.shield(pending)
            except Exception:
                continue  # the builder failed (its sandbox, not the program): try again
            if found.cpu_ms <= limit_ms and found.cacheable:
                self.waits += 1
                return found, False
            break
        self.misses += 1
        future: asyncio.Future[Build] = asyncio.get_running_loop().create_future()
        self._building.setdefault(key, future)
        try:
            made = await make()
        except BaseException as exc:
            if self._building.get(key) is future:
                del self._building[key]
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: waiters may be none
            else:
                future.cancel()
            raise
        if self._building.get(key) is future:
            del self._building[key]
        future.set_result(made)
        if made.cacheable:
            self._store(key, made)
        return made, True

    def _load(self, key: str, entry: _Entry) -> Build | None:
        if not entry.build.ok:
            self._entries.move_to_end(key)
            return entry.build
        try:
            data = (self.root / key).read_bytes()
        except OSError:
            data = None
        if data is None or len(data) + len(entry.build.output) != entry.size:
            self._drop(key)  # gone or cut short: build again
            return None
        self._entries.move_to_end(key)
        return replace(entry.build, artifact=data)

    def _store(self, key: str, made: Build) -> None:
        if self._closed:
            return
        size = len(made.output) + (len(made.artifact) if made.artifact is not None else 0)
        if size > self.max_bytes or self.max_entries == 0:
            return
        self._drop(key)
        if made.ok:
            assert made.artifact is not None
            tmp = self.root / f"{key}.tmp"
            try:
                tmp.write_bytes(made.artifact)
                tmp.rename(self.root / key)
            except OSError:
                tmp.unlink(missing_ok=True)
                return
        self._entries[key] = _Entry(replace(made, artifact=None), size)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.evictions += 1

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.bytes -= entry.size
        if entry.build.ok:
            (self.root / key).unlink(missing_ok=True)

    def stats(self) -> dict[str, Any]:
        return {
            "entries": len(self._entries),
            "bytes": self.bytes,
            "hits": self.hits,
            "misses": self.misses,
            "waits": self.waits,
            "evictions": self.evictions,
            "stale": self.stale,
        }

    def close(self) -> None:
        """Forget every entry and remove the directory; safe to call twice."""
        self._closed = True
        self._entries.clear()
        self.bytes = 0
        shutil.rmtree(self.root, ignore_errors=True)
