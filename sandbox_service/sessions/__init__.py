"""Sessions: live interpreters for agentic rollouts (service ``Sessions`` of ``api.md``).

- ``spec``: validation of the requests (``INVALID_ARGUMENT`` naming the field) and the limits a
  session resolves to; the front end and the workers use the same rules.
- ``manager``: the worker side. ``SessionManager`` lives in each Ray worker (``worker.py``) with a warm
  pool of containers of its own: one container per session, cells one at a time per session, idle
  timeout, lifetime and a per-worker cap enforced here, containers removed at close.
- ``router``: the front end side. ``SessionRouter`` sends each call to the worker the session id
  names (``<worker name>/<random>``), so no lookup table is needed; keys are routed by rendezvous
  hashing over the live workers (plus a hint of where each key's session opened).
"""

from .manager import SessionManager
from .router import SessionRouter

__all__ = ["SessionManager", "SessionRouter"]
