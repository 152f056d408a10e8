"""EnqueueMapped: tombstones unwrapped once, updates map old and new (each key once), the update
predicate, delayed adds; own_key and controller_key as map functions."""

from collections.abc import Mapping
from typing import Any

from jupyternetes_operator.machinery.handlers import (
    After,
    EnqueueMapped,
    content_changed,
    controller_key,
    controller_of,
    never,
    own_key,
)
from jupyternetes_operator.machinery.store import DeletedFinalStateUnknown, ObjectKey, freeze

GROUP, KIND = "example.com", "Widget"


class Keys:
    def __init__(self) -> None:
        self.added: list[ObjectKey] = []
        self.after: list[tuple[ObjectKey, float]] = []

    def add(self, key: ObjectKey) -> None:
        self.added.append(key)

    def add_after(self, key: ObjectKey, delay: float) -> None:
        self.after.append((key, delay))


def child(owner: str | None, *, controller: bool = True, kind: str = KIND,
          api_version: str = f"{GROUP}/v1") -> Any:
    refs = [] if owner is None else [{"apiVersion": api_version, "kind": kind, "name": owner, "uid": "u",
                                      "controller": controller}]
    return freeze({"metadata": {"name": "pod", "namespace": "ns", "ownerReferences": refs}})


def obj(name: str, generation: int = 1, **labels: str) -> Any:
    return freeze({"metadata": {"name": name, "namespace": "ns", "generation": generation, "labels": labels}})


def test_controller_owner_only() -> None:
    assert controller_of(child("i1"), GROUP, KIND) == ObjectKey("ns", "i1")
    assert controller_of(child("i1", controller=False), GROUP, KIND) is None
    assert controller_of(child("i1", kind="ReplicaSet", api_version="apps/v1"), GROUP, KIND) is None
    assert controller_of(child("i1", api_version="other.io/v1"), GROUP, KIND) is None
    assert controller_of(child(None), GROUP, KIND) is None


def test_controller_key_maps_children_to_owner_keys() -> None:
    keys = Keys()
    handler = EnqueueMapped(keys, controller_key(GROUP, KIND))
    handler.on_add(child("i1"))
    handler.on_update(child("i1"), child("i2"))  # owner changed: both are told, the new one first
    handler.on_update(child("i2"), child("i2"))  # same owner: told once
    handler.on_delete(DeletedFinalStateUnknown(ObjectKey("ns", "pod"), child("i3")))
    handler.on_add(child(None))
    assert keys.added == [ObjectKey("ns", "i1"), ObjectKey("ns", "i2"), ObjectKey("ns", "i1"),
                          ObjectKey("ns", "i2"), ObjectKey("ns", "i3")]


def test_own_key_with_update_predicate() -> None:
    keys = Keys()

    def generation_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return bool(old["metadata"].get("generation") != new["metadata"].get("generation"))

    handler = EnqueueMapped(keys, own_key, generation_changed)
    handler.on_add(obj("a", 1))
    handler.on_update(obj("a", 1), obj("a", 1))
    handler.on_update(obj("a", 1), obj("a", 2))
    handler.on_delete(obj("a", 2))
    assert keys.added == [ObjectKey("ns", "a")] * 3


def test_a_map_function_sees_the_tombstones_last_known_state() -> None:
    seen: list[Mapping[str, Any]] = []

    def by_label(o: Mapping[str, Any]) -> list[ObjectKey]:
        seen.append(o)
        return [ObjectKey("ns", o["metadata"]["labels"]["owner"])]

    keys = Keys()
    last = obj("pvc", owner="i1")
    EnqueueMapped(keys, by_label).on_delete(DeletedFinalStateUnknown(ObjectKey("ns", "pvc"), last))
    assert seen == [last]
    assert keys.added == [ObjectKey("ns", "i1")]


def test_a_label_change_wakes_old_and_new() -> None:
    keys = Keys()
    handler = EnqueueMapped(keys, lambda o: [ObjectKey("ns", o["metadata"]["labels"]["owner"])])
    handler.on_update(obj("pvc", owner="i1"), obj("pvc", owner="i2"))
    assert keys.added == [ObjectKey("ns", "i2"), ObjectKey("ns", "i1")]


def test_each_key_once_per_event() -> None:
    keys = Keys()
    EnqueueMapped(keys, lambda o: [ObjectKey("ns", "a"), ObjectKey("ns", "b"), ObjectKey("ns", "a")]).on_add(obj("x"))
    assert keys.added == [ObjectKey("ns", "a"), ObjectKey("ns", "b")]


def test_never_skips_updates_only() -> None:
    keys = Keys()
    handler = EnqueueMapped(keys, own_key, never)
    handler.on_add(obj("a"))
    handler.on_update(obj("a", 1), obj("a", 2))
    handler.on_delete(obj("a"))
    assert keys.added == [ObjectKey("ns", "a")] * 2


def test_an_addition_predicate_filters_additions_only() -> None:
    keys = Keys()
    handler = EnqueueMapped(keys, own_key, when_added=lambda o: o["metadata"]["name"] != "echo")
    handler.on_add(obj("echo"))
    handler.on_add(obj("new"))
    handler.on_update(obj("echo"), obj("echo", 2))
    handler.on_delete(obj("echo"))
    assert keys.added == [ObjectKey("ns", "new"), ObjectKey("ns", "echo"), ObjectKey("ns", "echo")]


def test_after_adds_with_a_delay() -> None:
    keys = Keys()
    EnqueueMapped(After(keys, 1.5), own_key).on_add(obj("a"))
    assert keys.added == []
    assert keys.after == [(ObjectKey("ns", "a"), 1.5)]


def test_content_changed_ignores_only_the_resource_version() -> None:
    old = freeze({"metadata": {"name": "p", "resourceVersion": "1", "labels": {"a": "b"}},
                  "status": {"phase": "Pending"}})
    assert not content_changed(old, freeze({**old, "metadata": {**old["metadata"], "resourceVersion": "2"}}))
    assert content_changed(old, freeze({**old, "status": {"phase": "Running"}}))
    assert content_changed(old, freeze({**old, "metadata": {**old["metadata"], "labels": {}}}))
    assert content_changed(old, freeze({**old, "spec": {}}))  # a key that was not there
    assert content_changed(old, freeze({"metadata": old["metadata"]}))  # a key that went
