"""Plan: what to do about each rendered child, given what the cache holds (pure).

Children are only ever created, never rewritten: a running notebook server must not
be disturbed by a template edit, and an object we did not create is never touched.

- missing → create;
- present and controlled by this instance → keep;
- a retained PVC the operator did not sign (:mod:`.claimtrust`: it neither created nor adopted
  it, whatever its labels say) → untrusted: never kept, adopted or mounted;
- a retained PVC (no controller, marked retained) held by this instance → keep;
- a retained PVC whose holder (its ``jupyternetes.io/instance`` label) is another instance
  that still exists → in use: never adopted, so one home is never mounted by two servers
  (the holder being deleted: wait; the holder live: the instance fails ``ClaimInUse``);
- a retained PVC held by a prepare request still preparing it → in use, waiting (before the trust
  check: the request signs it once it binds; waiting mounts nothing);
- a retained PVC whose holder is gone, or is a prepare request that is done → adopt (relabel to
  this instance);
- anything else with that name (another owner, or no owner and not retained) →
  conflict: the instance fails with a reason instead of overwriting someone's object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..api import LABEL_INSTANCE, LABEL_RETAINED
from ..kube.owners import controller_uid
from .render import Child

Lookup = Callable[[Child], Mapping[str, Any] | None]
Trust = Callable[[Mapping[str, Any]], bool]
"""Whether the planned instance may keep, adopt or mount that retained claim (:mod:`.claimtrust`)."""


class Holder(Enum):
    """What became of the instance a retained claim is labelled for."""

    ABSENT = "absent"
    """Gone, or a prepare request that is done: it holds nothing."""
    LIVE = "live"
    TERMINATING = "terminating"
    PREPARING = "preparing"
    """A prepare request (``spec.prepare``) not done yet."""


HolderLookup = Callable[[str], Holder]
"""The state of the instance of that name in the planned instance's namespace."""


@dataclass(frozen=True)
class Conflict:
    child: Child
    message: str


@dataclass(frozen=True)
class InUse:
    """A retained claim this instance renders that another existing instance holds."""

    child: Child
    holder: str
    state: Holder

    @property
    def waits(self) -> bool:
        """Whether the holder lets go by itself (being deleted, or preparing the claim)."""
        return self.state is not Holder.LIVE

    @property
    def message(self) -> str:
        if self.state is Holder.PREPARING:
            return (f"{self.child.kind} {self.child.name} is being prepared by prepare request {self.holder}; "
                    "waiting for it to be done")
        state = "being deleted" if self.state is Holder.TERMINATING else "still exists"
        return (f"{self.child.kind} {self.child.name} is in use by instance {self.holder}, which {state}; "
                "a retained claim serves one server at a time")


@dataclass(frozen=True)
class Untrusted:
    """A retained claim under a rendered name that the operator did not sign."""

    child: Child

    @property
    def message(self) -> str:
        return (f"{self.child.kind} {self.child.name} is marked retained but was not created or adopted by this "
                "operator (no valid signature); it will not be mounted")


@dataclass(frozen=True)
class Plan:
    create: tuple[Child, ...]
    adopt: tuple[tuple[Child, Mapping[str, Any]], ...]
    """Retained claims to relabel for this instance, each with the object as observed."""
    conflicts: tuple[Conflict, ...]
    in_use: tuple[InUse, ...]
    untrusted: tuple[Untrusted, ...]
    observed: tuple[tuple[Child, Mapping[str, Any] | None], ...]
    """Every rendered child with what the cache holds for it (None: missing)."""


def plan(children: Iterable[Child], instance_name: str, instance_uid: str, lookup: Lookup,
         holder: HolderLookup = lambda _: Holder.ABSENT,
         trusted: Trust = lambda _: True) -> Plan:
    """What to do about each of an instance's rendered ``children`` (the only classifier: a single
    child met on create is classified by the same rules)."""
    create: list[Child] = []
    adopt: list[tuple[Child, Mapping[str, Any]]] = []
    conflicts: list[Conflict] = []
    in_use: list[InUse] = []
    untrusted: list[Untrusted] = []
    observed: list[tuple[Child, Mapping[str, Any] | None]] = []
    for child in children:
        current = lookup(child)
        observed.append((child, current))
        if current is None:
            create.append(child)
            continue
        controller = controller_uid(current)
        labels = (current.get("metadata") or {}).get("labels") or {}
        if controller == instance_uid:
            continue
        if child.retain and controller is None and labels.get(LABEL_RETAINED) == "true":
            held_by = labels.get(LABEL_INSTANCE)
            state = holder(held_by) if held_by and held_by != instance_name else Holder.ABSENT
            if state is Holder.PREPARING:
                in_use.append(InUse(child, str(held_by), state))
            elif not trusted(current):
                untrusted.append(Untrusted(child))
            elif held_by == instance_name:
                continue
            elif state is Holder.ABSENT:
                adopt.append((child, current))
            else:
                in_use.append(InUse(child, str(held_by), state))
            continue
        owner = "another controller" if controller else "no controller and is not a retained claim"
        conflicts.append(Conflict(child, f"{child.kind} {child.name!r} already exists and has {owner}; "
                                         "it will not be overwritten"))
    return Plan(tuple(create), tuple(adopt), tuple(conflicts), tuple(in_use), tuple(untrusted), tuple(observed))
