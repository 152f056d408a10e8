"""What the instance reconciler concludes about an instance before it creates anything (pure).

For a resolved template whose verdict (its ``Valid`` condition) is known, in the reconciler's order:
the template refused (``TemplateInvalid``, naming the template, its reason and message), else the
render's error (its reason; its message, prefixed with the field when it does not name it), else
the policy on the instance's own children (``PolicyViolation`` with every finding), else provisioned —
each with the reason and message of the ``Failed`` status. The instance reconciler
(``reconcile/instances.py``) and ``jupyternetes-operator render`` (:mod:`jupyternetes_operator.preview`)
both call it, so the preview gives the reasons a running operator writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import api
from .policy import Policy, Violation
from .render import InstanceError, Rendered, TemplateError, render
from .resolve import TemplateRef

__all__ = ["Decision", "decide"]


@dataclass(frozen=True)
class Decision:
    """What the instance reconciler would conclude before creating anything (pure)."""

    rendered: Rendered | None
    """The instance's children: also when the template or the policy refuses them (to show what is
    refused); None when the render itself fails."""
    findings: tuple[tuple[str, Violation], ...]
    """The policy's ``(reason, violation)`` for each problem with the instance's own children."""
    refusal: tuple[str, str] | None
    """``(reason, message)`` of the ``Failed`` status the instance would get; None: it is provisioned."""


def decide(template: Mapping[str, Any], instance: Mapping[str, Any], policy: Policy,
           valid: tuple[bool, str, str]) -> Decision:
    """The instance reconciler's conclusion for ``instance`` and an already resolved ``template`` whose
    verdict is ``valid``: ``TemplateInvalid`` if the template is refused, else the render's error (its
    reason; its message, prefixed with the field when it does not name it), else ``PolicyViolation``
    with every finding, else provisioned."""
    ok, reason, message = valid
    refusal = None if ok else (api.TEMPLATE_INVALID, f"template {TemplateRef.of(instance)}: {reason}: {message}")
    try:
        rendered: Rendered | None = render(template, instance)
    except (TemplateError, InstanceError) as exc:
        named = not exc.field or exc.message.startswith(exc.field)
        return Decision(None, (), refusal or (exc.reason, exc.message if named else f"{exc.field}: {exc.message}"))
    assert rendered is not None
    findings = tuple(policy.check(rendered.children))
    if findings and refusal is None:
        refusal = (api.POLICY_VIOLATION, "; ".join(f"{v.field}: {v.message}" for _, v in findings))
    return Decision(rendered, findings, refusal)
