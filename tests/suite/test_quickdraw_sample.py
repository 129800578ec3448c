"""A test that needs the Quick, Draw! sample is skipped without it, but fails the run where CI is set (CI
always has ../shared/quickdraw): run in an inner pytest session, against a stand-in sample folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import quickdraw

NEEDS_A_CAT = """
from harness.quickdraw import drawings


def test_reads_a_cat():
    assert drawings("cat")[0]["word"] == "cat"
"""


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty stand-in for ../shared/quickdraw, read instead of it (the readers' caches emptied around)."""
    folder = tmp_path / "quickdraw"
    folder.mkdir()
    monkeypatch.setattr(quickdraw, "SHARED", folder)
    quickdraw.drawings.cache_clear()
    yield folder
    quickdraw.drawings.cache_clear()


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None) -> pytest.RunResult:
    """Run a test that reads a cat in an inner session with the plugin, CI set to `ci` (None: unset)."""
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the plugin alone: no timeout, no hypothesis
    pytester.makepyfile(test_needs_a_cat=NEEDS_A_CAT)
    return pytester.runpytest_inprocess(
        "-p", "tests.support.quickdraw_sample", "-p", "no:cacheprovider", "-rs"
    )


def test_without_the_sample_the_test_is_skipped_saying_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sample: Path
) -> None:
    result = run(pytester, monkeypatch, None)
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["SKIPPED*test_needs_a_cat.py:*: needs the Quick, Draw! sample*cat.ndjson is missing"]
    )


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_missing_sample_fails_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sample: Path, ci: str
) -> None:
    result = run(pytester, monkeypatch, ci)
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*QuickDrawMissing: needs the Quick, Draw! sample*cat.ndjson is missing"])


def test_in_ci_a_partial_sample_fails_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sample: Path
) -> None:
    (sample / "README.md").write_text("The sample, but only its dogs.\n")
    (sample / "strokes" / "raw").mkdir(parents=True)
    (sample / "strokes" / "raw" / "dog.ndjson").write_text(json.dumps({"word": "dog", "drawing": []}) + "\n")
    result = run(pytester, monkeypatch, "true")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("ci", [None, "true"])
def test_with_the_sample_the_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sample: Path, ci: str | None
) -> None:
    (sample / "strokes" / "raw").mkdir(parents=True)
    (sample / "strokes" / "raw" / "cat.ndjson").write_text(json.dumps({"word": "cat", "drawing": []}) + "\n")
    result = run(pytester, monkeypatch, ci)
    result.assert_outcomes(passed=1)
