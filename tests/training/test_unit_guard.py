"""The unit tests' guard against training is gone once they are: the training suite runs after them."""

from __future__ import annotations

import sys

import pytest

from tests.support.suites import OutsideUnitTest, unit_boundary


def test_outside_a_unit_test_nothing_refuses_tensorflow() -> None:
    """pytester's unit tests restore sys.meta_path as they found it, the guard on it included."""
    with unit_boundary("a unit test"):
        guards = [finder for finder in sys.meta_path if type(finder).__name__ == "_RefuseTraining"]
        assert guards, "the guard is on sys.meta_path"
        with pytest.raises(OutsideUnitTest):
            guards[0].find_spec("tensorflow.any_module", None)
    assert all(finder.find_spec("tensorflow.any_module", None) is None for finder in guards)
