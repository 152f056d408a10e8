"""Fuzzed templates: mutations of the sample template whose outcome is not known in advance. Each
must be refused at create, or answered by a ``Valid`` condition (True or False, with a reason) and
an instance ``Ready`` condition with a reason: never a crash, never a wedged queue. The unit tests
run the same strategy through validation and rendering in-process."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from jupyternetes_operator.api import INSTANCES, READY, TEMPLATES, VALID, condition
from jupyternetes_operator.kube.client import Client, Object
from jupyternetes_operator.kube.errors import ApiError
from jupyternetes_operator.testing.operator import TEMPLATE, instance

from .builders import create
from .corpus import by_name, is_current

HOSTILE_STRINGS = (
    "", " ", "{{", "}}", "{{ }}", "{{{{ username }}}}", "{{ username }}", "{{ nosuch }}", "{{ pvcs.home.name }}",
    "{{ pods.notebook.name }}", "{{ pvcs.nosuch.name }}", "{{ resources.x.name }}", "{{ instance.name }}",
    "{{ instance.namespace }}", "{{ template.name }}", "{{ image | upper }}", "Not_A_Name", "../../etc",
    "/var/run/secrets/kubernetes.io/serviceaccount", "a\nb: c", "- x", "$(HOME)", "\u0430lice", "null", "true",
    "0", "-1", "1e400", "0x10", "\U0001f600", "\u202e", "\x00", "\\", '"', "kube-system", "hostPath", "privileged",
)
_odd_strings = st.one_of(
    st.text(max_size=30),
    st.sampled_from(HOSTILE_STRINGS),
    st.builds(lambda unit, times: unit * times, st.sampled_from(["a", "{", "-", "\u00e9", "{{ username }}"]),
              st.integers(60, 5000)),
)
_placeholders = st.one_of(
    st.sampled_from([h for h in HOSTILE_STRINGS if h.startswith("{{")]),
    st.from_regex(r"\{\{[ \t]?[A-Za-z0-9_.\-]{1,16}[ \t]?\}\}", fullmatch=True),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                     st.floats(allow_nan=False, allow_infinity=False), _odd_strings)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)), max_leaves=8)
_keys = st.one_of(st.text(max_size=12), st.sampled_from(
    ["hostNetwork", "hostPID", "privileged", "hostPath", "namespace", "serviceAccountName", "nodeName",
     "automountServiceAccountToken", "ownerReferences", "name", "when", "retain", "{{ username }}", "kind"]))
_MUTATIONS = ("drop", "retype", "string", "extra", "placeholder")


def _slots(node: Any) -> list[tuple[Any, Any, bool]]:
    """Every (container, key or index, free-form?) below a template's ``spec``: free-form slots are
    inside a child's ``spec`` or ``metadata``, which the CRD schema does not check (or barely)."""
    found: list[tuple[Any, Any, bool]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        keys = list(current) if isinstance(current, dict) else range(len(current)) if isinstance(current, list) else ()
        for key in keys:
            where = (*path, key)
            free = len(where) >= 3 and where[0] in ("pods", "pvcs", "resources") and where[2] in ("spec", "metadata")
            found.append((current, key, free))
            stack.append((current[key], where))
    return found


@st.composite
def fuzzed_templates(draw: st.DrawFn) -> Object:
    """The sample template after one to four mutations in its spec (mostly in the free-form parts the
    API server passes through): a field dropped, a value replaced by one of another type or by an odd
    string, an extra field, or placeholder text."""
    template = copy.deepcopy(TEMPLATE)
    template["metadata"] = {"name": "fuzz"}
    for _ in range(draw(st.integers(1, 4))):
        slots = [*_slots(template["spec"]), (template, "spec", False)]
        free = [slot for slot in slots if slot[2]]
        pool = free if free and draw(st.integers(0, 9)) < 7 else slots
        parent, key, _ = pool[draw(st.integers(0, len(pool) - 1))]
        mutation = draw(st.sampled_from(_MUTATIONS))
        if mutation == "drop":
            del parent[key]
        elif mutation == "retype":
            parent[key] = draw(_values)
        elif mutation == "string":
            parent[key] = draw(_odd_strings)
        elif mutation == "extra":
            target = parent[key] if isinstance(parent[key], dict | list) else parent
            if isinstance(target, dict):
                target[draw(_keys)] = draw(_values)
            else:
                target.append(draw(_values))
        else:
            text = parent[key] if isinstance(parent[key], str) else ""
            at = draw(st.integers(0, len(text)))
            parent[key] = text[:at] + draw(_placeholders) + text[at:]
        if "spec" not in template:
            break
    return template


def draw_fuzzed(count: int, seed_: int) -> list[Object]:
    """``count`` fuzzed templates (fewer if hypothesis runs out of new ones), the same for the same seed."""
    found: list[Object] = []

    @seed(seed_)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzzed_templates())
    def collect(template: Object) -> None:
        found.append(template)

    collect()
    return found[:count]


@dataclass
class FuzzOutcome:
    """What became of the fuzzed templates: refused at create, or answered in status."""

    rejected: int = 0
    accepted: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    """Templates' Valid reasons (accepted ones), by count."""
    problems: list[str] = field(default_factory=list)


async def submit_fuzzed(kube: Client, namespace: str, templates: Sequence[Object], outcome: FuzzOutcome, *,
                        concurrency: int = 10) -> None:
    """Create fuzzed template ``i`` as ``fuzz-<i>`` with an instance of the same name; count what the
    API server refuses (422 or 400: its schema or its decoder)."""
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(index: int, template: Object) -> None:
        name = f"fuzz-{index}"
        async with limiter:
            try:
                await create(kube, TEMPLATES, {**template, "metadata": {"name": name}}, namespace)
            except ApiError as exc:
                if exc.status in (400, 422):
                    outcome.rejected += 1
                else:
                    outcome.problems.append(f"{name}: {exc.status} {exc.message[:300]}")
                return
            outcome.accepted.append(name)
            await kube.create(INSTANCES, instance(name, {"username": f"fuzz{index}"}, name), namespace)

    async with anyio.create_task_group() as tg:
        for index, template in enumerate(templates):
            tg.start_soon(one, index, template)


async def verify_fuzzed(kube: Client, namespace: str, outcome: FuzzOutcome, *, timeout: float = 60.0,
                        interval: float = 1.0) -> None:
    """Poll until every accepted fuzzed template has a current ``Valid`` condition with a reason and its
    instance a current ``Ready`` condition with one; record what is left at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        templates = await by_name(kube, TEMPLATES, namespace)
        instances = await by_name(kube, INSTANCES, namespace)
        problems: list[str] = []
        reasons: dict[str, int] = {}
        for name in outcome.accepted:
            template, obj = templates.get(name) or {}, instances.get(name) or {}
            valid, ready = condition(template, VALID), condition(obj, READY)
            if valid.get("status") not in ("True", "False") or not valid.get("reason") or not is_current(template):
                problems.append(f"{name}: template Valid={valid or None}"[:400])
            elif not ready.get("reason") or not is_current(obj):
                problems.append(f"{name}: instance Ready={ready or None}"[:400])
            else:
                reasons[str(valid["reason"])] = reasons.get(str(valid["reason"]), 0) + 1
        if not problems or time.monotonic() >= deadline:
            outcome.problems += problems
            outcome.reasons = dict(sorted(reasons.items()))
            return
        await anyio.sleep(interval)
