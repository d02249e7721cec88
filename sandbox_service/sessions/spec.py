"""What a session request means, checked once by the same rules on both sides of the Ray hop."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from ..errors import InvalidRequest
from ..v1 import sandbox_pb2 as pb
from ..wire import bounded_limit

__all__ = ["MAX_KEY_CHARS", "OpenSpec", "check_cell", "open_spec"]

_MB = 1 << 20
MAX_KEY_CHARS = 512
MAX_LABELS = 64
MAX_FILES = 1_000
MAX_PATH_CHARS = 1_024


@dataclass(frozen=True)
class OpenSpec:
    """An ``OpenSessionRequest`` with every default resolved."""

    key: str
    memory_bytes: int
    cell_time_limit_ms: int
    cell_wall_time_limit_ms: int
    max_output_bytes: int
    idle_timeout_s: int
    max_lifetime_s: int
    labels: dict[str, str]
    setup_code: str
    files: list[tuple[str, bytes]]


def _check_path(field: str, path: str) -> None:
    if not path:
        raise InvalidRequest(field, "empty path")
    if len(path) > MAX_PATH_CHARS or "\0" in path:
        raise InvalidRequest(field, "not a usable path")
    if path.startswith("/") or any(part == ".." for part in path.split("/")):
        raise InvalidRequest(field, f"{path!r} must be relative to the work dir and stay inside it")
    if path.endswith("/") or all(part in ("", ".") for part in path.split("/")):
        raise InvalidRequest(field, f"{path!r} names a directory, not a file")


def open_spec(req: pb.OpenSessionRequest, s: Settings) -> OpenSpec:
    """Validate an ``OpenSessionRequest`` (``InvalidRequest`` naming the field) and resolve defaults."""
    if req.language not in ("", "python"):
        raise InvalidRequest("language", f"sessions run python only, not {req.language!r}")
    if len(req.key) > MAX_KEY_CHARS:
        raise InvalidRequest("key", f"longer than {MAX_KEY_CHARS} characters")
    lim = req.limits
    memory_mb = bounded_limit(
        "limits.memory_limit_mb", lim.memory_limit_mb, s.session_memory_limit_mb, s.max_memory_limit_mb
    )
    cpu = bounded_limit(
        "limits.cell_time_limit_ms", lim.cell_time_limit_ms, s.session_cell_time_limit_ms, s.max_time_limit_ms
    )
    wall = bounded_limit(
        "limits.cell_wall_time_limit_ms",
        lim.cell_wall_time_limit_ms,
        s.session_cell_wall_time_limit_ms,
        s.max_wall_time_limit_ms,
    )
    out = bounded_limit(
        "limits.max_output_bytes", lim.max_output_bytes, s.session_max_output_bytes, s.max_max_output_bytes
    )
    idle = bounded_limit(
        "idle_timeout_s", req.idle_timeout_s, s.session_idle_timeout_s, s.session_max_idle_timeout_s
    )
    life = bounded_limit("max_lifetime_s", req.max_lifetime_s, s.session_lifetime_s, s.session_max_lifetime_s)
    if len(req.labels) > MAX_LABELS:
        raise InvalidRequest("labels", f"more than {MAX_LABELS} labels")
    for k, v in req.labels.items():
        if not k or len(k) > MAX_KEY_CHARS or len(v) > MAX_KEY_CHARS:
            raise InvalidRequest(
                f"labels[{k[:40]!r}]", f"label names are 1-{MAX_KEY_CHARS} chars, values up to that"
            )
    if len(req.setup_code.encode()) > s.max_source_bytes:
        raise InvalidRequest("setup_code", f"larger than {s.max_source_bytes} bytes")
    if len(req.files) > MAX_FILES:
        raise InvalidRequest("files", f"more than {MAX_FILES} files")
    total = 0
    files = []
    for i, f in enumerate(req.files):
        _check_path(f"files[{i}].path", f.path)
        total += len(f.content)
        files.append((f.path, f.content))
    if total > s.session_max_files_bytes:
        raise InvalidRequest(
            "files", f"{total} bytes in all, over the maximum of {s.session_max_files_bytes}"
        )
    return OpenSpec(
        key=req.key,
        memory_bytes=memory_mb * _MB,
        cell_time_limit_ms=cpu,
        cell_wall_time_limit_ms=wall,
        max_output_bytes=out,
        idle_timeout_s=idle,
        max_lifetime_s=life,
        labels=dict(req.labels),
        setup_code=req.setup_code,
        files=files,
    )


def check_cell(req: pb.RunCellRequest, s: Settings) -> None:
    """Validate a ``RunCellRequest`` (the session's own bounds are checked where it lives)."""
    if not req.session_id:
        raise InvalidRequest("session_id", "required")
    if len(req.code.encode()) > s.max_source_bytes:
        raise InvalidRequest("code", f"larger than {s.max_source_bytes} bytes")
    if req.time_limit_ms > s.max_time_limit_ms:
        raise InvalidRequest(
            "time_limit_ms", f"{req.time_limit_ms} is over this deployment's maximum of {s.max_time_limit_ms}"
        )
