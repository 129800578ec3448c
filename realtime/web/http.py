"""What every HTTP route shares: security headers, error pages and JSON errors, the `costly` and `reads_body`
marks of views, the per-address refusal (429), the `article` filter and the `collecting` flag of every page.

`register(app)` installs the app-wide parts once; the blueprints (pages, api, admin, probes) use the rest.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    MethodNotAllowed,
    RequestEntityTooLarge,
    TooManyRequests,
)

from realtime.infra.ratelimit import AddressLimiter, client_address, rate_key, retry_after_seconds
from realtime.web.state import app_state

View = TypeVar("View", bound=Callable[..., Any])

# Methods whose requests carry a body by definition (a DELETE's body has no meaning).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CHUNK_BYTES = 64 * 1024
JSON_PREFIXES = "realtime.json_prefixes"  # the app's `extensions` key: URL prefixes of its JsonBlueprints
DATABASE_DOWN = "the database of collected drawings is unreachable: try again later"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Install the app-wide parts: security headers, error pages, the `article` filter, `collecting`."""
    app.add_template_filter(article)
    app.context_processor(collecting)
    app.after_request(security_headers)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(SQLAlchemyError, database_error)


def check_bodies(app: Flask) -> None:
    """Refuse an app with a POST, PUT or PATCH route that does not read its body whole (`@reads_body`)."""
    forgetful = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if BODY_METHODS & (rule.methods or set())
        and not getattr(app.view_functions[rule.endpoint], "reads_body", False)
    )
    if forgetful:
        raise RuntimeError(f"routes that take a body must read it with @reads_body: {', '.join(forgetful)}")


def article(word: str) -> str:
    """Return the indefinite article for a word: "an" before a vowel, else "a" (as static/guesses.js)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def collecting() -> dict[str, bool]:
    """Tell every page whether drawings are kept (COLLECT_DRAWINGS): they say so in one line."""
    return {"collecting": app_state().collector is not None}


def reads_body(view: View) -> View:
    """Mark a view that reads the request's body: a chunked one is read whole first (413 beyond the cap).

    Werkzeug cannot: under eventlet (no `wsgi.input_terminated`) it hands the view an empty body, and its
    own server cuts a long body at the cap without saying so. It runs after the blueprint's checks (the
    admin token), just before the view. Every route of a POST, PUT or PATCH must have it: the app factory
    checks (`check_bodies`).
    """

    @functools.wraps(view)
    def read_first(*args: Any, **kwargs: Any) -> Any:
        read_chunked_body()
        return view(*args, **kwargs)

    read_first.reads_body = True
    return cast(View, read_first)


def costly(view: View) -> View:
    """Mark a view that runs the model on what the client sends: 429 when the client's address is over its
    request rate (HTTP_RATE_LIMIT), before its body is read."""
    reading = reads_body(view)

    @functools.wraps(reading)
    def limited(*args: Any, **kwargs: Any) -> Any:
        state = app_state()
        refuse_over_rate(
            state.http_limiter,
            f"over {state.config.HTTP_RATE_LIMIT:g} requests per second from one address: try again later",
        )
        return reading(*args, **kwargs)

    limited.costly = True
    return cast(View, limited)


def read_chunked_body() -> None:
    """Read a body of unknown length (chunked) up to the cap: 413 beyond it, like a declared length."""
    environ = request.environ
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return  # a declared Content-Length: Werkzeug refuses one over the cap itself
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


def refuse_over_rate(limiter: AddressLimiter, message: str) -> None:
    """Spend one request of the client's budget in `limiter`; 429 with Retry-After when there is none."""
    config = app_state().config
    address = client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), config.TRUSTED_PROXIES
    )
    wait = limiter.retry_after(rate_key(address))
    if wait > 0:
        raise TooManyRequests(message, retry_after=retry_after_seconds(wait))


class JsonBlueprint(Blueprint):
    """A blueprint whose errors are JSON `{code, message}`: those of its views, and the routing errors
    (404, 405) of the URLs under its prefix, which Flask hands to the app's handlers, not a blueprint's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the blueprint (Blueprint's arguments) with its JSON error handlers."""
        super().__init__(*args, **kwargs)
        self.register_error_handler(HTTPException, json_http_error)
        self.register_error_handler(SQLAlchemyError, json_database_error)
        self.record(_claim_prefix)


def _claim_prefix(state: BlueprintSetupState) -> None:
    """Record a JsonBlueprint's URL prefix as registered (a parent's prefix included)."""
    state.app.extensions.setdefault(JSON_PREFIXES, set()).add(state.url_prefix or "")


def json_http_error(exc: HTTPException) -> tuple[Response, int, list[tuple[str, str]]]:
    """Answer an HTTP error as JSON: `{code, message}`, e.g. `request_entity_too_large`."""
    code = exc.name.lower().replace(" ", "_")
    return jsonify(code=code, message=exc.description or exc.name), exc.code or 500, _error_headers(exc)


def json_database_error(exc: SQLAlchemyError) -> tuple[Response, int]:
    """Answer 503 as JSON when the collected drawings' database fails."""
    log.warning("the database failed: %s", exc)
    return jsonify(code="database_unreachable", message=DATABASE_DOWN), 503


def http_error(exc: HTTPException) -> Any:
    """Answer an HTTP error (413 oversized body, 400 malformed, 404, ...) with the error page, or as JSON
    for a routing error of a JsonBlueprint's URL."""
    if _json_routing_error(exc):
        return json_http_error(exc)
    page, status = error_page(exc.code or 500, exc.description or exc.name)
    return page, status, _error_headers(exc)


def database_error(exc: SQLAlchemyError) -> tuple[str, int]:
    """Answer 503 when the collected drawings' database fails (it is down, say): live guessing goes on."""
    log.warning("the database failed: %s", exc)
    return error_page(503, DATABASE_DOWN)


def error_page(status: int, message: str) -> tuple[str, int]:
    """Render the error page."""
    model = app_state().model.version
    return render_template("error.html", status=status, message=message, model=model), status


def _error_headers(exc: HTTPException) -> list[tuple[str, str]]:
    """Return the headers an error carries besides its body's type: Retry-After on a 429, Allow on a 405."""
    return [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]


def _json_routing_error(exc: HTTPException) -> bool:
    """Tell whether `exc` is a routing error of a JsonBlueprint's URL.

    405: the path is a route's, for other methods, so its blueprint answers; 404: no route, so the
    JsonBlueprint whose prefix holds the path answers.
    """
    if request.url_rule is not None:  # raised by a route: its blueprint's handlers were asked first
        return False
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        adapter = current_app.create_url_adapter(request)
        try:
            rule, _ = adapter.match(method=exc.valid_methods[0], return_rule=True)
        except HTTPException:
            return False
        owner = rule.endpoint.rpartition(".")[0]
        return isinstance(current_app.blueprints.get(owner), JsonBlueprint)
    path = request.path
    return any(path.startswith(prefix + "/") for prefix in current_app.extensions.get(JSON_PREFIXES, ()))


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
