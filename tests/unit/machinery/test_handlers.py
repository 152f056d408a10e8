from typing import Any

from jupyternetes_operator.machinery.handlers import EnqueueController, EnqueueObject, controller_of
from jupyternetes_operator.machinery.store import DeletedFinalStateUnknown, ObjectKey, freeze


class Keys:
    def __init__(self) -> None:
        self.added: list[ObjectKey] = []

    def add(self, key: ObjectKey) -> None:
        self.added.append(key)


def child(owner: str | None, *, controller: bool = True, kind: str = "JupyterNotebookInstance",
          api_version: str = "jupyternetes.io/v1") -> Any:
    refs = [] if owner is None else [{"apiVersion": api_version, "kind": kind, "name": owner, "uid": "u",
                                      "controller": controller}]
    return freeze({"metadata": {"name": "pod", "namespace": "ns", "ownerReferences": refs}})


def test_controller_owner_only() -> None:
    assert controller_of(child("i1"), "jupyternetes.io", "JupyterNotebookInstance") == ObjectKey("ns", "i1")
    assert controller_of(child("i1", controller=False), "jupyternetes.io", "JupyterNotebookInstance") is None
    assert controller_of(child("i1", kind="ReplicaSet", api_version="apps/v1"), "jupyternetes.io",
                         "JupyterNotebookInstance") is None
    assert controller_of(child("i1", api_version="other.io/v1"), "jupyternetes.io", "JupyterNotebookInstance") is None
    assert controller_of(child(None), "jupyternetes.io", "JupyterNotebookInstance") is None


def test_enqueue_controller_maps_children_to_owner_keys() -> None:
    keys = Keys()
    handler = EnqueueController(keys, "jupyternetes.io", "JupyterNotebookInstance")
    handler.on_add(child("i1"))
    handler.on_update(child("i1"), child("i2"))  # owner changed: both are told
    handler.on_delete(DeletedFinalStateUnknown(ObjectKey("ns", "pod"), child("i3")))
    handler.on_add(child(None))
    assert keys.added == [ObjectKey("ns", "i1"), ObjectKey("ns", "i2"), ObjectKey("ns", "i1"), ObjectKey("ns", "i3")]


def test_enqueue_object_with_update_predicate() -> None:
    keys = Keys()
    generation_changed = EnqueueObject(
        keys, lambda old, new: old is None or old["metadata"].get("generation") != new["metadata"].get("generation"))
    a1 = freeze({"metadata": {"name": "a", "namespace": "ns", "generation": 1}})
    a2 = freeze({"metadata": {"name": "a", "namespace": "ns", "generation": 2}})
    generation_changed.on_add(a1)
    generation_changed.on_update(a1, a1)
    generation_changed.on_update(a1, a2)
    generation_changed.on_delete(a2)
    assert keys.added == [ObjectKey("ns", "a")] * 3
