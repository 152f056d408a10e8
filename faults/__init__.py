"""Fault runs and the tools they use, kept out of the wheel: scenarios that hurt the operator,
the control plane or the API path during a burst (every one named in :mod:`faults.scenarios`), the
invariant checker that judges them, the fault proxy, and the bad-input corpus with its fuzzer.

The test suite runs each scenario at a small size (``tests/integration/``) and ``python -m
bench.faults`` runs them large. They build on the user-facing harness
(:mod:`jupyternetes_operator.testing`: the control plane and the operator as a process).
"""
