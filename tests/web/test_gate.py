"""The gate in front of python-socketio's dispatcher, alone: packet checks and per-connection rate limits."""

from __future__ import annotations

import pytest
from socketio import packet

from realtime.config import Config
from realtime.core.errors import InputError
from realtime.core.protocol import Limits
from realtime.web import wire
from realtime.web.gate import RateLimiter, decode


class WirePacket(packet.Packet):
    """Socket.IO packets decoded with the server's JSON (as the app's server does)."""

    json = wire


LIMITS = Config().limits


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ('2["stroke_points",{"seq":1}]', None),
        ("0", None),  # joining the namespace
        ('0{"see_bitmap":true}', None),
        ("1", None),  # leaving it
        ('2["clear",{"seq":1', "bad_packet"),  # truncated JSON
        ("2", "bad_packet"),  # an event without data
        ("2{}", "bad_packet"),
        ("2[]", "bad_packet"),
        ("2[5]", "bad_packet"),
        ('3["x"]', "bad_packet"),  # an acknowledgement
        ('51-["snapshot",{"_placeholder":true,"num":0}]', "bad_packet"),  # binary attachments
        ("4", "bad_packet"),
        ("9", "bad_packet"),
        ("x", "bad_packet"),
        ('2/admin,["clear",{"seq":1}]', "bad_packet"),
        ('2["disconnect"]', "unknown_event"),
        ('2["connect",{}]', "unknown_event"),
        ('2["*",{}]', "unknown_event"),
        ("2" + "[" * 100_000, "bad_packet"),  # too deep for the JSON decoder
        ("2" + "1" * 150 + '["clear"]', "bad_packet"),  # an id of 150 digits
        (b"\x00\x01", "bad_packet"),  # a binary frame
        ({"a": 1}, "bad_packet"),  # what Engine.IO makes of a frame "4{...}"
        (None, "bad_packet"),
    ],
)
def test_the_gate_lets_through_only_what_clients_of_the_protocol_send(data: object, code: str | None) -> None:
    if code is None:
        assert decode(WirePacket, data).packet_type in (packet.CONNECT, packet.DISCONNECT, packet.EVENT)
    else:
        with pytest.raises(InputError) as refused:
            decode(WirePacket, data)
        assert refused.value.code == code


def rates(messages: float, message_burst: int) -> Limits:
    """Return limits of `messages` per second and 1,000 bytes per second (bursts of 1,500 bytes)."""
    config = Config(
        RATE_LIMIT=messages,
        RATE_BURST=message_burst,
        RATE_LIMIT_BYTES=1000.0,
        RATE_BURST_BYTES=1500,
        MAX_MESSAGE_BYTES=1024,
    )
    return config.limits


def test_rate_limits_count_messages_and_bytes() -> None:
    now = [0.0]
    limiter = RateLimiter(rates(messages=10.0, message_burst=3), clock=lambda: now[0])
    assert [limiter.admit(100) for _ in range(4)] == [True, True, True, False]  # the message burst
    assert limiter.seconds_until(100) == pytest.approx(0.1)  # one message earned every 0.1 s
    now[0] += 0.1
    assert limiter.admit(100) and not limiter.admit(100)
    limiter = RateLimiter(rates(messages=1000.0, message_burst=1000), clock=lambda: now[0])
    assert limiter.admit(1200) and not limiter.admit(400)  # the byte burst: 1,500
    assert limiter.seconds_until(400) == pytest.approx(0.1)  # 100 bytes missing, 1,000 earned a second
    now[0] += 0.099
    assert not limiter.admit(400)
    now[0] += 0.002
    assert limiter.admit(400)
