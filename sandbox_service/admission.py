"""CPU-aware admission of runs: cores go to the runs that use CPU, not to whoever holds a container.

A worker has ``slots`` CPU slots (``Settings.pool_size``, one per core by default). Every process run
(a test, a compile, a custom checker) takes a slot before it starts. A monitor samples the CPU
*demand* of each running container every ``cpu_window_ms``: the CPU time it used plus the time its
threads sat runnable on a run queue, both from the host (the container's cpuacct cgroup and
``/proc/<tid>/schedstat``; no daemon call), and whether one of its threads is runnable right now
(``/proc/<tid>/stat``). A run whose demand over a window is under ``cpu_idle_fraction`` of one core,
with no thread runnable, is *sleeping* (``time.sleep``, a blocked read, a deadlock): its slot is lent
to the next run, and the pool takes another warm container so the cores stay busy.

Fairness: the runs that hold slots are never more than ``slots``, and they outrank everyone else of
ours: a lent run's container gets the lowest CPU weight (``cpu.shares`` 2 against 1024), so when it
wakes it cannot take CPU from them; it asks for a slot instead and gets one before any new run does.
Once its wall limit has passed, its weight is a slot's again, so its agent gets a core to kill it on
time (within a window) rather than after whatever the slot holders leave.
CPU limits stay exact (the agent counts CPU time). A run that woke after its slot was lent, or that
waited for CPU for a noticeable part of a window (``cpu_idle_fraction``), is *exposed*: its wall
clock may have run while it could not. If an exposed run ends on the wall-clock limit (within its
CPU limit), the runner runs it again holding its slot throughout (``hold``), as if alone on a core,
and that is the verdict. Runs that sleep and never wake (the usual timeout) are not exposed and run
once.

Where a container has no readable CPU cgroup or no writable weight, its runs hold their slot
throughout (the behaviour before lending). With ``Settings.cpu_admission`` off, every run does.
All methods run on one asyncio event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SHARES_LENT", "SHARES_SLOT", "CpuAdmission", "CpuProbe", "Ticket", "find_cpu_probe"]

#: CPU weight (``cpu.shares``) of a container whose run holds a slot, and of one whose run was lent.
SHARES_SLOT = 1024
SHARES_LENT = 2
_CGROUP = Path("/sys/fs/cgroup")
_log = logging.getLogger(__name__)


@dataclass
class CpuProbe:
    """Where the host reads one container's CPU use and sets its CPU weight.

    cgroup v1: ``cpuacct.usage`` (ns), ``tasks`` and ``cpu.shares``; v2: ``cpu.stat`` (usage_usec),
    ``cgroup.threads`` and ``cpu.weight`` (shares / 1024 * 100, clamped to 1..10000).
    """

    usage_file: Path
    threads_file: Path
    weight_file: Path | None
    v2: bool = False
    service_tids: frozenset[int] = frozenset()  # the container's own (init, agent, fork server)
    _weight: int = SHARES_SLOT

    def mark_service(self) -> None:
        """Note the threads the container runs between tests (init, agent, fork server)."""
        self.service_tids = frozenset(int(t) for t in self.threads_file.read_text().split())

    def usage_ns(self) -> int:
        if not self.v2:
            return int(read_small(str(self.usage_file)))
        for line in read_small(str(self.usage_file)).splitlines():
            key, _, value = line.partition(b" ")
            if key == b"usage_usec":
                return int(value) * 1000
        return 0

    def wait_ns(self, seen: dict[int, int], service: bool = True, state: bool = True) -> tuple[int, bool]:
        """(run-queue wait of the container's threads since ``seen``, whether one is runnable now).

        ``seen`` is updated in place (new threads count from their start, exited ones drop out);
        ``service=False`` leaves out the container's own threads; ``state=False`` does not look
        whether one is runnable (one read less per thread; the second figure is then False). The
        kernel adds a wait to a thread's figure only once it runs again, so a thread starved right
        now shows no wait yet: its state (R, runnable) says it.
        """
        total = 0
        runnable = False
        now: dict[int, int] = {}
        for tid_b in read_small(str(self.threads_file)).split():
            tid = int(tid_b)
            if not service and tid in self.service_tids:
                continue
            try:
                waited = int(read_small(f"/proc/{tid}/schedstat").split()[1])
                stat = read_small(f"/proc/{tid}/stat") if state and not runnable else b""
            except OSError:
                continue  # exited since the listing
            now[tid] = waited
            total += max(0, waited - seen.get(tid, 0))
            runnable = runnable or (bool(stat) and stat.rpartition(b")")[2].split()[0] == b"R")
        seen.clear()
        seen.update(now)
        return total, runnable

    @property
    def shares_set(self) -> int:
        """The CPU weight last set (``SHARES_SLOT`` until lent)."""
        return self._weight

    def set_shares(self, shares: int) -> None:
        if self.weight_file is None or shares == self._weight:
            return
        value = max(1, min(10_000, shares * 100 // 1024)) if self.v2 else shares
        self.weight_file.write_text(str(value))
        self._weight = shares


def read_small(path: str) -> bytes:
    """A small /proc or cgroup file (the monitor reads ~10 per run per window: no pathlib, no text
    layer; a third of the CPU of ``Path.read_text``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = b""
        while chunk := os.read(fd, 65536):  # to the end: a tasks list may be long (a fork bomb's)
            data += chunk
        return data
    finally:
        os.close(fd)


def find_cpu_probe(init_pid: int) -> CpuProbe | None:
    """The CPU probe of the container whose init has host pid ``init_pid`` (None: none readable)."""
    try:
        lines = Path(f"/proc/{init_pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    cpu_dir = acct_dir = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",")
        if controllers == "" and (_CGROUP / "cgroup.controllers").exists():  # v2
            base = _CGROUP / path.lstrip("/")
            weight = base / "cpu.weight"
            if not (base / "cpu.stat").exists():
                return None
            return CpuProbe(
                base / "cpu.stat",
                base / "cgroup.threads",
                weight if weight.exists() and os.access(weight, os.W_OK) else None,
                v2=True,
            )
        # v1 mounts cpu and cpuacct together (cpu,cpuacct) or apart: find each by its own name.
        mount = _CGROUP / controllers
        if "cpuacct" in names:
            acct_dir = mount / path.lstrip("/")
        if "cpu" in names:
            cpu_dir = mount / path.lstrip("/")
    if acct_dir is None or not (acct_dir / "cpuacct.usage").exists():
        return None
    shares = cpu_dir / "cpu.shares" if cpu_dir is not None else None
    return CpuProbe(
        acct_dir / "cpuacct.usage",
        acct_dir / "tasks",
        shares if shares is not None and shares.exists() and os.access(shares, os.W_OK) else None,
    )


class State(enum.Enum):
    WAITING = "waiting"  # for its first slot
    SLOT = "slot"  # holds a slot: counts against the cores
    LENT = "lent"  # sleeping; its slot went to another run
    DONE = "done"


@dataclass(eq=False)
class Ticket:
    """One run's place in the admission: its state, and whether its wall clock can be trusted."""

    probe: CpuProbe | None
    hold: bool
    kind: str = "run"  # "run" (a test, compile or checker) or "cell" (a session's cell)
    deadline_ns: int = 1 << 62  # monotonic ns at which its wall limit has passed for sure
    state: State = State.WAITING
    exposed: bool = False  # woke after its slot was lent, or waited for CPU: see the module doc
    woke: bool = False  # lent and asking for a slot back
    due: bool = False  # lent and past its wall limit: its weight is a slot's again (see sample)
    lent_times: int = 0
    last_window: tuple[int, int, int] = (0, 0, 0)  # ns used, waited, elapsed in the last window
    _future: asyncio.Future[None] | None = None
    _last_t: int = 0  # monotonic ns of the last sample (0: none yet)
    _last_usage: int = 0
    _waits: dict[int, int] = field(default_factory=dict)

    @property
    def lent(self) -> bool:
        """Its slot is lent: it sleeps (or woke and waits for a slot back)."""
        return self.state is State.LENT

    @property
    def may_lend(self) -> bool:
        return not self.hold and self.probe is not None and self.probe.weight_file is not None


class CpuAdmission:
    """CPU slots of one worker and the monitor that lends the slots of sleeping runs.

    Args:
        slots: runs that may use CPU at once (the cores).
        window_s: the monitor's sampling window.
        idle_fraction: demand under this fraction of a core over a window is sleeping; a run that
            waited this fraction of a window for CPU is exposed.
        lending: False makes every run hold its slot throughout.
        on_change: called after slots were lent or given back (the pool grows on it).
    """

    def __init__(
        self,
        slots: int,
        window_s: float = 0.1,
        idle_fraction: float = 0.1,
        lending: bool = True,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.slots = slots
        self.window_s = window_s
        self.idle_fraction = idle_fraction
        self.lending = lending
        self.on_change = on_change
        self.held = 0  # runs holding a slot now
        self._queue: deque[Ticket] = deque()  # new runs waiting for a slot, first come first served
        self._woken: deque[Ticket] = deque()  # lent runs that want CPU again: served before new ones
        self._active: set[Ticket] = set()
        self._has_active = asyncio.Event()
        self._monitor: asyncio.Task[None] | None = None
        self._closed = False
        # figures for stats(): totals since start
        self.max_held = 0
        self.admitted = 0
        self.lent_total = 0
        self.woke_total = 0
        self.reruns = 0

    # -- the run's side ----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(
        self, probe: CpuProbe | None, hold: bool = False, wall_ms: float | None = None, kind: str = "run"
    ) -> AsyncIterator[Ticket]:
        """``async with admission.slot(probe) as ticket:`` around one run; always given back.

        ``wall_ms``: the run's wall limit, counted from when the slot is granted (a little before the
        agent starts the program, so a little early). ``kind``: ``"run"`` or ``"cell"`` (a session's
        cell: the same rules, counted apart in ``stats``).
        """
        ticket = Ticket(probe, hold=hold or not self.lending, kind=kind)
        await self._admit(ticket)
        if wall_ms is not None:
            ticket.deadline_ns = time.monotonic_ns() + int(wall_ms * 1e6)
        try:
            yield ticket
        finally:
            self._finish(ticket)

    async def _admit(self, ticket: Ticket) -> None:
        if self.held < self.slots and not self._queue and not self._woken:
            self._take(ticket)
            return
        ticket._future = asyncio.get_running_loop().create_future()
        self._queue.append(ticket)
        try:
            await ticket._future
        except BaseException:
            if ticket.state is State.WAITING:
                self._queue.remove(ticket)
            else:  # granted as we were cancelled: give it back
                self._finish(ticket)
            raise

    def _take(self, ticket: Ticket) -> None:
        self._baseline(ticket)
        ticket.state = State.SLOT
        self.held += 1
        self.max_held = max(self.max_held, self.held)
        self.admitted += 1
        self._active.add(ticket)
        self._has_active.set()
        if self._monitor is None and not self._closed:
            self._monitor = asyncio.get_running_loop().create_task(self._watch())

    def _finish(self, ticket: Ticket) -> None:
        if ticket.state is State.SLOT:
            self.held -= 1
        elif ticket.state is State.LENT:
            if ticket.woke:
                self._woken.remove(ticket)
            self._set_shares(ticket, SHARES_SLOT)
        ticket.state = State.DONE
        self._active.discard(ticket)
        self._fill()

    def _fill(self) -> None:
        """Hand free slots out: to woken lent runs first, then to new runs in arrival order."""
        changed = False
        while self.held < self.slots:
            if self._woken:
                ticket = self._woken.popleft()
                ticket.woke = False
                ticket.state = State.SLOT
                self.held += 1
                self.max_held = max(self.max_held, self.held)
                self._set_shares(ticket, SHARES_SLOT)
            elif self._queue:
                ticket = self._queue.popleft()
                self._take(ticket)
                assert ticket._future is not None
                ticket._future.set_result(None)
            else:
                break
            changed = True
        if changed and self.on_change is not None:
            self.on_change()

    @staticmethod
    def _baseline(ticket: Ticket) -> None:
        """The run's first look, taken as it gets its slot: the monitor's next look can judge it."""
        probe = ticket.probe
        if probe is None or not ticket.may_lend:
            return
        try:
            usage = probe.usage_ns()
            probe.wait_ns(ticket._waits, state=False)  # every run's path: only the figures it keeps
        except (OSError, ValueError, IndexError):
            return  # the monitor's first look takes it
        ticket._last_t, ticket._last_usage = time.monotonic_ns(), usage

    # -- the monitor -------------------------------------------------------------------------
    async def _watch(self) -> None:
        while not self._closed:
            if not self._active:
                self._has_active.clear()
                await self._has_active.wait()
            await asyncio.sleep(self.window_s)
            try:
                self.sample()
            except Exception:  # a bug here must not stop the monitor: runs then just keep their state
                _log.exception("CPU admission monitor failed on one sample")

    def sample(self) -> None:
        """One look at every running run (the monitor calls this each window)."""
        lent = False
        now = time.monotonic_ns()
        for ticket in list(self._active):
            probe = ticket.probe
            if probe is None or ticket.state is State.DONE:
                continue
            if ticket.state is State.SLOT and 0 < now - ticket._last_t < self.window_s * 5e8:
                continue  # granted under half a window ago (see _baseline): the next look judges it
            try:
                usage = probe.usage_ns()
                # A lent run's container has the lowest weight: there the agent's own polls wait
                # long on a busy machine, which is no demand of the program's.
                waited, runnable = probe.wait_ns(ticket._waits, service=ticket.state is State.SLOT)
            except (OSError, ValueError, IndexError):
                continue  # the container is going away; its run ends on its own
            if ticket._last_t == 0:  # first look: the baseline
                ticket._last_t, ticket._last_usage = now, usage
                continue
            span = now - ticket._last_t
            used = usage - ticket._last_usage
            ticket._last_t, ticket._last_usage = now, usage
            ticket.last_window = (used, waited, span)
            if span <= 0:
                continue
            bar = self.idle_fraction * span
            demand = used + waited
            wants = demand >= bar or runnable
            if ticket.state is State.SLOT:
                if not wants and ticket.may_lend:
                    ticket.state = State.LENT
                    ticket.lent_times += 1
                    self.held -= 1
                    self.lent_total += 1
                    self._set_shares(ticket, SHARES_LENT)
                    lent = True
            elif ticket.state is State.LENT and now >= ticket.deadline_ns:
                # Past its wall limit: the agent in that container must run now to stop it, and at
                # the lowest weight on a busy host it waited up to seconds for a core (a sleeper's
                # TIME_LIMIT_EXCEEDED came 1.5 s late). The program is being killed; what it does
                # from here on counts for nothing.
                if not ticket.due:
                    ticket.due = True
                    self._set_shares(ticket, SHARES_SLOT)
            elif ticket.state is State.LENT:
                # (Past its wall limit the agent kills it, which wakes every program: no demand.)
                if waited >= bar:
                    ticket.exposed = True  # at the lowest weight it wanted a core and did not get one
                if wants and not ticket.woke:
                    ticket.woke = True
                    self.woke_total += 1
                    self._woken.append(ticket)
                elif not wants and ticket.woke:  # asleep again before it got a slot
                    ticket.woke = False
                    self._woken.remove(ticket)
        self._fill()
        for ticket in self._woken:  # awake, and every slot is taken: its wall clock runs, it cannot
            ticket.exposed = True
        if lent and self.on_change is not None:
            self.on_change()

    def _set_shares(self, ticket: Ticket, shares: int) -> None:
        if ticket.probe is None:
            return
        try:
            ticket.probe.set_shares(shares)
        except OSError:
            # Cannot lower its weight: it must not compete unranked, so it keeps its slot from now on.
            ticket.probe.weight_file = None
            if ticket.state is State.LENT and shares == SHARES_LENT:
                ticket.state = State.SLOT
                self.held += 1
                self.lent_total -= 1

    # -- figures -----------------------------------------------------------------------------
    @property
    def lent(self) -> int:
        """Runs whose slot is lent (their containers are held, their cores are not)."""
        return sum(1 for t in self._active if t.state is State.LENT)

    def stats(self) -> dict[str, Any]:
        lent = self.lent
        cells = [t for t in self._active if t.kind == "cell"]
        return {
            "cells": len(cells),  # of "running": session cells in progress
            "cells_cpu_bound": sum(1 for t in cells if t.state is State.SLOT),
            "cells_sleeping": sum(1 for t in cells if t.state is State.LENT and not t.woke),
            "slots": self.slots,
            "running": len(self._active),
            "cpu_bound": self.held,
            "sleeping": lent - len(self._woken),
            "woken": len(self._woken),
            "waiting": len(self._queue),
            "max_cpu_bound": self.max_held,
            "admitted": self.admitted,
            "lent": self.lent_total,
            "woke": self.woke_total,
            "reruns": self.reruns,
        }

    async def close(self) -> None:
        self._closed = True
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
