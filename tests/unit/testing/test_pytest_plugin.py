"""The pytest plugin's failure diagnostics: a failed test shows the tail of the logs written while it ran."""

from __future__ import annotations

import pytest


def test_a_failed_test_shows_the_tail_of_the_logs_written_while_it_ran(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_fails(tmp_path):
            (tmp_path / "operator.log").write_text("\\n".join(f"operator line {i}" for i in range(100)))
            assert False, "the instance never became Ready"

        def test_passes(tmp_path):
            (tmp_path / "quiet.log").write_text("nothing to see")
    """)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("-p", "jupyternetes_operator.testing.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "tail of " in out
    assert "operator.log" in out
    assert "operator line 99" in out
    assert "operator line 60" in out
    assert "operator line 59" not in out  # the last 40 lines only
    assert "quiet.log" not in out  # a passing test shows nothing
