"""Every exception the service raises, rooted at one base class.

A program's failure is never an exception: it is a verdict in the result. These are for bad
requests and broken infrastructure. Each maps to the gRPC status it becomes at the wire::

    SandboxServiceError                 (INTERNAL)
    ├── InvalidRequest                  (INVALID_ARGUMENT)  names the offending field
    ├── Overloaded                      (RESOURCE_EXHAUSTED) retryable back-pressure
    ├── ShuttingDown                    (UNAVAILABLE)        retryable
    ├── NotFound                        (NOT_FOUND)          unknown, closed or expired session
    └── InfrastructureError             (INTERNAL; as a result: SANDBOX_ERROR)
        ├── ImageError                  the runtime image is missing or stale
        ├── DockerUnavailable           no Docker engine answers
        ├── AgentLost                   a container's agent died, hung or spoke nonsense
        └── RayUnavailable              `serve --ray-address`: no cluster there, or it refuses us
"""

from __future__ import annotations

import grpc

__all__ = [
    "AgentLost",
    "DockerUnavailable",
    "ImageError",
    "InfrastructureError",
    "InvalidRequest",
    "NotFound",
    "Overloaded",
    "RayUnavailable",
    "SandboxServiceError",
    "ShuttingDown",
]


class SandboxServiceError(Exception):
    """Base of every error raised by this package."""

    grpc_status = grpc.StatusCode.INTERNAL


class InvalidRequest(SandboxServiceError):
    """The request itself is wrong; ``field`` is the path of the offending field."""

    grpc_status = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Overloaded(SandboxServiceError):
    """The admission queue is full; retry with backoff."""

    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class ShuttingDown(SandboxServiceError):
    """The service is draining; retry elsewhere or later."""

    grpc_status = grpc.StatusCode.UNAVAILABLE


class NotFound(SandboxServiceError):
    """No such session: never opened, closed, expired, or lost with its worker."""

    grpc_status = grpc.StatusCode.NOT_FOUND


class InfrastructureError(SandboxServiceError):
    """The sandbox failed, not the program. Surfaces to users as ``SANDBOX_ERROR``."""


class ImageError(InfrastructureError):
    """The runtime image is missing or does not match this version of the runners."""


class DockerUnavailable(InfrastructureError):
    """The Docker engine cannot be reached."""


class AgentLost(InfrastructureError):
    """A container's agent died, timed out, or broke the protocol; the container is recycled."""


class RayUnavailable(InfrastructureError):
    """The Ray cluster to join does not answer, or refuses this process's authentication."""
