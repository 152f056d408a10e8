"""What both reconcilers work with: the client, the caches, Events and the policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .claimtrust import ClaimSigner

if TYPE_CHECKING:
    from ..kube.client import Client, Resource
    from ..machinery.events import EventRecorder
    from ..machinery.multistore import ReadStore
    from .policy import Policy


@dataclass(frozen=True)
class ChildKind:
    """Where children of one (apiVersion, kind) live: the API resource and the informer cache."""

    resource: Resource
    store: ReadStore


@dataclass(frozen=True)
class Context:
    client: Client
    templates: ReadStore
    instances: ReadStore
    children: Mapping[tuple[str, str], ChildKind]
    """One entry per allowlisted kind (the manager runs an informer for each)."""
    recorder: EventRecorder
    policy: Policy
    template_namespace: str | None = None
    """The operator's shared template namespace, if any."""
    signer: ClaimSigner = field(default_factory=ClaimSigner)
    """Signs and checks retained claims; its key is loaded when the operator starts leading."""
    env_secret_wait: float = 30.0
    """Seconds an instance waits for the environment Secret it names before it fails ``EnvSecretMissing``."""
