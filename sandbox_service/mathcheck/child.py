"""A math worker process: JSON lines in (``{"r", "g", "c"}``), ``MathGrade`` fields out.

Started by ``MathVerifier``. It caps its own address space, exits when its parent is gone, says
``ready`` once imports are done, then grades one line at a time until stdin closes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import threading
import time


def _die_with_parent() -> None:
    """Exit when the parent goes away. (Not PR_SET_PDEATHSIG: that fires when the parent's *thread*
    that started us exits, and replacements are started from short-lived threads.)"""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    _die_with_parent()
    from .compare import grade

    limit = int(os.environ.get("SANDBOX_MATH_MEMORY_MB", "1024")) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(10_000)
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            job = json.loads(line)
            result = dataclasses.asdict(grade(job["r"], job["g"], job.get("c") or ()))
        except MemoryError:
            result = {"error": "memory limit: verification needed more than its memory cap"}
        except RecursionError:
            result = {"error": "answer nested too deeply"}
        except Exception as exc:  # noqa: BLE001 - a grading bug is a false with its reason, never a dead worker
            result = {"error": f"verifier error: {type(exc).__name__}: {exc}"}
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
