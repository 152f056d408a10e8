"""Capacity: who holds a place, the creation order room goes in, what this process admitted before its
cache shows it, and which deletions wake the waiting instances."""

from __future__ import annotations

from typing import Any

import pytest

from jupyternetes_operator import api
from jupyternetes_operator.machinery.handlers import EnqueueMapped, never
from jupyternetes_operator.machinery.multistore import CompositeStore
from jupyternetes_operator.machinery.store import ObjectKey, Store
from jupyternetes_operator.reconcile.capacity import REASON, Admissions, decide, limit_of
from jupyternetes_operator.reconcile.resolve import INSTANCES_BY_TEMPLATE, instances_by_template
from jupyternetes_operator.reconcile.wiring import waiting_for_room

NS = "hub"


def inst(name: str, created: str = "2026-01-01T00:00:00Z", phase: str = "", template: str = "lab",
         namespace: str = NS, reason: str = "", deleting: bool = False, release: bool = False,
         prepare: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "creationTimestamp": created, "uid": f"u-{name}"}
    if deleting:
        meta["deletionTimestamp"] = created
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if reason:
        status["conditions"] = [{"type": "Ready", "status": "False", "reason": reason}]
    spec: dict[str, Any] = {"template": {"name": template}, **({"release": True} if release else {}),
                            **({"prepare": True} if prepare else {})}
    return {"metadata": meta, "spec": spec, "status": status}


def template(limit: int | None, name: str = "lab", namespace: str = NS) -> dict[str, Any]:
    spec = {} if limit is None else {"maxInstances": limit}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_the_limit_is_an_integer_or_none() -> None:
    assert limit_of(template(3)) == 3
    assert limit_of(template(None)) is None
    assert limit_of({"spec": {"maxInstances": True}}) is None


@pytest.mark.parametrize("phase", ["Provisioning", "Running", "Stopped", "Failed", "Terminating"])
def test_an_instance_past_pending_holds_a_place(phase: str) -> None:
    verdict = decide(inst("new"), [inst("a", phase=phase), inst("new")], 1, "hub/lab", set())
    assert not verdict.admitted
    assert verdict.holding == 1
    assert verdict.message == "1 of 1 servers of template hub/lab are running or starting; waiting for room"


def test_pending_deleting_release_and_prepare_requests_hold_no_place() -> None:
    siblings = [inst("p", phase="Pending", created="2026-01-01T00:00:09Z"), inst("d", deleting=True),
                inst("r", release=True, phase="Released"), inst("h", prepare=True, phase="Provisioning"),
                inst("w", prepare=True, created="2025-01-01T00:00:00Z")]
    assert decide(inst("new"), siblings, 1, "hub/lab", set()).admitted


def test_what_this_process_admitted_holds_a_place_before_the_cache_shows_it() -> None:
    verdict = decide(inst("new"), [inst("a")], 1, "hub/lab", {ObjectKey(NS, "a")})
    assert (verdict.admitted, verdict.holding) == (False, 1)


def test_room_goes_in_creation_order_then_by_name() -> None:
    siblings = [inst("b", "2026-01-01T00:00:01Z"), inst("a", "2026-01-01T00:00:01Z"), inst("c", "2026-01-01T00:00:00Z"),
                inst("z", "2026-01-01T00:00:02Z"), inst("run", phase="Running")]
    admitted = [s["metadata"]["name"] for s in siblings[:4] if decide(s, siblings, 3, "hub/lab", set()).admitted]
    assert sorted(admitted) == ["a", "c"]  # one place holds a server; c then a come first
    behind = decide(siblings[0], siblings, 3, "hub/lab", set())
    assert behind.message.endswith("waiting for room (2 waiting before this one)")


def test_a_waiting_instance_being_deleted_gives_up_its_turn() -> None:
    siblings = [inst("old", "2026-01-01T00:00:00Z", deleting=True), inst("new", "2026-01-01T00:00:05Z")]
    assert decide(siblings[1], siblings, 1, "hub/lab", set()).admitted


def admissions(*objs: dict[str, Any], limit: int | None = 2) -> tuple[Admissions, Store]:
    templates, instances = Store(), Store({INSTANCES_BY_TEMPLATE: instances_by_template})
    templates.add(template(limit))
    templates.add(template(1, name="other"))
    for obj in objs:
        instances.add(obj)
    return Admissions(CompositeStore({None: templates}), CompositeStore({None: instances}), None), instances


