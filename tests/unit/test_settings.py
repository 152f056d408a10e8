"""Settings from flags and the environment: the API connection cap."""

from __future__ import annotations

import pytest

from jupyternetes_operator.cli import _parser, settings_from
from jupyternetes_operator.settings import Settings


def settings(*argv: str) -> Settings:
    return settings_from(_parser().parse_args(["run", *argv]))


def test_api_connections_default_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().api_connections == Settings().api_connections == 8
    assert settings("--api-connections=4").api_connections == 4
    monkeypatch.setenv("JUPYTERNETES_API_CONNECTIONS", "12")
    assert settings().api_connections == 12


def test_api_connections_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="api connections must be at least 1"):
        settings("--api-connections=0")
