"""``jupyternetes-operator render`` against the real control plane: ``--server-dry-run`` asks the API
server (and writes nothing), templates and instances are read from the cluster, and every reason the
command gives is the one the running operator writes into the same objects' status."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import anyio
import yaml

from jupyternetes_operator.api import INSTANCES, READY, TEMPLATES, VALID
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PODS, PVCS
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, condition, instance, instance_reason, running_operator, template_valid


async def render_cli(control_plane: ControlPlane, *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    done = await anyio.run_process(
        [sys.executable, "-m", "jupyternetes_operator", "render", "--kubeconfig", str(control_plane.kubeconfig),
         *argv], check=False)
    out, err = done.stdout.decode(), done.stderr.decode()
    return done.returncode, [d for d in yaml.safe_load_all(out) if d is not None], err


def template_named(name: str, **pod_spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(TEMPLATE)
    doc["metadata"] = {"name": name}
    doc["spec"]["pods"][0]["spec"].update(pod_spec)
    return doc


def bad_pull_policy(name: str) -> dict[str, Any]:
    """Fine by every offline check, refused by the API server's validation of a Pod."""
    doc = template_named(name)
    doc["spec"]["pods"][0]["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
    return doc


async def test_server_dry_run_asks_the_api_server_and_writes_nothing(
        control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(bad_pull_policy("pull")))
    offline = await render_cli(control_plane, "-f", str(bad), "-n", namespace, "--set", "username=alice")
    assert offline[0] == 0, offline[2]

    code, docs, err = await render_cli(control_plane, "-f", str(bad), "-n", namespace, "--set", "username=alice",
                                       "--server-dry-run")
    assert code == 1
    assert f"template {namespace}/pull: Valid=False DryRunFailed: spec.pods[notebook]: the API server rejects it: " \
           "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\"" in err
    assert f"instance {namespace}/preview: Failed/TemplateInvalid: template pull: DryRunFailed: " in err
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Pod"]

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(template_named("jupyterlab")))
    code, docs, err = await render_cli(control_plane, "-f", str(good), "-n", namespace, "--set", "username=alice",
                                       "--server-dry-run")
    assert code == 0, err
    assert f"template {namespace}/jupyterlab: Valid=True Valid: the template renders and passes policy and a " \
           "server-side dry run" in err
    assert "offline" not in err
    assert (await kube.list(PODS, namespace))["items"] == []  # dry runs only
    assert (await kube.list(PVCS, namespace))["items"] == []


async def test_the_instance_children_are_dry_run_too(control_plane: ControlPlane, namespace: str,
                                                     tmp_path: Path) -> None:
    """A value the template's probe never used (the probe takes the first enum entry) that the API server
    refuses for this instance's own children."""
    doc = template_named("sized")
    doc["spec"]["variables"].append({"name": "cpu", "default": "100m", "enum": ["100m", "lots"]})
    doc["spec"]["pods"][0]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "{{ cpu }}"
    path = tmp_path / "sized.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, _, err = await render_cli(control_plane, "-f", str(path), "-n", namespace, "--set", "username=alice",
                                    "--set", "cpu=lots", "--server-dry-run")
    assert code == 1
    assert f"template {namespace}/sized: Valid=True" in err
    assert "the API server objects to its children" in err
    assert "  dry run: DryRunFailed spec.pods[notebook]: the API server rejects it: " in err
    assert "quantities must match the regular expression" in err


async def test_the_reasons_are_the_running_operators(control_plane: ControlPlane, kube: Client, namespace: str,
                                                     ) -> None:
    """For one object of each kind of refusal, the command (reading them from the cluster) says exactly
    what the operator wrote in their status."""
    exposed = template_named("exposed")
    exposed["spec"]["variables"].append({"name": "exposure", "default": "ClusterIP",
                                         "enum": ["ClusterIP", "NodePort"]})
    exposed["spec"]["resources"] = [{"name": "web", "apiVersion": "v1", "kind": "Service", "spec": {
        "type": "{{ exposure }}", "ports": [{"port": 80, "targetPort": 8888}]}}]
    templates = [template_named("jupyterlab"), template_named("hostnet", hostNetwork=True), bad_pull_policy("pull"),
                 exposed]
    cases = {  # instance -> (template, variables, the reason it fails with)
        "upper": ("jupyterlab", {"username": "Alice"}, "InvalidVariable"),
        "hostnet": ("hostnet", {"username": "hostnet"}, "TemplateInvalid"),
        "pull": ("pull", {"username": "pull"}, "TemplateInvalid"),
        "exposed": ("exposed", {"username": "exposed", "exposure": "NodePort"}, "PolicyViolation"),
    }
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        for doc in templates:
            await kube.create(TEMPLATES, doc, namespace)
        for name, (template, variables, _) in cases.items():
            await kube.create(INSTANCES, instance(name, variables, template), namespace)
        statuses = {name: await instance_reason(kube, name, namespace, reason)
                    for name, (_, _, reason) in cases.items()}
        verdicts = {doc["metadata"]["name"]: await template_valid(kube, doc["metadata"]["name"], namespace,
                                                                   "False" if doc["metadata"]["name"] in
                                                                   ("hostnet", "pull") else "True")
                    for doc in templates}

    for name, (template, _, reason) in cases.items():
        code, _, err = await render_cli(control_plane, "--instance", name, "-n", namespace, "--server-dry-run")
        assert code == 1, err
        ready = condition(statuses[name], READY)
        assert ready["reason"] == reason
        assert f"instance {namespace}/{name}: Failed/{reason}: {ready['message']}\n" in err
        valid = condition(verdicts[template], VALID)
        assert f"template {namespace}/{template}: Valid={valid['status']} {valid['reason']}: {valid['message']}" \
               in err

    # a template read by name, for made-up variables
    code, docs, err = await render_cli(control_plane, "jupyterlab", "-n", namespace, "--set", "username=dora")
    assert code == 0, err
    assert [d["metadata"]["name"] for d in docs] == ["home-dora", "preview-notebook"]
    assert f"template {namespace}/jupyterlab: Valid=True" in err
