"""Before joining a Ray cluster, ask its GCS once, bounded, whether it will let this process in.

``ray.init(address=...)`` against a cluster it cannot join prints a warning a second and gives up
after ~20 s (wrong token, or token mode off here while the cluster uses tokens) or waits for minutes
(nothing listening). ``check_cluster`` asks the GCS the first question a driver asks
(``GetClusterId``), with the credentials Ray itself would send, and turns the answer into a
:class:`~sandbox_service.errors.RayUnavailable` saying what to set::

    check_cluster("10.0.0.1:6379", timeout=10)   # returns the address joined, or raises

How Ray 2.5x picks a driver's credentials (``ray/_private/authentication``, ``ray._raylet``):

- the mode is ``RAY_AUTH_MODE`` (``token`` or ``disabled``, the default). ``ray start --head``
  without it turns tokens on when it finds a token; ``ray.init`` with an explicit address never does
  (``auto`` does, the same way), so a front end needs ``RAY_AUTH_MODE=token`` set;
- in token mode the token is the first of ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH``
  names, and ``~/.ray/auth_token``; it travels as ``authorization: Bearer <token>`` metadata.

Known limit: a GCS that lets us in does not prove ``ray.init`` will finish (e.g. a front end run on a
machine that is not a node of the cluster waits for a local raylet); this checks what goes wrong in
practice, the address and the credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from .errors import RayUnavailable

__all__ = ["check_cluster", "token_source"]

_PROBE_METHOD = "/ray.rpc.NodeInfoGcsService/GetClusterId"
_WHERE = (
    "Ray reads the token from RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH names, else ~/.ray/auth_token"
)


def token_source() -> str:
    """Where Ray would take this process's token from (the first of its three places)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if path := os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"RAY_AUTH_TOKEN_PATH ({path})"
    return str(Path.home() / ".ray" / "auth_token")


def check_cluster(address: str, timeout: float) -> str:
    """Check that the Ray cluster at ``address`` (``host:port`` or ``auto``) will accept this process.

    Args:
        address: what ``ray.init(address=...)`` will be given.
        timeout: seconds the whole check may take (no answer within it: unreachable).

    Returns:
        The cluster's GCS address as ``host:port``.

    Raises:
        RayUnavailable: no cluster answers there, or it refuses our credentials; the message says
            what to set.
    """
    from ray._private import services
    from ray._private.authentication.authentication_token_setup import (
        maybe_enable_token_auth_if_token_available,
    )
    from ray._raylet import (  # type: ignore[attr-defined]  # not in Ray's stub, public in its CLI
        AuthenticationMode,
        AuthenticationTokenLoader,
        get_authentication_mode,
    )

    if address == "auto":
        # what ray.init("auto") does next: token mode if a token is found and RAY_AUTH_MODE unset
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    try:
        gcs = services.canonicalize_bootstrap_address_or_die(address)
    except (ConnectionError, ValueError) as exc:
        raise RayUnavailable(f"no Ray cluster at {address!r}: {exc}") from exc
    token_mode = get_authentication_mode() == AuthenticationMode.TOKEN
    mode_env = os.environ.get("RAY_AUTH_MODE")
    mode = f"RAY_AUTH_MODE={mode_env}" if mode_env is not None else "RAY_AUTH_MODE unset (so 'disabled')"
    loader = AuthenticationTokenLoader.instance()
    metadata: tuple[tuple[str, str], ...] = ()
    if token_mode:
        try:
            header = loader.get_token_for_http_header()
        except Exception as exc:  # ray.exceptions.AuthenticationError: no token anywhere
            raise RayUnavailable(
                f"RAY_AUTH_MODE=token but this process has no Ray token: set RAY_AUTH_TOKEN to the "
                f"cluster's token (or RAY_AUTH_TOKEN_PATH to a file holding it, or write it to "
                f"{Path.home() / '.ray' / 'auth_token'})"
            ) from exc
        metadata = tuple(header.items())

    with grpc.insecure_channel(gcs) as channel:
        probe: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(_PROBE_METHOD)
        try:
            probe(b"", timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            code = exc.code()  # a failed call is also a grpc.Call
            details = exc.details()
        else:
            return str(gcs)

    if code == grpc.StatusCode.UNAUTHENTICATED:
        if not token_mode:
            try:
                found = loader.has_token(ignore_auth_mode=True)
            except Exception:  # a RAY_AUTH_TOKEN_PATH that cannot be read
                found = False
            have = (
                f"; a token is there ({token_source()}) but Ray sends none unless the mode is token"
                if found
                else ""
            )
            raise RayUnavailable(
                f"the Ray cluster at {gcs} requires token authentication and this process has "
                f"{mode}{have}: set RAY_AUTH_MODE=token and the cluster's token, as on every node "
                f"({_WHERE})"
            )
        raise RayUnavailable(
            f"the Ray cluster at {gcs} rejected this process's token (from {token_source()}): it "
            f"must be the token the cluster's nodes were started with ({_WHERE})"
        )
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        why = f"within {timeout:g} s" if code == grpc.StatusCode.DEADLINE_EXCEEDED else f"({details})"
        raise RayUnavailable(
            f"no Ray cluster answers at {gcs} {why}: start the head there with `ray start --head "
            f"--port=<port>`, or check the address and that the port is open to this machine"
        )
    raise RayUnavailable(
        f"{gcs} answers but not as a Ray cluster's GCS ({code.name}: {details}): "
        f"--ray-address must be the head's --port"
    )
