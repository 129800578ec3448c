"""JSON for Socket.IO packets: the standard library's, except for integers too long to be sensible.

Engine.IO's own decoder raises on integers of over 100 digits, which drops the whole packet with a logged
traceback. Here they parse as floats instead (1e200, or infinity), so the protocol's checks answer them
like any other bad number, with an `error` event. Parsing stays linear in the length of the digits.
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
    """Decode JSON, with long integers as floats."""
    return json.loads(text, parse_int=_int, **kwargs)
