"""The admin routes, under /admin: the model's hot reload, the review of collected drawings, and the
deployment's taught words.

Without ADMIN_TOKEN none of them exists (404). The JSON routes (`AdminApi`) need the token, checked before
each of their views; the review and words pages need none (their data does). The review exists only while
drawings are collected (COLLECT_DRAWINGS); the taught words whenever there is a token. In this order: a
drawing's id in range, a token configured, the review existing (404 each), then the token sent (401).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import numpy as np
from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import NotFound

from realtime.collect.store import PAGE_SIZE, DrawingStore, clean_word
from realtime.collect.words import KeptWords
from realtime.core import images
from realtime.core.errors import InputError
from realtime.model.ranking import ModelError, classes
from realtime.model.switcher import ReloadUnavailable
from realtime.web.http import JsonBlueprint, reads_body, refuse_over_rate
from realtime.web.state import app_state

MAX_PAGE = 1_000_000  # of the review: far beyond any table, within every database's integers
MAX_ID = 2**62  # a drawing's id: SQLite's and PostgreSQL's integers hold no more

log = logging.getLogger(__name__)


def require_token() -> tuple[Response, int] | None:
    """Refuse a request without the admin token: 401, or 429 after five wrong ones."""
    state = app_state()
    given = request.headers.get("Authorization", "")
    if hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {state.config.ADMIN_TOKEN}".encode()):
        return None
    # Only wrong tokens spend the address's budget: guessing is slowed, the review's clicks are not.
    refuse_over_rate(state.admin_limiter, "too many admin requests: try again later")
    answer = jsonify(code="unauthorized", message="send Authorization: Bearer <ADMIN_TOKEN>")
    answer.headers["WWW-Authenticate"] = "Bearer"
    return answer, 401


class AdminApi(JsonBlueprint):
    """Admin routes that answer JSON, each request checked for the admin token before the view runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the blueprint (Blueprint's arguments) with the token check."""
        super().__init__(*args, **kwargs)
        self.before_request(require_token)


bp = Blueprint("admin", __name__, url_prefix="/admin")
# Its own prefix, so that a routing error under /admin/reload/ is answered as JSON (JsonBlueprint).
reload = AdminApi("reload", __name__, url_prefix="/reload")
review = Blueprint("review", __name__)
review_api = AdminApi("api", __name__, url_prefix="/api")
words = Blueprint("words", __name__)
# Beside the review's JSON routes, under /admin/api, but its own: it exists without collected drawings.
words_api = AdminApi("words_api", __name__, url_prefix="/api")


@bp.before_request
def admin_exists() -> None:
    """Answer 404 when no ADMIN_TOKEN is configured: the admin routes do not exist."""
    if not app_state().config.ADMIN_TOKEN:
        raise NotFound()


@reload.post("")
@reads_body
def reload_model() -> tuple[Response, int]:
    """Switch every server process to another model folder: `{"model": NAME}`."""
    state = app_state()
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


def _drawings() -> DrawingStore:
    """Return the collected drawings' table, or answer 404 when nothing is collected."""
    collector = app_state().collector
    if collector is None:
        raise NotFound()
    return collector.store


@review_api.url_value_preprocessor
def drawing_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Answer 404 for a drawing's id beyond any database's integers, before any other check."""
    if values and values.get("drawing_id", 0) > MAX_ID:
        raise NotFound()


@review.before_request
def review_exists() -> None:
    """Answer 404 when nothing is collected: the review does not exist, whatever the token."""
    _drawings()


@review.get("/drawings")
def review_page() -> str:
    """Show the review of collected drawings (the page asks for the admin token; its data needs it)."""
    return render_template("review.html", model=app_state().model.version)


@review_api.get("/drawings")
def review_list() -> tuple[Response, int] | Response:
    """List collected drawings, newest first: `?word=&page=` (48 a page), with every word's count."""
    word = request.args.get("word") or None
    try:
        page = int(request.args.get("page", "0"))
    except ValueError:
        page = -1
    if not 0 <= page <= MAX_PAGE:
        return jsonify(code="bad_payload", message=f"page must be a whole number from 0 to {MAX_PAGE}"), 400
    state, drawings = app_state(), _drawings()
    rows, total = state.run_blocking(drawings.page, word, page)
    words = state.run_blocking(drawings.words)
    pages = max(1, -(-total // PAGE_SIZE))
    return jsonify(
        words=[{"word": w, "count": n} for w, n in words],
        word=word,
        page=page,
        pages=pages,
        total=total,
        drawings=rows,
    )


@review_api.post("/drawings/<int:drawing_id>")
@reads_body
def review_relabel(drawing_id: int) -> tuple[Response, int] | Response:
    """Give a collected drawing another word: `{"word": ...}`."""
    data = request.get_json(silent=True)
    try:
        word = clean_word(data.get("word") if isinstance(data, dict) else None)
    except InputError as exc:
        return jsonify(code=exc.code, message=exc.message), 400
    if not app_state().run_blocking(_drawings().relabel, drawing_id, word):
        return jsonify(code="not_found", message="no such drawing"), 404
    return jsonify(id=drawing_id, word=word)


@review_api.delete("/drawings/<int:drawing_id>")
def review_delete(drawing_id: int) -> tuple[Response, int] | Response:
    """Delete a collected drawing."""
    if not app_state().run_blocking(_drawings().delete, drawing_id):
        return jsonify(code="not_found", message="no such drawing"), 404
    return jsonify(id=drawing_id, deleted=True)


def _kept() -> KeptWords:
    """Return the deployment's taught words, or answer 404 when it keeps none."""
    keeper = app_state().events.teacher.keeper
    if not isinstance(keeper, KeptWords):
        raise NotFound()
    return keeper


@words.get("/words")
def words_page() -> str:
    """Show the deployment's taught words (the page asks for the admin token; its data needs it)."""
    _kept()
    return render_template("words.html", model=app_state().model.version)


@words_api.get("/words")
def words_list() -> Response:
    """List the deployment's taught words, oldest first: each word's examples as the model saw them."""
    state = app_state()
    rows = state.run_blocking(_kept().store.listing)
    listed = [
        {
            "word": row["word"],
            "examples": len(row["bitmaps"]),
            "with_strokes": row["with_strokes"],
            "bitmaps": [
                images.bitmap_to_png_data_url(bitmap.astype(np.float32) / 255.0) for bitmap in row["bitmaps"]
            ],
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
        }
        for row in rows
    ]
    return jsonify(words=listed, max_words=state.events.teacher.max_words)


@words_api.delete("/words/<path:word>")
def words_delete(word: str) -> tuple[Response, int] | Response:
    """Delete a taught word: every process forgets it at once."""
    try:
        deleted = _kept().forget(word)
    except InputError as exc:  # the database is unreachable
        return jsonify(code=exc.code, message=exc.message), 503
    if not deleted:
        return jsonify(code="not_found", message="no such taught word"), 404
    return jsonify(word=word, deleted=True)


@words_api.get("/words.ndjson")
def words_export() -> Response:
    """Export every taught example drawn with strokes as Quick, Draw! raw ndjson (images are skipped: the
    `X-Skipped-Examples` header counts them)."""
    lines, skipped = app_state().run_blocking(_kept().store.export)
    if skipped:
        log.info("taught words exported: %d examples without strokes (images) skipped", skipped)
    answer = Response("".join(lines), mimetype="application/x-ndjson")
    answer.headers["Content-Disposition"] = 'attachment; filename="taught-words.ndjson"'
    answer.headers["X-Skipped-Examples"] = str(skipped)
    return answer


review.register_blueprint(review_api)
bp.register_blueprint(reload)
bp.register_blueprint(review)
bp.register_blueprint(words)
bp.register_blueprint(words_api)
