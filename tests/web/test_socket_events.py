"""The Socket.IO protocol (docs/protocol.md), driven through Flask-SocketIO's test client.

Most tests hand the app a deterministic stand-in model, so that what is checked is the protocol: which
drawing gets predicted, for which `seq`, sent to whom. The live predictor's background worker is off
(`live_worker=False`) and each test calls `flush()` where the worker would run, so timing cannot flake;
one test runs the real worker. The shipped model is used where the class itself is the point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient

from harness.quickdraw import canvas_png_data_url, drawings, quickdraw_form, raw_points
from realtime import create_app, socketio
from realtime.config import Config
from realtime.core import images, preprocess
from realtime.core.drawing import Drawing
from realtime.core.protocol import MAX_SEQ
from realtime.model.recognizer import Recognizer
from realtime.web.events import LiveEvents
from realtime.web.state import state_of
from tests.support.images import data_url, png_bomb

Strokes = list[list[list[float]]]  # [[[x, y], ...], ...]: the points of each stroke

H_LINE: Strokes = [[[0, 50], [40, 50], [100, 50]]]
V_LINE: Strokes = [[[50, 0], [50, 60], [50, 100]]]
CIRCLE: Strokes = [[[50 + 40 * np.cos(a), 50 + 40 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 40)]]


@pytest.fixture
def make_app(model: Any) -> Callable[..., Flask]:
    """Return a factory of apps that use the fake model and no background worker."""

    def make(live_worker: bool = False, **config: Any) -> Flask:
        return create_app(
            Config(ASYNC_MODE="threading", **config), load_model=lambda _: model, live_worker=live_worker
        )

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def connect(app: Flask, **kwargs: Any) -> SocketIOTestClient:
    """Connect a test client and consume its `ready` event."""
    client = socketio.test_client(app, **kwargs)
    assert client.is_connected()
    assert [event["name"] for event in client.get_received()] == ["ready"]
    return client


def flush(app: Flask) -> int:
    """Run one round of the live predictor, as its background worker would."""
    return state_of(app).live.flush()


def received(client: SocketIOTestClient, name: str) -> list[dict[str, Any]]:
    """Return the payloads of the events called `name` received since the last call (others are dropped)."""
    return [event["args"][0] for event in client.get_received() if event["name"] == name]


def send_strokes(client: SocketIOTestClient, strokes: Strokes, seq: int = 0, batch: int = 3) -> int:
    """Stream strokes as the page does (points in small batches, then stroke_end); return the last seq."""
    for stroke in strokes:
        for start in range(0, len(stroke), batch):
            seq += 1
            client.emit("stroke_points", {"seq": seq, "points": stroke[start : start + batch]})
        seq += 1
        client.emit("stroke_end", {"seq": seq})
    return seq


# --- connection ---------------------------------------------------------------------------------------


def test_connect_sends_ready_with_labels_model_and_limits(app: Flask, model: Any) -> None:
    client = socketio.test_client(app)
    [ready] = received(client, "ready")
    assert ready["labels"] == model.labels
    assert ready["model"] == model.version
    limits = ready["limits"]
    assert limits["max_points"] == preprocess.MAX_POINTS
    assert limits["max_strokes"] == preprocess.MAX_STROKES
    assert limits["max_points_per_message"] == 2000
    assert limits["max_message_bytes"] == 1_000_000
    assert limits["max_image_bytes"] == 512 * 1024
    assert limits["rate_limit"] > 0 and limits["rate_burst"] >= 1


def test_disconnect_frees_the_session(app: Flask) -> None:
    live = state_of(app).live
    first, second = connect(app), connect(app)
    assert len(live) == 2
    first.emit("stroke_points", {"seq": 1, "points": H_LINE[0]})
    first.disconnect()
    assert len(live) == 1
    assert flush(app) == 0  # the departed client's pending prediction went with it
    second.disconnect()
    assert len(live) == 0


def test_a_full_server_refuses_connections(make_app: Callable[..., Flask]) -> None:
    app = make_app(MAX_CONNECTIONS=1)
    first = connect(app)
    refused = socketio.test_client(app)
    assert not refused.is_connected()
    first.disconnect()
    assert socketio.test_client(app).is_connected()


# --- predictions --------------------------------------------------------------------------------------


def test_streamed_points_yield_predictions_with_increasing_seq(app: Flask, model: Any) -> None:
    strokes = raw_points(drawings("cat")[0]["drawing"])
    client = connect(app)
    seq = 0
    predictions = []
    for stroke in strokes:
        started = time.perf_counter()
        seq = send_strokes(client, [stroke], seq=seq, batch=4)
        flush(app)
        elapsed_ms = (time.perf_counter() - started) * 1000.0  # the server's `ms` lies within it
        predictions += received(client, "prediction")
        assert 0 < predictions[-1]["ms"] <= elapsed_ms
    seqs = [p["seq"] for p in predictions]
    assert len(predictions) == len(strokes)
    assert seqs == sorted(set(seqs)) and seqs[-1] == seq
    assert predictions[-1]["top"] == model.top_of(strokes)
    assert all(p["model"] == model.version and len(p["top"]) == 3 for p in predictions)
    assert "bitmap" not in predictions[-1]


def test_updates_during_a_round_are_coalesced_into_the_newest_state(app: Flask, model: Any) -> None:
    client = connect(app)
    seq = send_strokes(client, H_LINE + V_LINE, batch=1)  # eight messages
    assert flush(app) == 1
    [prediction] = received(client, "prediction")
    assert prediction["seq"] == seq == 8
    assert prediction["top"] == model.top_of(H_LINE + V_LINE)
    assert model.batches == [1]
    assert flush(app) == 0  # nothing left over


def test_connections_are_predicted_together_in_one_batch(app: Flask, model: Any) -> None:
    clients = [connect(app) for _ in range(3)]
    drawings = [H_LINE, V_LINE, CIRCLE]
    for client, strokes in zip(clients, drawings, strict=True):
        send_strokes(client, strokes)
    assert flush(app) == 3
    assert model.batches == [3]
    for client, strokes in zip(clients, drawings, strict=True):
        [prediction] = received(client, "prediction")
        assert prediction["top"] == model.top_of(strokes)


def test_two_clients_never_see_each_others_drawing(app: Flask, model: Any) -> None:
    alice, bob = connect(app), connect(app)
    send_strokes(alice, H_LINE)
    send_strokes(bob, V_LINE)
    flush(app)
    assert [p["top"] for p in received(alice, "prediction")] == [model.top_of(H_LINE)]
    assert [p["top"] for p in received(bob, "prediction")] == [model.top_of(V_LINE)]
    # Bob's clear and new strokes do not touch Alice's drawing, nor does Alice hear of them.
    bob.emit("clear", {"seq": 100})
    send_strokes(bob, CIRCLE, seq=100)
    send_strokes(alice, V_LINE, seq=50)
    flush(app)
    assert [p["top"] for p in received(alice, "prediction")] == [model.top_of(H_LINE + V_LINE)]
    assert [p["top"] for p in received(bob, "prediction")] == [model.top_of(CIRCLE)]


def test_stroke_end_is_covered_without_predicting_again(app: Flask, model: Any) -> None:
    client = connect(app)
    client.emit("stroke_points", {"seq": 1, "points": CIRCLE[0]})
    flush(app)
    [before] = received(client, "prediction")
    client.emit("stroke_end", {"seq": 2})
    flush(app)
    [after] = received(client, "prediction")
    assert (before["seq"], after["seq"]) == (1, 2)
    assert after["top"] == before["top"]
    assert model.batches == [1]  # the unchanged drawing was not classified twice


def test_undo_removes_the_last_stroke(app: Flask, model: Any) -> None:
    client = connect(app)
    seq = send_strokes(client, H_LINE + V_LINE)
    client.emit("undo", {"seq": seq + 1})
    flush(app)
    [prediction] = received(client, "prediction")
    assert prediction["seq"] == seq + 1
    assert prediction["top"] == model.top_of(H_LINE)
    assert prediction["top"] != model.top_of(H_LINE + V_LINE)


def test_undo_removes_a_stroke_still_being_drawn(app: Flask, model: Any) -> None:
    client = connect(app)
    seq = send_strokes(client, CIRCLE)
    client.emit("stroke_points", {"seq": seq + 1, "points": H_LINE[0]})  # no stroke_end yet
    client.emit("undo", {"seq": seq + 2})
    client.emit("stroke_points", {"seq": seq + 3, "points": V_LINE[0]})  # a new stroke
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [model.top_of(CIRCLE + V_LINE)]


def test_undo_of_everything_and_clear_leave_no_guess(app: Flask, model: Any) -> None:
    client = connect(app)
    seq = send_strokes(client, H_LINE)
    client.emit("undo", {"seq": seq + 1})
    client.emit("undo", {"seq": seq + 2})  # nothing left to undo: harmless
    flush(app)
    assert [(p["seq"], p["top"]) for p in received(client, "prediction")] == [(seq + 2, [])]
    seq = send_strokes(client, V_LINE, seq=seq + 2)
    client.emit("clear", {"seq": seq + 1})
    flush(app)
    assert [(p["seq"], p["top"]) for p in received(client, "prediction")] == [(seq + 1, [])]
    send_strokes(client, CIRCLE, seq=seq + 1)
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [model.top_of(CIRCLE)]


def test_a_single_point_is_not_yet_a_drawing(app: Flask) -> None:
    client = connect(app)
    client.emit("stroke_points", {"seq": 1, "points": [[5, 5]]})
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [[]]


def test_sync_replaces_the_drawing(app: Flask, model: Any) -> None:
    client = connect(app)
    send_strokes(client, H_LINE)
    client.emit("sync", {"seq": 10, "strokes": quickdraw_form(V_LINE + CIRCLE)})
    flush(app)
    [prediction] = received(client, "prediction")
    assert prediction["seq"] == 10
    assert prediction["top"] == model.top_of(V_LINE + CIRCLE)
    # After a sync no stroke is open: new points start a stroke of their own.
    client.emit("stroke_points", {"seq": 11, "points": H_LINE[0]})
    client.emit("undo", {"seq": 12})
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [model.top_of(V_LINE + CIRCLE)]


def test_sync_accepts_raw_strokes_with_timestamps(app: Flask, model: Any) -> None:
    drawing = drawings("fish")[1]["drawing"]
    assert len(drawing[0]) == 3  # [xs, ys, ts]
    client = connect(app)
    client.emit("sync", {"seq": 1, "strokes": drawing})
    flush(app)
    [prediction] = received(client, "prediction")
    assert prediction["top"] == model.top_of_bitmap(preprocess.rasterize_quickdraw(drawing))


def test_snapshot_predicts_the_image(
    app: Flask,
    model: Any,
) -> None:
    url = canvas_png_data_url(raw_points(drawings("octopus")[0]["drawing"]), brush=8)
    client = connect(app)
    client.emit("snapshot", {"seq": 1, "image": url})
    flush(app)
    [prediction] = received(client, "prediction")
    assert prediction["top"] == model.top_of_bitmap(images.data_url_to_bitmap(url))
    assert prediction["sure"] is model.sure_of_bitmap(images.data_url_to_bitmap(url))
    # Strokes after a snapshot start a new drawing; undo after them leaves nothing.
    client.emit("stroke_points", {"seq": 2, "points": H_LINE[0]})
    client.emit("undo", {"seq": 3})
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [[]]


def test_a_blank_snapshot_leaves_no_guess(app: Flask) -> None:
    url = data_url(np.full((100, 100, 3), 255, np.uint8))
    client = connect(app)
    client.emit("snapshot", {"seq": 1, "image": url})
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [[]]
    assert received(client, "error") == []


def test_see_bitmap_adds_the_models_input_to_predictions(app: Flask) -> None:
    client = connect(app)
    client.emit("options", {"see_bitmap": True})
    send_strokes(client, CIRCLE)
    flush(app)
    [prediction] = received(client, "prediction")
    expected = preprocess.rasterize_strokes([np.asarray(CIRCLE[0], float)])
    assert prediction["bitmap"] == images.bitmap_to_png_data_url(expected)
    client.emit("options", {"see_bitmap": False})
    client.emit("stroke_end", {"seq": 99})
    flush(app)
    assert "bitmap" not in received(client, "prediction")[0]


def test_see_bitmap_can_be_asked_for_when_connecting(app: Flask) -> None:
    client = connect(app, auth={"see_bitmap": True})
    send_strokes(client, H_LINE)
    flush(app)
    [prediction] = received(client, "prediction")
    assert prediction["bitmap"].startswith("data:image/png;base64,")


def test_background_worker_sends_predictions_unprompted(make_app: Callable[..., Flask], model: Any) -> None:
    app = make_app(live_worker=True)
    client = connect(app)
    seq = send_strokes(client, CIRCLE)
    deadline = time.monotonic() + 10
    predictions: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not any(p["seq"] == seq for p in predictions):
        time.sleep(0.02)
        if client.queue:  # read only when something arrived: the worker thread appends to this list
            predictions += received(client, "prediction")
    assert predictions and predictions[-1]["seq"] == seq
    assert predictions[-1]["top"] == model.top_of(CIRCLE)
    assert [p["seq"] for p in predictions] == sorted({p["seq"] for p in predictions})


# --- bad input ----------------------------------------------------------------------------------------

NAN = float("nan")
BAD_MESSAGES = [
    # (event, arguments, error code)
    ("stroke_points", (), "bad_payload"),
    ("stroke_points", ([1, 2],), "bad_payload"),
    ("stroke_points", ("hello",), "bad_payload"),
    ("stroke_points", ({"seq": 1, "points": [[1, 2]]}, {"seq": 2}), "bad_payload"),
    ("stroke_points", ({"points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": "1", "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": -1, "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": 1.5, "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": True, "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": MAX_SEQ + 1, "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": 10**30, "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": 10**200, "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": -(10**4000), "points": [[1, 2]]},), "bad_seq"),
    ("stroke_points", ({"seq": 5},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": []},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": "1,2"},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[1]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[1, 2, 3]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[1, 2], [3]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [["a", "b"]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[1, None]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[1, {"x": 1}]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[NAN, 1]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[float("inf"), 1]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[2e6, 1]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[10**80, 1]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[10**200, 1]]},), "bad_points"),
    ("stroke_points", ({"seq": 5, "points": [[1, 2]] * 2001},), "too_many_points"),
    ("stroke_end", ({},), "bad_seq"),
    ("undo", (None,), "bad_payload"),
    ("clear", ({"seq": [3]},), "bad_seq"),
    ("sync", ({"seq": 5},), "bad_strokes"),
    ("sync", ({"seq": 5, "strokes": "x"},), "bad_strokes"),
    ("sync", ({"seq": 5, "strokes": [[1, 2]]},), "bad_strokes"),
    ("sync", ({"seq": 5, "strokes": [[[1, 2], [3]]]},), "bad_strokes"),
    ("sync", ({"seq": 5, "strokes": [[["a"], ["b"]]]},), "bad_points"),
    ("sync", ({"seq": 5, "strokes": [[[1, 2], [3, NAN]]]},), "bad_points"),
    ("sync", ({"seq": 5, "strokes": [[[0], [0]]] * 513},), "too_many_strokes"),
    ("sync", ({"seq": 5, "strokes": [[list(range(10_001)), list(range(10_001))]] * 2},), "too_many_points"),
    ("snapshot", ({"seq": 5},), "bad_data_url"),
    ("snapshot", ({"seq": 5, "image": 42},), "bad_data_url"),
    ("snapshot", ({"seq": 5, "image": "data:image/gif;base64,AAAA"},), "bad_data_url"),
    ("snapshot", ({"seq": 5, "image": "data:image/png;base64,@@@@"},), "bad_data_url"),
    ("snapshot", ({"seq": 5, "image": "data:image/png;base64,iVBORw0KGgo="},), "not_image"),
    ("snapshot", ({"seq": 5, "image": data_url(np.zeros((20, 20, 3), np.uint8), ".bmp")},), "not_image"),
    ("snapshot", ({"seq": 5, "image": "data:image/jpeg;base64,AAAA"},), "not_image"),
    ("snapshot", ({"seq": 5, "image": png_bomb()},), "image_too_large"),
    ("snapshot", ({"seq": 5, "image": "data:image/png;base64," + "A" * 800_000},), "image_too_large"),
    ("options", ({"see_bitmap": "yes"},), "bad_payload"),
    ("options", ("see_bitmap",), "bad_payload"),
    ("no_such_event", ({"seq": 5},), "unknown_event"),
    ("message", ("hello",), "unknown_event"),
]


@pytest.mark.parametrize(
    ("event", "args", "code"), BAD_MESSAGES, ids=[f"{e}-{c}-{i}" for i, (e, _, c) in enumerate(BAD_MESSAGES)]
)
def test_bad_messages_get_an_error_and_the_connection_keeps_working(
    app: Flask, model: Any, event: str, args: tuple[Any, ...], code: str
) -> None:
    client = connect(app)
    client.emit("stroke_points", {"seq": 1, "points": V_LINE[0]})
    client.emit(event, *args)
    [error] = received(client, "error")
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    declared = args[0].get("seq") if args and isinstance(args[0], dict) else None
    expected_seq = declared if code not in ("bad_payload", "bad_seq", "unknown_event") else None
    assert error["seq"] == expected_seq
    # The refused message changed nothing, and the connection goes on as before.
    client.emit("stroke_points", {"seq": 6, "points": H_LINE[0]})
    flush(app)
    events = client.get_received()
    assert [event["name"] for event in events] == ["prediction"]
    prediction = events[0]["args"][0]
    assert prediction["seq"] == 6
    assert prediction["top"] == model.top_of([V_LINE[0] + H_LINE[0]])


def test_out_of_order_seq_is_refused(app: Flask, model: Any) -> None:
    client = connect(app)
    client.emit("stroke_points", {"seq": 7, "points": H_LINE[0]})
    for seq in (7, 3, 0):
        client.emit("undo", {"seq": seq})
        [error] = received(client, "error")
        assert (error["code"], error["seq"]) == ("stale_seq", seq)
    flush(app)
    assert [(p["seq"], p["top"]) for p in received(client, "prediction")] == [(7, model.top_of(H_LINE))]


@pytest.mark.parametrize(
    ("limits", "strokes", "code"),
    [
        ({"MAX_POINTS": 10}, [[[i, i] for i in range(6)], [[i, 0] for i in range(6)]], "too_many_points"),
        ({"MAX_STROKES": 2}, [H_LINE[0], V_LINE[0], CIRCLE[0]], "too_many_strokes"),
    ],
)
def test_drawing_limits_refuse_what_goes_over_and_keep_the_rest(
    make_app: Callable[..., Flask], model: Any, limits: dict[str, int], strokes: Strokes, code: str
) -> None:
    app = make_app(**limits)
    client = connect(app)
    seq = send_strokes(client, strokes[:-1], batch=100)
    client.emit("stroke_points", {"seq": seq + 1, "points": strokes[-1]})
    [error] = received(client, "error")
    assert (error["code"], error["seq"]) == (code, seq + 1)
    client.emit("sync", {"seq": seq + 2, "strokes": quickdraw_form(strokes)})
    [error] = received(client, "error")
    assert error["code"] == code
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [model.top_of(strokes[:-1])]


def test_a_flooding_client_is_rate_limited(make_app: Callable[..., Flask], model: Any) -> None:
    app = make_app(RATE_LIMIT=0.01, RATE_BURST=3)
    client = connect(app)
    for seq in range(1, 11):
        client.emit("stroke_points", {"seq": seq, "points": [[seq, seq * seq % 7]]})
    errors = received(client, "error")
    assert [e["code"] for e in errors] == ["rate_limited"]  # one notice, not one per dropped message
    flush(app)
    [prediction] = received(client, "prediction")
    assert prediction["seq"] == 3
    assert prediction["top"] == model.top_of([[[1, 1], [2, 4], [3, 2]]])


def test_a_failing_model_reports_an_internal_error_and_recovers(app: Flask, model: Any) -> None:
    client = connect(app)
    model.fail = True
    client.emit("stroke_points", {"seq": 1, "points": H_LINE[0]})
    flush(app)
    assert [(e["code"], e["seq"]) for e in received(client, "error")] == [("internal_error", 1)]
    model.fail = False
    client.emit("stroke_points", {"seq": 2, "points": V_LINE[0]})
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [model.top_of([H_LINE[0] + V_LINE[0]])]


def test_a_failing_handler_reports_an_internal_error(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Drawing) -> None:
        raise RuntimeError("handler failure (test)")

    client = connect(app)
    monkeypatch.setattr(Drawing, "undo", broken)
    client.emit("undo", {"seq": 1})
    assert [e["code"] for e in received(client, "error")] == ["internal_error"]
    assert client.is_connected()
    client.emit("stroke_points", {"seq": 2, "points": H_LINE[0]})
    flush(app)
    assert len(received(client, "prediction")) == 1


# --- metrics ------------------------------------------------------------------------------------------


def metric(text: str, name: str) -> float:
    """Return one sample's value from Prometheus' text format (the first line starting with `name`)."""
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name!r} in:\n{text}")


def test_metrics_count_messages_predictions_coalescing_and_errors(app: Flask) -> None:
    client = connect(app)
    client.emit("stroke_points", {"seq": 1, "points": H_LINE[0]})
    client.emit("stroke_points", {"seq": 2, "points": V_LINE[0]})  # folds the first into one prediction
    client.emit("stroke_end", {"seq": 3})
    client.emit("stroke_end", {"seq": 3})  # stale
    client.emit("scribble", {"seq": 4})  # unknown
    flush(app)
    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    assert metric(text, "realtime_connections") == 1
    assert metric(text, 'realtime_messages_total{event="stroke_points"}') == 2
    assert metric(text, 'realtime_messages_total{event="stroke_end"}') == 2
    assert metric(text, 'realtime_messages_total{event="unknown"}') == 1
    assert metric(text, "realtime_predictions_total") == 1
    assert metric(text, "realtime_coalesced_updates_total") == 2
    assert metric(text, 'realtime_errors_total{code="stale_seq"}') == 1
    assert metric(text, 'realtime_errors_total{code="unknown_event"}') == 1
    assert metric(text, "realtime_update_to_prediction_seconds_count") == 1
    assert metric(text, "realtime_live_round_seconds_count") == 1
    assert metric(text, 'realtime_model_info{name="fake",version="fake-1"}') == 1
    client.disconnect()
    assert metric(app.test_client().get("/metrics").get_data(as_text=True), "realtime_connections") == 0


def test_readiness_without_a_message_queue(app: Flask) -> None:
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    node = state_of(app).config.NODE_NAME
    assert answer.json == {
        "ready": True,
        "draining": False,
        "node": node,
        "model": "fake-1",
        "redis": "not configured",
    }


# --- handlers called directly -------------------------------------------------------------------------


class Emitted:
    """Records what a LiveEvents namespace emits, in place of sending it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], str]] = []

    def __call__(self, event: str, data: dict[str, Any], to: str, ignore_queue: bool = False) -> None:
        assert ignore_queue, "an answer to one connection of this process never goes through the queue"
        self.events.append((event, data, to))

    def take(self) -> list[tuple[str, Any]]:
        """Return (event, code or payload) pairs recorded so far, and forget them."""
        taken = [(event, data.get("code", data)) for event, data, _ in self.events]
        self.events.clear()
        return taken


