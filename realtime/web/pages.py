"""The pages: drawing (`/`), its results (`POST /predict`) and "Was it a camel?" (`POST /keep`), the game
(`/play`), a room's pages for players, host and board, and teaching a word (`/teach`)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound

from realtime.collect.store import Kept, clean_word, raw_drawing
from realtime.core import images, preprocess
from realtime.core.errors import InputError
from realtime.core.protocol import http_status
from realtime.game import rules as game
from realtime.model.ranking import TOP_K, classes, guesses
from realtime.model.words import MAX_WORD, MIN_EXAMPLES
from realtime.web.http import costly, error_page, refuse_over_rate
from realtime.web.state import app_state

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """Show the drawing page."""
    model = app_state().model
    return render_template("index.html", labels=classes(model), model=model.version)


@bp.get("/play")
def play_page() -> str:
    """Show the game: a solo game of six rounds, or a room to create or join."""
    state = app_state()
    model = state.model
    return render_template(
        "play.html",
        labels=classes(model),
        model=model.version,
        rounds=game.SOLO_ROUNDS,
        seconds=state.config.ROUND_SECONDS,
    )


@bp.get("/teach")
def teach_page() -> str:
    """Show the teaching page: a word, a few drawings of it, then live guesses that include it."""
    model = app_state().model
    return render_template(
        "teach.html", labels=classes(model), model=model.version, max_word=MAX_WORD, needed=MIN_EXAMPLES
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
    state = app_state()
    refuse_over_rate(state.room_limiter, "too many room pages from one address: try again later")
    try:
        code = game.parse_code(value)
    except InputError as exc:
        raise NotFound(exc.message) from exc
    if state.play.store.get(code) is None:
        raise NotFound("No such room: it may have ended or expired, or the code is mistyped.")
    return code


def _room_template(template: str, code: str, **values: Any) -> str:
    """Render one of a room's pages."""
    link = url_for("pages.room_page", code=code, _external=True)
    model = app_state().model.version
    return render_template(template, code=code, shown=game.shown_code(code), link=link, model=model, **values)


@bp.post("/predict")
@costly
def predict_page() -> str | tuple[str, int]:
    """Classify the canvas image data URL in form field `url` and show the results page."""
    state = app_state()
    model = state.model  # one model for the whole request, even if a reload switches it meanwhile
    try:
        bitmap, probabilities = state.classify(
            model,
            images.data_url_to_bitmap,
            request.form.get("url"),
            state.config.MAX_IMAGE_BYTES,
            state.config.MAX_IMAGE_SIDE,
        )
    except InputError as exc:
        return error_page(http_status(exc), exc.message)
    top, sure = guesses(model, probabilities)
    keep = None
    if state.collector is not None and request.form.get("strokes"):
        try:  # the strokes beside the image, for "Was it a camel?": kept only if they are sound
            keep = json.dumps(raw_drawing(json.loads(request.form["strokes"]), state.config.limits)[1])
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
@costly
def keep_drawing() -> str | tuple[str, int]:
    """Keep the drawing of the results page with the word its drawer confirmed (COLLECT_DRAWINGS)."""
    state = app_state()
    if state.collector is None:
        raise NotFound()
    model = state.model
    try:
        word = clean_word(request.form.get("word"))
        strokes, drawing = raw_drawing(json.loads(request.form.get("strokes") or "null"), state.config.limits)
        _, probabilities = state.classify(model, preprocess.rasterize_strokes, strokes)
    except (ValueError, RecursionError) as exc:  # InputError, or JSON that does not parse (or nests deep)
        error = exc if isinstance(exc, InputError) else InputError("bad_strokes", "the strokes are not JSON")
        return error_page(http_status(error), error.message)
    top, sure = guesses(model, probabilities, TOP_K)
    recognized = sure and top[0]["label"] == word
    state.collector.keep(Kept(word, drawing, recognized, "page", model.version, top))
    return render_template("kept.html", word=word, model=model.version)
