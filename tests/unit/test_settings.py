"""Settings from flags and the environment: the API connection cap, the wait for an env Secret."""

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


def test_env_secret_wait_default_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().env_secret_wait == Settings().env_secret_wait == 30.0
    assert settings("--env-secret-wait=2.5").env_secret_wait == 2.5
    monkeypatch.setenv("JUPYTERNETES_ENV_SECRET_WAIT", "0")
    assert settings().env_secret_wait == 0.0
    with pytest.raises(ValueError, match="env secret wait must be zero or more"):
        settings("--env-secret-wait=-1")
