"""The scheduler's and the kubelet's Events about an instance's pods, as progress (pure).

The hub may not read pods (its Role has no rights on them), so it learns their names from the
instance's ``status.children`` and reads the Events about them (``regarding.kind=Pod`` and the
name), which its Role's ``list``/``watch`` on Events allows.

Guaranteed:

- Only Events created at or after the instance's creation are shown: a pod of the same name
  belongs to an earlier start of the same server only before that (names are deterministic,
  and an earlier pod must be gone before the operator can create this one).
- Deduplicated: one message per (pod, type, reason, note); a repeated Event (the kubelet's
  ``BackOff`` counting up, a new Event with the same text) shows once.
- Bounded: at most ``limit`` messages per spawn, then one saying that later ones are left out;
  each note is cut to :data:`NOTE_LIMIT` characters.
- KubeSpawner's message style: ``<time> [<type>] <note>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

POD_EVENT_LIMIT = 30
"""Pod Events shown per spawn (a crash-looping pod would otherwise add one every back-off)."""
NOTE_LIMIT = 1024
"""Characters of an Event's note shown."""
PROGRESS = {"Scheduled": 65, "Pulling": 70, "Pulled": 80, "Created": 82, "Started": 85}
"""Where a Normal pod Event moves the progress bar (never backwards; the operator's Ready is 90)."""


def pod_names(instance: Mapping[str, Any] | None) -> list[str]:
    """The names of the instance's Pods, as its status lists them (rendered, created or not)."""
    children = ((instance or {}).get("status") or {}).get("children") or ()
    return [str(c["name"]) for c in children if isinstance(c, Mapping) and c.get("kind") == "Pod" and c.get("name")]


def selector(pod: str) -> str:
    """The field selector of the Events about the pod named ``pod``."""
    return f"regarding.kind=Pod,regarding.name={pod}"


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def when(event: Mapping[str, Any]) -> str:
    """The time an Event shows: its last occurrence if it has one, else its event time, else its creation."""
    series = event.get("series") or {}
    for value in (series.get("lastObservedTime"), event.get("deprecatedLastTimestamp"), event.get("eventTime"),
                  (event.get("metadata") or {}).get("creationTimestamp")):
        if isinstance(value, str) and value:
            return value
    return ""


@dataclass
class PodEvents:
    """Which pod Events a spawn shows, and how (see the module doc)."""

    since: str
    """The instance's ``creationTimestamp``: earlier Events are about an earlier pod of the same name."""
    limit: int = POD_EVENT_LIMIT
    seen: set[tuple[str, str, str, str]] = field(default_factory=set)
    shown: int = 0

    def message(self, event: Mapping[str, Any]) -> str | None:
        """The message for ``event``, or None if it is not shown (too old, a repeat, past the bound)."""
        created = _instant((event.get("metadata") or {}).get("creationTimestamp"))
        since = _instant(self.since)
        if created is not None and since is not None and created < since:
            return None
        kind, note = str(event.get("type") or "Normal"), str(event.get("note") or event.get("message") or "")
        key = (str((event.get("regarding") or {}).get("name") or ""), kind, str(event.get("reason") or ""), note)
        if key in self.seen or self.shown > self.limit:
            return None
        self.seen.add(key)
        self.shown += 1
        if self.shown > self.limit:
            return f"more Events about the server's pods are left out (the first {self.limit} are shown)"
        return f"{when(event)} [{kind}] {note[:NOTE_LIMIT]}"
