"""``jupyternetes-operator render``: what the operator would make of a template and an instance, without
running it.

Guaranteed:

- Nothing here decides anything of its own: the template's verdict is the template reconciler's
  (:func:`.reconcile.templates.verdict`: validation, the tenant policy on the template, the policy on
  every entry's probe render, and, with a client, the same server-side dry runs) with the same
  ``Valid`` reason and message (:func:`.reconcile.templates.valid_condition`); the instance's children
  are :func:`.reconcile.render.render`'s and its policy findings :meth:`.reconcile.policy.Policy.check`'s,
  in the instance reconciler's order (:func:`.reconcile.vetting.decide`).
- Offline (no client), nothing does I/O. With a client, nothing is written: every create is a
  ``dryRun=All`` request, answered under the caller's own rights (not the operator's).

Not promised: what only a live cluster shows at spawn time — a child name taken by another object
(``ChildConflict``), a home claim in use (``ClaimInUse``), the environment Secret's checks, quota
and admission beyond what a dry run meets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from . import api
from .kube.client import Client, Resource
from .kube.discovery import resource_for
from .kube.errors import NotFound
from .machinery.frozen import FrozenObject, freeze
from .machinery.store import ObjectKey
from .reconcile.policy import Policy
from .reconcile.render import Child, TemplateError
from .reconcile.resolve import Resolution, TemplateRef, resolve_template, template_namespaces
from .reconcile.templates import VALID_MESSAGE, dry_run, valid_condition, verdict
from .reconcile.vetting import Decision, decide

__all__ = ["Decision", "Preview", "PreviewError", "decide", "instance_for", "manifests_yaml", "preview", "report",
           "resolve_from_cluster"]

PREVIEW_UID = "00000000-0000-0000-0000-000000000000"
"""The uid of an instance made up for a preview (owner references name it)."""


class PreviewError(Exception):
    """The input cannot be previewed (a missing file or object, a malformed value): exit status 2."""


@dataclass(frozen=True)
class Preview:
    template: Mapping[str, Any]
    instance: Mapping[str, Any]
    valid: tuple[bool, str, str]
    """The template's ``Valid`` condition: (status, reason, message), as the template reconciler writes it."""
    dry_run: bool
    """Whether the verdict and the children were dry-run on an API server."""
    decision: Decision
    dry_run_problems: tuple[TemplateError, ...] = ()
    """The API server's objections to the instance's own children (a dry-run create of each)."""

    @property
    def refused(self) -> bool:
        return self.decision.refusal is not None or bool(self.dry_run_problems)


