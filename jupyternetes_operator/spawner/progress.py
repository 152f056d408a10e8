"""What a user sees while the server starts: instance phases and Events as progress (pure).

Progress only grows: :class:`Tracker` keeps the highest value reached and leaves it
out of messages that would lower it. A failure names its reason and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..api import (
    ADOPTED,
    CREATED,
    FAILED,
    PENDING,
    POLICY_VIOLATION,
    PROVISIONING,
    READY,
    RUNNING,
    SERVER_STOPPED,
    STOPPED,
    TEMPLATE_INVALID,
    TEMPLATE_NOT_ALLOWED,
    TEMPLATE_NOT_FOUND,
    condition,
    phase,
)
from .podevents import PROGRESS as POD_PROGRESS
from .podevents import PodEvents

_PHASE_PROGRESS = {PENDING: 20, PROVISIONING: 50, RUNNING: 100}
_EVENT_PROGRESS = {CREATED: 40, ADOPTED: 40, PROVISIONING: 60, READY: 90}

HINTS = {
    TEMPLATE_INVALID: "the template is invalid; `kubectl describe jnt` shows why",
    TEMPLATE_NOT_FOUND: "the template does not exist (yet)",
    TEMPLATE_NOT_ALLOWED: "the template does not allow instances from this namespace (spec.instanceNamespaces)",
    "ImagePullBackOff": "the image cannot be pulled; check its name and the registry's credentials",
    "ErrImagePull": "the image cannot be pulled; check its name and the registry's credentials",
    "Unschedulable": "no node can run the server (resources, node selectors or taints)",
    POLICY_VIOLATION: "the rendered pod breaks the operator's Pod Security level",
    SERVER_STOPPED: "the server exited by itself with code 0 before it was ready; its log says why",
}
"""A hint per reason: the operator's own, and the kubelet's and scheduler's it passes on."""


def observed(instance: Mapping[str, Any] | None) -> bool:
    """The operator has written a status for the instance's current generation."""
    status = (instance or {}).get("status") or {}
    meta = (instance or {}).get("metadata") or {}
    return status.get("observedGeneration") is not None and status["observedGeneration"] >= meta.get("generation", 0)


def endpoint_url(instance: Mapping[str, Any] | None) -> str | None:
    """The server's URL once the instance is Running."""
    if phase(instance) != RUNNING:
        return None
    url = (((instance or {}).get("status") or {}).get("endpoint") or {}).get("url")
    return str(url) if url else None


def failure(instance: Mapping[str, Any] | None) -> str | None:
    """The message for a Failed (or, while starting, Stopped) instance (None otherwise): reason, detail and a hint."""
    if phase(instance) not in (FAILED, STOPPED):
        return None
    ready = condition(instance, READY)
    reason = str(ready.get("reason") or FAILED)
    text = f"{reason}: {ready.get('message') or 'no detail'}"
    hint = next((h for key, h in HINTS.items() if key in reason or key in str(ready.get("message") or "")), None)
    return f"{text} ({hint})" if hint else text


@dataclass
class Tracker:
    """Turns phases and Events into ``{progress, message}`` dicts; progress never decreases."""

    progress: int = 0
    last: tuple[str, str, str] = ("", "", "")
    """The (phase, Ready reason, Ready message) last reported."""

    @staticmethod
    def key(instance: Mapping[str, Any] | None) -> tuple[str, str, str]:
        ready = condition(instance, READY)
        return phase(instance), str(ready.get("reason") or ""), str(ready.get("message") or "")

    def _emit(self, value: int | None, message: str) -> dict[str, Any]:
        if value is not None and value > self.progress:
            self.progress = value
            return {"progress": value, "message": message}
        return {"message": message}

    def on_instance(self, instance: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A message when the phase or the Ready condition's reason/message changed (else None)."""
        key = self.key(instance)
        current = key[0]
        if not current or key == self.last:
            return None
        self.last = key
        name = ((instance or {}).get("metadata") or {}).get("name", "")
        if current in (FAILED, STOPPED):
            return self._emit(None, f"Server {'failed' if current == FAILED else 'stopped'}: {failure(instance)}")
        if current == RUNNING:
            return self._emit(100, f"Server ready at {endpoint_url(instance)}")
        ready = condition(instance, READY)
        detail = f": {ready.get('reason')}: {ready.get('message')}" if ready.get("message") else ""
        return self._emit(_PHASE_PROGRESS.get(current), f"Instance {name} is {current}{detail}")

    def on_pod_event(self, event: Mapping[str, Any], shown: PodEvents) -> dict[str, Any] | None:
        """A message for an Event about one of the instance's pods (the scheduler's, the kubelet's), in
        KubeSpawner's style, or None if ``shown`` leaves it out (a repeat, too old, past the bound)."""
        message = shown.message(event)
        if message is None:
            return None
        normal = event.get("type") != "Warning"
        return self._emit(POD_PROGRESS.get(str(event.get("reason") or "")) if normal else None, message)

    def on_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        reason = str(event.get("reason") or "")
        note = str(event.get("note") or event.get("message") or "")
        if event.get("type") == "Warning":
            hint = HINTS.get(reason)
            return self._emit(None, f"Warning {reason}: {note}" + (f" ({hint})" if hint else ""))
        return self._emit(_EVENT_PROGRESS.get(reason), f"{reason}: {note}" if note else reason)
