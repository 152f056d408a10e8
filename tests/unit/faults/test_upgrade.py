"""The rolling upgrade's judges, on made-up histories: each catches what it is there to catch (a status
going backwards, a write outside the writer's term), so a clean run means something."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from faults.upgrade_build import stamped
from faults.upgrade_history import LeaseHistory, Seen, Statuses, flaps, writes_outside_terms

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def lease(holder: str, acquired: float, renewed: float | None = None) -> dict[str, Any]:
    return {"spec": {"holderIdentity": holder, "acquireTime": at(acquired), "renewTime": at(renewed or acquired)}}


def instance(phase: str | None, ready: str | None = None, deleting: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if ready:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    meta = {"name": "x", **({"deletionTimestamp": at(9)} if deleting else {})}
    return {"metadata": meta, "status": status}


def test_a_forward_path_is_no_flap_and_deletion_ends_the_record() -> None:
    statuses = Statuses()
    for obj in (instance(None), instance("Pending", "False"), instance("Provisioning", "False"),
                instance("Provisioning", "False"), instance("Running", "True"), instance("Running", "True", True),
                instance("Terminating", "False", True)):
        statuses.record(obj)
    assert statuses.flapped() == {}
    assert statuses.transitions == 5  # the repeated Provisioning is one state


def test_every_step_back_is_a_flap() -> None:
    running = Seen("Running", "True", False)
    assert flaps([running, Seen("Provisioning", "False", False)]) == ["Running/Ready=True -> Provisioning/Ready=False"]
    assert flaps([Seen("Provisioning", "False", False), Seen("Pending", "False", False)])
    assert flaps([running, Seen("Running", "False", False)])  # Ready True -> False while Running
    assert flaps([running, Seen(None, "", False)])  # the status wiped
    assert flaps([running, Seen("Failed", "False", False)])
    assert not flaps([Seen("Pending", "False", False), Seen("Running", "True", False)])


def test_the_lease_history_gives_holders_changes_and_time_without_a_leader() -> None:
    history = LeaseHistory()
    for record in (lease("a", 0, 1), lease("a", 0, 2), lease("", 2.5), lease("b", 3, 4), lease("c", 9)):
        history.record(record)
    assert [t.holder for t in history.terms] == ["a", "", "b", "c"]
    assert history.leader_changes() == 2
    # a released at 2.5, b took it at 3; b's last renewal at 4, c took over (expiry) at 9.
    assert history.leaderless() == [0.5, 5.0]
    assert history.holder_at(T0 + timedelta(seconds=2.6)) == ""
    assert history.holder_at(T0 + timedelta(seconds=3.5)) == "b"
    assert history.holder_at(T0 - timedelta(seconds=1)) is None


def audit(user: str, seconds: float, resource: str = "pods", verb: str = "create", code: int = 201) -> dict[str, Any]:
    return {"user": {"username": user}, "verb": verb, "objectRef": {"resource": resource},
            "requestURI": f"/api/v1/namespaces/n/{resource}", "responseStatus": {"code": code},
            "requestReceivedTimestamp": at(seconds)}


def test_a_write_outside_the_writers_term_is_caught() -> None:
    history = LeaseHistory()
    for record in (lease("id-a", 0), lease("", 5), lease("id-b", 5.5)):
        history.record(record)
    events = [audit("a", 1), audit("a", 4.9, "jupyternotebookinstances", "update"),
              audit("a", 5.2, "events"),  # after a's release: late
              audit("a", 6, "leases", "update"),  # the Lease's own writes are not judged
              audit("b", 5.6), audit("b", 5.7, verb="get"), audit("b", 5.8, code=409),
              audit("b", 4.0),  # before b held it: late
              audit("someone", 5.2)]
    checked, late = writes_outside_terms(events, {"a": frozenset({"id-a"}), "b": frozenset({"id-b", "id-b2"})},
                                         history, T0)
    assert checked == 5
    assert [(w.user, w.resource) for w in late] == [("a", "events"), ("b", "pods")]


def test_the_old_build_says_which_commit_it_is() -> None:
    text, version = stamped('[project]\nname = "x"\nversion = "0.1.0"\n', "7d57d9e97961e221565b")
    assert version == "0.1.0+g7d57d9e97961"
    assert 'version = "0.1.0+g7d57d9e97961"' in text
