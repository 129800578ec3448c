"""Hot model reload in one process: POST /admin/reload, the admin token, verification, the `model` event."""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from realtime import create_app, socketio
from realtime.config import Config
from realtime.model.files import MODELS_DIR
from realtime.model.ranking import ModelError, classes
from realtime.model.recognizer import Recognizer, litert_loader
from realtime.web.state import state_of

TOKEN = "test-token-" + "x" * 16
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LINE = [[[0, 0], [50, 40], [100, 0]]]


@pytest.fixture
def make_app(model: Any, tmp_path: Path) -> Callable[..., Flask]:
    """Return a factory of apps serving the fake model, without a background worker; reloads load models/."""
    shipped = litert_loader()

    def load(name: str) -> Any:
        return model if name == model.name else shipped(name)

    def make(**config: Any) -> Flask:
        # With ADMIN_TOKEN the app keeps taught words: in the test's folder, not data/.
        config.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'words.sqlite3'}")
        settings = Config(ASYNC_MODE="threading", MODEL=model.name, **config)
        return create_app(settings, load_model=load, live_worker=False)

    return make


@pytest.fixture
def broken_model() -> Iterator[str]:
    """A model folder whose labels are in the wrong order: it loads, but fails its check."""
    name = f"test-broken-{uuid.uuid4().hex[:8]}"
    folder = MODELS_DIR / name
    shutil.copytree(MODELS_DIR / "animals6", folder, ignore=shutil.ignore_patterns("*.keras", "*.png"))
    labels = json.loads((folder / "labels.json").read_text())
    (folder / "labels.json").write_text(json.dumps(labels[::-1]))
    yield name
    shutil.rmtree(folder)


def reload(app: Flask, body: Any, headers: dict[str, str] | None = None) -> Any:
    """POST /admin/reload."""
    return app.test_client().post("/admin/reload", json=body, headers=AUTH if headers is None else headers)


def test_without_a_token_the_route_does_not_exist(make_app: Callable[..., Flask]) -> None:
    assert reload(make_app(), {"model": "everyday20"}).status_code == 404


def test_a_short_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="ADMIN_TOKEN"):
        Config(ADMIN_TOKEN="secret")


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}]
)
def test_a_missing_or_wrong_token_gets_401_and_changes_nothing(
    make_app: Callable[..., Flask], headers: dict
) -> None:
    app = make_app(ADMIN_TOKEN=TOKEN)
    answer = reload(app, {"model": "everyday20"}, headers)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert state_of(app).model.version == "fake-1"


def test_guessing_the_token_is_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(ADMIN_TOKEN=TOKEN)
    codes = [reload(app, {"model": "x"}, {"Authorization": "Bearer nope"}).status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "no-such-model"}, 422, "bad_model"),
        ({"model": "../animals6"}, 422, "bad_model"),
        ({"modle": "everyday20"}, 400, "bad_payload"),
        ([1, 2], 400, "bad_payload"),
    ],
)
def test_bad_requests_change_nothing(
    make_app: Callable[..., Flask], body: Any, status: int, code: str
) -> None:
    app = make_app(ADMIN_TOKEN=TOKEN)
    answer = reload(app, body)
    assert (answer.status_code, answer.json["code"]) == (status, code)
    assert state_of(app).model.version == "fake-1"


def test_a_folder_that_fails_its_check_is_refused(make_app: Callable[..., Flask], broken_model: str) -> None:
    app = make_app(ADMIN_TOKEN=TOKEN)
    client = socketio.test_client(app)
    client.get_received()
    answer = reload(app, {"model": broken_model})
    assert answer.status_code == 422 and "fails its check" in answer.json["message"]
    assert state_of(app).model.version == "fake-1"
    assert client.get_received() == []  # no `model` event


