"""All settings of the service in one place, read from ``SANDBOX_*`` environment variables.

Every key is documented where it is defined; CLI flags override the environment. Defaults are the
named constants below, so tests and docs can refer to them.
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_COMPILE_MEMORY_MB",
    "DEFAULT_COMPILE_TIME_LIMIT_MS",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_MEMORY_LIMIT_MB",
    "DEFAULT_RESULT_CACHE_ENTRIES",
    "DEFAULT_RESULT_CACHE_MB",
    "DEFAULT_TIME_LIMIT_MS",
    "Settings",
]

DEFAULT_TIME_LIMIT_MS = 2_000
DEFAULT_MEMORY_LIMIT_MB = 256
DEFAULT_MAX_OUTPUT_BYTES = 8 << 20
DEFAULT_COMPILE_TIME_LIMIT_MS = 20_000
DEFAULT_COMPILE_MEMORY_MB = 1024
DEFAULT_RESULT_CACHE_ENTRIES = 65_536
DEFAULT_RESULT_CACHE_MB = 256
DEFAULT_DEDUP_WAIT_MS = 500


def _default_pool_size() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Deployment settings. Environment: ``SANDBOX_<FIELD>`` (e.g. ``SANDBOX_POOL_SIZE=4``)."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", frozen=True, extra="forbid")

    # --- pool -----------------------------------------------------------------------------------
    pool_size: int = Field(default_factory=_default_pool_size, ge=1, le=256)
    """CPU slots per worker (runs using CPU at once) and the warm containers kept started; one sample
    uses one container at a time. Default: the cores."""
    warm_containers: int = Field(default=0, ge=0, le=1_000)
    """Containers started up front and kept (recycled ones are replaced, idle ones never removed);
    0 means ``pool_size``. More than ``pool_size`` lets a batch with sleeping tests start at full
    speed, at ~0.3 s of start-up per container (see README, CPU-aware admission)."""
    max_containers: int = Field(default=0, ge=0, le=1_000)
    """Most containers per worker: the pool grows past ``pool_size`` while tests sleep (see
    ``cpu_admission``). 0 means 16 per CPU slot (``container_limit``)."""
    pool_idle_s: float = Field(default=30.0, gt=0)
    """A container beyond the warm ones idle this long is removed."""
    pool_min_free_memory_mb: int = Field(default=2_048, ge=0)
    """The pool does not grow past ``pool_size`` while the host has less than this plus
    ``default_memory_limit_mb`` available."""
    cpu_admission: bool = True
    """Admit runs by CPU use: a run that sleeps (demand under ``cpu_idle_fraction`` of a core over a
    ``cpu_window_ms`` window) lends its CPU slot, and the pool takes another container. Off: every run
    holds its slot from start to end, so samples run at most ``pool_size`` at once."""
    cpu_window_ms: int = Field(default=100, ge=10, le=5_000)
    """How often the CPU demand (use + run-queue wait) of each running container is sampled. A
    sleeping run lends its slot after one to two windows."""
    cpu_idle_fraction: float = Field(default=0.1, gt=0, lt=1)
    """Demand below this fraction of one core over a window counts as sleeping; a run that waited
    for CPU this fraction of a window, or woke after lending its slot, is re-run alone if it then
    hits its wall-clock limit."""
    image: str = "sandbox-runtime"
    """Repository of the runtime image; the tag is the version computed from its inputs."""
    container_prefix: str = "sandbox-svc"
    """Name prefix and label value of our containers (start-up removes leftovers carrying it)."""
    max_uses: int = Field(default=500, ge=1)
    """A container is recycled after this many samples."""
    slow_reset_ms: float = Field(default=2_000.0, gt=0)
    """A post-run sweep slower than this recycles the container."""
    container_cpus: float = Field(default=1.0, gt=0)
    """CPU quota of each container (``--cpus``)."""
    pids_limit: int = Field(default=128, ge=16)
    """``--pids-limit`` of each container: bounds fork bombs."""
    tmpfs_mb: int = Field(default=64, ge=1)
    """Size cap of each writable tmpfs (/tmp, /work, /box)."""
    memory_overhead_mb: int = Field(default=48, ge=16)
    """Only where no per-run cgroup can be made (cgroup v2, cgroup files not writable): memory the agent
    and fork server get on top of a test's limit in the container's one cgroup. Elsewhere the agent's
    share is measured at container start and test processes are charged to a cgroup of their own."""
    seccomp_profile: bool = True
    """Run every container under our seccomp profile (``docker/seccomp.json``, see ``docker/seccomp.md``:
    no io_uring, ptrace, memfd, 32-bit syscalls, namespaces, bpf, ...). Off, Docker's default profile
    applies, which on Docker < 25 leaves io_uring open: only for measuring the profile's cost."""
    agent_start_timeout_s: float = Field(default=30.0, gt=0)
    """How long a new container's agent may take to connect."""
    agent_grace_ms: int = Field(default=5_000, ge=100)
    """Watchdog: extra time beyond a run's wall limit before the agent is declared lost."""
    debian_mirror: str = "http://deb.debian.org/debian"
    """Debian mirror debootstrap builds the base image from."""
    socket_dir: str = ""
    """Where host-side agent sockets live (default: a private temp dir per pool)."""

    # --- limits -----------------------------------------------------------------------------
    default_time_limit_ms: int = DEFAULT_TIME_LIMIT_MS
    """CPU time per test when a request leaves it unset."""
    default_memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB
    default_max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    default_compile_time_limit_ms: int = DEFAULT_COMPILE_TIME_LIMIT_MS
    compile_memory_mb: int = DEFAULT_COMPILE_MEMORY_MB
    """Memory for the compile step (compilers need more than most programs)."""
    max_time_limit_ms: int = 30_000
    """Largest CPU time per test a request may ask for."""
    max_wall_time_limit_ms: int = 60_000
    max_memory_limit_mb: int = 4_096
    max_max_output_bytes: int = 64 << 20
    max_compile_time_limit_ms: int = 60_000
    max_source_bytes: int = 1 << 20
    """Largest accepted program source."""
    max_tests: int = 1_000
    max_tests_bytes: int = 48 << 20
    """Largest total size of a request's test data."""

    # --- engine -----------------------------------------------------------------------------
    retries: int = Field(default=1, ge=0, le=5)
    """How often a sample is retried on a fresh container after an infrastructure failure."""
    python_fast_path: bool = True
    """Fork Python tests from a pre-started interpreter instead of exec'ing python3 each time."""

    # --- compile cache and fan-out (per worker) ------------------------------------------------
    compile_cache: bool = True
    """Keep build products (and compile errors with their diagnostics) and copy them into later
    samples' containers instead of compiling again (see ``compile_cache.py`` for what is kept)."""
    compile_cache_entries: int = Field(default=4_096, ge=0)
    """Most builds the compile cache keeps (least recently used out first)."""
    compile_cache_mb: int = Field(default=1_024, ge=0)
    """Most disk the compile cache's artifacts and diagnostics take, under a temp dir of its own."""
    compile_cache_dir: str = ""
    """Parent of the compile cache's temp dir (default: the system's temp dir)."""
    fanout_min_tests: int = Field(default=16, ge=0)
    """A sample with at least this many tests also runs them on idle containers of its worker (the
    program built once and copied in); 0 turns fan-out off."""
    fanout_max_containers: int = Field(default=0, ge=0, le=256)
    """Most containers one sample's tests run on at once; 0 means ``pool_size`` (the CPU slots)."""
    fanout_tests_per_container: int = Field(default=4, ge=1)
    """Fan out only so far that every container has at least this many tests to run."""

    # --- math verifier --------------------------------------------------------------------------
    math_processes: int = Field(default=0, ge=0, le=256)
    """Math worker processes per engine (verifications at once); 0 means one per CPU."""
    math_time_limit_ms: int = Field(default=1_000, ge=1, le=60_000)
    """Hard budget of one math verification; past it the worker is killed and the answer is false."""
    math_memory_limit_mb: int = Field(default=1_024, ge=128, le=16_384)
    """Address-space cap of each math worker process."""
    max_math_bytes: int = Field(default=1 << 20, ge=1_024)
    """Largest accepted math response (and ``gold`` up to 1/16 of it)."""

    # --- service (gRPC front end) ---------------------------------------------------------------
    host: str = "127.0.0.1"
    """Address the gRPC server binds to; localhost unless told otherwise (``0.0.0.0`` for all)."""
    port: int = Field(default=50051, ge=0, le=65535)
    """gRPC port (0 picks a free one)."""
    token: str = ""
    """Shared secret clients must send as ``authorization: Bearer <token>``; empty disables auth."""
    tls_cert: str = ""
    """PEM certificate chain file; with ``tls_key`` the server speaks TLS only."""
    tls_key: str = ""
    """PEM private key file of ``tls_cert``."""
    max_message_mb: int = Field(default=64, ge=1, le=1024)
    """Largest gRPC message either way; must exceed max_source_bytes + max_tests_bytes."""
    max_queue: int = Field(default=4_096, ge=1)
    """Admitted samples waiting for a worker; beyond it unary calls get RESOURCE_EXHAUSTED and
    streams stop reading (HTTP/2 flow control pushes back on the client)."""
    drain_timeout_s: float = Field(default=30.0, ge=0)
    """On shutdown, how long in-flight samples may take to finish before UNAVAILABLE."""
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Prometheus ``/metrics`` port on ``host``; 0 disables it."""
    http_port: int | None = Field(default=None, ge=0, le=65535)
    """HTTP door on ``host`` (OpenRLHF ``/get_reward``, SandboxFusion ``/run_code``) with the same
    token and TLS as gRPC; None (default) leaves it closed, 0 picks a free port."""

    result_cache: bool = True
    """Answer a request identical to one already scored (all but its ``id``) from memory, and let
    identical requests in flight wait for the first (``result_cache.py``: what is never cached and
    why). ``SANDBOX_RESULT_CACHE=0`` turns it off; so does a size of 0."""
    dedup_wait_ms: int = Field(default=DEFAULT_DEDUP_WAIT_MS, ge=0, le=600_000)
    """How long a request identical to one running (a *follower*) waits for that run (its *leader*)
    once the leader has a container, before it may run on its own: in ``score``'s engine once the
    leader is also seen sleeping (its CPU slot lent), through the service once the leader has also
    been out for the CPU time it may use (``dispatch``). A released follower is still answered by
    the leader if the leader ends cacheably before the follower got a container. The default
    (``DEFAULT_DEDUP_WAIT_MS``) is longer than nearly every RL program runs (a trivial Python test
    is ~50 ms in a warm container), so a GRPO group of short programs still runs once, while a
    duplicated sleeper costs about its wall limit plus this, not twice its wall limit."""
    result_cache_entries: int = Field(default=DEFAULT_RESULT_CACHE_ENTRIES, ge=0)
    """Most answers the result cache keeps (least recently used go first)."""
    result_cache_mb: int = Field(default=DEFAULT_RESULT_CACHE_MB, ge=0)
    """Most memory the result cache's answers take, in MiB."""

    front_ends: int = Field(default=1, ge=1, le=64)
    """Front-end processes ``serve`` runs over the one worker fleet, sharing the gRPC (and HTTP)
    port with ``SO_REUSEPORT``; each admits its 1/N share of every worker's credits. Add one when a
    front end's process nears a full core (README: how many samples/s one holds)."""
    front_end_namespace: str = ""
    """Set by ``serve`` for its extra front ends: the Ray namespace of the worker actors they
    attach to (they never spawn or stop workers). Leave unset."""
    front_end_index: int = Field(default=0, ge=0, le=63)
    """Set by ``serve`` for its extra front ends (1, 2, ...): the metrics port is offset by it."""

    # --- sessions (stateful interpreters, service Sessions) ------------------------------------
    session_max_per_worker: int = Field(default=64, ge=0, le=1_000)
    """Live sessions one worker holds at most (one container each); past it OpenSession is
    RESOURCE_EXHAUSTED on that worker (the front end tries the others), never queued."""
    session_warm: int = Field(default=2, ge=0, le=256)
    """Idle containers each worker keeps ready for new sessions (taken ones are replaced at once)."""
    session_idle_timeout_s: int = Field(default=300, ge=1)
    """A session unused this long is closed and its container removed (``idle_timeout_s`` unset)."""
    session_max_idle_timeout_s: int = Field(default=3_600, ge=1)
    session_lifetime_s: int = Field(default=3_600, ge=1)
    """A session is closed this long after it opened (``max_lifetime_s`` unset)."""
    session_max_lifetime_s: int = Field(default=86_400, ge=1)
    session_memory_limit_mb: int = Field(default=1_024, ge=16)
    """Memory of a session's interpreter and everything it starts, together."""
    session_cell_time_limit_ms: int = Field(default=10_000, ge=1)
    """CPU time per cell when the session leaves it unset."""
    session_cell_wall_time_limit_ms: int = Field(default=30_000, ge=1)
    session_max_output_bytes: int = Field(default=256 << 10, ge=1_024)
    """Per stream per cell (and the display); past it the cell is interrupted, its output cut."""
    session_interrupt_grace_ms: int = Field(default=1_000, ge=10)
    """A cell over its limit gets SIGINT; still running after this, its interpreter is killed."""
    session_reap_interval_s: float = Field(default=1.0, gt=0)
    """How often a worker looks for idle and expired sessions."""
    session_max_files_bytes: int = Field(default=16 << 20, ge=0)
    """Largest total size of ``OpenSessionRequest.files``."""

    # --- Ray distribution -------------------------------------------------------------------------
    ray_address: str = ""
    """Ray cluster to join (``auto`` or ``host:port``); empty starts a local Ray in-process."""
    ray_join_timeout_s: float = Field(default=10.0, gt=0)
    """How long joining ``ray_address`` may wait for its GCS to answer; past it, or if the cluster
    refuses this process's Ray token (``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN``), ``serve`` stops saying so."""
    worker_resource: str = "sandbox"
    """Custom Ray resource marking sandbox nodes; its amount on a node is that worker's pool size."""
    worker_start_timeout_s: float = Field(default=120.0, gt=0)
    """A worker not placed and started within this time is reported and given up on."""
    worker_prefetch: int = Field(default=8, ge=0, le=64)
    """Samples per container a worker may hold beyond its busy ones (hides the Ray hop). A busy
    worker is refilled once half of that is used up, so chunks stay large under load."""
    worker_batch_ms: float = Field(default=50.0, ge=0, le=1_000)
    """While a worker has a backlog, answers finishing within this window go back together (one
    Ray object); a chunk's last answer, and every answer once the backlog runs low, go at once."""
    dispatch_batch_ms: float = Field(default=2.0, ge=0, le=100)
    """While some chunk is out, the front end lets newly admitted samples gather this long before
    sending the next chunk, so a busy front end makes few large Ray calls instead of one per
    sample (each call costs the front end and the worker far more than a sample in it). 0: send
    at once."""
    max_chunk: int = Field(default=64, ge=1, le=4096)
    """Most samples sent to a worker in one Ray call."""
    dispatch_retries: int = Field(default=2, ge=0, le=10)
    """How often a sample whose worker died is re-queued before it is answered SANDBOX_ERROR."""
    stats_interval_s: float = Field(default=2.0, gt=0)
    """How often worker pool statistics are collected and lost nodes' workers are re-spawned."""

    @property
    def result_cache_on(self) -> bool:
        """Whether the result cache is in use (on, and neither bound 0)."""
        return self.result_cache and self.result_cache_entries > 0 and self.result_cache_mb > 0

    @property
    def warm(self) -> int:
        """Containers kept started: ``warm_containers``, or ``pool_size``."""
        return min(self.warm_containers or self.pool_size, self.container_limit)

    @property
    def container_limit(self) -> int:
        """Most containers per worker: ``max_containers``, or 16 per CPU slot (at least ``pool_size``)."""
        limit = self.max_containers or min(1_000, 16 * self.pool_size)
        return max(limit, self.pool_size)
