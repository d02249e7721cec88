"""Reward service for RL on code and math: honest verdicts from hardened Docker sandboxes.

The few names users touch are re-exported here::

    from sandbox_service import Engine, Settings, pb

    async with Engine(Settings(pool_size=2)) as engine:
        response = await engine.score(request)   # pb.ScoreRequest -> pb.ScoreResponse

    with Client("127.0.0.1:50051") as client:    # a running `sandbox-service serve`
        response = client.score(request)
"""

from .client import AsyncClient, Client
from .config import Settings
from .engine import Engine
from .errors import (
    AgentLost,
    DockerUnavailable,
    ImageError,
    InfrastructureError,
    InvalidRequest,
    Overloaded,
    SandboxServiceError,
    ShuttingDown,
)
from .models import CheckerKind, Verdict
from .v1 import sandbox_pb2 as pb

__all__ = [
    "AgentLost",
    "AsyncClient",
    "CheckerKind",
    "Client",
    "DockerUnavailable",
    "Engine",
    "ImageError",
    "InfrastructureError",
    "InvalidRequest",
    "Overloaded",
    "SandboxServiceError",
    "Settings",
    "ShuttingDown",
    "Verdict",
    "pb",
]
__version__ = "0.1.0"
