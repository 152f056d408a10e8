"""Echoes: an update that is exactly this process's last write is recognised, and nothing else."""

from __future__ import annotations

from typing import Any

from jupyternetes_operator.machinery.echoes import Creations, Echoes
from jupyternetes_operator.machinery.frozen import freeze
from jupyternetes_operator.machinery.store import ObjectKey

A, B, C = ObjectKey("ns", "a"), ObjectKey("ns", "b"), ObjectKey("ns", "c")


def at(version: str, status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"namespace": "ns", "name": "a", "resourceVersion": version,
                                        "generation": generation}}
    return obj if status is None else {**obj, "status": status}


SENT = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


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


def test_an_echo_before_the_answer_is_known_by_the_status_sent() -> None:
    """A loaded API server can send the write's event before its answer: the update from the version
    read that makes the status exactly what was sent is the write's, once."""
    echoes = Echoes()
    echoes.expect(A, at("10", {"phase": "Provisioning"}), SENT)
    assert echoes.is_echo(A, at("10", {"phase": "Provisioning"}), freeze(at("11", SENT)))
    assert len(echoes) == 0
    assert not echoes.is_echo(A, at("10", {"phase": "Provisioning"}), freeze(at("11", SENT)))


def test_before_the_answer_anything_but_the_status_sent_is_news() -> None:
    echoes = Echoes()
    read = at("10", {"phase": "Provisioning"})
    echoes.expect(A, read, SENT)
    assert not echoes.is_echo(A, read, freeze(at("11", {"phase": "Provisioning"}, generation=2)))  # a spec write
    assert not echoes.is_echo(A, read, freeze(at("11", {**SENT, "phase": "Failed"})))  # another status
    assert not echoes.is_echo(A, at("11", {"phase": "Provisioning"}), freeze(at("12", SENT)))  # not from the read
    assert not echoes.is_echo(A, freeze(at("10", SENT)), freeze(at("11", SENT)))  # the status did not change
    assert len(echoes) == 1  # still waiting for its own event
    assert echoes.is_echo(A, read, freeze(at("11", SENT)))


def test_the_answer_makes_the_versions_decide() -> None:
    echoes = Echoes()
    read = at("10", {"phase": "Provisioning"})
    echoes.expect(A, read, SENT)
    echoes.wrote(A, read, at("12", SENT))
    assert not echoes.is_echo(A, read, freeze(at("11", SENT)))  # same status, but not the version answered
    echoes.expect(A, read, SENT)
    echoes.wrote(A, read, at("11", SENT))
    assert echoes.is_echo(A, read, at("11", SENT))
    echoes.expect(A, {"metadata": {}}, SENT)  # no version read: nothing to match against
    assert len(echoes) == 0


def made(kind: str, name: str, version: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"namespace": "ns", "name": name, "resourceVersion": version}}


def test_a_create_coming_back_as_answered_is_dropped_once_anything_else_is_news() -> None:
    creations = Creations()
    creations.created(made("Pod", "p", "5"), cached=None)
    creations.created(made("PersistentVolumeClaim", "p", "6"), cached=None)  # same name, other kind
    creations.created(made("Pod", "q", "7"), cached=None)
    assert not creations.news(made("Pod", "p", "5"))  # the create's own addition
    assert creations.news(made("Pod", "p", "5"))  # once
    assert creations.news(made("PersistentVolumeClaim", "p", "8"))  # changed before the cache saw it
    assert creations.news(made("Pod", "r", "9"))  # never created here
    creations.created(made("Pod", "s", "10"), cached=made("Pod", "s", "10"))  # the cache was first
    assert creations.news(made("Pod", "s", "10"))
    assert len(creations) == 1  # only q's is left


def test_creations_are_bounded_the_oldest_forgotten() -> None:
    creations = Creations(size=2)
    for n in range(3):
        creations.created(made("Pod", f"p{n}", str(n)), cached=None)
    assert len(creations) == 2
    assert creations.news(made("Pod", "p0", "0"))  # forgotten: one more reconcile, never a lost one
    assert not creations.news(made("Pod", "p2", "2"))
