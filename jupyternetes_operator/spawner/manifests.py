"""The objects the spawner writes: the instance and its environment Secret (pure).

Labels on every instance (the shared informer selects on the first):
``app.kubernetes.io/managed-by=jupyterhub``, ``app.kubernetes.io/component=singleuser-server``,
``hub.jupyter.org/username`` and ``hub.jupyter.org/servername`` (DNS-safe forms).
The Secret is named :func:`~jupyternetes_operator.api.env_secret_name` of the instance and a
nonce new at every start, which the instance carries in its ``jupyternetes.io/env-secret``
annotation; it carries a key new at every start (``jupyternetes.io/env-key``), and the instance
the key's digest (``jupyternetes.io/env-digest``). Both are created at once; the operator checks
that the Secret names the instance and proves the key, makes the instance its owner (so the
garbage collector removes both together) and only then creates the server's pod. A Secret planted
by someone who saw the instance cannot know the key. The hub's only right on Secrets is ``create``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import api
from .names import safe_label

MANAGED_BY = "jupyterhub"
SELECTOR = f"{api.LABEL_MANAGED_BY}={MANAGED_BY}"
LABEL_USERNAME = "hub.jupyter.org/username"
LABEL_SERVERNAME = "hub.jupyter.org/servername"


def hub_labels(username: str, server_name: str) -> dict[str, str]:
    labels = {api.LABEL_MANAGED_BY: MANAGED_BY, "app.kubernetes.io/component": "singleuser-server",
              LABEL_USERNAME: safe_label(username)}
    if server_name:
        labels[LABEL_SERVERNAME] = safe_label(server_name)
    return labels


def instance(name: str, namespace: str, template: str, template_namespace: str | None,
             variables: Mapping[str, str], labels: Mapping[str, str],
             annotations: Mapping[str, str]) -> dict[str, Any]:
    ref: dict[str, str] = {"name": template}
    if template_namespace and template_namespace != namespace:
        ref["namespace"] = template_namespace
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": api.API_VERSION, "kind": api.INSTANCE_KIND, "metadata": metadata,
            "spec": {"template": ref, "variables": dict(variables)}}


def release_request(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The instance that asks the operator to release server ``name``'s retained claims (delete-forever)."""
    return {"apiVersion": api.API_VERSION, "kind": api.INSTANCE_KIND,
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"release": True}}


def env_secret(instance_name: str, nonce: str, key: str, namespace: str, env: Mapping[str, str],
               labels: Mapping[str, str]) -> dict[str, Any]:
    """The Secret, written with the instance that names it (by ``nonce``) and declares the digest of
    ``key`` (both new at every start)."""
    annotations = {api.ANNOTATION_ENV_FOR: instance_name, api.ANNOTATION_ENV_KEY: key}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": api.env_secret_name(instance_name, nonce), "namespace": namespace,
                         "labels": dict(labels), "annotations": annotations},
            "stringData": {k: str(v) for k, v in env.items()}}
