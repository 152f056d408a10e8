"""The template reconciler's verdict for every answer a dry run can get (the API server faked at the
client: which answers the real server gives is checked in tests/integration/test_template_validation.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from jupyternetes_operator.kube.errors import ApiError, Cause, error_from_status
from jupyternetes_operator.kube.resources import CONFIG_MAPS, PODS, PVCS
from jupyternetes_operator.reconcile.context import ChildKind, Context
from jupyternetes_operator.reconcile.policy import Policy
from jupyternetes_operator.reconcile.templates import TemplateReconciler

from .test_render import pod, sample_template, template


class DryRunClient:
    """Answers every dry-run create of a kind with the error given for it (or accepts it), and counts."""

    def __init__(self, answers: Mapping[str, ApiError | BaseException | None]) -> None:
        self.answers = answers
        self.created: list[tuple[str, str]] = []

    async def create(self, resource: Any, obj: Mapping[str, Any], namespace: str | None = None, *,
                     dry_run: bool = False) -> Mapping[str, Any]:
        assert dry_run
        self.created.append((obj["kind"], obj["metadata"]["name"]))
        answer = self.answers.get(obj["kind"])
        if answer is not None:
            raise answer
        return obj


def reconciler(client: DryRunClient) -> TemplateReconciler:
    children = {("v1", "Pod"): ChildKind(PODS, cast(Any, None)),
                ("v1", "PersistentVolumeClaim"): ChildKind(PVCS, cast(Any, None)),
                ("v1", "ConfigMap"): ChildKind(CONFIG_MAPS, cast(Any, None))}
    context = Context(client=cast(Any, client), templates=cast(Any, None), instances=cast(Any, None),
                      children=children, recorder=cast(Any, None), policy=Policy())
    return TemplateReconciler(context)


def sample() -> dict[str, Any]:
    tpl = sample_template()
    tpl["metadata"]["namespace"] = "hub"
    return tpl


def status(code: int, reason: str, message: str = "no", causes: tuple[Cause, ...] = ()) -> ApiError:
    error = error_from_status({"code": code, "reason": reason, "message": message})
    if causes:
        error.causes = causes
    return error


@pytest.mark.parametrize(("answer", "reason"), [
    (None, None),
    (status(409, "AlreadyExists", 'pods "x" already exists'), None),
    (status(422, "Invalid", "bad", (Cause("spec.containers[0].image", "FieldValueRequired", "Required value"),)),
     "DryRunFailed"),
    (status(400, "BadRequest", "cannot decode"), "DryRunFailed"),
    (status(403, "Forbidden", 'pods "x" is forbidden: violates PodSecurity "restricted:latest"'), "DryRunRejected"),
    (status(403, "Forbidden", 'pods "x" is forbidden: exceeded quota: pods=0'), "DryRunRejected"),
    (status(404, "NotFound", "the server could not find the requested resource"), "DryRunRejected"),
    (status(409, "Conflict", "the object has been modified"), "DryRunRejected"),
    (status(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"), "DryRunRejected"),
    (status(405, "MethodNotAllowed", "not allowed"), "DryRunRejected"),
])
async def test_permanent_answers_decide_validity(answer: ApiError | None, reason: str | None) -> None:
    client = DryRunClient({"Pod": answer})
    problems = await reconciler(client).problems(sample())
    assert [p.reason for p in problems] == ([reason] if reason else [])
    assert [kind for kind, _ in client.created] == ["PersistentVolumeClaim", "Pod"]
    if problems:
        assert problems[0].field == "spec.pods[notebook]"
        assert answer is not None
        assert (answer.causes[0].message if answer.causes else answer.message) in problems[0].message
        if reason == "DryRunRejected":
            assert str(answer.status) in problems[0].message


@pytest.mark.parametrize("answer", [
    status(429, "TooManyRequests", "slow down"),
    status(500, "InternalError", "etcd is sad"),
    status(503, "ServiceUnavailable", "try later"),
    status(504, "Timeout", "took too long"),
    status(401, "Unauthorized", "token expired"),
    TimeoutError(),
])
async def test_transient_answers_are_raised_for_the_controller_to_retry(answer: BaseException) -> None:
    with pytest.raises(type(answer)):
        await reconciler(DryRunClient({"Pod": answer})).problems(sample())


async def test_every_child_is_dry_run_whatever_its_when() -> None:
    cm = {"name": "cm", "apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
          "when": [{"variable": "v", "operator": "In", "values": ["never"]}]}
    tpl = template(pods=[pod("main")], resources=[cm])
    client = DryRunClient({"ConfigMap": status(422, "Invalid", "data: too long")})
    problems = await reconciler(client).problems(tpl)
    assert [(p.reason, p.field) for p in problems] == [("DryRunFailed", "spec.resources[cm]")]
    assert [kind for kind, _ in client.created] == ["ConfigMap", "Pod"]


async def test_policy_sees_pods_behind_a_when() -> None:
    debug = pod("debug", when=[{"variable": "v", "operator": "In", "values": ["debug"]}])
    debug["spec"]["hostNetwork"] = True
    client = DryRunClient({})
    problems = await reconciler(client).problems(template(pods=[pod("main"), debug]))
    assert {(p.reason, p.field) for p in problems} == {("PodSecurityViolation", "spec.pods[debug].spec.hostNetwork")}
    assert client.created == []  # policy first: nothing is sent for a template the operator refuses


async def test_samples_that_cannot_render_skip_the_dry_run_and_say_so() -> None:
    tpl = template(variables=[{"name": "user", "required": True, "pattern": "[0-9]+"}],
                   pvcs=[{"name": "home", "metadata": {"name": "HOME-{{ user }}"}, "spec": {}}])
    client = DryRunClient({})
    problems, note = await reconciler(client)._verdict(tpl)
    assert problems == []
    assert "not dry-run" in note
    assert client.created == []
