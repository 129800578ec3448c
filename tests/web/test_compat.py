"""The seam for library internals: each hooked name is checked at start-up; a missing one stops the server."""

from __future__ import annotations

import subprocess

import pytest
import socketio

from harness.processes import ROOT
from realtime.web import compat
from realtime.web.compat import Hook, IncompatibleLibrary

LIBRARIES = ("python-socketio", "python-engineio", "eventlet")


@pytest.mark.parametrize("mode", ["eventlet", "threading"])
def test_the_locked_libraries_have_every_hooked_name(mode: str) -> None:
    compat.check(mode)
    assert {hook.distribution for hook in compat.hooks("eventlet")} == set(LIBRARIES) - {"python-engineio"}


def test_hooks_are_named_only_in_the_seam() -> None:
    """`git grep` for the hooked private names finds them in realtime/web/compat.py only."""
    names = sorted({hook.name for hook in compat.hooks("eventlet") if hook.name.startswith("_")} | {"_async"})
    pattern = "|".join(rf"\.{name}\b" for name in names)
    found = subprocess.run(
        # These tests name them on purpose (to delete one); nothing else may.
        [
            "git",
            "grep",
            "-lE",
            pattern,
            "--",
            "*.py",
            ":!tests/web/test_compat.py",
            ":!tests/process/test_unsupported_library.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert found == ["realtime/web/compat.py"], found


def test_a_missing_name_is_reported_with_the_library_and_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socketio.Server, "_handle_event")
    with pytest.raises(IncompatibleLibrary) as refused:
        compat.check("threading")
    message = str(refused.value)
    assert message.startswith(f"python-socketio {compat.version('python-socketio')} is not supported: ")
    assert "has no _handle_event" in message and "\n" not in message


def test_a_changed_signature_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socketio.Server, "_handle_eio_disconnect", lambda self, eio_sid: None)
    with pytest.raises(
        IncompatibleLibrary, match=r"_handle_eio_disconnect takes \(self, eio_sid\), expected"
    ):
        compat.check("threading")


def test_a_function_hook_needs_only_the_parameters_used() -> None:
    def server(sock: object, app: object, max_size: int = 1, protocol: object = None) -> None: ...

    holder = type("Module", (), {"server": staticmethod(server)})
    assert Hook("x", lambda: holder, "server", ("protocol", "max_size"), exact=False).problem() is None
    assert "expected" in (
        Hook("x", lambda: holder, "server", ("socket_timeout",), exact=False).problem() or ""
    )
