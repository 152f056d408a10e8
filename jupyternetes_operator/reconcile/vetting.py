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

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import api
from .policy import Policy, Violation
from .render import InstanceError, Rendered, TemplateError, render
from .resolve import TemplateRef

__all__ = ["Decision", "Decisions", "decide"]


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


class Decisions:
    """:func:`decide` remembered per instance key, for as long as its spawn lasts: an instance is
    reconciled several times while its children come up (each pod and claim event), and its
    decision only changes with what it is computed from — the template's uid and generation, the
    instance's uid, generation (its spec) and environment Secret, the policy and the template's
    verdict — which is the remembered entry's key. At most ``size`` entries (the oldest dropped);
    the reconciler forgets a key once its spawn is over or the instance is gone."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._items: dict[Hashable, tuple[tuple[Any, ...], Decision]] = {}

    def decide(self, key: Hashable, template: Mapping[str, Any], instance: Mapping[str, Any], policy: Policy,
               valid: tuple[bool, str, str]) -> Decision:
        inputs = _inputs(template, instance, policy, valid)
        remembered = self._items.get(key)
        if remembered is not None and remembered[0] == inputs:
            return remembered[1]
        decision = decide(template, instance, policy, valid)
        if inputs is not None:
            self._items.pop(key, None)
            self._items[key] = (inputs, decision)
            if len(self._items) > self._size:
                del self._items[next(iter(self._items))]
        return decision

    def forget(self, key: Hashable) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


def _inputs(template: Mapping[str, Any], instance: Mapping[str, Any], policy: Policy,
            valid: tuple[bool, str, str]) -> tuple[Any, ...] | None:
    """What a decision is computed from, as a key; None when an object lacks its uid or generation
    (not from the API server: not remembered)."""
    t, i = template.get("metadata") or {}, instance.get("metadata") or {}
    key = (t.get("uid"), t.get("generation"), i.get("uid"), i.get("generation"))
    if not all(key) or any(isinstance(g, bool) or not isinstance(g, int) for g in key[1::2]):
        return None
    return (*key, api.env_secret_of(instance), policy.fingerprint, valid)
