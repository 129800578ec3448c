"""Pytest plugin: a test that needs the Quick, Draw! sample is skipped without it, but fails where CI is set.

CI (`.ci/run` with CI=true) always has ../shared/quickdraw, so there a missing or partial sample is a broken
set-up that must fail the run, not skip most of the suite and exit 0.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

from harness.quickdraw import QuickDrawMissing


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report a test stopped by QuickDrawMissing as skipped, at the test's own line, unless CI is set."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(QuickDrawMissing) and not os.environ.get("CI"):
        path, line, _ = item.reportinfo()
        report.outcome = "skipped"
        report.longrepr = (str(path), (line or 0) + 1, f"Skipped: {call.excinfo.value}")
    return report
