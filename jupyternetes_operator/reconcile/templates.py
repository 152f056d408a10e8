"""The template reconciler: is this template usable? Answered in its status.

Checks, in order, each failure naming the field: the template's own structure and
references and the size of a render (:func:`.render.validate`), the tenant policy on the
template itself, kinds against the operator's allowlist, rendered pods against the Pod
Security level, and finally a server-side ``dryRun=All`` create of every child — so a
typo in a pod spec shows on the template, not at a user's spawn. One render serves all of
it, once per generation: **every** entry, whatever its ``when``, for a probe instance with
sample values (:func:`.render.probe_instance`), so a child only some variables include is
vetted too.

Every generation gets ``Valid`` True or False whatever the API server answers the dry run:

- ``409 AlreadyExists`` passes: the API server validates and admits a create (defaulting,
  field validation, mutating and validating admission) before its storage looks for the
  name, on a dry run as on a real create, so the answer means the object is fine and
  its name is taken (a static name after the first spawn, a user's retained claim).
  ``tests/integration/test_template_validation.py`` checks that order on the real server.
- ``400``/``422`` → ``DryRunFailed`` (the object is wrong); any other answer a retry cannot
  change — ``403`` (RBAC, quota, an admission plugin), ``404``, another ``409``, ``413`` and
  other 4xx → ``DryRunRejected``. Both with the server's message and a Warning Event, and
  not retried: a rejection that depends on something outside the template (quota, the
  operator's RBAC) is looked at again when the template changes or the operator restarts.
- ``401``, ``408``, ``429``, 5xx, timeouts and connection errors are raised: the controller
  retries them with backoff (and honours Retry-After).

Status: ``Valid`` (reason ``Valid`` or the first problem's reason, message listing
all), ``observedGeneration``, and how many instances use the template. An Event
marks every change of validity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..api import TEMPLATES, VALID, status_condition
from ..kube.errors import AlreadyExists, ApiError, Invalid
from ..machinery.controller import Result
from ..machinery.events import NORMAL, WARNING
from ..machinery.store import ObjectKey, thaw
from . import status as st
from .context import Context
from .policy import Policy
from .render import Child, TemplateError
from .resolve import may_use, usage_of
from .validation import validate

if TYPE_CHECKING:
    from ..kube.client import Client, Resource

log = logging.getLogger(__name__)

TRANSIENT = frozenset({401, 408, 429})
"""Dry-run answers (besides 5xx) that a retry may change: raised, so the controller backs off."""
MESSAGE_LIMIT = 1024
"""Characters of the API server's message kept per problem (a 413's body may be anything)."""
VALID_MESSAGE = "the template renders and passes policy and a server-side dry run"


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
        policy = self._ctx.policy.fingerprint
        valid = status_condition(current, VALID)
        validated = current.get("observedGeneration") == generation and current.get("policy") == policy and bool(valid)
        if validated:
            ok, reason, message = valid["status"] == "True", valid.get("reason", ""), valid.get("message", "")
        else:
            ok, reason, message = valid_condition(*await self._verdict(template))
        usage = usage_of(template, may_use(template, self._ctx.instances),
                         self._ctx.templates, self._ctx.template_namespace)
        desired = {"observedGeneration": generation, "policy": policy, "instances": usage.instances,
                   "outdatedInstances": usage.outdated,
                   "conditions": st.merge_conditions(current.get("conditions") or (),
                                                     [st.Condition(ok, reason, message).as_status(VALID)], generation,
                                                     st.now_rfc3339())}
        if st.same_status({k: v for k, v in current.items() if k in desired}, desired):
            return Result()  # what others write beside it (status.prePull: reconcile/prepull.py) is theirs
        await self._ctx.client.patch(TEMPLATES, meta["name"], {"status": desired}, meta["namespace"],
                                 subresource="status")
        if not valid or valid.get("status") != ("True" if ok else "False") or not validated:
            if ok:
                self._ctx.recorder.emit(template, NORMAL, "Valid", message, "Validate")
            else:
                self._ctx.recorder.emit(template, WARNING, reason, message[:1024], "Validate")
        return Result()

    async def problems(self, template: Mapping[str, Any]) -> list[TemplateError]:
        """Every reason this template cannot be used, most fundamental first."""
        return (await self._verdict(template))[0]

    async def _verdict(self, template: Mapping[str, Any]) -> tuple[list[TemplateError], str]:
        """(problems, a note for the ``Valid`` message when there are none)."""
        return await verdict(template, self._ctx.policy, self._ctx.client, self._resource_of)

    def _resource_of(self, child: Child) -> Resource | None:
        kind = self._ctx.children.get((child.api_version, child.kind))
        return None if kind is None else kind.resource


async def verdict(template: Mapping[str, Any], policy: Policy, client: Client | None = None,
                  resource_of: Callable[[Child], Resource | None] = lambda _: None,
                  ) -> tuple[list[TemplateError], str]:
    """The template reconciler's verdict on ``template``: (problems, a note for the ``Valid`` message when
    there are none). The template's own problems (:func:`.validation.validate`), else the policy's on
    the template and on its probe children, else each probe child's server-side dry run (:func:`dry_run`)
    as ``resource_of`` it says — none without a ``client`` (then nothing here does I/O)."""
    validation = validate(template)
    if validation.errors:
        return list(validation.errors), ""
    problems = [TemplateError(reason, v.message, v.field)
                for reason, v in (*policy.check_template(template), *policy.check(validation.children))]
    if problems:
        return problems, ""
    if validation.unrendered is not None:
        return [], (f"the template is valid, but its children were not dry-run: the sample values do not "
                    f"render ({validation.unrendered.message[:MESSAGE_LIMIT]}); each spawn checks its own")
    if client is None:
        return [], ""
    for child in validation.children:
        if (resource := resource_of(child)) is not None and \
                (problem := await dry_run(client, resource, child)) is not None:
            problems.append(problem)
    return problems, ""


def valid_condition(problems: Sequence[TemplateError], note: str = "") -> tuple[bool, str, str]:
    """The ``Valid`` condition's (status, reason, message) for a verdict (pure)."""
    if not problems:
        return True, "Valid", note or VALID_MESSAGE
    return False, problems[0].reason, "; ".join(
        f"{p.field}: {p.message}" if p.field and not p.message.startswith(p.field) else p.message for p in problems)


async def dry_run(client: Client, resource: Resource, child: Child) -> TemplateError | None:
    """The server's permanent objection to creating ``child`` as ``resource`` (a server-side dry run), or
    None; raises on transient answers."""
    field = f"spec.{child.group}[{child.logical_name}]"
    try:
        await client.create(resource, child.manifest, child.manifest["metadata"]["namespace"], dry_run=True)
    except AlreadyExists:
        return None  # validated and admitted before the storage found the name taken (see the module doc)
    except Invalid as exc:
        causes = "; ".join(f"{c.field}: {c.message}" for c in exc.causes) or exc.message
        return TemplateError("DryRunFailed", f"the API server rejects it: {causes[:MESSAGE_LIMIT]}", field)
    except ApiError as exc:
        if exc.status in TRANSIENT or exc.status >= 500:
            raise
        if exc.status == 400:
            return TemplateError("DryRunFailed", f"the API server rejects it: {exc.message[:MESSAGE_LIMIT]}",
                                 field)
        return TemplateError(
            "DryRunRejected",
            f"the API server refuses to create it ({exc.status} {exc.reason or 'Error'}): "
            f"{exc.message[:MESSAGE_LIMIT]}", field)
    return None
