"""Bounded math verification: ``grade`` in killable worker processes.

A ``signal.alarm`` cannot stop work stuck in C code and only works on the main thread, so every
verification runs in a separate interpreter (``python -m sandbox_service.mathcheck.child``) under an
address-space cap, and the parent kills it when the time budget runs out. The case is then graded
false ("timeout"), a fresh process takes the slot, and nothing ever waits past the budget::

    with MathVerifier(processes=2, time_limit_s=1.0) as verifier:
        result = verifier.verify(response, gold)      # thread-safe; ``await verifier.averify(...)``

``verify()`` in this package is the same on a shared default verifier, for trainers without a server.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import TracebackType

from .compare import MathGrade
from .extract import extract_answer

__all__ = ["MathVerifier", "VerifierError", "shutdown", "verify"]

READY_TIMEOUT_S = 60.0


class VerifierError(RuntimeError):
    """The verifier itself failed (a worker process could not start or died unexpectedly)."""


class _Slot:
    def __init__(self, memory_limit_mb: int) -> None:
        env = dict(os.environ, SANDBOX_MATH_MEMORY_MB=str(memory_limit_mb), PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox_service.mathcheck.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.stdout = self.proc.stdout
        line = self._readline(READY_TIMEOUT_S)
        if line != b"ready\n":
            self.kill()
            raise VerifierError(f"math worker did not start (said {line!r})")

    def _readline(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self.stdout], [], [], max(0.0, timeout))
        if not ready:
            return None
        return self.stdout.readline()

    def ask(self, payload: bytes, timeout: float) -> bytes | None:
        """Send one job; the answer line, or None when the budget ran out (the process is killed)."""
        self.stdin.write(payload)
        self.stdin.flush()
        line = self._readline(timeout)
        if line is None:
            self.kill()
        return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.stdin, self.stdout):
            try:
                pipe.close()
            except OSError:  # a dead reader: the unflushed job is gone with it
                pass


class MathVerifier:
    """A pool of math worker processes with a hard time budget and memory cap per verification.

    Args:
        processes: worker processes (verifications that can run at once).
        time_limit_s: budget per verification; past it the worker is killed and the case is false.
        memory_limit_mb: address-space cap of each worker process.
    """

    def __init__(self, processes: int = 1, time_limit_s: float = 1.0, memory_limit_mb: int = 1024) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.time_limit_s = time_limit_s
        self.memory_limit_mb = memory_limit_mb
        self._idle: queue.Queue[_Slot | None] = queue.Queue()
        self._slots: set[_Slot] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.timeouts = 0
        for _ in range(processes):
            self._add(_Slot(memory_limit_mb))

    def _add(self, slot: _Slot) -> None:
        with self._lock:
            if self._closed:
                slot.kill()
                return
            self._slots.add(slot)
        self._idle.put(slot)

    def _replace(self, dead: _Slot) -> None:
        with self._lock:
            self._slots.discard(dead)

        def start() -> None:
            try:
                self._add(_Slot(self.memory_limit_mb))
            except (OSError, VerifierError):
                self._idle.put(None)  # wakes a waiter, which reports the failure

        threading.Thread(target=start, name="math-worker-restart", daemon=True).start()

    def verify(
        self, response: str, gold: str, choices: Sequence[str] = (), time_limit_s: float | None = None
    ) -> MathGrade:
        """Grade ``response`` against ``gold`` within the budget (thread-safe, blocking); a
        ``time_limit_s`` given here overrides the verifier's for this call."""
        budget_s = self.time_limit_s if time_limit_s is None else time_limit_s
        if self._closed:
            raise VerifierError("verifier is closed")
        payload = json.dumps({"r": response, "g": gold, "c": list(choices)}).encode() + b"\n"
        slot = self._idle.get()
        if slot is None:
            raise VerifierError("a math worker process could not be restarted")
        try:
            line = slot.ask(payload, budget_s)
        except OSError as exc:
            slot.kill()
            self._replace(slot)
            raise VerifierError(f"math worker failed: {exc}") from exc
        if line is None:
            self.timeouts += 1
            self._replace(slot)
            answer = extract_answer(response).answer or ""
            return MathGrade(
                False, answer, "", "", f"timeout: verification exceeded its {budget_s * 1000:.0f} ms budget"
            )
        if not line:
            slot.kill()
            self._replace(slot)
            raise VerifierError("math worker process died")
        self._idle.put(slot)
        data = json.loads(line)
        if "error" in data:
            return MathGrade(False, "", "", "", data["error"])
        return MathGrade(**data)

    async def averify(self, response: str, gold: str, choices: Sequence[str] = ()) -> MathGrade:
        """``verify`` without blocking the event loop."""
        return await asyncio.to_thread(self.verify, response, gold, choices)

    def close(self) -> None:
        """Kill every worker process; safe to call twice."""
        with self._lock:
            self._closed = True
            slots, self._slots = list(self._slots), set()
        for slot in slots:
            slot.kill()

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_default: MathVerifier | None = None
_default_lock = threading.Lock()


def verify(response: str, gold: str, choices: Sequence[str] = (), time_limit_s: float = 1.0) -> MathGrade:
    """Grade one response in-process (no server) on a shared, bounded verifier.

    The first call starts one worker process per CPU; they live until ``shutdown()`` or exit.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = MathVerifier(processes=max(1, os.cpu_count() or 1))
    return _default.verify(response, gold, choices, time_limit_s)


@atexit.register
def shutdown() -> None:
    """Stop the worker processes of ``verify()`` (they are started again on the next call)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
            _default = None
