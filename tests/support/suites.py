"""The test folders and what each may do: the unit folders run in-process only (`make test-fast`).

Every folder of tests/ is one suite, named by its marker; the conftest marks each test by its folder.
While a unit test is set up and run, starting a process or loading TensorFlow fails it (OutsideUnitTest),
saying where the test belongs instead.
"""

from __future__ import annotations

import importlib.abc
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

UNIT = "unit"
# Folder -> its marker. The unit folders mirror the packages they test; the others are the slow suites.
FOLDERS = {
    "app": UNIT,  # the top of realtime/: the settings, the app factory, the entry point
    "core": UNIT,
    "infra": UNIT,
    "model": UNIT,
    "collect": UNIT,
    "game": UNIT,
    "web": UNIT,
    "harness": UNIT,
    "bench": UNIT,
    "suite": UNIT,
    "architecture": UNIT,  # the README's map of the packages against the import contracts
    "services": "services",  # a real redis-server or PostgreSQL, no server process
    "process": "process",  # `python -m realtime` (or another of the project's programs) as a subprocess
    "cluster": "cluster",  # `python -m harness.cluster`: workers behind nginx, sharing Redis
    "browser": "browser",  # Debian's Chromium, driven by Playwright, against a server process
    "training": "training",  # the trainer: TensorFlow, training runs, the shipped models' figures
}
KINDS = frozenset(FOLDERS.values())
# Programs a unit test may run: `git grep` over the repository's own files starts no server.
ALLOWED_PROGRAMS = frozenset({"git"})
TRAINING_PACKAGES = frozenset({"tensorflow", "keras", "tf_keras"})


class OutsideUnitTest(AssertionError):
    """A unit test did what only the process, services, cluster, browser or training suites may do."""


def command_line(args: Any) -> list[str]:
    """Return the words of the command a Popen call runs."""
    if isinstance(args, str | bytes | os.PathLike):
        return os.fsdecode(args).split()
    return [os.fsdecode(word) for word in args]


class _RefuseTraining(importlib.abc.MetaPathFinder):
    """Refuses to import TensorFlow or Keras while a unit test runs: a unit test does not train.

    It stays on sys.meta_path once put there, and refuses only while `test` is set: pytester snapshots
    sys.meta_path during a unit test and restores it after, so a finder taken off again would come back.
    """

    test: str | None = None

    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> None:
        """Raise OutsideUnitTest for TensorFlow's and Keras's modules; let others be found as usual."""
        if self.test is not None and name.partition(".")[0] in TRAINING_PACKAGES:
            raise OutsideUnitTest(f"a unit test imported {name}: training belongs in tests/training/")


_REFUSE_TRAINING = _RefuseTraining()


@contextmanager
def unit_boundary(test: str) -> Iterator[None]:
    """While `test` runs: starting a process (other than git) or importing TensorFlow fails it."""
    original = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **options: Any) -> None:
        words = command_line(args)
        if not words or os.path.basename(words[0]) not in ALLOWED_PROGRAMS:
            raise OutsideUnitTest(
                f"{test} is a unit test (make test-fast) but runs `{' '.join(words)[:200]}`: a test that "
                "starts a server, redis-server, PostgreSQL, nginx, a browser or the trainer belongs in "
                "tests/process/, services/, cluster/, browser/ or training/"
            )
        original(self, args, *rest, **options)

    if _REFUSE_TRAINING not in sys.meta_path:
        sys.meta_path.insert(0, _REFUSE_TRAINING)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", refuse)
        previous, _REFUSE_TRAINING.test = _REFUSE_TRAINING.test, test
        try:
            yield
        finally:
            _REFUSE_TRAINING.test = previous
