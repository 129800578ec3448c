"""HTTP routes: the drawing page, the classic form POST, a JSON API and a health check."""

from __future__ import annotations

import hmac
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, RequestEntityTooLarge, TooManyRequests

from realtime.collect import drawings as collect
from realtime.core import images, preprocess
from realtime.core.errors import InputError
from realtime.core.protocol import http_status, parse_strokes
from realtime.game import rules as game
from realtime.infra.metrics import CONTENT_TYPE
from realtime.infra.ratelimit import AddressLimiter, client_address, rate_key, retry_after_seconds
from realtime.model.ranking import TOP_K, Model, classes, guesses
from realtime.model.recognizer import ModelError
from realtime.model.switcher import ReloadUnavailable

bp = Blueprint("pages", __name__)


@bp.app_template_filter("article")
def article(word: str) -> str:
    """Return the indefinite article for a word: "an" before a vowel, else "a" (as static/guesses.js)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


# They read a body and run the model.
COSTLY = frozenset({"pages.predict_page", "pages.predict_api", "pages.keep_drawing"})
CHUNK_BYTES = 64 * 1024
MAX_PAGE = 1_000_000  # of the review: far beyond any table, within every database's integers
MAX_ID = 2**62  # a drawing's id: SQLite's and PostgreSQL's integers hold no more
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _state() -> Any:
    """Return the app's shared state (realtime.server.AppState)."""
    return current_app.extensions["realtime"]


