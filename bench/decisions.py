"""Micro-benchmark: CPU per instance decision (render + policy check, :mod:`.reconcile.vetting`) for
the spawn benchmark's templates, and what a burst's decisions cost the operator in all.

    python -m bench.decisions [--n 300] [--repeat 5]

A decision is made once per instance (the reconciler remembers it while the spawn lasts), so a burst
of ``n`` spawns costs ``n`` decisions: this says whether they are worth making cheaper.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from jupyternetes_operator.reconcile.policy import Policy
from jupyternetes_operator.reconcile.vetting import decide

from .spawn.cluster import template

VALID = (True, "Valid", "")


def instances(n: int) -> list[dict[str, Any]]:
    return [{"metadata": {"name": f"jupyter-u{i}", "namespace": "bench", "uid": f"i{i}", "generation": 1},
             "spec": {"template": {"name": "jupyterlab"}, "variables": {"username": f"u{i}"}}} for i in range(n)]


def decided_template(home: bool) -> dict[str, Any]:
    """The benchmark's template (with a home claim or not) as the API server would serve it."""
    the_template = template(home)
    the_template["metadata"].update(namespace="bench", uid="t1", generation=1)
    return the_template


def per_decision(home: bool, n: int) -> float:
    """CPU seconds per decision over ``n`` instances of the benchmark's template (with a home claim or not)."""
    the_template = decided_template(home)
    policy = Policy()
    batch = instances(n)
    assert decide(the_template, batch[0], policy, VALID).refusal is None
    started = time.process_time()
    for instance in batch:
        decide(the_template, instance, policy, VALID)
    return (time.process_time() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for home in (False, True):
        runs = [per_decision(home, args.n) for _ in range(args.repeat)]
        median = statistics.median(runs)
        print(f"{'home' if home else 'bare'} template: {median * 1e3:.3f} ms CPU per decision "
              f"[{min(runs) * 1e3:.3f}-{max(runs) * 1e3:.3f}], {median * args.n * 1e3:.0f} ms for a burst of {args.n}")


if __name__ == "__main__":
    main()
