"""The Engine.IO transport guards, alone: WebSocket unmasking and what counts as an Engine.IO frame."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.web.transport import fast_unmask, is_engineio_frame


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4), offset=st.integers(0, 7))
def test_fast_unmask_matches_the_websocket_spec(data: bytes, mask: bytes, offset: int) -> None:
    expected = bytes(byte ^ mask[(offset + i) % 4] for i, byte in enumerate(data))
    assert fast_unmask(data, tuple(mask), len(data), offset) == expected


@pytest.mark.parametrize(
    ("frame", "engineio"),
    [
        ("40", True),
        ("2", True),
        ("6", True),
        (b"\x00", True),
        ("", False),
        ("x", False),
        ("9", False),
        (None, False),
    ],
)
def test_only_engineio_frames_pass(frame: object, engineio: bool) -> None:
    assert is_engineio_frame(frame) is engineio
