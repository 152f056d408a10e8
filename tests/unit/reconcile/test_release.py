from __future__ import annotations

from typing import Any

from jupyternetes_operator.api import ANNOTATION_SERVERS, LABEL_INSTANCE, LABEL_RETAINED
from jupyternetes_operator.reconcile.plan import Holder
from jupyternetes_operator.reconcile.release import plan_release, summary


def claim(name: str, holder: str | None, servers: str | None, retained: bool = True) -> dict[str, Any]:
    labels = {LABEL_RETAINED: "true"} if retained else {}
    if holder:
        labels[LABEL_INSTANCE] = holder
    annotations = {ANNOTATION_SERVERS: servers} if servers is not None else {}
    return {"metadata": {"name": name, "namespace": "hub", "labels": labels, "annotations": annotations}}


def nobody(_: str) -> Holder:
    return Holder.ABSENT


def test_a_claim_only_this_server_used_is_deleted() -> None:
    steps = plan_release([claim("home-alice", "jupyter-alice", "jupyter-alice")], "jupyter-alice", nobody)
    assert [(s.name, s.remaining, s.delete) for s in steps] == [("home-alice", (), True)]
    assert summary(steps) == "deleted home-alice"


def test_a_claim_another_server_used_is_kept_and_forgets_this_one() -> None:
    steps = plan_release([claim("home-alice", "jupyter-alice", "jupyter-alice,jupyter-alice--lab")],
                         "jupyter-alice--lab", nobody)
    assert [(s.name, s.remaining, s.delete) for s in steps] == [("home-alice", ("jupyter-alice",), False)]
    assert summary(steps) == "kept home-alice (also used by jupyter-alice)"


def test_releasing_every_server_in_turn_deletes_the_claim_at_the_last() -> None:
    """Deleting a user: JupyterHub deletes each server forever in turn."""
    home = claim("home-alice", "jupyter-alice--lab", "jupyter-alice,jupyter-alice--lab")
    first = plan_release([home], "jupyter-alice", nobody)
    assert [(s.remaining, s.delete) for s in first] == [(("jupyter-alice--lab",), False)]
    after = claim("home-alice", "jupyter-alice--lab", ",".join(first[0].remaining))
    assert [(s.remaining, s.delete) for s in plan_release([after], "jupyter-alice--lab", nobody)] == [((), True)]


def test_a_claim_a_live_instance_holds_is_never_deleted() -> None:
    held = claim("home-alice", "jupyter-alice-2", "jupyter-alice")  # record and holder disagree: keep
    steps = plan_release([held], "jupyter-alice", lambda name: Holder.LIVE)
    assert [(s.delete, s.remaining) for s in steps] == [(False, ())]
    assert "held by another instance" in summary(steps)


def test_claims_that_do_not_name_the_server_or_are_not_retained_are_untouched() -> None:
    claims = [claim("home-bob", "jupyter-bob", "jupyter-bob"), claim("legacy", "jupyter-alice", None),
              claim("owned", "jupyter-alice", "jupyter-alice", retained=False)]
    assert plan_release(claims, "jupyter-alice", nobody) == []
    assert summary([]) == "no retained claim names this server"
