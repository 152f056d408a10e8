"""What the hub persists for a server (``get_state``/``load_state``), and what ``poll`` reports
for it, as plain data (pure).

The instance's name and namespace are kept so that a restarted hub polls and stops the
same object even if the naming configuration changed meanwhile.
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

    @property
    def started(self) -> bool:
        return bool(self.instance and self.namespace)

    def to_dict(self) -> dict[str, str]:
        return {"instance": self.instance, "namespace": self.namespace} if self.started else {}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any] | None) -> ServerState:
        state = state or {}
        instance, namespace = state.get("instance"), state.get("namespace")
        if isinstance(instance, str) and isinstance(namespace, str):
            return cls(instance, namespace)
        return cls()


def exit_status(instance: Mapping[str, Any] | None) -> int | None:
    """What ``poll()`` reports for the instance as the cache shows it: None while the server starts,
    runs or is being deleted; 0 once it is gone or :data:`~..api.STOPPED` (it exited by itself with
    code 0, e.g. its own idle cull); 1 once it is :data:`~..api.FAILED`. The hub then deletes the
    instance, as on any stop."""
    if instance is None:
        return 0
    return {api.STOPPED: 0, api.FAILED: 1}.get(api.phase(instance))
