"""An instance as its children's controller and as its environment Secret's owner."""

from __future__ import annotations

from jupyternetes_operator import api
from jupyternetes_operator.api.owners import instance_owner
from jupyternetes_operator.kube.owners import controller_uid
from jupyternetes_operator.machinery.handlers import controller_of
from jupyternetes_operator.machinery.store import ObjectKey


def test_a_controller_reference_names_the_instance_and_blocks_its_deletion() -> None:
    assert instance_owner("alice", "u1", controller=True) == {
        "apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance", "name": "alice", "uid": "u1",
        "controller": True, "blockOwnerDeletion": True}


def test_a_plain_owner_reference_neither_controls_nor_blocks() -> None:
    ref = instance_owner("alice", "u1", controller=False)
    assert (ref["controller"], ref["blockOwnerDeletion"]) == (False, False)
    assert controller_uid({"metadata": {"ownerReferences": [ref]}}) is None


def test_the_wiring_finds_the_instance_from_its_controller_reference() -> None:
    child = {"metadata": {"name": "alice-pod", "namespace": "ns",
                          "ownerReferences": [instance_owner("alice", "u1", controller=True)]}}
    assert controller_uid(child) == "u1"
    assert controller_of(child, api.GROUP, api.INSTANCE_KIND) == ObjectKey("ns", "alice")
