"""The pieces behind the robustness tests, one at a time: packet checks, rate limits, ink, frame checks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet

from realtime.config import Config
from realtime.core import preprocess
from realtime.core.drawing import Drawing
from realtime.core.errors import InputError
from realtime.core.protocol import Ink, Limits, parse_strokes
from realtime.infra.metrics import Metrics
from realtime.model import live as live_module
from realtime.model.live import LivePredictor, predict_snapshots
from realtime.web import wire
from realtime.web.gate import RateLimiter, decode
from realtime.web.transport import fast_unmask, is_engineio_frame


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


def test_ink_is_measured_as_the_rasterizer_scales_the_drawing() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], float)
    assert Ink.of([square]).units == pytest.approx(4 * 255)
    assert Ink.of([square * 37 + 5]).units == pytest.approx(4 * 255)  # position and scale do not matter
    assert Ink().plus(square[:2]).plus(square[2:], joined_to=square[1]).units == pytest.approx(4 * 255)
    assert Ink.of([np.array([[3.0, 3.0]])]).units == 0  # a dot


def test_a_drawing_refuses_ink_over_the_limit_and_undo_gives_it_back() -> None:
    drawing = Drawing(LIMITS)
    line = np.array([[0.0, 0.0], [1000.0, 0.0]])  # one crossing of the canvas: 255 units
    for _ in range(39):  # 9,945 units
        drawing.add_points(line)
        drawing.end_stroke()
    with pytest.raises(InputError) as refused:
        drawing.add_points(line)
    assert refused.value.code == "too_much_ink"
    assert drawing.strokes == 39  # the refused points changed nothing
    drawing.undo()
    drawing.add_points(line)  # room again
    drawing.end_stroke()
    with pytest.raises(InputError) as refused:
        parse_strokes([[[0, 1000] * 30, [0, 0] * 30]], LIMITS)  # 59 crossings in one stroke
    assert refused.value.code == "too_much_ink"


def test_a_snapshot_never_changes_while_the_drawing_goes_on() -> None:
    drawing = Drawing(LIMITS)
    rng = np.random.default_rng(3)
    frame = np.array([[0.0, 0.0], [500.0, 500.0]])  # sets the scale: the later points stay close together
    drawing.add_points(frame)
    drawing.end_stroke()
    taken = [drawing.snapshot()]
    copies = [(s.xy.copy(), s.counts) for s in taken]
    for step in range(200):  # appends that grow the buffer, strokes ended, undone and cleared
        drawing.add_points(rng.uniform(200, 202, (int(rng.integers(1, 9)), 2)))
        if step % 7 == 0:
            drawing.end_stroke()
        if step % 23 == 5:
            drawing.undo()
        if step == 150:
            drawing.clear()
            drawing.add_points(frame)
            drawing.end_stroke()
        taken.append(drawing.snapshot())
        copies.append((taken[-1].xy.copy(), taken[-1].counts))
    for snapshot, (xy_then, counts_then) in zip(taken, copies, strict=True):
        np.testing.assert_array_equal(snapshot.xy, xy_then)
        assert snapshot.counts == counts_then and sum(snapshot.counts) == len(snapshot.xy)
    last = drawing.snapshot()
    assert drawing.points == len(last.xy) and drawing.strokes == len(last.counts)


def test_a_drawing_never_holds_room_for_more_points_than_its_limit() -> None:
    limits = Config(MAX_POINTS=100, MAX_STROKES=10, MAX_POINTS_PER_MESSAGE=100).limits
    drawing = Drawing(limits)
    line = np.column_stack((np.arange(100.0), np.zeros(100)))
    for start in range(0, 100, 5):  # the buffer grows from 64 rows to 100, not 128
        drawing.add_points(line[start : start + 5])
    assert drawing.points == 100 and len(drawing._xy) == 100


class Uniform:
    """A stand-in model that answers the same for every drawing."""

    name, version, labels = "uniform", "uniform-0", ["a", "b"]
    other, sure_threshold = None, 0.5

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Two classes at one half each."""
        return np.full((len(batch), 2), 0.5, np.float32)


def test_a_live_round_lets_other_work_in_after_each_drawing() -> None:
    events: list[str] = []
    drawing = Drawing(LIMITS)
    drawing.add_points(np.array([[0.0, 0.0], [100.0, 50.0]]))
    snapshots = [drawing.snapshot(), Drawing(LIMITS).snapshot(), drawing.snapshot()]  # one is blank
    outcomes = predict_snapshots(Uniform(), snapshots, max_batch=64, pause=lambda: events.append("pause"))
    assert events == ["pause"] * 4  # after each of three drawings and after the one batch
    assert [len(o.top) for o in outcomes] == [2, 0, 2] and outcomes[0].bitmap.shape == (28, 28)