def _classify(
    model: Model, make_bitmap: Callable[..., np.ndarray], *args: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Build the 28×28 bitmap and classify it (one blocking call, run off the event loop)."""
    bitmap = make_bitmap(*args)
    return bitmap, model.predict(bitmap[np.newaxis])[0]


def _wants_json() -> bool:
    """Tell whether the request is for the JSON API rather than a page."""
    return request.path.startswith(("/api/", "/admin/api/", "/admin/reload"))


def _error_page(status: int, message: str) -> tuple[str, int]:
    """Render the error page."""
    return render_template("error.html", status=status, message=message, model=_state().model.version), status


@bp.app_context_processor
def collecting() -> dict[str, bool]:
    """Tell every page whether drawings are kept (COLLECT_DRAWINGS): they say so in one line."""
    return {"collecting": _state().collector is not None}


@bp.get("/")
def index() -> str:
    """Show the drawing page."""
    model = _state().model
    return render_template("index.html", labels=classes(model), model=model.version)


@bp.get("/play")
def play_page() -> str:
    """Show the game: a solo game of six rounds, or a room to create or join."""
    state = _state()
    model = state.model
    return render_template(
        "play.html",
        labels=classes(model),
        model=model.version,
        rounds=game.SOLO_ROUNDS,
        seconds=state.config.ROUND_SECONDS,
    )


@bp.get("/room")
def room_by_code() -> Response:
    """Go to the room whose code was typed into the join form (`?code=`)."""
    return redirect(url_for("pages.room_page", code=_room_code(request.args.get("code"))))


@bp.get("/room/<code>")
def room_page(code: str) -> str:
    """Show a room's page for players: a name to join with, then the rounds."""
    code = _room_code(code)
    return _room_template("room.html", code, max_name=game.MAX_NAME)


@bp.get("/room/<code>/host")
def host_page(code: str) -> str:
    """Show a room's host page: the board with the controls (the host's token is kept by the page)."""
    return _room_template("board.html", _room_code(code), host=True)


@bp.get("/room/<code>/board")
def board_page(code: str) -> str:
    """Show a room's board for a projector: every drawing live, the order of recognition, the scores."""
    return _room_template("board.html", _room_code(code), host=False)


def _room_code(value: Any) -> str:
    """Return a room code from a URL, or answer 404 for one that is malformed or names no room.

    Whether a code is in use is what a guesser wants to know: each address may ask as often as it may
    try to join (429 beyond).
    """
    _refuse_over_rate(_state().room_limiter, "too many room pages from one address: try again later")
    try:
        code = game.parse_code(value)
    except InputError as exc:
        raise NotFound(exc.message) from exc
    if _state().play.store.get(code) is None:
        raise NotFound("No such room: it may have ended or expired, or the code is mistyped.")
    return code


def _room_template(template: str, code: str, **values: Any) -> str:
    """Render one of a room's pages."""
    link = url_for("pages.room_page", code=code, _external=True)
    model = _state().model.version
    return render_template(template, code=code, shown=game.shown_code(code), link=link, model=model, **values)


@bp.post("/predict")
def predict_page() -> str | tuple[str, int]:
    """Classify the canvas image data URL in form field `url` and show the results page."""
    state = _state()
    model = state.model  # one model for the whole request, even if a reload switches it meanwhile
    try:
        bitmap, probabilities = state.run_blocking(
            _classify,
            model,
            images.data_url_to_bitmap,
            request.form.get("url"),
            state.config.MAX_IMAGE_BYTES,
            state.config.MAX_IMAGE_SIDE,
        )
    except InputError as exc:
        return _error_page(http_status(exc), exc.message)
    top, sure = guesses(model, probabilities)
    keep = None
    if state.collector is not None and request.form.get("strokes"):
        try:  # the strokes beside the image, for "Was it a camel?": kept only if they are sound
            keep = json.dumps(
                collect.raw_drawing(json.loads(request.form["strokes"]), state.config.limits)[1]
            )
        except (ValueError, RecursionError):  # InputError is a ValueError; nesting too deep for JSON
            keep = None
    return render_template(
        "results.html",
        top=top,
        sure=sure,
        bitmap=images.bitmap_to_png_data_url(bitmap),
        model=model.version,
        labels=classes(model),
        keep=keep,
    )


@bp.post("/keep")
def keep_drawing() -> str | tuple[str, int]:
    """Keep the drawing of the results page with the word its drawer confirmed (COLLECT_DRAWINGS)."""
    state = _state()
    if state.collector is None:
        raise NotFound()
    model = state.model
    try:
        word = collect.clean_word(request.form.get("word"))
        strokes, drawing = collect.raw_drawing(
            json.loads(request.form.get("strokes") or "null"), state.config.limits
        )
        _, probabilities = state.run_blocking(_classify, model, preprocess.rasterize_strokes, strokes)
    except (ValueError, RecursionError) as exc:  # InputError, or JSON that does not parse (or nests deep)
        error = exc if isinstance(exc, InputError) else InputError("bad_strokes", "the strokes are not JSON")
        return _error_page(http_status(error), error.message)
    top, sure = guesses(model, probabilities, TOP_K)
    recognized = sure and top[0]["label"] == word
    state.collector.keep(collect.Kept(word, drawing, recognized, "page", model.version, top))
    return render_template("kept.html", word=word, model=model.version)


@bp.post("/api/predict")
def predict_api() -> Response | tuple[Response, int]:
    """Classify JSON `{strokes}` (Quick, Draw! form) or `{image}` (data URL); answer `{top, sure, model}`."""
    state = _state()
    model = state.model  # one model for the whole request, even if a reload switches it meanwhile
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or ("strokes" in data) == ("image" in data):
        return jsonify(code="bad_payload", message="send a JSON object with either strokes or image"), 400
    try:
        if "strokes" in data:
            make_bitmap, args = (
                preprocess.rasterize_strokes,
                (parse_strokes(data["strokes"], state.config.limits),),
            )
        else:
            make_bitmap, args = (
                images.data_url_to_bitmap,
                (data["image"], state.config.MAX_IMAGE_BYTES, state.config.MAX_IMAGE_SIDE),
            )
        _, probabilities = state.run_blocking(_classify, model, make_bitmap, *args)
    except InputError as exc:
        return jsonify(code=exc.code, message=exc.message), http_status(exc)
    top, sure = guesses(model, probabilities)
    return jsonify(top=top, sure=sure, model=model.version)


@bp.get("/healthz")
def healthz() -> Response:
    """Report that the model is loaded, which one, and for how long the server has been up."""
    state = _state()
    return jsonify(
        status="ok",
        model=state.model.name,
        version=state.model.version,
        labels=classes(state.model),
        uptime_s=round(time.monotonic() - state.started, 3),
        node=state.config.NODE_NAME,
        connections=len(state.live),
    )


def _admin_denied() -> tuple[Response, int] | None:
    """Refuse a request without the admin token (401; 429 after five wrong ones; 404 if none is set)."""
    state = _state()
    token = state.config.ADMIN_TOKEN
    if not token:
        raise NotFound()  # no token configured: the admin routes do not exist
    given = request.headers.get("Authorization", "")
    if hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {token}".encode()):
        return None
    # Only wrong tokens spend the address's budget: guessing is slowed, the review's clicks are not.
    _refuse_over_rate(state.admin_limiter, "too many admin requests: try again later")
    answer = jsonify(code="unauthorized", message="send Authorization: Bearer <ADMIN_TOKEN>")
    answer.headers["WWW-Authenticate"] = "Bearer"
    return answer, 401


@bp.post("/admin/reload")
def reload_model() -> tuple[Response, int]:
    """Switch every server process to another model folder: `{"model": NAME}`, with the admin token."""
    state = _state()
    denied = _admin_denied()
    if denied:
        return denied
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        return jsonify(code="bad_payload", message='send {"model": "<folder under models/>"}'), 400
    try:
        model = state.switcher.request(data["model"])
    except ModelError as exc:
        return jsonify(code="bad_model", message=str(exc)), 422
    except ReloadUnavailable as exc:
        return jsonify(code="redis_unreachable", message=str(exc)), 503
    processes = "this" if state.switcher.redis is None else "all"
    return jsonify(model=model.version, labels=classes(model), processes=processes), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Report whether this process can serve: its model loaded, its message queue's Redis reachable."""
    state = _state()
    redis = state.redis_reachable()
    draining = state.live.draining
    ready = redis is not False and not draining
    body = jsonify(
        ready=ready,
        draining=draining,
        node=state.config.NODE_NAME,
        model=state.model.version,
        redis={None: "not configured", True: "ok", False: "unreachable"}[redis],
    )
    return body, 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Expose this process's metrics in Prometheus' text format."""
    return Response(_state().metrics.exposition(), content_type=CONTENT_TYPE)


@bp.before_app_request
def limit_rate() -> None:
    """Refuse the costly routes with 429 when the client's address is over its request rate."""
    if request.endpoint not in COSTLY:
        return
    state = _state()
    _refuse_over_rate(
        state.http_limiter,
        f"over {state.config.HTTP_RATE_LIMIT:g} requests per second from one address: try again later",
    )


def _refuse_over_rate(limiter: AddressLimiter, message: str) -> None:
    """Spend one request of the client's budget in `limiter`; 429 with Retry-After when there is none."""
    config = _state().config
    address = client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), config.TRUSTED_PROXIES
    )
    wait = limiter.retry_after(rate_key(address))
    if wait > 0:
        raise TooManyRequests(message, retry_after=retry_after_seconds(wait))


