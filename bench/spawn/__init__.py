"""Spawn latency: bare pods vs Jupyternetes instances vs spawners, side by side (see bench/README.md).

- :mod:`bench.spawn.phases` (pure): phase marks from watch events, percentiles, summaries.
- :mod:`bench.spawn.cluster` (all the I/O): the control plane, the operator subprocess, the
  watches, the variants.
- :mod:`bench.spawn.report`: the JSON summary, the Markdown tables and the PNG plot.
- :mod:`bench.spawn.__main__`: the command line and the runner.
"""
