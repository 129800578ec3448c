"""Text people type that others see (names in rooms, taught words): cleaned, bounded, refused when empty."""

from __future__ import annotations

import unicodedata
from typing import Any

from realtime.core.errors import InputError

MAX_TYPED = 200  # characters read at most: anything longer is refused unread


def clean_text(value: Any, most: int, code: str, what: str) -> str:
    """Return `value` with control and format characters removed, spaces collapsed, cut to `most`.

    Refuse what is not text, longer than MAX_TYPED, or empty once cleaned, with InputError(`code`).
    """
    refusal = InputError(code, f"{what} is text of 1 to {most} characters")
    if not isinstance(value, str) or len(value) > MAX_TYPED:
        raise refusal
    kept = "".join(
        " " if c.isspace() else c for c in value if unicodedata.category(c)[0] != "C" or c.isspace()
    )
    text = " ".join(kept.split())[:most].strip()
    if not text:
        raise refusal
    return text
