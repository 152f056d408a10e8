"""Owner references to an instance, as the operator writes them (pure).

Guaranteed: an instance controls the children it creates (the garbage collector deletes them with
it, and a foreground delete of the instance waits for them) and merely owns its environment Secret
(which goes with it, but is nobody's child). Which reference controls an object is read with
:func:`jupyternetes_operator.kube.owners.controller_ref`.
"""

from __future__ import annotations

from typing import Any

from .names import API_VERSION, INSTANCE_KIND


def instance_owner(name: str, uid: str, *, controller: bool) -> dict[str, Any]:
    """An owner reference to instance ``name`` (``uid``): its controller reference with ``controller``,
    else a plain owner reference that does not block the instance's deletion."""
    return {"apiVersion": API_VERSION, "kind": INSTANCE_KIND, "name": name, "uid": uid,
            "controller": controller, "blockOwnerDeletion": controller}
