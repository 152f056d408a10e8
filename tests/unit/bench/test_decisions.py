"""bench.decisions times real decisions: the benchmark's templates render and pass the default policy."""

from __future__ import annotations

from bench.decisions import VALID, decided_template, instances, per_decision
from jupyternetes_operator.reconcile.policy import Policy
from jupyternetes_operator.reconcile.vetting import decide


def test_what_is_timed_is_a_provisioned_instance_with_its_children() -> None:
    for home, kinds in ((False, ["Pod"]), (True, ["PersistentVolumeClaim", "Pod"])):
        decision = decide(decided_template(home), instances(1)[0], Policy(), VALID)
        assert decision.refusal is None
        assert decision.rendered is not None
        assert sorted(c.kind for c in decision.rendered.children) == kinds
        assert per_decision(home, 3) > 0
