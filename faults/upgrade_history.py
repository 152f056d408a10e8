"""What a rolling upgrade leaves behind to judge it by, and the judges (pure, unit-tested): each
instance's statuses in the order a watch delivered them (:func:`flaps`: a step back), the Lease's
terms from a watch on it (:class:`LeaseHistory`: holders, handovers, time without a leader), and the
API server's audit log (:func:`writes_outside_terms`: a write by a replica the Lease did not name then)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from jupyternetes_operator.api import PENDING, PROVISIONING, READY, RUNNING, condition, phase
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.errors import Gone
from jupyternetes_operator.kube.watch import BOOKMARK, DELETED, watch

from .run import TRANSIENT, FaultEnv, retrying

WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_RANK = {None: -1, PENDING: 0, PROVISIONING: 1, RUNNING: 2}


# -- what a watch on instances says: status transitions and flaps ----------------------------------

@dataclass(frozen=True)
class Seen:
    """An instance's status as one watch event showed it."""

    phase: str | None
    ready: str
    """The Ready condition's status (``""`` when absent)."""
    deleting: bool

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Seen:
        return cls(phase(obj), str(condition(obj, READY).get("status", "")),
                   bool(obj["metadata"].get("deletionTimestamp")))


def flaps(states: Sequence[Seen]) -> list[str]:
    """Every step back in one instance's observed statuses (deletion ends the record): its phase lower in
    Pending < Provisioning < Running (or its status wiped), Running left for anything, Ready leaving True."""
    found: list[str] = []
    for before, after in itertools.pairwise(states):
        if after.deleting:
            break
        step = f"{before.phase}/Ready={before.ready} -> {after.phase}/Ready={after.ready}"
        if (before.phase in _RANK and after.phase in _RANK and _RANK[after.phase] < _RANK[before.phase]) \
                or (before.phase == RUNNING and after.phase != RUNNING) \
                or (before.ready == "True" and after.ready != "True"):
            found.append(step)
    return found


@dataclass
class Statuses:
    """Each instance's distinct statuses in the order a watch delivered them."""

    seen: dict[str, list[Seen]] = field(default_factory=dict)
    gaps: int = 0
    """Watches that had to relist (410 Gone): transitions in between may be missing."""

    def record(self, obj: Mapping[str, Any]) -> None:
        states = self.seen.setdefault(str(obj["metadata"]["name"]), [])
        state = Seen.of(obj)
        if not states or states[-1] != state:
            states.append(state)

    def flapped(self) -> dict[str, list[str]]:
        return {name: found for name, states in sorted(self.seen.items()) if (found := flaps(states))}

    def paths(self) -> dict[str, int]:
        """How many instances went each way (``None -> Provisioning/False -> Running/True``), most first."""
        counts: dict[str, int] = {}
        for states in self.seen.values():
            path = " -> ".join(f"{s.phase}/{s.ready or '-'}" + ("/deleting" if s.deleting else "") for s in states)
            counts[path] = counts.get(path, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    @property
    def transitions(self) -> int:
        return sum(len(states) - 1 for states in self.seen.values())


# -- what a watch on the Lease says: who held it, from when ------------------------------------------

@dataclass(frozen=True)
class Term:
    holder: str
    """``""``: released, nobody holds it."""
    start: datetime
    """The Lease's ``acquireTime`` (the holder's clock; a release stamps its own time there)."""
    last_renew: datetime


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@dataclass
class LeaseHistory:
    terms: list[Term] = field(default_factory=list)

    def record(self, lease: Mapping[str, Any]) -> None:
        spec = lease.get("spec") or {}
        if not spec.get("acquireTime"):
            return
        holder = str(spec.get("holderIdentity") or "")
        start, renew = parse_time(spec["acquireTime"]), parse_time(spec.get("renewTime") or spec["acquireTime"])
        if self.terms and self.terms[-1].holder == holder and self.terms[-1].start == start:
            self.terms[-1] = Term(holder, start, renew)
        else:
            self.terms.append(Term(holder, start, renew))

    def holder_at(self, at: datetime) -> str | None:
        """Who held the Lease at ``at`` (None before the first term seen)."""
        held = None
        for term in self.terms:
            if term.start <= at:
                held = term.holder
        return held

    def leader_changes(self) -> int:
        holders = [t.holder for t in self.terms if t.holder]
        return sum(a != b for a, b in itertools.pairwise(holders))

    def leaderless(self) -> list[float]:
        """For each handover, seconds from the last sign of the old holder (its release, or its last
        renewal when the Lease was taken over after expiry) to the new holder's acquisition."""
        gaps: list[float] = []
        for before, after in itertools.pairwise(self.terms):
            if not after.holder:
                continue
            since = before.start if not before.holder else before.last_renew
            gaps.append(max(0.0, (after.start - since).total_seconds()))
        return gaps


async def follow(kube: Client, resource: Resource, namespace: str, on: Callable[[Mapping[str, Any]], None],
                 statuses: Statuses | None = None, field_selector: str | None = None) -> None:
    """LIST then WATCH ``resource``, calling ``on(obj)`` for every object seen (deletions apart); reopen
    at the last version when the stream ends or the API server fails it, relist (and count a gap) on 410.
    Until cancelled."""
    rv: str | None = None
    while True:
        if rv is None:
            listed = await retrying(lambda: kube.list(resource, namespace, field_selector=field_selector))
            for obj in listed["items"]:
                on(obj)
            rv = str(listed["metadata"]["resourceVersion"])
        try:
            async with watch(kube, resource, namespace, resource_version=rv, timeout_seconds=240,
                             inactivity_timeout=90.0, field_selector=field_selector) as events:
                async for event in events:
                    rv = str(event.object["metadata"]["resourceVersion"])
                    if event.type not in (BOOKMARK, DELETED):
                        on(event.object)
        except Gone:
            rv = None
            if statuses is not None:
                statuses.gaps += 1
        except TRANSIENT:  # the API server is busy or (re)initializing its watch cache: reopen from rv
            await anyio.sleep(0.5)


# -- who wrote what, by the API server's audit log --------------------------------------------------

def audit_log_of(env: FaultEnv) -> Path | None:
    for arg in env.control_plane.config.apiserver_args:
        if arg.startswith("--audit-log-path="):
            return Path(arg.split("=", 1)[1])
    return None


@dataclass(frozen=True)
class LateWrite:
    """A write the API server received from a replica while the Lease did not name it."""

    user: str
    resource: str
    what: str


def writes_outside_terms(events: Iterable[Mapping[str, Any]], identities: Mapping[str, frozenset[str]],
                         history: LeaseHistory, since: datetime) -> tuple[int, list[LateWrite]]:
    """(writes checked, those not made by the Lease's holder of their moment): every successful write
    since ``since`` by a user in ``identities`` (user -> the Lease identities its processes campaigned as),
    Leases apart."""
    checked, late = 0, []
    for event in events:
        user = event["user"]["username"]
        resource = str((event.get("objectRef") or {}).get("resource", ""))
        if user not in identities or event["verb"] not in WRITES or resource == "leases":
            continue
        if not 200 <= (event.get("responseStatus") or {}).get("code", 0) < 300:
            continue
        at = parse_time(event["requestReceivedTimestamp"])
        if at < since:
            continue
        checked += 1
        if (holder := history.holder_at(at)) not in identities[user]:
            late.append(LateWrite(user, resource, f"{user} {event['verb']} {event['requestURI']} at "
                                                  f"{at.isoformat()} while the Lease named {holder!r}"))
    return checked, late


def audit_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
