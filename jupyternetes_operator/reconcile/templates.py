"""The template reconciler: is this template usable? Answered in its status.

Checks, in order, each failure naming the field: the template's own structure and
references (``validate_template``), kinds against the operator's allowlist, rendered
pods against the Pod Security level, and finally a server-side ``dryRun=All`` create
of every child rendered with sample values — so a typo in a pod spec shows on the
template, not at a user's spawn. The dry run happens once per generation.

Status: ``Valid`` (reason ``Valid`` or the first problem's reason, message listing
all), ``observedGeneration``, and how many instances use the template. An Event
marks every change of validity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..api import INSTANCES, TEMPLATES
from ..kube.errors import ApiError, Invalid
from ..machinery.controller import Result
from ..machinery.events import NORMAL, WARNING
from ..machinery.store import ObjectKey, thaw
from . import status as st
from .context import Context
from .render import TemplateError, render, validate_template
from .resolve import TemplateRef, resolve_template

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

INSTANCES_BY_TEMPLATE = "template"


def probe_instance(namespace: str) -> dict[str, Any]:
    """The synthetic instance a template is rendered for when it is validated."""
    return {"apiVersion": INSTANCES.api_version, "kind": "JupyterNotebookInstance",
            "metadata": {"name": "validation-probe", "namespace": namespace,
                         "uid": "00000000-0000-0000-0000-000000000000"},
            "spec": {"variables": {}}}


def instances_by_template(instance: Mapping[str, Any]) -> list[str]:
    """Index function: the template name an instance refers to (any namespace)."""
    return [str(((instance.get("spec") or {}).get("template") or {}).get("name", ""))]


class TemplateReconciler:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def reconcile(self, key: ObjectKey) -> Result:
        template = self._ctx.templates.get(key)
        if template is None:
            return Result()
        meta = template["metadata"]
        generation = int(meta.get("generation") or 0)
        current = thaw(template.get("status") or {})
        validated = current.get("observedGeneration") == generation and any(
            c.get("type") == "Valid" for c in current.get("conditions") or ())
        if validated:
            valid = next(c for c in current["conditions"] if c["type"] == "Valid")
            ok, reason, message = valid["status"] == "True", valid.get("reason", ""), valid.get("message", "")
        else:
            problems = await self.problems(template)
            ok = not problems
            reason = "Valid" if ok else problems[0].reason
            message = "the template renders and passes policy and a server-side dry run" if ok else \
                "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
        using = sum(1 for i in self._ctx.instances.by_index(INSTANCES_BY_TEMPLATE, meta["name"])
                    if self._resolves_to(i, meta["namespace"]))
        desired = {"observedGeneration": generation, "instances": using,
                   "conditions": st.merge_conditions(current.get("conditions") or (),
                                                     [st.condition("Valid", ok, reason, message)], generation,
                                                     st.now_rfc3339())}
        if st.same_status(current, desired):
            return Result()
        await self._ctx.client.patch(TEMPLATES, meta["name"], {"status": desired}, meta["namespace"],
                                 subresource="status")
        before = next((c for c in current.get("conditions") or () if c.get("type") == "Valid"), None)
        if before is None or before.get("status") != ("True" if ok else "False") or not validated:
            if ok:
                self._ctx.recorder.emit(template, NORMAL, "Valid", message, "Validate")
            else:
                self._ctx.recorder.emit(template, WARNING, reason, message[:1024], "Validate")
        return Result()

    def _resolves_to(self, instance: Mapping[str, Any], namespace: str) -> bool:
        resolved = resolve_template(TemplateRef.of(instance), instance["metadata"]["namespace"], self._ctx.templates,
                                    self._ctx.template_namespace).template
        return resolved is not None and resolved["metadata"]["namespace"] == namespace

    async def problems(self, template: Mapping[str, Any]) -> list[TemplateError]:
        """Every reason this template cannot be used, most fundamental first."""
        problems = validate_template(template)
        if problems:
            return problems
        try:
            rendered = render(template, probe_instance(template["metadata"]["namespace"]), check_values=False)
        except TemplateError as exc:
            return [exc]
        problems = [TemplateError(reason, v.message, v.field)
                    for reason, v in self._ctx.policy.check(rendered.children)]
        if problems:
            return problems
        for child in rendered.children:
            kind = self._ctx.children.get((child.api_version, child.kind))
            if kind is None:
                continue
            try:
                await self._ctx.client.create(kind.resource, child.manifest, child.manifest["metadata"]["namespace"],
                                          dry_run=True)
            except Invalid as exc:
                causes = "; ".join(f"{c.field}: {c.message}" for c in exc.causes) or exc.message
                problems.append(TemplateError("DryRunFailed", f"the API server rejects it: {causes}",
                                              f"spec.{child.group}[{child.logical_name}]"))
            except ApiError as exc:
                if exc.status in (400, 403, 422):
                    problems.append(TemplateError("DryRunFailed", exc.message,
                                                  f"spec.{child.group}[{child.logical_name}]"))
                else:
                    raise
        return problems
