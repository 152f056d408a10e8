"""One pod as the fake kubelet runs it: where its server listens, the environment it starts with, and
the status the kubelet reports for it (see :mod:`.fakekubelet`).

Guaranteed:

- :func:`server_container` is the container naming ``jupyterhub-singleuser`` in its command or
  args, else the first.
- :func:`environment` resolves ``envFrom`` Secrets and ConfigMaps (a missing one that is not
  optional is a ``LookupError``), literal ``env`` values and the ``fieldRef`` paths a kubelet
  fills for a notebook (name, namespace, uid, pod and host IP, node name).
- API calls are retried as a kubelet's sync loop would (:func:`retrying`), so an overloaded
  test cluster does not look like a broken pod.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
from anyio.abc import Process

from ..kube.client import Client
from ..kube.errors import ApiError, is_retryable
from ..kube.resources import CONFIG_MAPS, SECRETS

T = TypeVar("T")


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodProcess:
    """One pod's server: where it listens, and its process once started."""

    namespace: str
    name: str
    uid: str
    ip: str
    port: int
    log_path: Path
    process: Process | None = None
    stopping: bool = False
    done: anyio.Event = field(default_factory=anyio.Event)

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"


def server_container(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The container that runs the server: the one naming ``jupyterhub-singleuser``, else the first."""
    containers = obj["spec"]["containers"]
    for c in containers:
        if any("jupyterhub-singleuser" in str(a) for a in (*(c.get("command") or ()), *(c.get("args") or ()))):
            return dict(c)
    return dict(containers[0])


async def environment(client: Client, node: str, pod: PodProcess, obj: Mapping[str, Any]) -> dict[str, str]:
    """The server's environment: the container's ``envFrom`` (Secrets and ConfigMaps) and ``env`` (values
    and the pod's own fields), with ``JUPYTERHUB_SERVICE_URL`` pointed at the pod's address."""
    container = server_container(obj)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or ():
        prefix = str(source.get("prefix") or "")
        for key, resource in (("secretRef", SECRETS), ("configMapRef", CONFIG_MAPS)):
            ref = source.get(key)
            if not ref:
                continue
            found = await retrying(functools.partial(client.get_or_none, resource, ref["name"],
                                                      pod.namespace))
            if found is None:
                if not ref.get("optional"):
                    raise LookupError(f"{key} {ref['name']} not found")
                continue
            if resource is SECRETS:
                env.update({prefix + k: base64.b64decode(v).decode() for k, v in
                            (found.get("data") or {}).items()})
            else:
                env.update({prefix + k: str(v) for k, v in (found.get("data") or {}).items()})
    fields = {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "metadata.uid": pod.uid,
              "status.podIP": pod.ip, "status.hostIP": "127.0.0.1", "spec.nodeName": node}
    for var in container.get("env") or ():
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif (ref := (var.get("valueFrom") or {}).get("fieldRef")) and ref.get("fieldPath") in fields:
            env[var["name"]] = fields[ref["fieldPath"]]
    # The hub's idea of the server's URL names the address it was told (e.g. 0.0.0.0): use the pod's.
    if url := env.get("JUPYTERHUB_SERVICE_URL"):
        parts = urlsplit(url)
        env["JUPYTERHUB_SERVICE_URL"] = urlunsplit(parts._replace(netloc=f"{pod.ip}:{pod.port}"))
    return env


def pod_conditions(ready: bool) -> list[dict[str, Any]]:
    now = timestamp()
    value = "True" if ready else "False"
    return [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": value, "lastTransitionTime": now},
            {"type": "Ready", "status": value, "lastTransitionTime": now}]

def container_statuses(obj: Mapping[str, Any], state: dict[str, Any], ready: bool) -> list[dict[str, Any]]:
    return [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
             "started": ready, "restartCount": 0, "state": state,
             "containerID": f"fake://{obj['metadata']['uid']}/{c['name']}"}
            for c in obj["spec"]["containers"]]


def exited(obj: Mapping[str, Any], code: int, tail: str) -> dict[str, Any]:
    """The pod's status once its server process exited with ``code``, by its ``restartPolicy`` as a
    kubelet reports it: Succeeded (exit 0 under ``OnFailure`` or ``Never``; ``Completed``), Failed
    (non-zero under ``Never``; ``Error``), else Running with the container waiting in
    ``CrashLoopBackOff`` (the fake does not restart the process: it reports at once what a kubelet
    reports once restarts keep failing)."""
    policy = (obj.get("spec") or {}).get("restartPolicy") or "Always"
    ended = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "finishedAt": timestamp(),
             "message": tail[-1500:]}
    if (code == 0 and policy != "Always") or policy == "Never":
        return {"phase": "Succeeded" if code == 0 else "Failed", "conditions": pod_conditions(False),
                "containerStatuses": container_statuses(obj, {"terminated": ended}, False)}
    statuses = container_statuses(obj, {"waiting": {
        "reason": "CrashLoopBackOff", "message": f"back-off restarting failed container (exit code {code})"}}, False)
    return {"phase": "Running", "conditions": pod_conditions(False),
            "containerStatuses": [{**c, "restartCount": 1, "lastState": {"terminated": ended}} for c in statuses]}


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = 6) -> T:
    """``call()``, retried after a growing pause while the API server answers 429/5xx or times out,
    as a kubelet's sync loop would (an overloaded test cluster must not look like a broken pod)."""
    for attempt in range(attempts):
        try:
            return await call()
        except (ApiError, TimeoutError) as exc:
            if attempt == attempts - 1 or (isinstance(exc, ApiError) and not is_retryable(exc)):
                raise
        await anyio.sleep(0.5 * 2 ** attempt)
    raise AssertionError("unreachable")
