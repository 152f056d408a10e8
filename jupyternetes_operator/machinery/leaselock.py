"""A leader-election record kept in a ``coordination.k8s.io/v1`` Lease (client-go ``resourcelock``).

Guaranteed:

- :class:`Lock` is what the elector needs: read the record with its version, create it, and
  replace it only if it is still at a given version (compare-and-swap on ``resourceVersion``).
- :class:`LeaseLock` stores the record in one Lease's spec with MicroTime timestamps (RFC 3339,
  microseconds, UTC); an update keeps the metadata (labels, owner references) and the spec
  fields it does not know from the object it last read or wrote, when that is the version
  being replaced.

Not promised: any caching beyond that last object; every call is one API request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ..kube.client import Client, Object
from ..kube.resources import LEASES


@dataclass(frozen=True)
class LeaderRecord:
    """The election state a lock stores (a Lease's spec)."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    leader_transitions: int = 0


class Lock(Protocol):
    """Storage for a :class:`LeaderRecord` with compare-and-swap updates.

    Losing a race raises :class:`~..kube.errors.Conflict` (stale ``version``) or
    :class:`~..kube.errors.AlreadyExists` (create of an existing record); any other
    exception is a failed attempt too. The elector retries either way.
    """

    async def get(self) -> tuple[LeaderRecord, str] | None:
        """The record and its version, or ``None`` if there is none yet."""
        ...

    async def create(self, record: LeaderRecord) -> str:
        """Create the record; return its version."""
        ...

    async def update(self, record: LeaderRecord, version: str) -> str:
        """Replace the record if it is still at ``version``; return the new version."""
        ...


def format_micro_time(when: datetime) -> str:
    """RFC 3339 with microseconds, UTC (a ``MicroTime``)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def record_from_lease_spec(spec: Object) -> LeaderRecord:
    return LeaderRecord(
        holder_identity=spec.get("holderIdentity") or "",
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(spec.get("acquireTime")),
        renew_time=parse_micro_time(spec.get("renewTime")),
        leader_transitions=int(spec.get("leaseTransitions") or 0),
    )


def lease_spec_from_record(record: LeaderRecord) -> Object:
    return {
        "holderIdentity": record.holder_identity,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "acquireTime": format_micro_time(record.acquire_time) if record.acquire_time else None,
        "renewTime": format_micro_time(record.renew_time) if record.renew_time else None,
        "leaseTransitions": record.leader_transitions,
    }


class LeaseLock:
    """A :class:`Lock` over one Lease object; updates are PUTs carrying the resourceVersion.

    The last object read or written is kept so an update preserves metadata (labels,
    owner references) and spec fields this module does not know. Its requests have a connection of
    their own (:meth:`.Client.reserve`): a renewal never queues behind a burst of the client's others.
    """

    def __init__(self, client: Client, namespace: str, name: str) -> None:
        client.reserve(LEASES.path(namespace))
        self._client = client
        self._namespace = namespace
        self._name = name
        self._last: Object | None = None

    def __repr__(self) -> str:
        return f"LeaseLock({self._namespace}/{self._name})"

    async def get(self) -> tuple[LeaderRecord, str] | None:
        obj = await self._client.get_or_none(LEASES, self._name, self._namespace)
        if obj is None:
            self._last = None
            return None
        self._last = obj
        return record_from_lease_spec(obj.get("spec") or {}), str(obj["metadata"]["resourceVersion"])

    async def create(self, record: LeaderRecord) -> str:
        obj = await self._client.create(LEASES, {
            "apiVersion": LEASES.api_version, "kind": "Lease",
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": _without_nulls(lease_spec_from_record(record)),
        }, self._namespace)
        self._last = obj
        return str(obj["metadata"]["resourceVersion"])

    async def update(self, record: LeaderRecord, version: str) -> str:
        base = self._last if self._last and self._last["metadata"].get("resourceVersion") == version else None
        metadata = dict(base["metadata"]) if base else {"name": self._name, "namespace": self._namespace}
        metadata["resourceVersion"] = version
        spec = {**((base.get("spec") or {}) if base else {}), **lease_spec_from_record(record)}
        obj = await self._client.replace(LEASES, {
            "apiVersion": LEASES.api_version, "kind": "Lease",
            "metadata": metadata, "spec": _without_nulls(spec),
        }, self._namespace)
        self._last = obj
        return str(obj["metadata"]["resourceVersion"])


def _without_nulls(spec: Object) -> Object:
    return {k: v for k, v in spec.items() if v is not None}
