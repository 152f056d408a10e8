"""Bad templates and instances each end in a clear reason, with an Event, and never hurt a healthy
instance created alongside them; the API server itself refuses what its schemas rule out.
The corpus lives in :mod:`faults.badinput` (the large fault run uses it too)."""

from __future__ import annotations

import secrets

from faults.badinput.cases import CASES, SAMPLE, SQUATTED
from faults.badinput.corpus import apply_corpus, place, setup_corpus, verify_corpus
from faults.badinput.rejected import REJECTED, refuse
from jupyternetes_operator.api import INSTANCES, LABEL_INSTANCE, claim_servers
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import NAMESPACES, PODS, PVCS
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.namespaces import ensure_namespace

from .operator_harness import instance, ready_instance, running_operator, template_valid


async def test_bad_input_table(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    assert len(CASES) >= 60
    other = f"other-{secrets.token_hex(3)}"
    await ensure_namespace(kube, other)
    try:
        await setup_corpus(kube, namespace, other)
        async with running_operator(control_plane.kubeconfig, (namespace, other)):
            await template_valid(kube, SAMPLE, namespace)
            placed = place(CASES)
            await apply_corpus(kube, namespace, other, placed)
            await kube.create(INSTANCES, instance("healthy"), namespace)

            await ready_instance(kube, "healthy", namespace, timeout=60)
            assert await verify_corpus(kube, namespace, placed, timeout=90) == []
            # The healthy instance stayed healthy through all of it, and the squatter was never touched.
            healthy = await kube.get(INSTANCES, "healthy", namespace)
            assert healthy["status"]["phase"] == "Running"
            squatter = await kube.get(PODS, f"{SQUATTED}-notebook", namespace)
            assert squatter["spec"]["containers"][0]["image"] == "busybox"
            # The home a running server holds stayed its own: the second server of that user got nothing.
            by_case = {p.case.name: p for p in placed}
            holder, second = by_case["home-held-by-a-running-server"], by_case["home-of-another-running-server"]
            home = await kube.get(PVCS, f"home-{holder.variables['username']}", namespace)
            assert home["metadata"]["labels"][LABEL_INSTANCE] == holder.instance
            assert claim_servers(home) == (holder.instance,)
            assert await kube.get_or_none(PODS, f"{second.instance}-notebook", namespace) is None
    finally:
        await kube.delete(NAMESPACES, other)


async def test_the_api_server_refuses_what_the_schemas_rule_out(kube: Client, namespace: str) -> None:
    assert len(REJECTED) >= 25
    problems = [await refuse(kube, namespace, index, rejection) for index, rejection in enumerate(REJECTED)]
    assert [p for p in problems if p is not None] == []
