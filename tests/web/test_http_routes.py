"""HTTP routes through Flask's test client: the page, the classic form POST, the JSON API, /healthz.

A stand-in model checks what each route does with its input; the shipped model checks that a real
drawing, drawn to a PNG with OpenCV like the page's canvas, comes back as its class.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from harness.quickdraw import canvas_png_data_url, drawings, raw_points
from realtime import create_app
from realtime.config import Config
from realtime.core import images, preprocess
from tests.support.images import data_url, png_bomb

CIRCLE = [[50 + 40 * np.cos(a), 50 + 40 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 40)]


@pytest.fixture
def app(model: Any) -> Flask:
    return create_app(Config(ASYNC_MODE="threading"), load_model=lambda _: model, live_worker=False)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def circle_png() -> str:
    """Return a PNG data URL of a hand-drawn-looking circle, black on white."""
    image = np.full((300, 300, 3), 255, np.uint8)
    cv2.circle(image, (150, 150), 100, (0, 0, 0), 8, cv2.LINE_AA)
    return data_url(image)


def result_label(html: str) -> str:
    """Return the best guess shown on the results page."""
    match = re.search(r'id="result-label">([^<]+)<', html)
    assert match, html[:2000]
    return match.group(1)


# --- pages --------------------------------------------------------------------------------------------


def test_index_shows_the_drawing_page_with_security_headers(client: FlaskClient, model: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="canvas"' in html
    assert all(label in html for label in model.labels)
    assert model.version in html
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_form_post_shows_the_results_page(client: FlaskClient, model: Any) -> None:
    url = circle_png()
    response = client.post("/predict", data={"url": url})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    bitmap = images.data_url_to_bitmap(url)
    expected = model.top_of_bitmap(bitmap, None)
    assert result_label(html) == expected[0]["label"]
    assert re.findall(r'<li data-label="([^"]+)"', html) == [guess["label"] for guess in expected]
    assert images.bitmap_to_png_data_url(bitmap) in html  # what the model saw
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({}, 400, "data URL"),
        ({"url": "hello"}, 400, "data:image/png, jpeg or webp"),
        ({"url": "data:image/png;base64,%%%"}, 400, "base64"),
        ({"url": data_url(np.zeros((20, 20, 3), np.uint8), ".bmp")}, 400, "not a PNG, JPEG or WebP"),
        ({"url": data_url(np.full((50, 50, 3), 255, np.uint8))}, 400, "no ink"),
        ({"url": png_bomb()}, 413, "60000×60000"),
        ({"url": "data:image/png;base64," + "A" * 720_000}, 413, "over"),
    ],
    ids=["missing", "not-a-data-url", "bad-base64", "bmp", "blank", "png-bomb", "over-image-cap"],
)
def test_form_post_refuses_bad_input_with_an_error_page(
    client: FlaskClient, form: dict[str, str], status: int, words: str
) -> None:
    response = client.post("/predict", data=form)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert f"({status})" in html and words in html
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_oversized_form_body_gets_413_before_it_is_read(client: FlaskClient) -> None:
    response = client.post("/predict", data={"url": "data:image/png;base64," + "A" * 1_100_000})
    assert response.status_code == 413
    assert "(413)" in response.get_data(as_text=True)


@pytest.mark.parametrize("encoding", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_png_just_under_the_image_cap_fits_through_the_form(client: FlaskClient, encoding: str) -> None:
    # URL encoding escapes base64's "+", "/" and "=": the body limit leaves room for that.
    image = np.full((1000, 1000, 3), 255, np.uint8)
    image[300:700, 300:700] = np.random.default_rng(1).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    url = data_url(image)
    png_bytes = len(base64.b64decode(url.split(",", 1)[1]))
    assert 0.9 * 512 * 1024 < png_bytes <= 512 * 1024
    response = client.post("/predict", data={"url": url}, content_type=encoding)
    assert response.status_code == 200


def test_unknown_page_gets_the_error_page(client: FlaskClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert "(404)" in response.get_data(as_text=True)


# --- JSON API -----------------------------------------------------------------------------------------


def test_api_predicts_strokes(client: FlaskClient, model: Any) -> None:
    strokes = [[[p[0] for p in CIRCLE], [p[1] for p in CIRCLE]]]
    response = client.post("/api/predict", json={"strokes": strokes})
    assert response.status_code == 200
    bitmap = preprocess.rasterize_strokes([np.asarray(CIRCLE, float)])
    assert response.json == {
        "top": model.top_of([CIRCLE], None),
        "sure": model.sure_of_bitmap(bitmap),
        "model": model.version,
    }


def test_api_predicts_an_image(client: FlaskClient, model: Any) -> None:
    url = circle_png()
    response = client.post("/api/predict", json={"image": url})
    assert response.status_code == 200
    assert response.json["top"] == model.top_of_bitmap(images.data_url_to_bitmap(url), None)
    assert response.json["sure"] is model.sure_of_bitmap(images.data_url_to_bitmap(url))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "bad_payload"),
        ([1, 2], 400, "bad_payload"),
        ({}, 400, "bad_payload"),
        ({"strokes": [], "image": ""}, 400, "bad_payload"),
        ({"strokes": []}, 400, "empty_drawing"),
        ({"strokes": "x"}, 400, "bad_strokes"),
        ({"strokes": [[[1, 2], ["a", "b"]]]}, 400, "bad_points"),
        ({"strokes": [[[5], [5]]]}, 400, "too_small"),
        ({"strokes": [[[0], [0]]] * 600}, 413, "too_many_strokes"),
        ({"strokes": [[list(range(10_001)), list(range(10_001))]] * 2}, 413, "too_many_points"),
        ({"image": 5}, 400, "bad_data_url"),
        ({"image": png_bomb()}, 413, "image_too_large"),
    ],
    ids=[
        "not-json",
        "list",
        "empty",
        "both",
        "no-strokes",
        "strokes-string",
        "bad-points",
        "dot",
        "too-many-strokes",
        "too-many-points",
        "image-number",
        "png-bomb",
    ],
)
def test_api_refuses_bad_input_with_json_errors(
    client: FlaskClient, body: Any, status: int, code: str
) -> None:
    if isinstance(body, str):
        response = client.post("/api/predict", data=body, content_type="application/json")
    else:
        response = client.post("/api/predict", json=body)
    assert response.status_code == status
    assert response.json["code"] == code
    assert response.json["message"]


def test_api_answers_an_oversized_body_with_json_413(client: FlaskClient) -> None:
    response = client.post("/api/predict", json={"image": "data:image/png;base64," + "A" * 1_100_000})
    assert response.status_code == 413
    assert response.json["code"] == "request_entity_too_large"


def test_healthz_reports_the_model_and_uptime(client: FlaskClient, model: Any) -> None:
    started = time.monotonic()
    response = client.get("/healthz")
    assert response.status_code == 200
    health = response.json
    assert health["status"] == "ok"
    assert (health["model"], health["version"], health["labels"]) == ("fake", model.version, model.labels)
    time.sleep(0.05)
    grown = client.get("/healthz").json["uptime_s"] - health["uptime_s"]
    assert 0.049 <= grown <= time.monotonic() - started + 0.001  # seconds, rounded to milliseconds
    assert health["connections"] == 0


# --- the shipped model --------------------------------------------------------------------------------

# Raw drawings held out by the trainer's split (seed 0): the only held-out cat, the first held-out giraffe.
HELD_OUT = [("cat", 14), ("giraffe", 0)]


@pytest.mark.parametrize(("word", "index"), HELD_OUT)
def test_form_post_of_a_real_drawing_shows_its_class(
    real_model: Path,
    word: str,
    index: int,
) -> None:
    app = create_app(Config(ASYNC_MODE="threading"), live_worker=False)
    record = drawings(word)[index]
    assert record["word"] == word
    response = app.test_client().post(
        "/predict", data={"url": canvas_png_data_url(raw_points(record["drawing"]), brush=8)}
    )
    assert response.status_code == 200
    assert result_label(response.get_data(as_text=True)) == word


def test_api_classifies_real_strokes(real_model: Path) -> None:
    app = create_app(Config(ASYNC_MODE="threading"), live_worker=False)
    record = drawings("fish")[22]  # the only held-out raw fish
    response = app.test_client().post("/api/predict", json={"strokes": record["drawing"]})
    assert response.status_code == 200
    assert response.json["top"][0]["label"] == "fish"
    assert response.json["model"].startswith("animals6-")


# --- Socket.IO's HTTP handshake -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cors", "origin", "allowed"),
    [
        (None, "http://localhost", True),  # the page's own origin
        (None, "https://evil.example", False),
        ("https://draw.example", "https://draw.example", True),
        ("https://draw.example", "http://localhost", False),
        ("*", "https://anyone.example", True),
    ],
)
def test_socketio_accepts_only_the_configured_origins(
    model: Any, cors: str | None, origin: str, allowed: bool
) -> None:
    origins = None if cors is None else "*" if cors == "*" else (cors,)
    config = Config(ASYNC_MODE="threading", CORS_ORIGINS=origins)
    client = create_app(config, load_model=lambda _: model, live_worker=False).test_client()
    response = client.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})
    assert (response.status_code == 200) is allowed
    if allowed:
        assert response.headers["Access-Control-Allow-Origin"] == origin