def instance_for(template: Mapping[str, Any], variables: Mapping[str, Any], *, name: str,
                 namespace: str, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The instance to render: ``base`` (an existing instance) with ``variables`` set over its own, or a
    new one named ``name`` in ``namespace`` naming ``template``."""
    if base is not None:
        spec = dict(base.get("spec") or {})
        spec["variables"] = {**(spec.get("variables") or {}), **variables}
        return {**base, "spec": spec}
    template_meta = template.get("metadata") or {}
    ref: dict[str, str] = {"name": str(template_meta.get("name", ""))}
    if template_meta.get("namespace") and template_meta["namespace"] != namespace:
        ref["namespace"] = str(template_meta["namespace"])
    return {"apiVersion": api.API_VERSION, "kind": api.INSTANCE_KIND,
            "metadata": {"name": name, "namespace": namespace, "uid": PREVIEW_UID},
            "spec": {"template": ref, "variables": dict(variables)}}


async def preview(template: Mapping[str, Any], instance: Mapping[str, Any], policy: Policy,
                  client: Client | None = None) -> Preview:
    """The template's verdict and the instance's decision; with ``client``, both dry-run on its server
    (the verdict's probe children as the template reconciler does, then the instance's own children)."""
    resources: dict[tuple[str, str], Resource] = {}
    if client is not None:
        for api_version, kind in sorted(policy.allowed_kinds):
            try:
                resources[(api_version, kind)] = await resource_for(client, api_version, kind)
            except NotFound:
                continue  # the operator would not start without it; the dry run of such a child is skipped

    def resource_of(child: Child) -> Resource | None:
        return resources.get((child.api_version, child.kind))

    valid = valid_condition(*await verdict(template, policy, client, resource_of))
    decision = decide(template, instance, policy, valid)
    problems: list[TemplateError] = []
    if client is not None and decision.refusal is None and decision.rendered is not None:
        for child in decision.rendered.children:
            if (resource := resource_of(child)) is not None and \
                    (problem := await dry_run(client, resource, child)) is not None:
                problems.append(problem)
    return Preview(template, instance, valid, client is not None, decision, tuple(problems))


class _Fetched:
    """A read-only store of the templates read from the cluster for one resolution (``ReadStore``)."""

    def __init__(self, templates: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        self._templates = {key: freeze(obj) for key, obj in templates.items()}

    def get(self, key: ObjectKey) -> FrozenObject | None:
        return self._templates.get((key.namespace or "", key.name))

    def get_by_name(self, namespace: str, name: str) -> FrozenObject | None:
        return self._templates.get((namespace, name))

    def by_index(self, index_name: str, value: str) -> list[FrozenObject]:
        return []

    def list(self) -> list[FrozenObject]:
        return list(self._templates.values())


async def resolve_from_cluster(client: Client, instance: Mapping[str, Any],
                               shared_namespace: str | None) -> Resolution:
    """The template ``instance`` names, looked up where the operator looks (:func:`.resolve.resolve_template`)."""
    ref = TemplateRef.of(instance)
    namespace = str(instance["metadata"].get("namespace") or "default")
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for where in template_namespaces(ref, namespace, shared_namespace):
        if (obj := await client.get_or_none(api.TEMPLATES, ref.name, where)) is not None:
            found[(where, ref.name)] = obj
    return resolve_template(ref, namespace, _Fetched(found), shared_namespace)


# ---------------------------------------------------------------- output


def manifests_yaml(children: Sequence[Child]) -> str:
    """The children as a YAML stream, in creation order, each under a comment naming its entry."""
    docs = []
    for child in children:
        note = " (retained: no owner, outlives the instance)" if child.retain else ""
        docs.append(f"# spec.{child.group}[{child.logical_name}]{note}\n"
                    + yaml.safe_dump(child.manifest, sort_keys=False, default_flow_style=False))
    return "---\n".join(docs)


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def report(result: Preview) -> Iterator[str]:
    """Lines saying what the operator would do: the template's ``Valid`` condition, the instance's
    outcome, each policy finding and dry-run objection."""
    ok, reason, message = result.valid
    if ok and not result.dry_run and message == VALID_MESSAGE:
        yield (f"template {_where(result.template)}: Valid=True {reason}: the template renders and passes policy "
               "(offline: --server-dry-run also dry-runs its children, as the operator does)")
    elif ok:
        yield f"template {_where(result.template)}: Valid=True {reason}: {message}"
    else:
        yield f"template {_where(result.template)}: Valid=False {reason}: {message}"
    decision = result.decision
    who = f"instance {_where(result.instance)}"
    if decision.refusal is not None:
        yield f"{who}: Failed/{decision.refusal[0]}: {decision.refusal[1]}"
    elif result.dry_run_problems:
        yield f"{who}: the API server objects to its children (a dry-run create of each)"
    else:
        children = decision.rendered.children if decision.rendered is not None else ()
        made = ", ".join(f"{c.kind} {c.name}" for c in children)
        yield f"{who}: would be provisioned: {made}"
    for found_reason, violation in decision.findings:
        yield f"  policy: {found_reason} {violation.field}: {violation.message}"
    for problem in result.dry_run_problems:
        yield f"  dry run: {problem.reason} {problem.field}: {problem.message}"


def load_documents(text: str, source: str) -> list[dict[str, Any]]:
    """The objects of a YAML (or JSON) stream, empty documents left out."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise PreviewError(f"{source}: not YAML: {exc}") from None
    if not all(isinstance(d, dict) for d in docs):
        raise PreviewError(f"{source}: every document must be an object")
    return docs


def pick(docs: Sequence[Mapping[str, Any]], kind: str, name: str | None, source: str) -> dict[str, Any] | None:
    """The one object of ``kind`` (named ``name`` if given) among ``docs``; None if there is none."""
    found = [dict(d) for d in docs if d.get("kind") == kind and d.get("apiVersion") == api.API_VERSION
             and (name is None or (d.get("metadata") or {}).get("name") == name)]
    if len(found) > 1:
        names = ", ".join(str((d.get("metadata") or {}).get("name")) for d in found)
        raise PreviewError(f"{source}: several {kind}s ({names}): name the one to use")
    return found[0] if found else None


def parse_values(pairs: Sequence[str], files: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Variables from values files (``(source, text)``, each a YAML map of strings, later ones winning)
    and then ``k=v`` pairs."""
    values: dict[str, str] = {}
    for source, text in files:
        docs = load_documents(text, source)
        for doc in docs:
            bad = sorted(str(k) for k, v in doc.items() if not isinstance(k, str) or not isinstance(v, str))
            if bad:
                raise PreviewError(f"{source}: the values of {', '.join(bad)} must be strings (quote them)")
            values.update(doc)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PreviewError(f"--set {pair!r}: expected name=value")
        values[key] = value
    return values


# ---------------------------------------------------------------- the command


@dataclass(frozen=True)
class Options:
    """What ``jupyternetes-operator render`` was asked (see its ``--help``)."""

    policy: Policy
    template: str | None = None
    file: tuple[str, str] | None = None
    """(source, text) of ``--file``."""
    namespace: str | None = None
    values: Mapping[str, str] | None = None
    instance: str | None = None
    name: str = "preview"
    server_dry_run: bool = False
    kubeconfig: str | None = None
    shared_namespace: str | None = None

    @property
    def needs_cluster(self) -> bool:
        """A cluster is asked only for a dry run or for what ``--file`` does not hold."""
        return self.server_dry_run or self.file is None


async def run(options: Options, out: Any, err: Any) -> int:
    """Render as asked, the children's YAML to ``out`` and the report to ``err``: 0 provisioned, 1 refused.
    Raises :class:`PreviewError` for bad input."""
    if not options.needs_cluster:
        return _emit(await _previewed(options, None), out, err)
    async with await Client.from_kubeconfig(options.kubeconfig or None) as client:
        return _emit(await _previewed(options, client), out, err)


def _emit(result: Preview, out: Any, err: Any) -> int:
    if result.decision.rendered is not None:
        out.write(manifests_yaml(result.decision.rendered.children))
    for line in report(result):
        err.write(line + "\n")
    return 1 if result.refused else 0


async def _previewed(options: Options, client: Client | None) -> Preview:
    docs = load_documents(options.file[1], options.file[0]) if options.file is not None else []
    source = options.file[0] if options.file is not None else "--file"
    base: Mapping[str, Any] | None = None
    if options.instance is not None:
        base = pick(docs, api.INSTANCE_KIND, options.instance, source)
        if base is None:
            if client is None:
                raise PreviewError(f"{source} holds no instance {options.instance!r}")
            base = await client.get_or_none(api.INSTANCES, options.instance, options.namespace or "default")
            if base is None:
                raise PreviewError(f"instance {options.namespace or 'default'}/{options.instance} not found")
    template = await _template(options, docs, source, base, client)
    namespace = options.namespace or str((template.get("metadata") or {}).get("namespace") or "default")
    if base is not None:
        base = {**base, "metadata": {**base["metadata"], "namespace": base["metadata"].get("namespace") or namespace,
                                     "uid": base["metadata"].get("uid") or PREVIEW_UID}}
    instance = instance_for(template, options.values or {}, name=options.name, namespace=namespace, base=base)
    return await preview(template, instance, options.policy, client if options.server_dry_run else None)


async def _template(options: Options, docs: Sequence[Mapping[str, Any]], source: str,
                    base: Mapping[str, Any] | None, client: Client | None) -> Mapping[str, Any]:
    """The template to render: from ``--file``, else by name from the cluster, else the one ``base`` names."""
    if options.file is not None:
        template = pick(docs, api.TEMPLATE_KIND, options.template, source)
        if template is None:
            raise PreviewError(f"{source} holds no template" + (f" {options.template!r}" if options.template else ""))
        meta = dict(template.get("metadata") or {})
        meta.setdefault("namespace", options.namespace or (base or {}).get("metadata", {}).get("namespace")
                        or "default")  # where kubectl apply would put it
        return {**template, "metadata": meta}
    assert client is not None
    if options.template is not None:
        namespace = options.namespace or "default"
        found = await client.get_or_none(api.TEMPLATES, options.template, namespace)
        if found is None:
            raise PreviewError(f"template {namespace}/{options.template} not found")
        return found
    if base is None:
        raise PreviewError("name a template (TEMPLATE or --file) or an instance (--instance)")
    resolution = await resolve_from_cluster(client, base, options.shared_namespace)
    if resolution.template is None:
        raise PreviewError(f"instance {_where(base)}: {resolution.reason}: {resolution.message}")
    return resolution.template
