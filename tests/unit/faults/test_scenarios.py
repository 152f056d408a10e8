"""The registry names every fault run once, and each is a scenario: ``async (env, size, rng) -> FaultRun``."""

from __future__ import annotations

import inspect

from faults.scenarios import LOCAL_ONLY, SCENARIOS


def test_every_scenario_is_a_coroutine_of_env_size_and_rng() -> None:
    for name, scenario in SCENARIOS.items():
        assert inspect.iscoroutinefunction(scenario), name
        required = [p.name for p in inspect.signature(scenario).parameters.values() if p.default is p.empty]
        assert required == ["env", "size", "rng"], name


def test_each_scenario_has_one_name_and_local_ones_are_registered() -> None:
    scenarios = list(SCENARIOS.values())
    assert len(set(scenarios)) == len(scenarios) == 11
    assert LOCAL_ONLY.issubset(SCENARIOS)
