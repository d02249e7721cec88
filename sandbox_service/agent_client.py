"""Host side of one container's agent connection.

The host listens on a unix socket (mode 0600, in a 0700 directory) that is bind-mounted read-only
into the container; the agent connects to it at start. Every call has a deadline (the watchdog): an
agent that does not answer in time, closes the connection or sends garbage raises ``AgentLost`` and
its container is recycled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runners.protocol import ProtocolError, decode_header, encode, header_length

from .errors import AgentLost

__all__ = ["AgentConnection"]

Message = tuple[dict[str, Any], list[bytes]]


class AgentConnection:
    """One request at a time to one agent. Not safe for concurrent use (the pool guarantees that)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.lost = False

    async def receive(self, timeout: float) -> Message:
        """Read one message, or raise ``AgentLost`` after ``timeout`` seconds."""
        try:
            # asyncio.timeout, not wait_for: no task per message (this is every test's path)
            async with asyncio.timeout(timeout):
                return await self._read()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ProtocolError) as exc:
            self.lost = True
            what = "did not answer in time" if isinstance(exc, TimeoutError) else f"connection broke: {exc!r}"
            raise AgentLost(f"agent {what}") from exc

    async def _read(self) -> Message:
        n = header_length(await self._reader.readexactly(4))
        header, sizes = decode_header(await self._reader.readexactly(n))
        blobs = [await self._reader.readexactly(size) for size in sizes]
        return header, blobs

    async def call(self, header: dict[str, Any], blobs: list[bytes], timeout: float) -> Message:
        """Send a request and wait for its answer; agent-side errors raise ``AgentLost`` too."""
        if self.lost:
            raise AgentLost("agent connection already lost")
        try:
            self._writer.write(encode(header, blobs))
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except (TimeoutError, ConnectionError) as exc:
            self.lost = True
            raise AgentLost(f"cannot send to agent: {exc!r}") from exc
        reply, out = await self.receive(timeout)
        if "error" in reply:
            self.lost = True
            raise AgentLost(f"agent failed: {reply['error']}")
        return reply, out

    def close(self) -> None:
        self.lost = True
        self._writer.close()
