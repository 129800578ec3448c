"""JSON for Socket.IO packets: the standard library's, except for integers too long and nesting too deep.

The standard decoder refuses integers of over 4300 digits (ValueError) and overflows the stack on deep
nesting (RecursionError); both escaped python-socketio's packet decoder as logged tracebacks. Here
integers of over 100 digits parse as floats instead (1e200, or infinity), so the protocol's checks answer
them like any other bad number; parsing stays linear in the length of the digits. Nesting too deep for
the decoder is a ValueError, which Engine.IO's decoder and the gate (realtime.web.gate) treat as malformed.
"""

from __future__ import annotations

import json
from typing import Any

MAX_INT_DIGITS = 100

dumps = json.dumps


def _int(text: str) -> int | float:
    """Parse a JSON integer; a very long one becomes a float, which no protocol field accepts."""
    return int(text) if len(text) <= MAX_INT_DIGITS else float(text)


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """Decode JSON, with long integers as floats; ValueError for malformed or too deeply nested JSON."""
    try:
        return json.loads(text, parse_int=_int, **kwargs)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
