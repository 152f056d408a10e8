"""Echoes: an update that is exactly this process's last write is recognised, and nothing else."""

from __future__ import annotations

from typing import Any

from jupyternetes_operator.machinery.echoes import Echoes
from jupyternetes_operator.machinery.store import ObjectKey

A, B, C = ObjectKey("ns", "a"), ObjectKey("ns", "b"), ObjectKey("ns", "c")


def at(version: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "a", "resourceVersion": version}}


def test_the_update_from_the_read_version_to_the_written_one_is_an_echo_once() -> None:
    echoes = Echoes()
    echoes.wrote(A, at("10"), at("11"))
    assert echoes.is_echo(A, at("10"), at("11"))
    assert not echoes.is_echo(A, at("10"), at("11"))  # one write, one event
    assert len(echoes) == 0


def test_a_write_by_someone_else_in_between_is_news() -> None:
    echoes = Echoes()
    echoes.wrote(A, at("10"), at("12"))
    assert not echoes.is_echo(A, at("10"), at("11"))  # the other writer's event
    assert not echoes.is_echo(A, at("11"), at("12"))  # ours, but on top of a version our read did not see
    assert len(echoes) == 0  # past the write: forgotten


def test_a_relist_that_skipped_versions_is_news() -> None:
    echoes = Echoes()
    echoes.wrote(A, at("10"), at("12"))
    assert not echoes.is_echo(A, at("9"), at("12"))


def test_other_keys_and_unrecorded_writes_are_news() -> None:
    echoes = Echoes()
    echoes.wrote(A, at("10"), at("11"))
    assert not echoes.is_echo(B, at("10"), at("11"))
    echoes.wrote(C, {"metadata": {}}, at("11"))  # no version read: nothing to match against
    assert not echoes.is_echo(C, at("10"), at("11"))


def test_a_newer_write_replaces_the_older_and_forget_drops_it() -> None:
    echoes = Echoes()
    echoes.wrote(A, at("10"), at("11"))
    echoes.wrote(A, at("11"), at("13"))
    assert not echoes.is_echo(A, at("10"), at("11"))
    echoes.forget(A)
    assert not echoes.is_echo(A, at("11"), at("13"))


def test_news_is_the_update_filter_by_the_objects_own_key() -> None:
    echoes = Echoes()
    echoes.wrote(A, at("10"), at("11"))
    assert echoes.news(at("9"), at("10"))
    assert not echoes.news(at("10"), at("11"))
