"""Which owner reference is an object's controller."""

from __future__ import annotations

from typing import Any

import pytest

from jupyternetes_operator.kube.owners import controller_ref, controller_uid
from jupyternetes_operator.machinery.store import freeze


def owned(*refs: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "child", "ownerReferences": list(refs)}}


PLAIN = {"apiVersion": "v1", "kind": "Thing", "name": "a", "uid": "u-plain"}
CONTROLLER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "u-ctrl", "controller": True}


def test_the_controller_is_the_reference_marked_so_wherever_it_stands() -> None:
    assert controller_ref(owned(PLAIN, CONTROLLER)) == CONTROLLER
    assert controller_uid(owned(PLAIN, CONTROLLER)) == "u-ctrl"
    assert controller_uid(freeze(owned(CONTROLLER, PLAIN))) == "u-ctrl"


@pytest.mark.parametrize("obj", [{}, {"metadata": {}}, {"metadata": {"ownerReferences": None}}, owned(),
                                 owned(PLAIN), owned({**PLAIN, "controller": False})])
def test_other_owners_do_not_control(obj: dict[str, Any]) -> None:
    assert controller_ref(obj) is None
    assert controller_uid(obj) is None