@bp.before_app_request
def read_chunked_body() -> None:
    """Read a body of unknown length (chunked) up to the cap: 413 beyond it, like a declared length.

    Werkzeug cannot: under eventlet (no `wsgi.input_terminated`) it hands the route an empty body, and
    its own server cuts a long body at the cap without saying so. Only environ is read before this runs.
    """
    environ = request.environ
    if request.endpoint not in COSTLY or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return  # no body read, or a declared Content-Length: Werkzeug refuses one over the cap itself
    cap = current_app.config["MAX_CONTENT_LENGTH"]
    source, body = environ["wsgi.input"], bytearray()
    try:
        while len(body) <= cap:
            piece = source.read(min(CHUNK_BYTES, cap + 1 - len(body)))
            if not piece:
                break
            body += piece
    except (OSError, ValueError) as exc:  # a malformed chunk, or the body ended early
        raise BadRequest("the chunked body is malformed or incomplete") from exc
    if len(body) > cap:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True


@bp.app_errorhandler(SQLAlchemyError)
def database_error(exc: SQLAlchemyError) -> Any:
    """Answer 503 when the collected drawings' database fails (it is down, say): live guessing goes on."""
    logging.getLogger(__name__).warning("the database failed: %s", exc)
    message = "the database of collected drawings is unreachable: try again later"
    if _wants_json():
        return jsonify(code="database_unreachable", message=message), 503
    return _error_page(503, message)


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    """Answer HTTP errors (413 oversized body, 400 malformed, 404, ...) as JSON for the API, else a page."""
    status = exc.code or 500
    message = exc.description or exc.name
    # Headers the error carries besides its own body's type: Retry-After on a 429.
    headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
    if _wants_json():
        return jsonify(code=exc.name.lower().replace(" ", "_"), message=message), status, headers
    page, status = _error_page(status, message)
    return page, status, headers


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


