"""The ``kubespawner`` variant's configuration: KubeSpawner set up for the pod the operator renders,
and the kubeconfig its loader can read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .home import kubespawner_home


def with_current_context(kubeconfig: Path) -> Path:
    """``kubeconfig``, or a copy next to it with ``current-context`` set (KubeSpawner's loader needs one)."""
    doc = yaml.safe_load(kubeconfig.read_text())
    if doc.get("current-context"):
        return kubeconfig
    copy_path = kubeconfig.with_name(f"{kubeconfig.stem}-current-context.yaml")
    copy_path.write_text(yaml.safe_dump({**doc, "current-context": doc["contexts"][0]["name"]}))
    copy_path.chmod(0o600)
    return copy_path


def kubespawner_config(namespace: str, rendered: dict[str, Any], claim: dict[str, Any] | None = None) -> Any:
    """KubeSpawner configured for the pod the operator renders: same image, args, port,
    resources, security contexts and labels (KubeSpawner adds its own labels and the
    JupyterHub environment, as the operator's spawner does); with ``claim`` (a home claim, as
    :func:`.home.bare_claim` gives it), ``storage_pvc_ensure`` and the home volume too."""
    from traitlets.config import Config

    container = rendered["spec"]["containers"][0]
    resources = container.get("resources") or {}
    pod_security = dict(rendered["spec"].get("securityContext") or {})
    c = Config()
    k = c.KubeSpawner
    k.namespace = namespace
    k.image = container["image"]
    k.cmd = list(container.get("args") or container.get("command") or [])
    k.port = container["ports"][0]["containerPort"]
    k.cpu_guarantee = 0.1 if resources.get("requests", {}).get("cpu") == "100m" else None
    k.mem_guarantee = "256M" if resources.get("requests", {}).get("memory") == "256Mi" else None
    k.mem_limit = "2G" if resources.get("limits", {}).get("memory") == "2Gi" else None
    k.uid = pod_security.pop("runAsUser", None)
    k.fs_gid = pod_security.pop("fsGroup", None)
    k.pod_security_context = pod_security
    k.container_security_context = dict(container.get("securityContext") or {})
    k.extra_labels = dict(rendered["metadata"].get("labels") or {})
    k.start_timeout = 300
    k.http_timeout = 300
    # As kubespawner's own test-suite: the server would otherwise need these to start.
    c.Spawner.environment = {"JUPYTERHUB_API_TOKEN": "test-secret-token", "JUPYTERHUB_CLIENT_ID": "ignored"}
    if claim is not None:
        for name, value in kubespawner_home(rendered, claim).items():
            setattr(k, name, value)
    return c
