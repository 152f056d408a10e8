"""Names of the Jupyternetes API: group, version, resources, kinds, labels, annotations, derived names.

Guaranteed: the operator and the spawner derive the same name from the same inputs (pure, no I/O).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from ..kube.client import Resource

GROUP = "jupyternetes.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
TEMPLATES = Resource(GROUP, VERSION, "jupyternotebooktemplates")
INSTANCES = Resource(GROUP, VERSION, "jupyternotebookinstances")
INSTANCE_KIND = "JupyterNotebookInstance"
TEMPLATE_KIND = "JupyterNotebookTemplate"

# Labels the operator puts on every child (and selects its informers on).
LABEL_INSTANCE = "jupyternetes.io/instance"
LABEL_TEMPLATE = "jupyternetes.io/template"
LABEL_LOGICAL_NAME = "jupyternetes.io/logical-name"
LABEL_RETAINED = "jupyternetes.io/retained"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "jupyternetes"
FIELD_MANAGER = "jupyternetes-operator"
"""Names the operator's writes in managedFields."""
EVENT_REPORTER = f"{GROUP}/operator"
"""``reportingController`` of the operator's Events."""

LABEL_APP_INSTANCE = "app.kubernetes.io/instance"
ANNOTATION_SERVERS = "jupyternetes.io/servers"
"""On a retained claim: every instance that has used it, comma-separated, oldest first. Written by
the operator when it creates or adopts the claim, never shortened by it; delete-forever reads it."""

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_NAME = 63


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def fit_name(name: str, limit: int = MAX_NAME) -> str:
    """``name`` if it fits in ``limit`` characters, else a prefix plus a stable hash suffix.

    The result is a DNS label whenever ``name`` is made of DNS-label characters.
    """
    if len(name) <= limit:
        return name
    suffix = _digest(name, 8)
    prefix = name[: limit - len(suffix) - 1].rstrip("-")
    return f"{prefix}-{suffix}"


def child_name(instance_name: str, logical_name: str) -> str:
    """The default, deterministic name of an instance's child: ``<instance>-<logical>``."""
    return fit_name(f"{instance_name}-{logical_name}")


ANNOTATION_ENV_SECRET = "jupyternetes.io/env-secret"
"""On an instance: the nonce naming its environment Secret (:func:`env_secret_name`), set by the spawner."""
ANNOTATION_ENV_FOR = "jupyternetes.io/env-for"
"""On an environment Secret: the instance it was made for (the operator checks it before owning it)."""
ANNOTATION_ENV_DIGEST = "jupyternetes.io/env-digest"
"""On an instance: :func:`env_key_digest` of the key its environment Secret carries (set by the spawner,
which creates the two at once). Where present, the operator takes the Secret only if it proves the key."""
ANNOTATION_ENV_KEY = "jupyternetes.io/env-key"
"""On an environment Secret: the key, new at every start, whose digest the instance carries. Whoever reads
the instance sees the digest only, so a Secret planted after the instance appeared cannot prove it."""
_NONCE = re.compile(r"[0-9a-f]{16}")


def env_secret_name(instance_name: str, nonce: str) -> str:
    """The Secret with a server's environment (API token included), created by the spawner with the
    instance and owned by the instance once the operator checked it. The nonce is new at every start, so
    a Secret left by an earlier start, or planted beforehand, can never be taken for this one."""
    return f"{instance_name}-env-{nonce}"


def env_secret_of(instance: Mapping[str, Any]) -> str | None:
    """The name of ``instance``'s environment Secret, or None if it declares none (or a malformed one)."""
    meta = instance.get("metadata") or {}
    nonce = (meta.get("annotations") or {}).get(ANNOTATION_ENV_SECRET)
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        return None
    return env_secret_name(str(meta.get("name", "")), nonce)


def env_key_digest(key: str) -> str:
    """The digest an instance carries of its environment Secret's key (SHA-256, hex)."""
    return hashlib.sha256(key.encode()).hexdigest()


def env_secret_proven(instance: Mapping[str, Any], secret: Mapping[str, Any]) -> bool:
    """Whether ``secret`` carries the key whose digest ``instance`` declares; True if it declares none
    (a spawner that created the Secret before the instance: its order is the proof)."""
    digest = ((instance.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_ENV_DIGEST)
    if digest is None:
        return True
    key = ((secret.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_ENV_KEY)
    return isinstance(digest, str) and isinstance(key, str) and \
        hmac.compare_digest(env_key_digest(key).encode(), digest.encode())


def label_value(text: str) -> str:
    """A valid label value for ``text`` (template names may be longer than 63 characters)."""
    return fit_name(text)


def claim_servers(claim: Mapping[str, Any]) -> tuple[str, ...]:
    """The instances a retained claim has served (:data:`ANNOTATION_SERVERS`), oldest first."""
    text = ((claim.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SERVERS) or ""
    return tuple(name for name in str(text).split(",") if name)


def with_server(servers: tuple[str, ...], instance_name: str) -> str:
    """The :data:`ANNOTATION_SERVERS` value once ``instance_name`` has used the claim too."""
    return ",".join(servers if instance_name in servers else (*servers, instance_name))


def claim_deletable_by(claim: Mapping[str, Any], instance_name: str) -> bool:
    """Whether deleting server ``instance_name`` forever may delete this retained claim: only if that
    server alone ever used it. A claim without the record (made before it existed) never is."""
    return claim_servers(claim) == (instance_name,)
