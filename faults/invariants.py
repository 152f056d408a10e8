"""Invariants of a quiescent cluster, checked against what instances and templates require.

Call :func:`check` at a quiet moment (after a fault run, once the operator had time to
converge). It reads the cluster with fresh LISTs and reports, never raises:

- every instance that is not failing for a reason of its own is Running, and its
  endpoint is the endpoint pod's current IP;
- exactly one child per (instance, kind, logical name), none orphaned (no controller
  owner, or an owner that no longer exists) except retained PVCs;
- every retained PVC seen before the run still exists with the same uid;
- every instance's and template's ``status.observedGeneration`` is current;
- every given informer cache equals a fresh LIST (same keys, same resourceVersions).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyternetes_operator.api import (
    INSTANCES,
    LABEL_INSTANCE,
    LABEL_LOGICAL_NAME,
    LABEL_MANAGED_BY,
    LABEL_RETAINED,
    MANAGED_BY,
    READY,
    RUNNING,
    TEMPLATES,
    condition,
    phase,
)
from jupyternetes_operator.kube.client import Resource
from jupyternetes_operator.kube.owners import controller_uid
from jupyternetes_operator.kube.resources import CONFIG_MAPS, PODS, PVCS, SERVICES

if TYPE_CHECKING:
    from jupyternetes_operator.kube.client import Client
    from jupyternetes_operator.machinery.informer import Informer

CHILD_RESOURCES: tuple[tuple[Resource, str], ...] = (
    (PODS, "Pod"), (PVCS, "PersistentVolumeClaim"), (SERVICES, "Service"), (CONFIG_MAPS, "ConfigMap"))
# Reasons an instance may legitimately not be Running: its input, its template or its children are at fault.
EXPECTED_FAILURES = frozenset({
    "TemplateNotFound", "TemplateNotAllowed", "TemplateInvalid", "UndeclaredVariable", "MissingVariable",
    "InvalidVariable", "InvalidName", "PolicyViolation", "ChildConflict", "ChildDeleted", "ChildInvalid",
    "ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "PodDeleted", "RenderTooLarge", "ClaimInUse",
    "EnvSecretMissing", "EnvSecretMismatch", "ClaimUntrusted", "ChildRejected",
})


@dataclass(frozen=True)
class RetainedClaim:
    namespace: str
    name: str
    uid: str


@dataclass
class Report:
    instances: int = 0
    running: int = 0
    duplicates: int = 0
    orphans: int = 0
    lost_retained_claims: int = 0
    stale_status: int = 0
    cache_mismatches: int = 0
    not_ready: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, counter: str, problem: str) -> None:
        setattr(self, counter, getattr(self, counter) + 1)
        self.problems.append(problem)


def retained_claims(claims: Iterable[Mapping[str, Any]]) -> set[RetainedClaim]:
    """The retained PVCs among ``claims`` (to pass to :func:`check` after a run)."""
    return {RetainedClaim(c["metadata"]["namespace"], c["metadata"]["name"], c["metadata"]["uid"])
            for c in claims if (c["metadata"].get("labels") or {}).get(LABEL_RETAINED) == "true"}


def _versions(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    return {(o["metadata"].get("namespace") or "", o["metadata"]["name"]): str(o["metadata"]["resourceVersion"])
            for o in objects}


async def check(client: Client, namespaces: Sequence[str], *, retained_before: Iterable[RetainedClaim] = (),
                informers: Sequence[Informer] = ()) -> Report:
    report = Report()
    instances, templates, children = await _listed(client, namespaces)
    report.instances = len(instances)
    _check_statuses(report, instances, templates, children)
    live = [c for c in children if not c["metadata"].get("deletionTimestamp")]
    _check_children(report, live, {i["metadata"]["uid"] for i in instances})
    claims = {(c["metadata"]["namespace"], c["metadata"]["name"]): c["metadata"]["uid"]
              for c in live if c["kind"] == "PersistentVolumeClaim"}  # one being deleted is as good as lost
    for claim in retained_before:
        if claims.get((claim.namespace, claim.name)) != claim.uid:
            report.add("lost_retained_claims", f"retained PVC {claim.namespace}/{claim.name} ({claim.uid}) is gone")
    for informer in informers:
        items, _ = await informer.reflector.lister_watcher.list("")  # a consistent LIST, same selectors
        truth = _versions(items)
        cached = _versions(informer.store.list())
        if cached != truth:
            differing = sorted(set(cached.items()) ^ set(truth.items()))[:5]
            report.add("cache_mismatches", f"informer {informer.name} differs from a fresh LIST: {differing}")
    return report


async def _listed(client: Client, namespaces: Sequence[str],
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The instances, templates and operator-managed children of ``namespaces``, each with its kind."""
    instances: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    for namespace in namespaces:
        instances += (await client.list(INSTANCES, namespace))["items"]
        templates += (await client.list(TEMPLATES, namespace))["items"]
        for resource, kind in CHILD_RESOURCES:  # list items carry no kind of their own
            for obj in (await client.list(resource, namespace,
                                          label_selector=f"{LABEL_MANAGED_BY}={MANAGED_BY}"))["items"]:
                children.append({**obj, "kind": kind})
        for obj in instances + templates:
            obj.setdefault("kind", "JupyterNotebookInstance" if "template" in (obj.get("spec") or {})
                           else "JupyterNotebookTemplate")
    return instances, templates, children