@pytest.fixture
def events(app: Flask, monkeypatch: pytest.MonkeyPatch) -> tuple[LiveEvents, Emitted]:
    """The app's event handlers, with what they emit recorded instead of sent."""
    namespace = state_of(app).events
    emitted = Emitted()
    monkeypatch.setattr(namespace, "emit", emitted)
    return namespace, emitted


def test_each_event_is_a_method_that_parses_applies_and_marks_for_prediction(
    app: Flask, events: tuple[LiveEvents, Emitted]
) -> None:
    handlers, emitted = events
    live = state_of(app).live
    handlers.on_connect("sid-1", {}, {"see_bitmap": True})
    [(name, ready)] = emitted.take()
    assert name == "ready" and ready["limits"] == handlers.limits.advertised()
    session = live.get("sid-1")
    assert session is not None and session.see_bitmap
    handlers.on_stroke_points("sid-1", {"seq": 1, "points": H_LINE[0]})
    handlers.on_stroke_end("sid-1", {"seq": 2})
    handlers.on_stroke_points("sid-1", {"seq": 3, "points": V_LINE[0]})
    assert (session.drawing.strokes, session.drawing.points, session.last_seq) == (2, 6, 3)
    assert list(live._dirty) == ["sid-1"]  # marked for the next round of predictions
    handlers.on_undo("sid-1", {"seq": 4})
    assert session.drawing.strokes == 1
    handlers.on_sync("sid-1", {"seq": 5, "strokes": quickdraw_form(CIRCLE + H_LINE)})
    assert (session.drawing.strokes, session.drawing.points) == (2, 43)
    handlers.on_clear("sid-1", {"seq": 6})
    handlers.on_options("sid-1", {"see_bitmap": False})
    assert (session.drawing.points, session.last_seq, session.see_bitmap) == (0, 6, False)
    assert emitted.take() == []  # nothing refused
    handlers.on_disconnect("sid-1", "client disconnect")
    assert live.get("sid-1") is None


