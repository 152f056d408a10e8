"""What the hub persists for a server (``get_state``/``load_state``), and what ``poll`` reports
for it, as plain data (pure).

The instance's name and namespace are kept so that a restarted hub polls and stops the
same object even if the naming configuration changed meanwhile.

A start in progress is persisted too (``pending``: the instance it is about to create, whose
nonce names the environment Secret it creates at the same time), written to the hub's database
*before* either exists. A hub that dies with the Secret made and not the instance leaves the next
hub what it needs to finish that start (create the instance, which then owns the Secret) instead of
a Secret that nothing owns and the hub may not delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import api


@dataclass(frozen=True)
class ServerState:
    instance: str = ""
    namespace: str = ""
    pending: Mapping[str, Any] | None = None
    """The instance manifest of a start not known to have created it yet (None once created)."""

    @property
    def started(self) -> bool:
        return bool(self.instance and self.namespace)

    @property
    def nonce(self) -> str | None:
        """The environment Secret's nonce of the pending start."""
        if self.pending is None:
            return None
        value = ((self.pending.get("metadata") or {}).get("annotations") or {}).get(api.ANNOTATION_ENV_SECRET)
        return value if isinstance(value, str) else None

    def created(self) -> ServerState:
        """The state once the pending instance exists."""
        return ServerState(self.instance, self.namespace)

    def to_dict(self) -> dict[str, Any]:
        if not self.started:
            return {}
        state: dict[str, Any] = {"instance": self.instance, "namespace": self.namespace}
        if self.pending is not None:
            state["pending"] = dict(self.pending)
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any] | None) -> ServerState:
        state = state or {}
        instance, namespace, pending = state.get("instance"), state.get("namespace"), state.get("pending")
        if isinstance(instance, str) and isinstance(namespace, str):
            if not (isinstance(pending, Mapping) and (pending.get("metadata") or {}).get("name") == instance):
                pending = None
            return cls(instance, namespace, pending)
        return cls()


def exit_status(instance: Mapping[str, Any] | None) -> int | None:
    """What ``poll()`` reports for the instance as the cache shows it: None while the server starts,
    runs or is being deleted; 0 once it is gone or :data:`~..api.STOPPED` (it exited by itself with
    code 0, e.g. its own idle cull); 1 once it is :data:`~..api.FAILED`. The hub then deletes the
    instance, as on any stop."""
    if instance is None:
        return 0
    return {api.STOPPED: 0, api.FAILED: 1}.get(api.phase(instance))
