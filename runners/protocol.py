"""Framing of the host <-> agent channel (a unix stream socket).

A message is a JSON header plus zero or more binary blobs, so program text, stdin and captured
output travel as raw bytes instead of base64 inside JSON::

    u32 big-endian header length | header JSON (utf-8) | blob 0 | blob 1 | ...

The header lists the blob lengths under ``"_blobs"``. This module is imported both by the host and
by the agent inside the container, so it uses the standard library only and must stay importable on
the image's Debian Python (3.11).
"""

from __future__ import annotations

import json
import struct

TYPE_CHECKING = False  # typing itself costs ~7 ms of each container's start-up; only mypy needs it
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HEADER_LIMIT", "ProtocolError", "decode_header", "encode"]

#: Largest header accepted; headers hold small metadata, never payloads.
HEADER_LIMIT = 1 << 20

_LEN = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


def encode(header: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    """Serialise one message (header plus blobs) into bytes ready to send."""
    body = dict(header)
    body["_blobs"] = [len(b) for b in blobs]
    raw = json.dumps(body, separators=(",", ":")).encode()
    return b"".join([_LEN.pack(len(raw)), raw, *blobs])


def header_length(prefix: bytes) -> int:
    """Length of the header announced by the 4-byte ``prefix``."""
    (n,) = _LEN.unpack(prefix)
    if n > HEADER_LIMIT:
        raise ProtocolError(f"header of {n} bytes exceeds the {HEADER_LIMIT} byte limit")
    return int(n)


def decode_header(raw: bytes) -> tuple[dict[str, Any], list[int]]:
    """Parse a header; returns it with the lengths of the blobs that follow."""
    try:
        header = json.loads(raw)
        sizes = header.pop("_blobs")
    except (ValueError, KeyError, AttributeError) as exc:
        raise ProtocolError(f"malformed header: {exc}") from exc
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
        raise ProtocolError("malformed blob list")
    return header, sizes