def test_handlers_refuse_bad_input_without_changing_anything(
    app: Flask, events: tuple[LiveEvents, Emitted]
) -> None:
    handlers, emitted = events
    handlers.on_connect("sid-2", {})
    emitted.take()
    drawing = state_of(app).live.get("sid-2").drawing
    handlers.on_stroke_points("sid-2", {"seq": 1, "points": H_LINE[0]})
    handlers.on_stroke_points("sid-2", {"seq": 1, "points": V_LINE[0]})  # stale
    handlers.on_stroke_points("sid-2", {"seq": 2, "points": [[0, "x"]]})
    handlers.on_sync("sid-2", {"seq": 3, "strokes": "nope"})
    handlers.on_snapshot("sid-2", {"seq": 4, "image": "data:image/gif;base64,R0lG"})
    handlers.on_options("sid-2", {"see_bitmap": "yes"})
    handlers.on_undo("sid-2")  # no payload at all
    assert [code for _, code in emitted.take()] == [
        "stale_seq",
        "bad_points",
        "bad_strokes",
        "bad_data_url",
        "bad_payload",
        "bad_payload",
    ]
    assert (drawing.strokes, drawing.points) == (1, 3)


def test_dispatch_answers_unknown_events_and_handler_failures(
    events: tuple[LiveEvents, Emitted], monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers, emitted = events
    handlers.trigger_event("connect", "sid-3", {})
    emitted.take()
    handlers.trigger_event("erase_everything", "sid-3", {"seq": 1})
    handlers.trigger_event("__init__", "sid-3", {"seq": 1})  # never a way to reach other methods
    monkeypatch.setattr(Drawing, "clear", lambda self: 1 / 0)
    handlers.trigger_event("clear", "sid-3", {"seq": 2})
    assert [code for _, code in emitted.take()] == ["unknown_event", "unknown_event", "internal_error"]


# --- the shipped model --------------------------------------------------------------------------------


def test_streaming_a_real_drawing_to_the_shipped_model(real_model: Path) -> None:
    app = create_app(Config(ASYNC_MODE="threading"), live_worker=False)
    recognizer = state_of(app).model
    assert isinstance(recognizer, Recognizer)
    assert recognizer.version.startswith("animals6-")
    record = drawings("cat")[14]  # the held-out raw cat drawing of the trainer's test split (seed 0)
    client = connect(app)
    client.emit("sync", {"seq": 1, "strokes": record["drawing"]})
    flush(app)
    [prediction] = received(client, "prediction")
    assert prediction["top"][0]["label"] == record["word"]
    client.emit("clear", {"seq": 2})
    flush(app)
    assert [p["top"] for p in received(client, "prediction")] == [[]]
