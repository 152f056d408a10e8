"""The operator's settings: one frozen object, built once from flags and environment.

Every field documents its default and why. Validation happens here, so the rest
of the operator can trust the values.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass, field

from .reconcile.policy import DEFAULT_ALLOWED_KINDS, Level
from .reconcile.tenant import TenantPolicy

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
"""The namespaces Kubernetes itself creates and uses; never a tenant's."""
_NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class LeaderElectionSettings:
    enabled: bool = True
    """On by default so that a second replica is always safe."""
    lease_name: str = "jupyternetes-operator"
    lease_namespace: str = "jupyternetes"
    """Where the Lease lives (the operator's own namespace in a deployment)."""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}")


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means all namespaces (needs cluster-wide RBAC)."""
    template_namespace: str | None = None
    """A shared namespace whose templates every watched namespace may use (admin-controlled). Its
    templates are watched even when it is excluded (below): an admin may keep them in the operator's
    own namespace. Its instances and children are not."""
    excluded_namespaces: frozenset[str] | None = None
    """Namespaces the all-namespaces mode leaves alone: nothing from them enters the caches (a field
    selector on every watch), so no template, instance or child there is read, reconciled or written.
    None (the default) becomes :data:`SYSTEM_NAMESPACES` plus ``leader_election.lease_namespace`` (the
    operator's own namespace): a tenant who may create an instance there must not get pods made in
    kube-system. An empty set excludes nothing, deliberately. Ignored when ``namespaces`` names the
    namespaces to watch: naming one (and granting the operator a Role there) is already a deliberate
    choice, so a named namespace is watched even if it is in this set."""
    template_workers: int = 2
    instance_workers: int = 32
    """Concurrent instance reconciles; each is mostly waiting on the API server, so a burst of
    spawns is drained in parallel (8 made a 300-spawn burst 2.9x slower: bench/README.md)."""
    api_connections: int = 8
    """Requests in flight to the API server at once, each on its own pooled connection (one more waits
    for a free one); watches and the Lease have connections of their own. 8, not kubernetes_asyncio's
    100: a burst's writes then leave the API server to the scheduler's and kubelets' too (a burst of
    1,000: p50 1.41x -> 1.12x bare pods), and the idle pool's 256 KB TLS buffers stay few (bench/README.md)."""
    qps: float = 0.0
    """Client-side request rate limit; 0 disables it (as controller-runtime does by default)."""
    burst: int = 100
    pod_security_level: Level = Level.BASELINE
    """Rendered pods must meet this Pod Security Standard (privileged, baseline, restricted)."""
    allowed_kinds: frozenset[tuple[str, str]] = DEFAULT_ALLOWED_KINDS
    """(apiVersion, kind) pairs a template may render."""
    tenant: TenantPolicy = field(default_factory=TenantPolicy)
    """The tenant rules beside Pod Security (service accounts, token audiences, nodeName, priority and
    runtime classes, Service types, PVC binding and sources, variables in reference fields); strict by
    default, each field loosened by its own flag (see :class:`.reconcile.tenant.TenantPolicy`)."""
    adopt_unsigned_claims: bool = False
    """Adopt retained claims that carry no operator signature (made before signatures existed, or by
    hand). Off: only claims this operator created or adopted are mounted (reconcile/claimtrust.py); turn
    it on for an upgrade until each user's home has been adopted once, then off again."""
    env_secret_wait: float = 30.0
    """Seconds an instance waits for the environment Secret it names before it fails ``EnvSecretMissing``:
    the spawner creates the Secret and the instance at once, so the Secret may land just after."""
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    bind_address: str = "0.0.0.0:8080"
    """Where /metrics, /healthz and /readyz are served."""
    log_level: str = "INFO"
    log_format: str = "json"
    """json (one object per line, for log pipelines) or text."""
    kubeconfig: str | None = None
    """None: in-cluster config when running in a pod, else the default kubeconfig."""
    shutdown_timeout: float = 25.0
    """How long SIGTERM waits for in-flight reconciles (below a pod's default 30 s grace period)."""
    watch_inactivity_timeout: float = 150.0
    """Seconds a watch may deliver nothing (not even the bookmark the server sends about once a
    minute) before it is cut and reopened: a connection that died without a FIN never ends on its own."""
    prepull: bool = False
    """Keep the images valid templates declare pulled on every node (one DaemonSet in the operator's
    namespace, ``reconcile/prepull.py``). Off by default: it needs the rights of
    ``deploy/components/prepull``, which the base install does not grant."""
    prepull_pause_image: str = "registry.k8s.io/pause:3.10"
    """The image of the puller pod's one long-running container (after its init containers pulled)."""

    def __post_init__(self) -> None:
        excluded = (SYSTEM_NAMESPACES | {self.leader_election.lease_namespace}
                    if self.excluded_namespaces is None else frozenset(self.excluded_namespaces))
        object.__setattr__(self, "excluded_namespaces", excluded)
        # Each name goes into a field selector: one that is not a namespace name could change its meaning.
        for name in sorted(excluded):
            if not _NAMESPACE_NAME.fullmatch(name):
                raise ValueError(f"excluded namespace {name!r} is not a namespace name")
        if self.template_workers < 1 or self.instance_workers < 1:
            raise ValueError("workers must be at least 1")
        if self.api_connections < 1:
            raise ValueError("api connections must be at least 1")
        if self.qps < 0 or self.burst < 1:
            raise ValueError("qps must be >= 0 and burst >= 1")
        if self.log_format not in ("json", "text"):
            raise ValueError("log format must be json or text")
        if not self.env_secret_wait >= 0:
            raise ValueError("env secret wait must be zero or more")
        if not self.watch_inactivity_timeout > 0:
            raise ValueError("watch inactivity timeout must be greater than zero")
        host, _, port = self.bind_address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bind address must be host:port, got {self.bind_address!r}")

    @property
    def unwatched_namespaces(self) -> frozenset[str]:
        """What the informers leave out: ``excluded_namespaces`` in the all-namespaces mode, else nothing."""
        return frozenset() if self.namespaces else frozenset(self.excluded_namespaces or ())

    @property
    def in_cluster(self) -> bool:
        return self.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
