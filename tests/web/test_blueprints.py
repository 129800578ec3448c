"""The blueprints' shared rules, checked over every route of the app: a body is read whole (chunked too),
the public routes that take one are rate limited, the admin token guards every admin JSON route, and
errors come as JSON from the API and the admin's JSON routes (routing errors included), as pages elsewhere.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.routing import Rule
from werkzeug.test import EnvironBuilder, run_wsgi_app

from realtime import create_app
from realtime.config import Config
from realtime.infra.ratelimit import AddressLimiter
from realtime.web.admin import AdminApi
from realtime.web.http import BODY_METHODS, check_bodies
from realtime.web.state import AppState, app_state, state_of

TOKEN = "test-token-" + "x" * 16
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def make_app(model: Any, tmp_path: Path) -> Callable[..., Flask]:
    """Return a factory of apps serving the fake model; `full=True`: with the admin token and collecting."""

    def make(full: bool = False, **settings: Any) -> Flask:
        if full:
            settings |= {
                "ADMIN_TOKEN": TOKEN,
                "COLLECT_DRAWINGS": True,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'drawings.db'}",
            }
        settings.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'drawings.db'}")  # never data/'s
        return create_app(
            Config(ASYNC_MODE="threading", **settings), load_model=lambda _: model, live_worker=False
        )

    return make


def body_rules(app: Flask) -> list[Rule]:
    """Return the app's routes for a method that carries a body (POST, PUT, PATCH)."""
    return [rule for rule in app.url_map.iter_rules() if BODY_METHODS & (rule.methods or set())]


def unmarked(app: Flask, mark: str, rules: list[Rule]) -> list[str]:
    """Return the endpoints among `rules` whose view lacks `mark` (set by realtime.web.http's decorators)."""
    return [rule.endpoint for rule in rules if not getattr(app.view_functions[rule.endpoint], mark, False)]


def is_admin(app: Flask, endpoint: str) -> bool:
    """Tell whether an endpoint is one of an AdminApi blueprint (token-guarded JSON)."""
    return isinstance(app.blueprints.get(endpoint.rpartition(".")[0]), AdminApi)


def url_of(rule: Rule) -> str:
    """Return a URL of `rule` (a drawing's id: 1)."""
    return rule.rule.replace("<int:drawing_id>", "1")


