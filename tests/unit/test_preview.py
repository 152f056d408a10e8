"""``jupyternetes-operator render`` offline: the children are the operator's render, the verdicts and
reasons are the reconcilers' (whose own tests pin them), the exit status says whether it is refused.
Against a real API server and a running operator: tests/integration/test_render_command.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator import api
from jupyternetes_operator.cli import main
from jupyternetes_operator.preview import (
    PREVIEW_UID,
    PreviewError,
    instance_for,
    parse_values,
    pick,
)
from jupyternetes_operator.reconcile.policy import Level, Policy
from jupyternetes_operator.reconcile.render import render
from jupyternetes_operator.reconcile.templates import valid_condition, verdict
from jupyternetes_operator.reconcile.vetting import decide

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATE_FILE = EXAMPLES / "template-jupyterlab.yaml"


def sample() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(TEMPLATE_FILE.read_text())
    return doc


def written(tmp_path: Path, *docs: dict[str, Any], name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return path


def render_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    return code, [d for d in yaml.safe_load_all(out) if d is not None], err


def test_the_children_are_the_operators_render(capsys: pytest.CaptureFixture[str]) -> None:
    code, docs, err = render_cli(capsys, "-f", str(TEMPLATE_FILE), "--set", "username=alice", "-n", "hub",
                                 "--name", "jupyter-alice")
    assert code == 0
    template = copy.deepcopy(sample())
    template["metadata"]["namespace"] = "hub"
    expected = render(template, instance_for(template, {"username": "alice"}, name="jupyter-alice", namespace="hub"))
    assert docs == [c.manifest for c in expected.children]
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Pod"]
    assert docs[1]["metadata"]["ownerReferences"][0]["uid"] == PREVIEW_UID
    assert "template hub/jupyterlab: Valid=True Valid: the template renders and passes policy (offline: " \
           "--server-dry-run also dry-runs its children, as the operator does)" in err
    assert "instance hub/jupyter-alice: would be provisioned: PersistentVolumeClaim home-alice, " \
           "Pod jupyter-alice-notebook" in err


def test_values_file_then_set(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("username: bob\nstorage: 5Gi\nimage: quay.io/jupyter/scipy-notebook:2025-10-20\n")
    code, docs, _ = render_cli(capsys, "-f", str(TEMPLATE_FILE), "--values", str(values), "--set", "storage=20Gi")
    assert code == 0
    claim, pod = docs
    assert claim["metadata"]["name"] == "home-bob"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"  # --set wins over the file
    assert pod["spec"]["containers"][0]["image"] == "quay.io/jupyter/scipy-notebook:2025-10-20"


@pytest.mark.parametrize(("args", "reason", "message"), [
    (["--set", "username=Alice"], "InvalidVariable",
     "spec.variables.username: 'Alice' does not match the pattern '[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?'"),
    ([], "MissingVariable", "spec.variables.username is required by the template but not set"),
    (["--set", "username=a", "--set", "colour=red"], "UndeclaredVariable",
     "spec.variables.colour: the template declares no variable 'colour' (declared: 'username', 'image', 'storage')"),
    (["--set", "username=a", "--set", "storage=1Ti"], "InvalidVariable", "spec.variables.storage: "),
])
def test_an_instance_refused_exits_1_with_the_reason(capsys: pytest.CaptureFixture[str], args: list[str],
                                                      reason: str, message: str) -> None:
    code, docs, err = render_cli(capsys, "-f", str(TEMPLATE_FILE), *args)
    assert code == 1
    assert docs == []  # nothing rendered
    assert f"instance default/preview: Failed/{reason}: {message}" in err


def test_a_template_refused_by_pod_security(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = sample()
    doc["spec"]["pods"][0]["spec"]["hostNetwork"] = True
    code, docs, err = render_cli(capsys, "-f", str(written(tmp_path, doc)), "--set", "username=alice")
    assert code == 1
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Pod"]  # shown, to see what is refused
    field = "spec.pods[notebook].spec.hostNetwork"
    assert f"template default/jupyterlab: Valid=False PodSecurityViolation: {field}: " in err
    assert "instance default/preview: Failed/TemplateInvalid: template jupyterlab: PodSecurityViolation: " \
           f"{field}: " in err
    assert f"  policy: PodSecurityViolation {field}: " in err
    # the level is the operator's flag: privileged allows it
    code, _, err = render_cli(capsys, "-f", str(written(tmp_path, doc)), "--set", "username=alice",
                              "--pod-security-level", "privileged")
    assert code == 0, err


def service_template() -> dict[str, Any]:
    """A template whose Service type is a variable: the probe (first enum value) passes, NodePort does not."""
    doc = sample()
    doc["spec"]["variables"].append({"name": "exposure", "default": "ClusterIP", "enum": ["ClusterIP", "NodePort"]})
    doc["spec"]["resources"] = [{"name": "web", "apiVersion": "v1", "kind": "Service", "spec": {
        "type": "{{ exposure }}", "ports": [{"port": 80, "targetPort": 8888}]}}]
    return doc


def test_policy_on_the_instances_own_children(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = str(written(tmp_path, service_template()))
    code, _, err = render_cli(capsys, "-f", path, "--set", "username=alice")
    assert code == 0, err
    code, docs, err = render_cli(capsys, "-f", path, "--set", "username=alice", "--set", "exposure=NodePort")
    assert code == 1
    assert "template default/jupyterlab: Valid=True" in err  # the template is fine; this instance is not
    assert "instance default/preview: Failed/PolicyViolation: spec.resources[web].spec.type: " in err
    assert "--allowed-service-types" in err
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Service", "Pod"]
    code, _, _ = render_cli(capsys, "-f", path, "--set", "username=alice", "--set", "exposure=NodePort",
                            "--allowed-service-types", "ClusterIP,NodePort")
    assert code == 0


def test_an_instance_from_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(TEMPLATE_FILE.read_text() + "\n---\n" + (EXAMPLES / "instance-alice.yaml").read_text())
    code, docs, err = render_cli(capsys, "-f", str(both), "--instance", "jupyter-alice")
    assert code == 0, err
    assert docs[0]["metadata"]["name"] == "home-alice"
    assert docs[1]["metadata"]["name"] == "jupyter-alice-notebook"
    assert "instance default/jupyter-alice: would be provisioned" in err
    code, docs, err = render_cli(capsys, "-f", str(both), "--instance", "jupyter-alice", "--set", "username=carol")
    assert docs[0]["metadata"]["name"] == "home-carol"  # --set overrides the instance's own


@pytest.mark.parametrize(("argv", "message"), [
    (["--set", "novalue"], "--set 'novalue': expected name=value"),
    (["--instance", "nobody"], "holds no instance 'nobody'"),
    (["other"], "holds no template 'other'"),
])
def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["render", "-f", str(TEMPLATE_FILE), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["render", "-f", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml: No such file or directory" in capsys.readouterr().err


def test_values_must_be_strings() -> None:
    with pytest.raises(PreviewError, match="the values of size must be strings"):
        parse_values([], [("v.yaml", "size: 10\nname: x\n")])
    assert parse_values(["a=b=c"], [("v.yaml", "a: x\nb: y\n")]) == {"a": "b=c", "b": "y"}


def test_several_templates_need_a_name() -> None:
    one, two = sample(), sample()
    two["metadata"]["name"] = "other"
    with pytest.raises(PreviewError, match="several JupyterNotebookTemplates"):
        pick([one, two], api.TEMPLATE_KIND, None, "f")
    assert pick([one, two], api.TEMPLATE_KIND, "other", "f") == two


async def test_decide_follows_the_instance_reconcilers_order() -> None:
    policy = Policy(Level.BASELINE)
    template = sample()
    template["metadata"]["namespace"] = "hub"
    template["spec"]["pods"][0]["spec"]["hostPID"] = True
    valid = valid_condition(*await verdict(template, policy))
    assert valid[:2] == (False, "PodSecurityViolation")
    # a refused template wins over the instance's own errors, as in the reconciler
    decision = decide(template, instance_for(template, {}, name="x", namespace="hub"), policy, valid)
    assert decision.refusal is not None
    assert decision.refusal[0] == api.TEMPLATE_INVALID
    assert decision.refusal[1] == f"template jupyterlab: PodSecurityViolation: {valid[2]}"
    assert decision.rendered is None
