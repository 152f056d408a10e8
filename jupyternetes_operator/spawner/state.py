"""What the hub persists for a server (``get_state``/``load_state``), as plain data (pure).

The instance's name and namespace are kept so that a restarted hub polls and stops the
same object even if the naming configuration changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
