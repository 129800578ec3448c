"""The suite's own rules: every folder is a known suite, a test carries its folder's marker, and a unit
test can neither start a process nor train (tests/support/suites.py, tests/conftest.py).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import ROOT, ServerProcess
from tests.support.suites import FOLDERS, KINDS, OutsideUnitTest

TESTS = ROOT / "tests"


def test_every_test_folder_is_a_known_suite() -> None:
    folders = {path.name for path in TESTS.iterdir() if (path / "__init__.py").is_file()}
    assert folders - {"support"} == set(FOLDERS)


def test_a_test_is_marked_by_its_folder_only(request: pytest.FixtureRequest) -> None:
    assert [mark.name for mark in request.node.iter_markers() if mark.name in KINDS] == ["unit"]


def test_a_unit_test_cannot_start_a_process() -> None:
    with pytest.raises(
        OutsideUnitTest, match=r"is a unit test \(make test-fast\) but runs `.*python\S* -c pass`"
    ):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


@pytest.fixture
def refused_in_setup() -> OutsideUnitTest | None:
    """Try to start a process while the test is being set up; return how it was refused."""
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    except OutsideUnitTest as refused:
        return refused
    return None


def test_nor_can_a_unit_tests_fixtures(refused_in_setup: OutsideUnitTest | None) -> None:
    assert refused_in_setup is not None


def test_a_unit_test_cannot_start_a_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.log")
    with pytest.raises(OutsideUnitTest, match="-m realtime"):
        server.start(timeout=5)
    assert server.process is None


def test_a_unit_test_may_run_git() -> None:
    assert subprocess.run(["git", "--version"], capture_output=True, check=False).returncode == 0


def test_a_unit_test_cannot_import_tensorflow() -> None:
    """Whether or not an earlier suite loaded TensorFlow, a module of it not loaded yet is refused."""
    with pytest.raises(OutsideUnitTest, match="training belongs in tests/training/"):
        importlib.import_module("tensorflow.not_loaded_by_any_test")