def chunked(app: Flask, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
    """POST `body` as eventlet hands a chunked body to the app: no Content-Length, no `wsgi.input_terminated`.

    Return the status, the body and the content type of the answer.
    """
    environ = EnvironBuilder(path=url, method="POST", headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.pop("wsgi.input_terminated", None)
    environ |= {
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
    }
    answer, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), b"".join(answer), response_headers.get("Content-Type", "")


# --- a body is read whole -----------------------------------------------------------------------------


def test_every_route_that_takes_a_body_reads_it_whole(make_app: Callable[..., Flask]) -> None:
    app = make_app(full=True)
    rules = body_rules(app)
    assert {"pages.predict_page", "pages.keep_drawing", "api.predict"} <= {rule.endpoint for rule in rules}
    assert unmarked(app, "reads_body", rules) == []


def test_an_app_with_a_route_that_forgets_reads_body_does_not_start(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    check_bodies(app)
    app.add_url_rule("/forgetful", "forgetful", lambda: request.get_data(), methods=["POST"])
    with pytest.raises(RuntimeError, match="@reads_body: forgetful"):
        check_bodies(app)
    # What it would cost: the view gets an empty body when it arrives chunked under eventlet.
    assert chunked(app, "/forgetful", b"hello", {})[:2] == (200, b"")


def test_a_chunked_body_over_the_cap_gets_413_at_every_route(make_app: Callable[..., Flask]) -> None:
    app = make_app(full=True)
    over = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    for rule in body_rules(app):
        status, body, kind = chunked(app, url_of(rule), over, AUTH)
        assert status == 413, (rule.rule, status, body[:200])
        assert kind.startswith("application/json") == rule.rule.startswith(("/api/", "/admin/")), rule.rule


@pytest.mark.parametrize(
    ("url", "body", "content_type", "expected"),
    [
        ("/api/predict", b'{"strokes": [[[0, 50, 100], [0, 40, 0]]]}', "application/json", b'"top"'),
        ("/predict", b"url=nope", "application/x-www-form-urlencoded", b"data:image/png, jpeg or webp"),
        ("/admin/reload", b'{"model": "no-such-model"}', "application/json", b'"bad_model"'),
        ("/admin/api/drawings/1", b'{"word": "cat"}', "application/json", b"no such drawing"),
    ],
)
def test_a_chunked_body_under_the_cap_reaches_the_view_whole(
    make_app: Callable[..., Flask], url: str, body: bytes, content_type: str, expected: bytes
) -> None:
    # Each answer names what only the body held: the model's guesses, the form's field, the JSON's values.
    answer = chunked(make_app(full=True), url, body, {**AUTH, "Content-Type": content_type})[1]
    assert expected in answer, answer[:300]


# --- the rate limit of the routes that run the model ----------------------------------------------------


def test_every_public_route_that_takes_a_body_is_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(full=True)
    public = [rule for rule in body_rules(app) if not is_admin(app, rule.endpoint)]
    assert public and unmarked(app, "costly", public) == []
    admin = [rule for rule in body_rules(app) if is_admin(app, rule.endpoint)]
    assert (
        admin
        and [rule.endpoint for rule in admin if hasattr(app.view_functions[rule.endpoint], "costly")] == []
    )


@pytest.mark.parametrize("url", ["/predict", "/api/predict", "/keep"])
def test_a_costly_route_refuses_an_address_over_its_rate_before_reading(
    make_app: Callable[..., Flask], url: str
) -> None:
    app = make_app(HTTP_RATE_LIMIT=0.001, HTTP_RATE_BURST=1)  # /keep: 429 even where nothing is collected
    client = app.test_client()
    client.post(url, data="x")
    refused = client.post(url, data="x")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert refused.is_json == url.startswith("/api/")
    assert app.config["MAX_CONTENT_LENGTH"] < 2_000_000
    assert chunked(app, url, b"x" * 2_000_000, {})[0] == 429  # 429, not 413: refused before its body is read


# --- the admin routes -----------------------------------------------------------------------------------


def admin_rules(app: Flask) -> list[Rule]:
    """Return the admin's routes: the review page and every AdminApi route."""
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin/")]


def request_each(app: Flask, rules: list[Rule], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Request each rule with each of its methods (besides HEAD and OPTIONS); return the answers by route."""
    client = app.test_client()
    return {
        f"{method} {rule.rule}": client.open(url_of(rule), method=method, headers=headers or {})
        for rule in rules
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    }


def test_without_a_token_no_admin_route_exists(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(COLLECT_DRAWINGS=True, DATABASE_URL=f"sqlite:///{tmp_path / 'drawings.db'}")
    answers = request_each(app, admin_rules(app), AUTH)
    # reload; the review page, its list, relabel and delete; the words page, their list, delete and export
    assert len(answers) == 9
    assert {route: answer.status_code for route, answer in answers.items()} == dict.fromkeys(answers, 404)


def test_every_admin_json_route_needs_the_token(make_app: Callable[..., Flask]) -> None:
    app = make_app(full=True)
    guarded = [rule for rule in admin_rules(app) if is_admin(app, rule.endpoint)]
    # More routes than the burst of wrong tokens one address may send (5): each is refused, not slowed.
    state_of(app).admin_limiter = AddressLimiter(1.0, len(guarded) * 2)
    answers = request_each(app, guarded, {"Authorization": "Bearer wrong-token-0123456789"})
    assert len(answers) == 7  # reload, the review's three, the taught words' three
    for route, answer in answers.items():
        assert (answer.status_code, answer.json["code"]) == (401, "unauthorized"), route
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert (
        request_each(app, [r for r in admin_rules(app) if r not in guarded])[
            "GET /admin/drawings"
        ].status_code
        == 200
    )


def test_without_collected_drawings_the_review_does_not_exist_whatever_the_token(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(ADMIN_TOKEN=TOKEN)
    answers = request_each(app, [r for r in admin_rules(app) if "drawings" in r.rule])
    assert len(answers) == 4
    assert {route: answer.status_code for route, answer in answers.items()} == dict.fromkeys(answers, 404)
    assert app.test_client().post("/admin/reload", json={}).status_code == 401  # reload needs no collector


# --- errors: JSON from the API and the admin's JSON routes, pages elsewhere ------------------------------


@pytest.mark.parametrize(
    ("method", "url", "status", "json"),
    [
        ("GET", "/nowhere", 404, False),
        ("GET", "/predict", 405, False),
        ("GET", "/api", 404, False),
        ("GET", "/api/", 404, True),
        ("GET", "/api/nowhere", 404, True),
        ("GET", "/api/predict", 405, True),
        ("POST", "/api/predict/", 404, True),
        ("GET", "/admin/", 404, False),
        ("POST", "/admin/drawings", 405, False),
        ("GET", "/admin/reload", 405, True),
        ("GET", "/admin/reload/", 404, True),
        ("POST", "/admin/reload", 404, True),  # no token configured: raised by the admin blueprint
        ("GET", "/admin/drawings", 404, False),
        ("GET", "/admin/api", 404, False),
        ("GET", "/admin/api/nowhere", 404, True),
        ("GET", "/admin/api/drawings", 404, True),
        ("GET", "/admin/api/drawings/1", 405, True),
        ("DELETE", "/admin/api/drawings/abc", 404, True),
        ("DELETE", f"/admin/api/drawings/{2**62 + 1}", 404, True),
    ],
)
def test_errors_are_json_for_the_api_and_the_admin_json_routes_pages_elsewhere(
    make_app: Callable[..., Flask], method: str, url: str, status: int, json: bool
) -> None:
    answer = make_app().test_client().open(url, method=method)
    assert answer.status_code == status
    if json:
        assert answer.json["code"] == {404: "not_found", 405: "method_not_allowed"}[status]
    else:
        assert f"({status})" in answer.get_data(as_text=True)
    assert ("Allow" in answer.headers) == (status == 405)


def test_a_drawing_id_beyond_the_databases_is_refused_before_the_token(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(full=True).test_client()
    assert client.delete(f"/admin/api/drawings/{2**62}").status_code == 401
    answer = client.delete(f"/admin/api/drawings/{2**62 + 1}")
    assert (answer.status_code, answer.json["code"]) == (404, "not_found")


def test_app_state_is_the_apps_own(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.app_context():
        state = app_state()
    assert isinstance(state, AppState) and state is state_of(app)
