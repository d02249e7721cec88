"""The seccomp profile every sandbox container runs under, and the version operators can check.

The profile is ``docker/seccomp.json``: Docker's default profile (pinned by version) with io_uring, the
32-bit entry points, ptrace, memfd, rare socket families and everything opened by a capability taken
out. ``docker/seccomp.md`` lists what is denied and why; ``scripts/gen-seccomp`` derives the file from
Docker's.

Docker takes a profile as its JSON *content* in ``security_opt`` (``seccomp=<json>``), not a path; the
CLI reads the file for its user, the API does not. Each container also carries the profile's version in
the label ``sandbox-service.seccomp`` (``docker inspect`` shows both), and ``ListLanguages`` reports it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from .errors import ImageError
from .images import _docker_dir

__all__ = ["DOCKER_DEFAULT", "SECCOMP_LABEL", "SeccompOptions", "profile_version", "seccomp_options"]

SECCOMP_LABEL = "sandbox-service.seccomp"
DOCKER_DEFAULT = "docker-default"
"""The label value and reported version when ``Settings.seccomp_profile`` is off."""
PROFILE_FILE = "seccomp.json"


@dataclass(frozen=True)
class SeccompOptions:
    """What a container is started with: extra ``security_opt`` entries and the label value."""

    security_opt: tuple[str, ...]
    version: str


@functools.cache
def _load() -> tuple[str, str]:
    path = _docker_dir() / PROFILE_FILE
    try:
        raw = path.read_bytes()
        profile = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read the seccomp profile {path}: {exc}") from exc
    if profile.get("defaultAction") != "SCMP_ACT_ERRNO" or not profile.get("syscalls"):
        raise ImageError(f"{path} is not an allow-list seccomp profile")
    version = hashlib.sha256(raw).hexdigest()[:16]
    return version, json.dumps(profile, separators=(",", ":"))


def profile_version() -> str:
    """First 16 hex digits of the profile file's sha256 (``sha256sum docker/seccomp.json``)."""
    return _load()[0]


def seccomp_options(enabled: bool) -> SeccompOptions:
    """Our profile, or (``enabled=False``, for measuring its cost) Docker's default one.

    Raises:
        ImageError: the profile file is missing or unreadable.
    """
    if not enabled:
        return SeccompOptions(security_opt=(), version=DOCKER_DEFAULT)
    version, content = _load()
    return SeccompOptions(security_opt=(f"seccomp={content}",), version=version)