def _check_statuses(report: Report, instances: Sequence[Mapping[str, Any]], templates: Sequence[Mapping[str, Any]],
                    children: Sequence[Mapping[str, Any]]) -> None:
    """Every status observes its generation; every instance is Running at its pod's IP or failed as expected."""
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in children if p["kind"] == "Pod"}
    for obj in (*instances, *templates):
        meta = obj["metadata"]
        observed = (obj.get("status") or {}).get("observedGeneration")
        if observed != meta.get("generation"):
            report.add("stale_status", f"{obj['kind']} {meta['namespace']}/{meta['name']}: observedGeneration "
                                       f"{observed} != generation {meta.get('generation')}")
    for instance in instances:
        meta, status = instance["metadata"], instance.get("status") or {}
        where = f"instance {meta['namespace']}/{meta['name']}"
        if phase(instance) == RUNNING:
            report.running += 1
            endpoint = status.get("endpoint") or {}
            pod_names = [c["name"] for c in status.get("children") or () if c.get("kind") == "Pod"]
            ips = {pods[(meta["namespace"], n)]["status"].get("podIP") for n in pod_names
                   if (meta["namespace"], n) in pods}
            if endpoint.get("address") not in ips:
                report.add("not_ready", f"{where}: endpoint {endpoint.get('address')} is not its pod's IP {ips}")
        elif (reason := condition(instance, READY).get("reason", "")) not in EXPECTED_FAILURES:
            message = str(condition(instance, READY).get("message", ""))[:300]  # what it waits for, and why
            report.add("not_ready", f"{where}: {status.get('phase')} ({reason}) at quiescence: {message}")


def _check_children(report: Report, live: Sequence[Mapping[str, Any]], uids: set[str]) -> None:
    """No two live children for one instance and logical name; none but retained claims without a live controller."""
    counts = Counter((c["metadata"]["namespace"], c["kind"], (c["metadata"].get("labels") or {}).get(LABEL_INSTANCE),
                      (c["metadata"].get("labels") or {}).get(LABEL_LOGICAL_NAME)) for c in live)
    for (namespace, kind, owner, logical), count in sorted(counts.items(), key=str):
        if count > 1:
            report.add("duplicates", f"{count} {kind}s for instance {namespace}/{owner}, logical name {logical}")
    for child in live:
        meta = child["metadata"]
        if (meta.get("labels") or {}).get(LABEL_RETAINED) == "true":
            continue
        controller = controller_uid(child)
        if controller is None or controller not in uids:
            report.add("orphans", f"{child['kind']} {meta['namespace']}/{meta['name']} has no live controller")