def test_a_reload_switches_the_model_tells_clients_and_predicts_again(make_app: Callable[..., Flask]) -> None:
    app = make_app(ADMIN_TOKEN=TOKEN)
    live = state_of(app).live
    drawing, idle = socketio.test_client(app), socketio.test_client(app)
    drawing.get_received(), idle.get_received()
    drawing.emit("stroke_points", {"seq": 1, "points": LINE[0]})
    live.flush()
    [before] = [m["args"][0] for m in drawing.get_received() if m["name"] == "prediction"]
    assert before["model"] == "fake-1"
    answer = reload(app, {"model": "everyday20"})
    expected = Recognizer.from_name("everyday20")
    assert answer.status_code == 200 and answer.json["model"] == expected.version
    for client in (drawing, idle):
        [event] = client.get_received()
        assert event["name"] == "model" and event["args"][0] == {
            "model": expected.version,
            "labels": classes(expected),  # never its "something else" output
        }
        assert "_other" in expected.labels and "_other" not in event["args"][0]["labels"]
    assert live.flush() == 1  # the open drawing, at once; the empty one has nothing to predict
    [after] = [m["args"][0] for m in drawing.get_received() if m["name"] == "prediction"]
    assert (after["seq"], after["model"]) == (1, expected.version)
    assert after["top"][0]["label"] in expected.labels
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert f'realtime_model_info{{name="everyday20",version="{expected.version}"}} 1.0' in metrics
    assert 'version="fake-1"' not in metrics


def test_the_app_gets_every_model_from_the_loader_it_is_given(model: Any, tmp_path: Path) -> None:
    asked = []

    def load(name: str) -> Any:
        asked.append(name)
        named = copy.copy(model)
        named.name, named.version = name, f"{name}-1"
        named.verify = lambda: None  # passes its check
        return named

    words = f"sqlite:///{tmp_path / 'words.sqlite3'}"
    config = Config(ASYNC_MODE="threading", MODEL="first", ADMIN_TOKEN=TOKEN, DATABASE_URL=words)
    app = create_app(config, load_model=load, live_worker=False)
    assert state_of(app).model.version == "first-1"
    answer = reload(app, {"model": "second"})
    assert (answer.status_code, answer.json["model"]) == (200, "second-1")
    assert state_of(app).model.version == "second-1"
    assert asked == ["first", "second"]


def test_the_default_loader_runs_models_folders_on_litert() -> None:
    model = litert_loader()("everyday20")
    assert isinstance(model, Recognizer) and model.version == Recognizer.from_name("everyday20").version
    with pytest.raises(ModelError, match="plain folder name"):
        litert_loader()("../animals6")


@pytest.fixture
def corrupt_model() -> Iterator[str]:
    """A model folder whose model.tflite is not a model at all."""
    name = f"test-corrupt-{uuid.uuid4().hex[:8]}"
    folder = MODELS_DIR / name
    shutil.copytree(MODELS_DIR / "animals6", folder, ignore=shutil.ignore_patterns("*.keras", "*.png"))
    (folder / "model.tflite").write_bytes(b"not a flatbuffer" * 64)
    yield name
    shutil.rmtree(folder)


def test_a_corrupt_model_file_is_refused_with_422_not_500(
    make_app: Callable[..., Flask], corrupt_model: str
) -> None:
    app = make_app(ADMIN_TOKEN=TOKEN)
    answer = reload(app, {"model": corrupt_model})
    assert (answer.status_code, answer.json["code"]) == (422, "bad_model")
    assert "cannot be loaded" in answer.json["message"]


def test_a_check_file_without_answers_is_refused(make_app: Callable[..., Flask], broken_model: str) -> None:
    (MODELS_DIR / broken_model / "check.json").write_text(
        json.dumps({"drawing": [[[0, 9], [0, 9]]], "top": []})
    )
    answer = reload(make_app(ADMIN_TOKEN=TOKEN), {"model": broken_model})
    assert (answer.status_code, answer.json["code"]) == (422, "bad_model") and "malformed" in answer.json[
        "message"
    ]


def test_a_switch_during_a_round_predicts_its_drawings_again(
    make_app: Callable[..., Flask], model: Any
) -> None:
    app = make_app()
    live = state_of(app).live
    client = socketio.test_client(app)
    client.get_received()
    other = Recognizer.from_name("everyday20")
    real_predict = model.predict

    def predict_then_switch(batch: Any) -> Any:
        live.switch(other)  # a reload lands while this round classifies the first drawing
        return real_predict(batch)

    model.predict = predict_then_switch
    client.emit("stroke_points", {"seq": 1, "points": LINE[0]})
    live.flush()
    [first] = [m["args"][0] for m in client.get_received() if m["name"] == "prediction"]
    assert first["model"] == "fake-1"
    assert live.flush() == 1  # predicted again, at once, with the model now served
    [again] = [m["args"][0] for m in client.get_received() if m["name"] == "prediction"]
    assert (again["seq"], again["model"]) == (1, other.version)
