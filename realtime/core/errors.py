"""The one error for refused input, from the rasterizer up to the protocol and the HTTP routes."""

from __future__ import annotations


class InputError(ValueError):
    """Input that is refused: `code` names the reason (docs/protocol.md lists them), `message` is for people.

    The one error type for bad input, from the rasterizer up to the protocol (realtime.core.protocol) and the
    HTTP routes; `seq` is the refused live message's `seq`, when it had a valid one.
    """

    def __init__(self, code: str, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.seq = seq
