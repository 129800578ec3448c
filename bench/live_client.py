"""A lean Socket.IO client for the load generator: one WebSocket per drawer, Engine.IO 4 spoken directly.

The page's client (socket.io.js) and python-socketio's AsyncClient send the same frames; the AsyncClient
spends about 0.3 ms of CPU per message on this kind of machine, which on 2 cores takes CPU the server
under test needs (150 drawers send about 2,700 messages a second). This client does only what the
benchmark needs: the WebSocket transport, the namespace `/`, events both ways, and pongs to the server's
pings; it sends the same Socket.IO packets, masked WebSocket text frames as RFC 6455 requires of clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

OPEN, CLOSE, PING, PONG, MESSAGE = "0", "1", "2", "3", "4"  # Engine.IO packet types
CONNECT, DISCONNECT, EVENT, CONNECT_ERROR = "0", "1", "2", "4"  # Socket.IO packet types
MAX_MESSAGE_BYTES = 1 << 20

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # as JSON.stringify writes


class ConnectRefused(Exception):
    """The server refused the Socket.IO connection (`connect_error`), e.g. server_full."""


class LiveClient:
    """One drawer's connection: `connect`, `emit`, `close`; events it gets go to `on_event(name, data)`."""

    def __init__(self, url: str, on_event: Callable[[str, Any], None]) -> None:
        self.url = url.replace("http://", "ws://", 1).rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.on_event = on_event
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, session: aiohttp.ClientSession, timeout: float) -> None:
        """Open the WebSocket, join the namespace `/` and start reading; raise if refused."""
        # Only the close handshake is bounded: a drawer may hear nothing for longer than any receive timeout
        # (before `go`, while waiting for `bye`), and the server's pings must still be answered.
        self.ws = await session.ws_connect(
            self.url,
            autoping=False,
            max_msg_size=MAX_MESSAGE_BYTES,
            timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
        )
        opened = await asyncio.wait_for(self.ws.receive(), timeout)
        if opened.type != aiohttp.WSMsgType.TEXT or not opened.data.startswith(OPEN):
            raise ConnectionError(f"no Engine.IO open packet: {opened.type} {str(opened.data)[:80]}")
        await self.ws.send_str(MESSAGE + CONNECT)
        while True:  # the server may send events from its connect handler before the connect packet
            joined = await asyncio.wait_for(self.ws.receive(), timeout)
            if joined.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"closed while connecting: {joined.type}")
            if joined.data.startswith(MESSAGE + CONNECT_ERROR):
                raise ConnectRefused(joined.data[2:])
            if joined.data.startswith(MESSAGE + CONNECT):
                break
            if not await self._handle(joined.data):
                raise ConnectionError(f"closed while connecting: {joined.data[:80]}")
        self._reader = asyncio.create_task(self._read())

    async def emit(self, event: str, payload: Any) -> None:
        """Send one event."""
        assert self.ws is not None
        await self.ws.send_str(MESSAGE + EVENT + _encode([event, payload]))

    async def close(self) -> None:
        """Leave the namespace and close the WebSocket."""
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(ConnectionError):  # the server may have gone first
                await self.ws.send_str(MESSAGE + DISCONNECT)
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        """Hand every event to `on_event` and answer pings, until the WebSocket closes."""
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT or not await self._handle(message.data):
                break

    async def _handle(self, data: str) -> bool:
        """Handle one Engine.IO packet; False when the server closed the connection."""
        assert self.ws is not None
        if data.startswith(MESSAGE + EVENT):
            name, *args = json.loads(
                data[2:].lstrip("0123456789")
            )  # an ack id, if any, goes before the array
            self.on_event(name, args[0] if args else None)
        elif data == PING:
            await self.ws.send_str(PONG)
        elif data.startswith(CLOSE) or data.startswith(MESSAGE + DISCONNECT):
            return False
        return True
