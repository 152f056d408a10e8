"""Release: what deleting a server forever does to the retained claims it used (pure).

A release request is an instance with ``spec.release: true`` and the server's instance name
(JupyterHub's ``delete_forever``, after the server stopped). Each retained claim records every
server that used it (:data:`..api.ANNOTATION_SERVERS`); releasing server ``X``:

- removes ``X`` from the record of every retained claim that names it;
- deletes a claim only if its record is then empty (no other server of that user, or of anyone,
  ever used it) and no other existing instance holds it;
- leaves every other claim, and claims that do not name ``X``, untouched.

So deleting one of a user's servers forever never deletes a home another of their servers used,
and deleting the user (every server released in turn) deletes it once the last one goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api import LABEL_INSTANCE, LABEL_RETAINED, claim_servers
from .plan import Holder, HolderLookup


@dataclass(frozen=True)
class Release:
    """One retained claim that names the released server."""

    claim: Mapping[str, Any]
    remaining: tuple[str, ...]
    """The record once the server is removed from it."""
    delete: bool

    @property
    def name(self) -> str:
        return str(self.claim["metadata"]["name"])


def plan_release(claims: Iterable[Mapping[str, Any]], server: str, holder: HolderLookup) -> list[Release]:
    """What to do with each retained claim in ``claims`` (one namespace) when ``server`` is released."""
    steps = []
    for claim in claims:
        labels = (claim.get("metadata") or {}).get("labels") or {}
        servers = claim_servers(claim)
        if labels.get(LABEL_RETAINED) != "true" or server not in servers:
            continue
        remaining = tuple(s for s in servers if s != server)
        held_by = labels.get(LABEL_INSTANCE)
        held = bool(held_by) and held_by != server and holder(str(held_by)) is not Holder.ABSENT
        steps.append(Release(claim, remaining, delete=not remaining and not held))
    return sorted(steps, key=lambda r: r.name)


def summary(steps: Iterable[Release]) -> str:
    """What a release did, for the request's status and Event."""
    deleted = [r.name for r in steps if r.delete]
    kept = [f"{r.name} (also used by {', '.join(r.remaining)})" if r.remaining else f"{r.name} (held by another "
            "instance)" for r in steps if not r.delete]
    parts = [f"deleted {', '.join(deleted)}" if deleted else "", f"kept {'; '.join(kept)}" if kept else ""]
    return "; ".join(p for p in parts if p) or "no retained claim names this server"
