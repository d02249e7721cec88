"""Admission and dispatch: the front end's bounded queue and its credit-based feed of Ray workers.

Every admitted sample is a ``Job`` with a future. A pump sends jobs to workers in chunks: a worker
holds at most ``pool_size * (1 + worker_prefetch)`` samples (its credits), a chunk is as many as it has
credit for (up to ``max_chunk``), and credits come back as each answer streams in. A worker that dies
has its unanswered jobs put back at the head of the queue; a job re-queued more than
``dispatch_retries`` times is answered ``SANDBOX_ERROR``. Workers are one per node offering the
``worker_resource``; the monitor re-spawns lost ones, picks up new nodes and collects pool stats.

With the result cache on (``Settings.result_cache``), ``admit`` answers a request identical to one
already scored at once (``cached=true``), and one identical to a request still running waits for it
(a *follower* of that *leader*) instead of taking a worker. A leader whose answer may be cached
answers its followers too; one whose answer may not (``result_cache.why_uncacheable``) sends each
follower to run on its own, all at once; a cancelled leader hands its place to its first follower.
Followers wait for their leader only ``Settings.dedup_wait_ms`` past the CPU time it may use (its
CPU limit on every test, plus the compile limit where it compiles) after it went to a worker: a
leader still running then is not using CPU all along (it sleeps or blocks), so its followers are
*released* and queued on their own (a duplicated sleeper costs its wall limit once, not twice), while
a CPU-bound leader is waited for to its end (copies would only take cores). A released follower
still in the queue when its leader ends cacheably takes the leader's answer. (The front end cannot
see whether a worker's run sleeps; the embedded engine can, and releases on that: ``engine``.)

Runs on one asyncio loop (the gRPC server's) and talks to Ray through awaitable object refs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from runners.languages import resolve

from .config import Settings
from .errors import InfrastructureError, Overloaded, ShuttingDown
from .images import VERSION_LABEL
from .metrics import ServiceMetrics
from .models import CodeTask, Limits, Verdict
from .result_cache import ResultCache, cache_key, from_cache, stored_form, why_uncacheable
from .v1 import sandbox_pb2 as pb
from .wire import sandbox_error_response, task_from_proto
from .worker import CANCELLED, remote_worker_class

__all__ = ["Dispatcher", "WorkerHandle"]

log = logging.getLogger(__name__)
_VERDICT_NAMES = {v.value: v.name for v in Verdict} | {0: "VERDICT_UNSPECIFIED"}


@dataclass(eq=False)
class Job:
    key: int
    request: pb.ScoreRequest
    payload: bytes
    language: str
    future: asyncio.Future[pb.ScoreResponse]
    admitted: float
    attempts: int = 0
    dispatched: float = 0.0
    worker: WorkerHandle | None = None
    # result cache (all unset when it is off)
    cache_key: bytes | None = None
    version: str = ""  # the fleet's image version the key was made with
    limits: Limits | None = None
    leader: Job | None = None  # a follower: the identical job it waits for
    followers: list[Job] = field(default_factory=list)
    released: list[Job] = field(default_factory=list)  # followers queued on their own (dedup_wait_ms)
    release_at: float = 0.0  # a leader: when its followers stop waiting (0: not dispatched yet)
    cpu_budget_s: float = 0.0  # a leader: the most CPU time it may use (see _cpu_budget_s)


@dataclass(eq=False)
class WorkerHandle:
    name: str
    node_id: str
    actor: Any
    pool_size: int
    credits: int
    inflight: dict[int, Job] = field(default_factory=dict)
    alive: bool = True
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def free(self) -> int:
        return self.credits - len(self.inflight) if self.alive else 0

    @property
    def image_version(self) -> str:
        """The runtime image version the worker runs ("?" if it did not say)."""
        return str(self.info.get("image_labels", {}).get(VERSION_LABEL, "?"))

    def wants(self) -> int:
        """How many samples to send now: everything it has credit for when a container may be
        idle, else nothing until half its prefetch is used up (large chunks, few Ray calls)."""
        free = self.free
        if free <= 0:
            return 0
        if len(self.inflight) < self.pool_size or free >= max(1, (self.credits - self.pool_size) // 2):
            return free
        return 0


class Dispatcher:
    """Queue, workers and the pump between them.

    Args:
        settings: the deployment's settings.
        metrics: where to count (a private set if omitted).
    """

    def __init__(self, settings: Settings, metrics: ServiceMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or ServiceMetrics()
        self.worker_class: Any = remote_worker_class
        """Makes the Ray actor class of a worker (benchmarks put a test double here)."""
        self.metrics.watch(lambda: len(self._queue), lambda: self.in_flight, lambda: len(self.workers))
        self.workers: dict[str, WorkerHandle] = {}
        self.unplaced: dict[str, str] = {}  # node id -> why its worker could not be started
        self._queue: collections.deque[Job] = collections.deque()
        self._keys = itertools.count(1)
        self._names = itertools.count(1)
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._spawning: set[str] = set()
        self._pump_task: asyncio.Task[None] | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        self.draining = False
        self._closed = False
        self.cache: ResultCache | None = None
        if settings.result_cache_on:
            self.cache = ResultCache(settings.result_cache_entries, settings.result_cache_mb << 20)
            self.metrics.watch_cache(self.cache)
        self._leaders: dict[bytes, Job] = {}  # cache key -> the job running it
        self._following = 0  # followers waiting for a leader
        self._chunks_running = 0  # Ray calls whose answers are still streaming in
        # Several front ends (Settings.front_ends): the first spawns named workers in a namespace of
        # its own; the others attach to them by name. Each uses a 1/N share of every worker's credits.
        self.share = settings.front_ends
        self.attached = bool(settings.front_end_namespace)
        self.namespace = settings.front_end_namespace or (
            f"sandbox-{uuid.uuid4().hex[:12]}" if settings.front_ends > 1 else ""
        )
        self._actor_names: set[str] = set()
        self.image_version = ""  # the workers' runtime image version(s), part of every cache key

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Spawn a worker on every node offering the resource; fails if none could be started.
        An attached front end (``Settings.front_end_namespace``) attaches to the first's instead."""
        if self.attached:
            await self._attach()
            if not self.workers:
                raise InfrastructureError(
                    f"no sandbox worker to attach to in Ray namespace {self.namespace!r}"
                )
            self._pump_task = asyncio.create_task(self._pump())
            self._monitor_task = asyncio.create_task(self._monitor())
            return
        nodes = await self._sandbox_nodes()
        if not nodes:
            raise InfrastructureError(
                f"no Ray node offers the {self.settings.worker_resource!r} resource: start sandbox nodes "
                f"with ray start --address=... --resources='{{\"{self.settings.worker_resource}\": N}}'"
            )
        await asyncio.gather(*(self.spawn(node_id, amount) for node_id, amount in nodes.items()))
        if not self.workers:
            raise InfrastructureError(
                "no sandbox worker could be started: " + "; ".join(self.unplaced.values())
            )
        self._pump_task = asyncio.create_task(self._pump())
        self._monitor_task = asyncio.create_task(self._monitor())

    async def _sandbox_nodes(self) -> dict[str, int]:
        import ray

        res = self.settings.worker_resource
        nodes = await asyncio.to_thread(ray.nodes)
        return {
            n["NodeID"]: int(n["Resources"][res])
            for n in nodes
            if n.get("Alive") and n.get("Resources", {}).get(res, 0) >= 1
        }

    def _credits(self, pool_size: int) -> int:
        """This front end's share of a worker's credits."""
        return max(1, pool_size * (1 + self.settings.worker_prefetch) // self.share)

    async def _attach(self) -> None:
        """Attach to the named workers of ``namespace`` not yet known (an attached front end)."""
        import ray
        from ray.util import list_named_actors

        found = await asyncio.to_thread(list_named_actors, all_namespaces=True)
        for entry in found:
            actor_name = entry["name"]
            if entry["namespace"] != self.namespace or actor_name in self._actor_names:
                continue
            try:
                actor = await asyncio.to_thread(ray.get_actor, actor_name, self.namespace)
                info: dict[str, Any] = await asyncio.wait_for(actor.info.remote(), 30)
            except Exception as exc:  # gone meanwhile, or not started yet: the next round retries
                log.info("not attaching to worker %s yet: %s", actor_name, _short(exc))
                continue
            self._actor_names.add(actor_name)
            name = str(info["name"])
            pool_size = int(info["pool_size"])
            self.workers[name] = WorkerHandle(
                name=name,
                node_id=str(info["node_id"]),
                actor=actor,
                pool_size=pool_size,
                credits=self._credits(pool_size),
                info=info,
            )
            self._fleet_changed()
            log.info("attached to worker %s (%d containers)", name, pool_size)
            self._wake.set()

    async def spawn(self, node_id: str, amount: int, resource: str | None = None) -> WorkerHandle | None:
        """Start a worker pinned to ``node_id`` holding ``amount`` of the resource (= its pool size).

        A worker that is not placed and started within ``worker_start_timeout_s`` is killed and
        reported in ``unplaced``; returns ``None`` then.
        """
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        resource = resource or self.settings.worker_resource
        name = f"w{next(self._names)}"
        settings = self.settings.model_copy(update={"pool_size": amount})
        self._spawning.add(node_id)
        named = {"name": name, "namespace": self.namespace} if self.namespace else {}
        actor = (
            self.worker_class()
            .options(
                resources={resource: amount},
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
                **named,
            )
            .remote(settings, name)
        )
        try:
            info = await asyncio.wait_for(actor.start.remote(), self.settings.worker_start_timeout_s)
        except Exception as exc:  # timeout, actor died, Docker or image missing on that node
            if isinstance(exc, TimeoutError):
                why = (
                    f"worker {name} for node {node_id[:12]} was not placed and started within "
                    f"{self.settings.worker_start_timeout_s:.0f}s (does the node still have "
                    f"{amount} free {resource!r}?)"
                )
            else:
                why = f"worker {name} for node {node_id[:12]} failed to start: {_short(exc)}"
            log.error("%s", why)
            self.unplaced[node_id] = why
            await self._kill(actor)
            return None
        finally:
            self._spawning.discard(node_id)
        if self._closed:
            await self._kill(actor, graceful=True)
            return None
        name = str(info["name"])
        handle = WorkerHandle(
            name=name,
            node_id=node_id,
            actor=actor,
            pool_size=amount,
            credits=self._credits(amount),
            info=info,
        )
        self.unplaced.pop(node_id, None)
        self.workers[name] = handle
        self._fleet_changed()
        log.info("worker %s started on node %s with %d containers", name, node_id[:12], amount)
        self._wake.set()
        return handle

    async def _kill(self, actor: Any, graceful: bool = False) -> None:
        import ray

        if graceful:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(actor.close.remote(), 60)
        with contextlib.suppress(Exception):
            ray.kill(actor)

    async def drain(self, timeout: float | None = None) -> bool:
        """Refuse new work; wait until every admitted sample is answered. False on timeout."""
        self.draining = True
        self._room.set()  # wake streams waiting for room: they now learn we are shutting down
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Answer what is left with ``ShuttingDown``, stop the workers (removing their containers)."""
        self.draining = True
        self._closed = True
        for task in (self._pump_task, self._monitor_task):
            if task is not None:
                task.cancel()
        for leader in list(self._leaders.values()):
            for job in leader.followers:
                self._fail(job, ShuttingDown("the service is shutting down"))
            leader.followers = []
        self._following = 0
        for job in list(self._queue):
            self._fail(job, ShuttingDown("the service is shutting down"))
        self._queue.clear()
        for w in self.workers.values():
            for job in list(w.inflight.values()):
                self._fail(job, ShuttingDown("the service is shutting down"))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        workers = list(self.workers.values())
        self.workers.clear()
        if not self.attached:  # the first front end owns the workers; the others only leave them
            await asyncio.gather(*(self._kill(w.actor, graceful=True) for w in workers))

    # -- admission ---------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Queued samples no worker has credit for yet: what ``max_queue`` bounds. Jobs the pump
        is about to hand to a worker with free credits are not waiting (several calls can be
        admitted in one loop turn, before the pump runs)."""
        return max(0, len(self._queue) - sum(w.free for w in self.workers.values()))

    @property
    def in_flight(self) -> int:
        return sum(len(w.inflight) for w in self.workers.values())

    def admit(self, request: pb.ScoreRequest) -> Job:
        """Validate and queue one request (``InvalidRequest``, ``Overloaded``, ``ShuttingDown``)."""
        if self.draining:
            raise ShuttingDown("the service is shutting down; retry on another instance")
        task = task_from_proto(request, self.settings)
        payload = request.SerializeToString()
        key = None
        if self.cache is not None:
            key = cache_key(payload, request.id, self.image_version)
            hit = self.cache.get(key)
            if hit is not None:
                return self._answered_from_cache(request, task.language, hit)
            leader = self._leaders.get(key)
            if leader is not None and leader.release_at and time.monotonic() >= leader.release_at:
                # Its leader has run past the wait already: queued on its own at once.
                self._check_room()
                job = self._job(request, payload, task.language)
                self.cache.deduplicated += 1
                self.cache.released += 1
                self._run_released(leader, job)
                return job
            if leader is not None:
                if self._following >= self.settings.max_queue:
                    raise Overloaded(
                        f"{self._following} requests already wait for identical ones; retry with backoff"
                    )
                job = self._job(request, payload, task.language)
                job.leader = leader
                leader.followers.append(job)
                self._following += 1
                self.cache.deduplicated += 1
                self._idle.clear()
                return job
        self._check_room()
        job = self._job(request, payload, task.language)
        if key is not None:
            job.cache_key, job.version = key, self.image_version
            job.limits = getattr(task, "limits", None)
            job.cpu_budget_s = _cpu_budget_s(task)
            self._leaders[key] = job
        self._enqueue(job)
        return job

    def _check_room(self) -> None:
        if self.waiting >= self.settings.max_queue:
            raise Overloaded(f"queue full ({self.settings.max_queue} samples waiting); retry with backoff")

    def _enqueue(self, job: Job) -> None:
        self._queue.append(job)
        self._idle.clear()
        self._wake.set()

    def _job(self, request: pb.ScoreRequest, payload: bytes, language: str) -> Job:
        return Job(
            key=next(self._keys),
            request=request,
            payload=payload,
            language=language,
            future=asyncio.get_running_loop().create_future(),
            admitted=time.monotonic(),
        )

    def _answered_from_cache(self, request: pb.ScoreRequest, language: str, data: bytes) -> Job:
        job = self._job(request, b"", language)
        self._resolve_from(job, data)
        return job

    def _resolve_from(self, job: Job, data: bytes) -> None:
        """Answer ``job`` with a stored answer (a hit, or its leader's)."""
        if job.future.done():
            return
        now = time.monotonic()
        response = from_cache(data, job.request.id, (now - job.admitted) * 1000.0)
        self.metrics.sample(_VERDICT_NAMES[response.verdict], job.language).inc()
        self.metrics.latency.observe(now - job.admitted)
        job.future.set_result(response)

    def _fleet_changed(self) -> None:
        """Workers came or went: the image version(s) every new cache key is made with."""
        versions = {w.image_version for w in self.workers.values()}
        self.image_version = ",".join(sorted(versions))

    def _run_released(self, leader: Job, job: Job) -> None:
        """Queue ``job``, identical to ``leader``, on its own (keyed, so a cacheable answer is kept),
        still answerable by ``leader`` while it waits in the queue."""
        _on_its_own(job, leader)
        leader.released.append(job)
        self._enqueue(job)

    def _release(self, job: Job) -> None:
        """``job``'s wait is up (``dedup_wait_ms`` after it went to a worker): its followers run."""
        if self._closed or job.cache_key is None or self._leaders.get(job.cache_key) is not job:
            return
        followers, job.followers = job.followers, []
        self._following -= len(followers)
        for f in followers:
            if not f.future.done():
                assert self.cache is not None
                self.cache.released += 1
                self._run_released(job, f)
        self._settled()

    def _leader_done(self, job: Job, response: pb.ScoreResponse | None) -> None:
        """``job`` (keyed) has its answer (None: it was cancelled or failed): cache it if it may be,
        and settle its followers."""
        assert self.cache is not None and job.cache_key is not None
        key = job.cache_key
        if self._leaders.get(key) is job:
            del self._leaders[key]
        followers, job.followers = job.followers, []
        self._following -= len(followers)
        data = None
        if response is not None:
            reason = why_uncacheable(response, job.limits)
            ran_on = job.worker.image_version if job.worker else ""
            if reason is None and ran_on != job.version:
                reason = "image_changed"  # the fleet's image moved under it: not this key's answer
            if reason is None:
                data = stored_form(response)
                self.cache.put(key, data)
            else:
                self.cache.skipped(reason)
        released, job.released = job.released, []
        if data is not None:
            for f in followers:
                self._resolve_from(f, data)
            for f in released:  # still queued: answered; already on a worker: it finishes its run
                if f.worker is None and not f.future.done():
                    with contextlib.suppress(ValueError):
                        self._queue.remove(f)
                    self._resolve_from(f, data)
            self._settled()
            return
        live = [f for f in followers if not f.future.done()]
        if response is None and live:  # cancelled: the first follower runs in its place
            heir, rest = live[0], live[1:]
            _on_its_own(heir, job)
            heir.followers = rest
            for f in rest:
                f.leader = heir
            self._following += len(rest)
            self._leaders[key] = heir
            self._queue.append(heir)
        else:  # not cacheable: every follower runs on its own (keyed, so a cacheable answer is kept)
            for f in live:
                _on_its_own(f, job)
                self._queue.append(f)
        if live:
            self._idle.clear()
            self._wake.set()

    async def admit_when_room(self, request: pb.ScoreRequest) -> Job:
        """Like ``admit`` but waits for room in the queue instead of raising ``Overloaded``."""
        while True:
            try:
                return self.admit(request)
            except Overloaded:
                self._room.clear()
                await self._room.wait()

    async def score(self, request: pb.ScoreRequest) -> pb.ScoreResponse:
        """Admit one request and wait for its answer; cancelling the wait cancels the sample."""
        job = self.admit(request)
        return await self.wait(job)

    async def wait(self, job: Job) -> pb.ScoreResponse:
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            self.cancel(job)
            raise

    def cancel(self, job: Job) -> None:
        """Withdraw a job: dropped if queued, stopped (its container recycled) if running."""
        if job.future.done():
            return
        job.future.cancel()
        if job.leader is not None:  # a follower: it only leaves its leader's list
            with contextlib.suppress(ValueError):
                job.leader.followers.remove(job)
                self._following -= 1
            job.leader = None
            self._settled()
            return
        if job.cache_key is not None:
            self._leader_done(job, None)
        if job.worker is None:
            with contextlib.suppress(ValueError):
                self._queue.remove(job)
        else:
            w = job.worker
            if w.inflight.pop(job.key, None) is not None and w.alive:
                ref = w.actor.cancel.remote([job.key])
                self._spawn_task(self._swallow(ref))
        self._settled()

    # -- the pump ----------------------------------------------------------------------------
    async def _pump(self) -> None:
        window = self.settings.dispatch_batch_ms / 1000.0
        wait_s = self.settings.dedup_wait_ms / 1000.0
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if window > 0 and self._chunks_running and len(self._queue) < self.settings.max_chunk:
                # Work is already out: let arrivals gather for a moment so they go in one Ray call
                # (a call costs the front end and the worker far more than a sample in it does).
                await asyncio.sleep(window)
                self._wake.clear()
            while self._queue:
                worker = max(self.workers.values(), key=lambda w: w.wants(), default=None)
                if worker is None or worker.wants() <= 0:
                    break
                n = min(worker.wants(), len(self._queue), self.settings.max_chunk)
                now = time.monotonic()
                chunk = []
                for _ in range(n):
                    job = self._queue.popleft()
                    job.worker = worker
                    job.dispatched = now
                    worker.inflight[job.key] = job
                    chunk.append(job)
                    if job.cache_key is not None and not job.release_at:
                        wait = wait_s + job.cpu_budget_s
                        job.release_at = now + wait
                        loop.call_later(wait, self._release, job)
                self._spawn_task(self._run_chunk(worker, chunk))
            if self.waiting < self.settings.max_queue:
                self._room.set()

    async def _run_chunk(self, worker: WorkerHandle, jobs: list[Job]) -> None:
        error: BaseException | None = None
        self._chunks_running += 1
        try:
            stream = worker.actor.run.remote([(j.key, j.payload) for j in jobs])
            async for ref in stream:
                for key, data in await ref:
                    job = worker.inflight.pop(key, None)
                    if job is not None and data != CANCELLED:
                        self._answer(job, data)
                self._settled()
                self._wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the actor died, or Ray could not reach it
            error = exc
        finally:
            self._chunks_running -= 1
        # Whatever this chunk did not answer goes back to the queue (or fails, out of retries).
        lost = [j for j in jobs if worker.inflight.get(j.key) is j]
        for job in lost:
            del worker.inflight[job.key]
        if error is not None and worker.alive:
            self._worker_lost(worker, error)
        if lost:
            reason = _short(error) if error is not None else "the worker ended the chunk early"
            for job in reversed(lost):
                self._requeue(job, f"worker {worker.name} lost: {reason}")
        self._settled()
        self._wake.set()

    def _worker_lost(self, worker: WorkerHandle, error: BaseException) -> None:
        worker.alive = False
        self.workers.pop(worker.name, None)
        self._fleet_changed()
        self.metrics.worker_deaths.inc()
        self.metrics.worker_snapshot(worker.name, None)
        log.error("worker %s lost: %s", worker.name, _short(error))
        if not self.attached:
            self._spawn_task(self._kill(worker.actor))
        # Its other chunks notice on their own; the monitor re-spawns a worker for the node.

    def _requeue(self, job: Job, reason: str) -> None:
        if job.future.done():
            return
        job.attempts += 1
        job.worker = None
        if job.attempts > self.settings.dispatch_retries:
            self._answer(job, sandbox_error_response(job.request, reason).SerializeToString())
            return
        self.metrics.requeued.inc()
        self._queue.appendleft(job)

    def _answer(self, job: Job, data: bytes) -> None:
        if job.future.done():
            return
        response = pb.ScoreResponse.FromString(data)
        response.id = job.request.id
        now = time.monotonic()
        front_queue_ms = ((job.dispatched or now) - job.admitted) * 1000.0
        response.timing.queue_ms += round(front_queue_ms)
        response.timing.total_ms = round((now - job.admitted) * 1000.0)
        self.metrics.sample(_VERDICT_NAMES[response.verdict], job.language).inc()
        self.metrics.latency.observe(now - job.admitted)
        self.metrics.queue_latency.observe(response.timing.queue_ms / 1000.0)
        job.future.set_result(response)
        if job.cache_key is not None:
            self._leader_done(job, response)

    def _fail(self, job: Job, exc: BaseException) -> None:
        if not job.future.done():
            job.future.set_exception(exc)
            job.future.exception()  # retrieved: a caller that left must not cause a warning

    def _settled(self) -> None:
        if not self._queue and not self._following and not any(w.inflight for w in self.workers.values()):
            self._idle.set()

    # -- monitor -----------------------------------------------------------------------------
    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval_s)
            try:
                await self._check_workers()
            except Exception as exc:  # keep monitoring whatever one round hits
                log.warning("worker monitor: %s", _short(exc))

    async def _check_workers(self) -> None:
        for w in list(self.workers.values()):
            try:
                stats = await asyncio.wait_for(w.actor.stats.remote(), 10)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if w.alive and not isinstance(exc, TimeoutError):
                    self._worker_lost(w, exc)
                continue
            self.metrics.worker_snapshot(w.name, stats)
        if self.draining:
            return
        if self.attached:  # workers the first front end re-spawned or added
            await self._attach()
            return
        served = {w.node_id for w in self.workers.values()} | self._spawning
        for node_id, amount in (await self._sandbox_nodes()).items():
            if node_id not in served:
                self._spawn_task(self.spawn(node_id, amount))

    # -- helpers -----------------------------------------------------------------------------
    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _swallow(ref: Any) -> None:
        with contextlib.suppress(Exception):
            await ref


def _on_its_own(job: Job, leader: Job) -> None:
    """``job``, identical to ``leader``, no longer follows it: it runs keyed as ``leader`` is, so a
    cacheable answer of its own is kept."""
    job.leader, job.cache_key, job.version, job.limits = None, leader.cache_key, leader.version, leader.limits


def _cpu_budget_s(task: object) -> float:
    """The most CPU time ``task`` may use (0 for math): its CPU limit on every test, plus the
    compile limit for a language that compiles. Past it in wall time, a run is not CPU-bound."""
    if not isinstance(task, CodeTask):
        return 0.0
    limits = task.limits
    spec = resolve(task.language)
    compile_ms = limits.compile_time_limit_ms if spec is not None and spec.compile_argv else 0
    return (limits.time_limit_ms * len(task.tests) + compile_ms) / 1000.0


def _short(exc: BaseException | None) -> str:
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown"
    first = text.strip().splitlines()[0] if text.strip() else text
    return first[:300]
