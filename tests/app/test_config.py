"""Settings from environment variables (safe defaults, parsed values, refused nonsense) and the async mode."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from realtime import create_app
from realtime.config import Config
from realtime.core import images, preprocess
from realtime.infra.concurrency import call_directly, call_in_tpool
from realtime.web.state import state_of


def test_defaults_are_safe() -> None:
    config = Config.from_env({})
    assert (config.HOST, config.PORT, config.MODEL, config.ASYNC_MODE) == (
        "127.0.0.1",
        5000,
        "animals6-q8",
        "eventlet",
    )
    assert config.CORS_ORIGINS is None  # same origin only
    assert (
        len(config.SECRET_KEY) >= 32 and config.SECRET_KEY != Config.from_env({}).SECRET_KEY
    )  # random per process
    assert config.flask_settings()["MAX_CONTENT_LENGTH"] == config.MAX_MESSAGE_BYTES == 1_000_000
    # The largest PNG allowed, base64-encoded in a data URL, fits in one message.
    assert 4 * config.MAX_IMAGE_BYTES / 3 + 100 < config.MAX_MESSAGE_BYTES
    assert (config.MAX_POINTS, config.MAX_STROKES) == (preprocess.MAX_POINTS, preprocess.MAX_STROKES)


def test_environment_overrides() -> None:
    config = Config.from_env(
        {
            "HOST": "0.0.0.0",
            "PORT": "8080",
            "MODEL": "everyday20",
            "ASYNC_MODE": "threading",
            "CORS_ORIGINS": "https://a.example, https://b.example/",
            "SECRET_KEY": "s3cret",
            "MAX_POINTS": "500",
            "RATE_LIMIT": "30.5",
            "LOG_LEVEL": "debug",
            "BLOCKING_THREADS": "3",
        }
    )
    assert (config.HOST, config.PORT, config.MODEL, config.ASYNC_MODE) == (
        "0.0.0.0",
        8080,
        "everyday20",
        "threading",
    )
    assert config.CORS_ORIGINS == ("https://a.example", "https://b.example")
    assert (config.SECRET_KEY, config.MAX_POINTS, config.RATE_LIMIT, config.LOG_LEVEL) == (
        "s3cret",
        500,
        30.5,
        "DEBUG",
    )
    assert Config.from_env({"CORS_ORIGINS": "*"}).CORS_ORIGINS == "*"
    assert (config.BLOCKING_THREADS, Config.from_env({}).BLOCKING_THREADS) == (3, 2)


def test_limits_cannot_exceed_what_the_rasterizer_accepts() -> None:
    config = Config.from_env(
        {"MAX_POINTS": "999999999", "MAX_STROKES": "999999", "MAX_IMAGE_BYTES": "999999999"}
    )
    assert config.MAX_POINTS == preprocess.MAX_POINTS
    assert config.MAX_STROKES == preprocess.MAX_STROKES
    assert config.MAX_IMAGE_BYTES == images.MAX_IMAGE_BYTES


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "0"),
        ("ASYNC_MODE", "gevent"),
        ("RATE_LIMIT", "-1"),
        ("MAX_MESSAGE_BYTES", "10"),
    ],
)
def test_nonsense_is_refused_with_the_settings_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Config.from_env({name: value})


@dataclass(frozen=True)
class WithOptional(Config):
    """The settings plus one of each optional kind (none of Config's own is a `float | None` yet)."""

    GRACE_S: float | None = None
    RETRIES: int | None = None


def test_an_optional_setting_is_read_as_its_type_or_left_unset() -> None:
    config = WithOptional.from_env({"GRACE_S": "2.5", "RETRIES": "3"})
    assert (config.GRACE_S, config.RETRIES) == (2.5, 3)
    assert WithOptional.from_env({}).GRACE_S is None
    assert WithOptional.from_env({"GRACE_S": " "}).GRACE_S is None
    with pytest.raises(ValueError, match="GRACE_S must be a number"):
        WithOptional.from_env({"GRACE_S": "soon"})
    assert Config.from_env({"RATE_BURST_BYTES": "3000000"}).RATE_BURST_BYTES == 3_000_000


@dataclass(frozen=True)
class WithUnreadable(Config):
    """The settings plus one that no environment variable could give."""

    WINDOW: complex = 0j


def test_a_setting_without_a_parser_fails_even_when_its_variable_is_unset() -> None:
    with pytest.raises(TypeError, match="WINDOW"):
        WithUnreadable.from_env({})


def test_heavy_calls_leave_the_event_loop_in_eventlet_mode_only(model: Any) -> None:
    main = threading.get_ident()
    for mode, caller in (("eventlet", call_in_tpool), ("threading", call_directly)):
        app = create_app(Config(ASYNC_MODE=mode), load_model=lambda _: model, live_worker=False)
        run_blocking = state_of(app).run_blocking
        assert run_blocking is caller
        assert (run_blocking(threading.get_ident) != main) is (mode == "eventlet")
    import eventlet
    from eventlet import tpool

    tpool.killall()  # a running pool keeps its size: start afresh
    create_app(
        Config(ASYNC_MODE="eventlet", BLOCKING_THREADS=3), load_model=lambda _: model, live_worker=False
    )

    def busy_thread() -> int:
        time.sleep(0.05)
        return threading.get_ident()

    threads = set(eventlet.GreenPool(12).imap(lambda _: tpool.execute(busy_thread), range(12)))
    assert len(threads) == 3  # eventlet's default would be 20
    tpool.killall()


def test_new_limits_have_safe_defaults_and_caps() -> None:
    config = Config.from_env({})
    assert config.MAX_IMAGE_SIDE == 1024
    assert config.MAX_INK == 10_000
    assert config.RATE_BURST_BYTES >= config.MAX_MESSAGE_BYTES
    capped = Config.from_env({"MAX_IMAGE_SIDE": "100000", "RATE_BURST_BYTES": "10"})
    assert capped.MAX_IMAGE_SIDE == preprocess.MAX_IMAGE_SIDE
    assert capped.RATE_BURST_BYTES == capped.MAX_MESSAGE_BYTES
