"""Placing the corpus in a namespace, applying it, and checking that every case got its answer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from jupyternetes_operator.api import INSTANCES, READY, RUNNING, TEMPLATES, VALID, condition, phase
from jupyternetes_operator.kube.client import Client, Object, Resource
from jupyternetes_operator.kube.errors import AlreadyExists
from jupyternetes_operator.kube.resources import CONFIG_MAPS, EVENTS, PODS
from jupyternetes_operator.testing.operator import TEMPLATE, instance

from .builders import create
from .cases import CASES, SAMPLE, SQUATTED, Case


@dataclass(frozen=True)
class Placed:
    """A case with the names it has in a namespace: the instance, and the template it names."""

    case: Case
    instance: str
    template: str
    own_template: Object | None
    variables: dict[str, str | None]
    absent: tuple[str, str] | None


def place(cases: Sequence[Case] = CASES) -> list[Placed]:
    """Name every case's objects (``case-<i>``, ``bad-<i>``, unless the case names them); a case without
    variables gets ``username: case<i>`` (a user of its own, so no two cases share a retained claim
    unless they name one user on purpose, one of them ``after`` the other)."""
    placed = []
    for index, case in enumerate(cases):
        template = case.template_name or (f"bad-{index}" if case.template is not None else SAMPLE)
        name = case.instance_name or f"case-{index}"
        variables: dict[str, str | None] = dict(case.variables) if case.variables is not None \
            else {"username": f"case{index}"}
        absent = (case.absent[0], case.absent[1].format(index=index)) if case.absent else None
        placed.append(Placed(case, name, template, case.template(template) if case.template else None, variables,
                             absent))
    return placed


async def setup_corpus(kube: Client, namespace: str, other: str) -> None:
    """What the cases need besides their own objects: :data:`SAMPLE` in both namespaces (``other`` does
    not open it to ``namespace``), and a foreign pod on the name the ``child-conflict`` case renders."""
    for ns in (namespace, other):
        with contextlib.suppress(AlreadyExists):
            await kube.create(TEMPLATES, TEMPLATE, ns)
    with contextlib.suppress(AlreadyExists):
        await kube.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{SQUATTED}-notebook"},
                                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, namespace)


async def _await_running(kube: Client, name: str, namespace: str, timeout: float) -> None:
    """Poll until instance ``name`` is Running, for at most ``timeout`` seconds (then return anyway:
    the case that waited gets its answer checked, and a wrong one is reported there)."""
    with anyio.move_on_after(timeout):
        while True:
            obj = await kube.get_or_none(INSTANCES, name, namespace)
            if phase(obj) == RUNNING:
                return
            await anyio.sleep(0.5)


async def apply_corpus(kube: Client, namespace: str, other: str, placed: Sequence[Placed], *,
                       concurrency: int = 10, after_timeout: float = 120.0) -> None:
    """Create every case's template, then its instance; cases run ``concurrency`` at a time. A case
    with ``after`` waits (outside the limit, at most ``after_timeout`` s) until that case's instance
    is Running."""
    limiter = anyio.CapacityLimiter(concurrency)
    by_name = {p.case.name: p for p in placed}

    async def one(p: Placed) -> None:
        if p.case.after is not None and (first := by_name.get(p.case.after)) is not None:
            await _await_running(kube, first.instance, namespace, after_timeout)
        async with limiter:
            if p.own_template is not None:
                await create(kube, TEMPLATES, p.own_template, namespace)
            obj = instance(p.instance, {}, p.template, other if p.case.cross_namespace else None)
            obj["spec"]["variables"] = p.variables
            await create(kube, INSTANCES, obj, namespace)

    async with anyio.create_task_group() as tg:
        for p in placed:
            tg.start_soon(one, p)


def is_current(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj``'s status speaks of its current generation."""
    return bool(obj) and (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")


async def by_name(kube: Client, resource: Resource, namespace: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in (await kube.list(resource, namespace))["items"]}


def answer_problems(p: Placed, instances: Mapping[str, Any], templates: Mapping[str, Any],
                    warnings: set[tuple[str, str, str]]) -> list[str]:
    """What is still wrong with the answer case ``p`` got (pure): nothing once its instance and
    template carry the expected, current conditions and the bad ones a Warning Event."""
    case, problems = p.case, []
    obj = instances.get(p.instance)
    ready = condition(obj, READY)
    if obj is None or ready.get("reason") != case.expect or not is_current(obj):
        return [f"{case.name}: instance {p.instance} Ready={ready or None}"[:600]]
    if case.bad and (ready.get("status") != "False" or not ready.get("message")):
        problems.append(f"{case.name}: Ready {ready} needs status False and a message"[:600])
    if not case.bad and phase(obj) != RUNNING:
        problems.append(f"{case.name}: phase {(obj.get('status') or {}).get('phase')}")
    if case.bad and ("JupyterNotebookInstance", p.instance, case.expect) not in warnings:
        problems.append(f"{case.name}: no Warning Event {case.expect} for instance {p.instance}")
    if case.template_reason is not None:
        template = templates.get(p.template) or {}
        valid = condition(template, VALID)
        if (valid.get("status"), valid.get("reason")) != ("False", case.template_reason) or not is_current(template):
            problems.append(f"{case.name}: template Valid={valid or None}"[:600])
        elif ("JupyterNotebookTemplate", p.template, case.template_reason) not in warnings:
            problems.append(f"{case.name}: no Warning Event {case.template_reason} for its template")
    return problems


async def verify_corpus(kube: Client, namespace: str, placed: Sequence[Placed], *, timeout: float = 60.0,
                        interval: float = 1.0) -> list[str]:
    """Poll until every case got its answer (see :func:`answer_problems`); the problems left at
    ``timeout``, and any ``absent`` object that exists."""
    deadline = time.monotonic() + timeout
    while True:
        instances = await by_name(kube, INSTANCES, namespace)
        templates = await by_name(kube, TEMPLATES, namespace)
        warnings = {(e["regarding"].get("kind"), e["regarding"].get("name"), e.get("reason"))
                    for e in (await kube.list(EVENTS, namespace))["items"] if e.get("type") == "Warning"}
        problems = [problem for p in placed for problem in answer_problems(p, instances, templates, warnings)]
        if not problems or time.monotonic() >= deadline:
            break
        await anyio.sleep(interval)
    for p in placed:
        if p.absent and await kube.get_or_none(CONFIG_MAPS, p.absent[1], p.absent[0]) is not None:
            problems.append(f"{p.case.name}: ConfigMap {p.absent[0]}/{p.absent[1]} exists")
    return problems
