"""When the instance reconciler signs the retained claims it creates (:mod:`.claimtrust` says why).

A new claim of a class that binds ``Immediate``-ly is saved by the volume controller right after
its create (the provisioner's annotations). A signature patch sent at once lands between that
controller's read and its write, and the save fails: a ``ProvisioningFailed`` "the object has
been modified" Warning on the user's claim (18 of 20 claims of a burst on the test cluster). So
such a claim is signed once it is Bound, in the pass that sees it so, after that pass's creates
(its pod waits for it anyway, :mod:`.binding`). A claim of any other class is signed right after
its create: no one else writes it before its pod is scheduled.

Until then the claim is trusted only by the instance that created it (its creation mark), and only
as the uid that instance created: :meth:`ClaimSigning.made` keeps the uid each create answered
until the instance's status records it (its first status write may wait, ``FIRST_STATUS_GRACE``).
So that a claim whose instance goes before it binds is not left untrusted for the next server of
that name, the unsigned claims of each instance are remembered (those it created, and those the
cache shows it holds: a leader that took over meets them so), and signed once that instance is gone
(deleted, or replaced by another of its name). Not covered: an instance that goes before its claim
is signed and before any leader has reconciled it since a restart or a hand-over: the next server
of that name fails ``ClaimUntrusted`` on that claim, as on any claim the operator cannot vouch for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ..kube.client import MERGE_PATCH, Resource
from ..kube.errors import Conflict, Invalid, NotFound
from ..machinery.expectations import Expectations
from ..machinery.store import ObjectKey, key_of
from .binding import BindingModes, storage_class
from .claimtrust import ANNOTATION_SIGNATURE
from .context import Context
from .outcome import recorded_uids

V = TypeVar("V")
Unsigned = dict[str, tuple[Resource, Mapping[str, Any]]]
"""An instance's claims not signed yet, by claim uid: where each lives, and the object as last seen
(the create's answer, or the cache's)."""


async def sign(ctx: Context, resource: Resource, claim: Mapping[str, Any]) -> dict[str, Any]:
    """Sign a retained claim for its own uid (the patch names the uid: only that very object)."""
    meta = claim["metadata"]
    return await ctx.client.patch(resource, meta["name"], {"metadata": {
        "uid": meta.get("uid"), "annotations": {ANNOTATION_SIGNATURE: ctx.signer.signature(claim)}}},
        meta["namespace"], content_type=MERGE_PATCH)


def _held(memo: dict[ObjectKey, tuple[str, dict[str, V]]], instance: Mapping[str, Any]) -> dict[str, V]:
    """``instance``'s entry in a memo kept per instance, as (its uid, entries); one left by an earlier
    instance under its key has already been taken by :meth:`ClaimSigning.gone`."""
    return memo.setdefault(key_of(instance), (str(instance["metadata"]["uid"]), {}))[1]


class ClaimSigning:
    """Signs each retained claim an instance creates: at once, once Bound, or once the instance is gone."""

    def __init__(self, ctx: Context, binding: BindingModes) -> None:
        self._ctx = ctx
        self._binding = binding
        # Claims (by uid) signed: while the cache shows them unsigned they are not signed again (each
        # write re-queues a pending claim in the volume controller, and wakes us again).
        self._signed: Expectations[str, bool] = Expectations()
        self._unsigned: dict[ObjectKey, tuple[str, Unsigned]] = {}  # by instance: its uid, its claims
        self._made: dict[ObjectKey, tuple[str, dict[str, str]]] = {}  # by instance: its uid, claim uids by name

    def remembered(self) -> dict[str, int]:
        return {"signed": len(self._signed), "unsigned": len(self._unsigned), "made": len(self._made)}

    def made(self, instance: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, str]:
        """The uids of the retained claims ``instance`` created, by name: those its ``status`` records, and
        those this process created since."""
        entry = self._made.get(key_of(instance))
        since = entry[1] if entry is not None and entry[0] == instance["metadata"]["uid"] else {}
        return {**recorded_uids(status), **since}

    def recorded(self, key: ObjectKey, records: Iterable[Mapping[str, Any]]) -> None:
        """The instance's status now holds ``records`` (its children's): the uids they hold are forgotten."""
        entry = self._made.get(key)
        if entry is None:
            return
        for record in records:
            if record.get("uid") is not None and entry[1].get(str(record.get("name"))) == record.get("uid"):
                del entry[1][str(record.get("name"))]
        if not entry[1]:
            del self._made[key]

    async def created(self, instance: Mapping[str, Any], resource: Resource,
                      claim: dict[str, Any]) -> dict[str, Any]:
        """``claim``, just created by ``instance``: its uid remembered (:meth:`made`), and signed now (the
        patch's answer), or left for later."""
        _held(self._made, instance)[str(claim["metadata"]["name"])] = str(claim["metadata"].get("uid"))
        if not await self._saved_next(claim):
            return await self._sign(resource, claim)
        _held(self._unsigned, instance)[str(claim["metadata"].get("uid"))] = (resource, claim)
        return claim

    async def settle(self, instance: Mapping[str, Any], claims: Iterable[tuple[Resource, Mapping[str, Any]]]) -> None:
        """Sign those of ``instance``'s own retained ``claims`` (as the cache shows them) that are not
        signed and that no one else is about to write; remember the others (also those another process
        created: this one may be leading since), to be signed if the instance goes first."""
        pending = _held(self._unsigned, instance)
        for resource, claim in claims:
            uid = str(claim["metadata"].get("uid"))
            if self._signed.seen(uid, claim, self._ctx.signer.signed(claim)):
                pending.pop(uid, None)
            elif await self._saved_next(claim):
                pending.setdefault(uid, (resource, claim))
            else:
                await self._sign(resource, claim)
                pending.pop(uid, None)
        if not pending:
            del self._unsigned[key_of(instance)]

    async def gone(self, key: ObjectKey, uid: str | None) -> None:
        """Sign the claims the instance last seen under ``key`` left unsigned, if it is gone: ``uid`` is
        the instance now under that key (None: none)."""
        if (made := self._made.get(key)) is not None and made[0] != uid:
            del self._made[key]
        entry = self._unsigned.get(key)
        if entry is None or entry[0] == uid:
            return
        for claim_uid, (resource, claim) in list(entry[1].items()):
            # Deleted, or another object of its name now: the patch names the uid, which the API server
            # answers 422 (uid immutable) for a merge patch, 409 for a stated precondition.
            with contextlib.suppress(NotFound, Conflict, Invalid):
                await self._sign(resource, claim)
            del entry[1][claim_uid]  # kept, with the rest, while a retryable error is raised
        del self._unsigned[key]

    async def _sign(self, resource: Resource, claim: Mapping[str, Any]) -> dict[str, Any]:
        signed = await sign(self._ctx, resource, claim)
        self._signed.wrote(str(signed["metadata"].get("uid")), str(signed["metadata"].get("resourceVersion")), True)
        return signed

    async def _saved_next(self, claim: Mapping[str, Any]) -> bool:
        """Whether the volume controller is about to save ``claim``: not Bound, of a class that binds at once."""
        if (claim.get("status") or {}).get("phase") == "Bound" or (cls := storage_class(claim)) is None:
            return False
        return cls in await self._binding.immediate([cls])