def test_admitting_takes_a_place_at_once_so_a_concurrent_reconcile_cannot() -> None:
    a, b, c = inst("a"), inst("b"), inst("c")
    room, _ = admissions(a, b, c)
    assert room.room(a, "", lambda: False) is None
    assert room.room(b, "", lambda: False) is None
    full = room.room(c, "", lambda: False)
    assert full is not None
    assert full.message == "2 of 2 servers of template hub/lab are running or starting; waiting for room"
    assert room.room(a, "", lambda: False) is None  # admitted once, admitted on every pass


def test_the_cache_catching_up_or_a_deletion_ends_what_is_remembered() -> None:
    a, b = inst("a"), inst("b")
    room, instances = admissions(a, b, limit=1)
    assert room.room(a, "", lambda: False) is None
    instances.update(inst("a", phase="Running"))
    assert room.room(b, "", lambda: False) is not None
    assert room.held == set()  # the cache shows it: counted from there
    room.forget(ObjectKey(NS, "a"))
    instances.delete(inst("a", phase="Running"))
    assert room.room(b, "", lambda: False) is None


def test_without_a_limit_or_once_admitted_nothing_is_counted() -> None:
    room, _ = admissions(inst("a", phase="Running"), inst("b"), limit=None)
    assert room.room(inst("b"), "", lambda: False) is None
    assert room.held == set()
    capped, _ = admissions(inst("a", phase="Running"), inst("b", phase="Running"), limit=1)
    assert capped.room(inst("b", phase="Running"), "Running", lambda: False) is None


def test_an_instance_that_already_controls_children_is_admitted_after_a_restart() -> None:
    room, _ = admissions(inst("a", phase="Running"), inst("b"), limit=1)
    assert room.room(inst("b"), "", lambda: True) is None
    assert room.held == {ObjectKey(NS, "b")}


def test_only_instances_of_the_same_template_count() -> None:
    room, _ = admissions(inst("a", phase="Running", template="other"), inst("b"), limit=1)
    assert room.room(inst("b"), "", lambda: False) is None


def test_instances_another_namespace_may_not_use_take_no_place() -> None:
    # A tenant elsewhere naming this template (refused: TemplateNotAllowed, so Failed) must not fill
    # this namespace's servers' places.
    squatter = inst("x", phase="Failed", namespace="elsewhere")
    squatter["spec"]["template"]["namespace"] = NS
    room, _ = admissions(squatter, inst("b"), limit=1)
    assert room.room(inst("b"), "", lambda: False) is None


def test_a_deletion_wakes_only_the_instances_waiting_for_room_of_that_template() -> None:
    store = Store({INSTANCES_BY_TEMPLATE: instances_by_template})
    for obj in (inst("w1", reason=REASON), inst("w2", reason=REASON), inst("run", phase="Running"),
                inst("w3", reason=REASON, template="other"), inst("nf", reason=api.TEMPLATE_NOT_FOUND)):
        store.add(obj)
    woken = waiting_for_room(inst("gone", phase="Running"), instances=CompositeStore({None: store}))
    assert sorted(woken) == [ObjectKey(NS, "w1"), ObjectKey(NS, "w2")]


class Keys:
    def __init__(self) -> None:
        self.added: list[ObjectKey] = []

    def add(self, key: ObjectKey) -> None:
        self.added.append(key)


def test_a_watch_for_deletions_ignores_additions_and_updates() -> None:
    keys = Keys()
    handler = EnqueueMapped(keys, lambda o: [ObjectKey(NS, "w")], never, when_added=False)
    handler.on_add(inst("x"))  # type: ignore[arg-type]
    handler.on_update(inst("x"), inst("x", phase="Running"))  # type: ignore[arg-type]
    assert keys.added == []
    handler.on_delete(inst("x"))  # type: ignore[arg-type]
    assert keys.added == [ObjectKey(NS, "w")]


def test_a_deletion_does_not_wake_the_instances_waiting_for_a_same_named_template_elsewhere() -> None:
    """Issue 16: each namespace's own ``lab`` is another template; its room is not freed by a
    deletion in another namespace (one index lookup, not a pass over every namespace's instances)."""
    store = Store({INSTANCES_BY_TEMPLATE: instances_by_template})
    store.add(inst("w1", reason=REASON))
    store.add(inst("w2", reason=REASON, namespace="elsewhere"))
    gone = inst("gone", phase="Running", namespace="elsewhere")
    woken = waiting_for_room(gone, instances=CompositeStore({None: store}))
    assert woken == [ObjectKey("elsewhere", "w2")]