@bp.get("/admin/drawings")
def review_page() -> str:
    """Show the review of collected drawings (the page asks for the admin token; its data needs it)."""
    state = _state()
    if not state.config.ADMIN_TOKEN or state.collector is None:
        raise NotFound()
    return render_template("review.html", model=state.model.version)


@bp.get("/admin/api/drawings")
def review_list() -> tuple[Response, int] | Response:
    """List collected drawings, newest first: `?word=&page=` (48 a page), with every word's count."""
    drawings = _review_store()
    denied = _admin_denied()
    if denied:
        return denied
    word = request.args.get("word") or None
    try:
        page = int(request.args.get("page", "0"))
    except ValueError:
        page = -1
    if not 0 <= page <= MAX_PAGE:
        return jsonify(code="bad_payload", message=f"page must be a whole number from 0 to {MAX_PAGE}"), 400
    state = _state()
    rows, total = state.run_blocking(drawings.page, word, page)
    words = state.run_blocking(drawings.words)
    pages = max(1, -(-total // collect.PAGE_SIZE))
    return jsonify(
        words=[{"word": w, "count": n} for w, n in words],
        word=word,
        page=page,
        pages=pages,
        total=total,
        drawings=rows,
    )


@bp.post("/admin/api/drawings/<int:drawing_id>")
def review_relabel(drawing_id: int) -> tuple[Response, int] | Response:
    """Give a collected drawing another word: `{"word": ...}`."""
    drawings, denied = _review_access(drawing_id)
    if denied:
        return denied
    data = request.get_json(silent=True)
    try:
        word = collect.clean_word(data.get("word") if isinstance(data, dict) else None)
    except InputError as exc:
        return jsonify(code=exc.code, message=exc.message), 400
    if not _state().run_blocking(drawings.relabel, drawing_id, word):
        return jsonify(code="not_found", message="no such drawing"), 404
    return jsonify(id=drawing_id, word=word)


@bp.delete("/admin/api/drawings/<int:drawing_id>")
def review_delete(drawing_id: int) -> tuple[Response, int] | Response:
    """Delete a collected drawing."""
    drawings, denied = _review_access(drawing_id)
    if denied:
        return denied
    if not _state().run_blocking(drawings.delete, drawing_id):
        return jsonify(code="not_found", message="no such drawing"), 404
    return jsonify(id=drawing_id, deleted=True)


def _review_access(drawing_id: int) -> tuple[collect.DrawingStore, tuple[Response, int] | None]:
    """Return the table and the refusal, if any, for a request about one drawing (404 for an absurd id)."""
    if drawing_id > MAX_ID:
        raise NotFound()
    return _review_store(), _admin_denied()


def _review_store() -> collect.DrawingStore:
    """Return the collected drawings' table, or answer 404 when nothing is collected."""
    collector = _state().collector
    if collector is None:
        raise NotFound()
    return collector.store
