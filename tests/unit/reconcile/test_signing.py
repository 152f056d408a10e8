"""ClaimSigning: when a retained claim the instance reconciler created is signed (at once, once
Bound, or once its instance is gone), against a client that records the patches it is sent."""

from __future__ import annotations

from typing import Any, cast

import pytest

from jupyternetes_operator.kube.client import Resource
from jupyternetes_operator.kube.errors import Conflict, Invalid, NotFound, ServerError
from jupyternetes_operator.kube.resources import PVCS
from jupyternetes_operator.machinery.store import ObjectKey
from jupyternetes_operator.reconcile.binding import BindingModes
from jupyternetes_operator.reconcile.claimtrust import ANNOTATION_SIGNATURE, ClaimSigner
from jupyternetes_operator.reconcile.context import Context
from jupyternetes_operator.reconcile.signing import ClaimSigning

SIGNER = ClaimSigner(b"k" * 32)
INSTANCE = {"metadata": {"namespace": "ns", "name": "jupyter-a", "uid": "i-1"}}
KEY = ObjectKey("ns", "jupyter-a")


def claim(name: str, cls: str, phase: str = "Pending", version: str = "1") -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "uid": f"c-{name}", "resourceVersion": version,
                         "annotations": {}},
            "spec": {"storageClassName": cls}, "status": {"phase": phase}}


class Client:
    """StorageClasses from a table; patches recorded and answered as the signed claim (or raised)."""

    def __init__(self) -> None:
        self.patched: list[str] = []
        self.fail: dict[str, type[Exception]] = {}

    async def get(self, resource: Resource, name: str) -> dict[str, Any]:
        return {"volumeBindingMode": {"fast": "Immediate", "lazy": "WaitForFirstConsumer"}[name]}

    async def patch(self, resource: Resource, name: str, body: dict[str, Any], namespace: str,
                    **_: Any) -> dict[str, Any]:
        if (error := self.fail.pop(name, None)) is not None:
            raise error({NotFound: 404, Conflict: 409, Invalid: 422}.get(error, 500), name)
        self.patched.append(name)
        return {"metadata": {"namespace": namespace, "name": name, "uid": body["metadata"]["uid"],
                             "resourceVersion": "2", "annotations": body["metadata"]["annotations"]}}


def signing() -> tuple[ClaimSigning, Client]:
    client = Client()
    ctx = Context(cast(Any, client), cast(Any, None), cast(Any, None), {}, cast(Any, None), cast(Any, None),
                  signer=SIGNER)
    return ClaimSigning(ctx, BindingModes(cast(Any, client))), client


async def test_a_claim_that_binds_at_once_is_signed_once_bound_any_other_at_its_create() -> None:
    signer, client = signing()
    lazy = await signer.created(INSTANCE, PVCS, claim("home-lazy", "lazy"))
    assert client.patched == ["home-lazy"]
    assert lazy["metadata"]["annotations"][ANNOTATION_SIGNATURE]
    fast = claim("home-fast", "fast")
    assert await signer.created(INSTANCE, PVCS, fast) is fast  # the volume controller saves it next
    await signer.settle(INSTANCE, [(PVCS, fast)])
    assert client.patched == ["home-lazy"]
    assert signer.remembered() == {"signed": 1, "unsigned": 1, "made": 1}

    await signer.settle(INSTANCE, [(PVCS, claim("home-fast", "fast", "Bound", "3"))])
    assert client.patched == ["home-lazy", "home-fast"]
    await signer.settle(INSTANCE, [(PVCS, claim("home-fast", "fast", "Bound", "3"))])  # the cache still behind
    assert client.patched == ["home-lazy", "home-fast"]
    assert signer.remembered()["unsigned"] == 0


async def test_what_a_gone_instance_left_unsigned_is_signed_and_forgotten() -> None:
    signer, client = signing()
    for name in ("home-a", "home-b", "home-c", "home-d"):
        await signer.created(INSTANCE, PVCS, claim(name, "fast"))
    await signer.gone(KEY, "i-1")  # still there
    assert client.patched == []
    # Deleted; another object under its name (the API server's answer to the uid: 422, or 409).
    client.fail = {"home-a": NotFound, "home-b": Invalid, "home-c": Conflict}
    await signer.gone(KEY, "i-2")  # replaced by another instance of its name
    assert client.patched == ["home-d"]
    assert signer.remembered()["unsigned"] == 0


async def test_a_retryable_error_keeps_what_is_left_for_the_next_try() -> None:
    signer, client = signing()
    for name in ("home-a", "home-b"):
        await signer.created(INSTANCE, PVCS, claim(name, "fast"))
    client.fail = {"home-b": ServerError}
    with pytest.raises(ServerError):
        await signer.gone(KEY, None)
    assert client.patched == ["home-a"]
    assert signer.remembered()["unsigned"] == 1
    await signer.gone(KEY, None)
    assert client.patched == ["home-a", "home-b"]
    assert signer.remembered()["unsigned"] == 0


async def test_a_pending_claim_another_process_created_is_signed_if_its_instance_goes_first() -> None:
    """A leader that took over meets the claim unsigned in its cache, before it binds: it remembers it
    as its own, so that the instance's deletion still gets it signed."""
    signer, client = signing()
    await signer.settle(INSTANCE, [(PVCS, claim("home-a", "fast"))])
    assert client.patched == []
    assert signer.remembered()["unsigned"] == 1
    await signer.gone(KEY, None)
    assert client.patched == ["home-a"]
    assert signer.remembered()["unsigned"] == 0


async def test_the_uid_each_create_answered_is_known_until_the_status_records_it() -> None:
    """What a claim's creation mark vouches for (claimtrust): the uid created, from the create's
    answer until the instance's status records it, then from the status."""
    signer, _ = signing()
    await signer.created(INSTANCE, PVCS, claim("home-lazy", "lazy"))
    await signer.created(INSTANCE, PVCS, claim("home-fast", "fast"))
    status = {"children": [{"kind": "PersistentVolumeClaim", "name": "home-old", "uid": "c-old"},
                           {"kind": "Pod", "name": "jupyter-a", "uid": "p-1"}]}
    assert signer.made(INSTANCE, status) == {"home-old": "c-old", "home-lazy": "c-home-lazy",
                                             "home-fast": "c-home-fast"}
    assert signer.made({"metadata": {**INSTANCE["metadata"], "uid": "i-2"}}, {}) == {}  # another of its name

    signer.recorded(KEY, [{"kind": "PersistentVolumeClaim", "name": "home-lazy", "uid": "c-home-lazy"},
                          {"kind": "PersistentVolumeClaim", "name": "home-fast"}])
    assert signer.made(INSTANCE, {}) == {"home-fast": "c-home-fast"}
    signer.recorded(KEY, [{"kind": "PersistentVolumeClaim", "name": "home-fast", "uid": "c-home-fast"}])
    assert signer.made(INSTANCE, {}) == {}
    assert signer.remembered()["made"] == 0

    await signer.created(INSTANCE, PVCS, claim("home-lazy", "lazy"))
    await signer.gone(KEY, "i-2")  # replaced before its status recorded the claim
    assert signer.remembered()["made"] == 0
