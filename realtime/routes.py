"""HTTP routes: the drawing page, the classic form POST, a JSON API and a health check."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from realtime import preprocess
from realtime.drawing import ProtocolError, parse_strokes
from realtime.live import Model, ranked

bp = Blueprint("pages", __name__)

TOO_LARGE = frozenset({"image_too_large", "too_many_points", "too_many_strokes", "too_much_ink"})
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _state() -> Any:
    """Return the app's shared state (realtime.server.AppState)."""
    return current_app.extensions["realtime"]


def _status(code: str) -> int:
    """Map an input error code to its HTTP status: 413 for input over a limit, else 400."""
    return 413 if code in TOO_LARGE else 400


def _classify(
    model: Model, make_bitmap: Callable[..., np.ndarray], *args: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Build the 28×28 bitmap and classify it (one blocking call, run off the event loop)."""
    bitmap = make_bitmap(*args)
    return bitmap, model.predict(bitmap[np.newaxis])[0]


def _wants_json() -> bool:
    """Tell whether the request is for the JSON API rather than a page."""
    return request.path.startswith("/api/")


def _error_page(status: int, message: str) -> tuple[str, int]:
    """Render the error page."""
    return render_template("error.html", status=status, message=message, model=_state().model.version), status


@bp.get("/")
def index() -> str:
    """Show the drawing page."""
    model = _state().model
    return render_template("index.html", labels=model.labels, model=model.version)


@bp.post("/predict")
def predict_page() -> str | tuple[str, int]:
    """Classify the canvas PNG data URL in form field `url` and show the results page."""
    state = _state()
    try:
        bitmap, probabilities = state.run_blocking(
            _classify,
            state.model,
            preprocess.data_url_to_bitmap,
            request.form.get("url"),
            current_app.config["MAX_IMAGE_BYTES"],
            current_app.config["MAX_IMAGE_SIDE"],
        )
    except preprocess.PreprocessError as exc:
        return _error_page(_status(exc.code), exc.message)
    return render_template(
        "results.html",
        top=ranked(state.model.labels, probabilities),
        bitmap=preprocess.bitmap_to_png_data_url(bitmap),
        model=state.model.version,
        labels=state.model.labels,
    )


@bp.post("/api/predict")
def predict_api() -> Response | tuple[Response, int]:
    """Classify JSON `{strokes}` (Quick, Draw! form) or `{image}` (PNG data URL); answer `{top, model}`."""
    state = _state()
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or ("strokes" in data) == ("image" in data):
        return jsonify(code="bad_payload", message="send a JSON object with either strokes or image"), 400
    try:
        if "strokes" in data:
            make_bitmap, args = (
                preprocess.rasterize_strokes,
                (parse_strokes(data["strokes"], state.live.limits),),
            )
        else:
            make_bitmap, args = (
                preprocess.data_url_to_bitmap,
                (data["image"], current_app.config["MAX_IMAGE_BYTES"], current_app.config["MAX_IMAGE_SIDE"]),
            )
        _, probabilities = state.run_blocking(_classify, state.model, make_bitmap, *args)
    except (ProtocolError, preprocess.PreprocessError) as exc:
        return jsonify(code=exc.code, message=exc.message), _status(exc.code)
    return jsonify(top=ranked(state.model.labels, probabilities), model=state.model.version)


@bp.get("/healthz")
def healthz() -> Response:
    """Report that the model is loaded, which one, and for how long the server has been up."""
    state = _state()
    return jsonify(
        status="ok",
        model=state.model.name,
        version=state.model.version,
        labels=state.model.labels,
        uptime_s=round(time.monotonic() - state.started, 3),
        connections=len(state.live),
    )


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    """Answer HTTP errors (413 oversized body, 400 malformed, 404, ...) as JSON for the API, else a page."""
    status = exc.code or 500
    message = exc.description or exc.name
    if _wants_json():
        return jsonify(code=exc.name.lower().replace(" ", "_"), message=message), status
    return _error_page(status, message)


@bp.after_app_request
def security_headers(response: Response) -> Response:
    """Add security headers; pages may only load the app's own scripts, styles and sockets."""
    host = request.host
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host} wss://{host}; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'",
    )
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
