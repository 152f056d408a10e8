"""FakeKubelet's pure parts: which container runs, its environment, its address."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from jupyternetes_operator.kube.client import Resource
from jupyternetes_operator.kube.resources import SECRETS
from jupyternetes_operator.testing.fakekubelet import FakeKubelet
from jupyternetes_operator.testing.podprocess import exited, server_container


class StubClient:
    """Answers ``get_or_none`` from a dict keyed by (plural, namespace, name)."""

    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = objects

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> Any:
        return self.objects.get((resource.plural, namespace or "", name))


def pod(container: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"nodeName": "n", "containers": [*extra, container]}}


def kubelet(tmp_path: Path, objects: dict[tuple[str, str, str], dict[str, Any]] | None = None) -> FakeKubelet:
    return FakeKubelet(StubClient(objects or {}), "n", subnet=250, log_dir=tmp_path)  # type: ignore[arg-type]


def test_the_singleuser_container_is_chosen_and_its_port_used(tmp_path: Path) -> None:
    k = kubelet(tmp_path)
    obj = pod({"name": "nb", "args": ["jupyterhub-singleuser"], "ports": [{"containerPort": 9999}]},
              {"name": "sidecar", "image": "x"})
    assert server_container(obj)["name"] == "nb"
    first, second = k._allocate(obj), k._allocate(obj)
    assert first.port == 9999
    assert first.ip.startswith("127.250.")
    assert first.ip != second.ip
    assert server_container(pod({"name": "only"}))["name"] == "only"
    assert k._allocate(pod({"name": "only"})).port == 8888


async def test_environment_from_env_secrets_and_fields(tmp_path: Path) -> None:
    secret = {"data": {"JUPYTERHUB_API_TOKEN": base64.b64encode(b"t0k").decode(),
                       "JUPYTERHUB_SERVICE_URL": base64.b64encode(b"http://0.0.0.0:8888/user/a/").decode()}}
    k = kubelet(tmp_path, {(SECRETS.plural, "ns", "env"): secret})
    obj = pod({"name": "nb", "ports": [{"containerPort": 8888}],
               "envFrom": [{"secretRef": {"name": "env"}}, {"secretRef": {"name": "absent", "optional": True}}],
               "env": [{"name": "A", "value": "1"},
                       {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]})
    proc = k._allocate(obj)
    env = await k._environment(proc, obj)
    assert env["JUPYTERHUB_API_TOKEN"] == "t0k"
    assert env["A"] == "1"
    assert env["POD"] == "p"
    assert env["JUPYTERHUB_SERVICE_URL"] == f"http://{proc.ip}:8888/user/a/"


async def test_a_missing_required_secret_is_an_error(tmp_path: Path) -> None:
    k = kubelet(tmp_path)
    obj = pod({"name": "nb", "envFrom": [{"secretRef": {"name": "absent"}}]})
    with pytest.raises(LookupError, match="absent"):
        await k._environment(k._allocate(obj), obj)


@pytest.mark.parametrize(("policy", "code", "phase"), [
    ("OnFailure", 0, "Succeeded"), ("Never", 0, "Succeeded"), ("Never", 1, "Failed"),
    ("OnFailure", 1, "Running"), ("Always", 0, "Running"), (None, 3, "Running")])
def test_an_exit_is_reported_by_the_restart_policy(policy: str | None, code: int, phase: str) -> None:
    the_pod = pod({"name": "notebook", "image": "i"})
    if policy is not None:
        the_pod["spec"]["restartPolicy"] = policy
    status = exited(the_pod, code, "x" * 2000 + "the end")
    assert status["phase"] == phase
    [container] = status["containerStatuses"]
    assert container["ready"] is False
    if phase == "Running":  # the kubelet would restart it: back-off, the exit in lastState
        assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        ended = container["lastState"]["terminated"]
    else:
        ended = container["state"]["terminated"]
    assert ended["exitCode"] == code
    assert ended["reason"] == ("Completed" if code == 0 else "Error")
    assert ended["message"].endswith("the end")
    assert len(ended["message"]) == 1500