def zigzag(points: int, amplitude: float = 4.0) -> np.ndarray:
    """Return a zigzag 255 units tall whose teeth are just over the simplification tolerance."""
    line = np.zeros((points, 2))
    line[1::2, 0] = amplitude
    line[:, 1] = np.linspace(0, 255, points)
    return line


def test_the_ink_cap_bounds_what_the_costliest_step_of_the_rasterizer_gets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ramer–Douglas–Peucker (quadratic at worst) runs on the strokes resampled at one point per unit of
    # ink: the cap on ink bounds its work on any machine (how fast it runs is for the benchmarks).
    sizes: list[int] = []
    simplify = preprocess.cv2.approxPolyDP

    def counted(curve: np.ndarray, *args: object) -> np.ndarray:
        sizes.append(len(curve))
        return simplify(curve, *args)

    monkeypatch.setattr(preprocess.cv2, "approxPolyDP", counted)
    under, over = zigzag(2500), zigzag(2501)
    assert Ink.of([under]).units <= preprocess.MAX_INK < Ink.of([over]).units
    preprocess.rasterize_strokes([under])
    assert preprocess.MAX_INK - 10 < sum(sizes) <= preprocess.MAX_INK + 1, sizes
    sizes.clear()
    with pytest.raises(InputError) as refused:
        preprocess.rasterize_strokes([over])
    assert refused.value.code == "too_much_ink" and sizes == []  # refused before any simplification


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


def test_new_limits_have_safe_defaults_and_caps() -> None:
    config = Config.from_env({})
    assert config.MAX_IMAGE_SIDE == 1024
    assert config.MAX_INK == 10_000
    assert config.RATE_BURST_BYTES >= config.MAX_MESSAGE_BYTES
    capped = Config.from_env({"MAX_IMAGE_SIDE": "100000", "RATE_BURST_BYTES": "10"})
    assert capped.MAX_IMAGE_SIDE == preprocess.MAX_IMAGE_SIDE
    assert capped.RATE_BURST_BYTES == capped.MAX_MESSAGE_BYTES


class _Server:
    """The little of a python-socketio server that LivePredictor uses, recording what it emits."""

    def __init__(self) -> None:
        self.eio = type("Eio", (), {"create_event": staticmethod(threading.Event)})()
        self.sent: list[tuple[str, dict]] = []

    def emit(self, event: str, payload: dict, to: str, ignore_queue: bool) -> None:
        self.sent.append((to, payload))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Clock:
    """Stands in for the `time` module of realtime.model.live: `perf_counter` moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0  # seconds; the steps below are exact in binary

    def perf_counter(self) -> float:
        """Return the time as set."""
        return self.now


def test_pacing_predicts_a_connection_at_most_once_per_interval_and_never_drops_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(live_module, "time", clock)
    server = _Server()
    live = LivePredictor(
        server, Uniform(), LIMITS, max_connections=10, max_batch=2, metrics=Metrics(), background=False,
        min_interval=0.5,
    )  # fmt: skip
    sessions = [live.open(sid, False) for sid in ("a", "b", "c")]
    for seq, session in enumerate(sessions):
        with live.lock:
            session.drawing.add_points([[0.0, 0.0], [100.0, 50.0 + seq]])
            live.accept(session, seq)
    clock.now += 0.125
    assert live.flush() == 2 and live.flush() == 1  # rounds of at most max_batch, oldest first
    assert [(to, payload["ms"]) for to, payload in server.sent] == [("a", 125.0), ("b", 125.0), ("c", 125.0)]
    clock.now += 0.125
    with live.lock:
        sessions[0].drawing.add_points([[120.0, 80.0]])
        live.accept(sessions[0], 5)
    assert live.flush() == 0  # predicted 0.125 s ago: it waits...
    assert live._due_in() == 0.375
    clock.now += 0.25
    assert live.flush() == 0 and live._due_in() == 0.125  # ...for the whole interval...
    clock.now += 0.125
    assert live.flush() == 1  # ...and then gets its guess, for its newest state
    to, payload = server.sent[-1]
    assert (to, payload["seq"], payload["ms"]) == ("a", 5, 375.0)  # ms: from its message to its guess
    assert live._due_in() is None
