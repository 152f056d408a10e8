from __future__ import annotations

import copy
from typing import Any

import pytest

from jupyternetes_operator.reconcile.claimtrust import ANNOTATION_CREATED_FOR, ANNOTATION_SIGNATURE, ClaimSigner

KEY = b"k" * 32
INSTANCE = "instance-uid-1"


def claim(uid: str = "uid-1", name: str = "home-alice", signature: str | None = None) -> dict[str, Any]:
    annotations = {ANNOTATION_SIGNATURE: signature} if signature is not None else {}
    return {"metadata": {"namespace": "hub", "name": name, "uid": uid, "annotations": annotations}}


def signed(signer: ClaimSigner, **fields: Any) -> dict[str, Any]:
    obj = claim(**fields)
    obj["metadata"]["annotations"][ANNOTATION_SIGNATURE] = signer.signature(obj)
    return obj


def test_a_claim_signed_for_its_own_uid_is_trusted() -> None:
    signer = ClaimSigner(KEY)
    assert signer.trusted(signed(signer), INSTANCE, created=None)


def test_a_signature_copied_onto_another_object_is_not() -> None:
    """A planted claim re-created under the same name has another uid: the copied signature fails."""
    signer = ClaimSigner(KEY)
    original = signed(signer)
    replay = claim(uid="uid-2", signature=original["metadata"]["annotations"][ANNOTATION_SIGNATURE])
    assert not signer.trusted(replay, INSTANCE, created=None)
    renamed = copy.deepcopy(original)
    renamed["metadata"]["name"] = "home-bob"
    assert not signer.trusted(renamed, INSTANCE, created=None)


def test_another_key_or_no_signature_is_not_trusted() -> None:
    assert not ClaimSigner(b"x" * 32).trusted(signed(ClaimSigner(KEY)), INSTANCE, created=None)
    assert not ClaimSigner(KEY).trusted(claim(), INSTANCE, created=None)
    assert not ClaimSigner(KEY).trusted(claim(signature=""), INSTANCE, created=None)


def test_adopt_unsigned_trusts_only_claims_without_a_signature() -> None:
    signer = ClaimSigner(KEY, adopt_unsigned=True)
    assert signer.trusted(claim(), INSTANCE, created=None)
    assert not signer.trusted(claim(signature="forged"), INSTANCE, created=None)


def test_no_key_no_signature() -> None:
    with pytest.raises(RuntimeError, match="not loaded"):
        ClaimSigner().signature(claim())


def test_the_creation_mark_is_trusted_by_the_creating_instance_only() -> None:
    """A claim whose signature did not land after its create: its creator (by uid) still trusts it,
    nobody else does, and a copy of the mark onto a claim for another instance is worthless."""
    signer = ClaimSigner(KEY)
    made = claim(uid="claim-uid-9")
    made["metadata"]["annotations"][ANNOTATION_CREATED_FOR] = signer.creation_mark("hub", "home-alice", INSTANCE)
    assert signer.trusted(made, INSTANCE, created="claim-uid-9")
    assert signer.trusted(made, INSTANCE, created=None)  # its create's answer lost with the process that sent it
    assert not signer.signed(made)
    assert not signer.trusted(made, "instance-uid-2", created=None)  # the same name re-created: another instance
    assert not ClaimSigner(b"x" * 32).trusted(made, INSTANCE, created=None)


def test_the_creation_mark_vouches_only_for_the_uid_its_instance_created() -> None:
    """The mark names the instance, not the object: copied onto a claim planted under the same name
    after the original is deleted, it is worthless once the instance knows the uid it created."""
    signer = ClaimSigner(KEY)
    mark = {ANNOTATION_CREATED_FOR: signer.creation_mark("hub", "home-alice", INSTANCE)}
    planted = claim(uid="planted-uid")
    planted["metadata"]["annotations"].update(mark)
    assert not signer.trusted(planted, INSTANCE, created="claim-uid-9")
    assert signer.trusted(signed(signer, uid="claim-uid-9"), INSTANCE, created="claim-uid-9")
    assert signer.trusted(signed(signer, uid="adopted-uid"), INSTANCE, created="claim-uid-9")  # signed: any uid
