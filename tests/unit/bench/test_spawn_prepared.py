"""``--prepared-homes``: each prepare request renders its spawn's claim, its name is its own, the wait
names what is not Prepared, the phases count a prepared claim as already there, and the run is named
and titled apart from a plain ``--home`` run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from bench.spawn.__main__ import TAGS, _arguments, home_suffix
from bench.spawn.cluster import hub_spawner, instance, template, template_name
from bench.spawn.home import claim_name
from bench.spawn.phases import (
    CLAIM_BOUND,
    CLAIM_CREATED,
    DONE,
    OPERATOR_SAW,
    POD_CREATED,
    SENT,
    Spawn,
    breakdown,
    phases,
    summarize,
)
from bench.spawn.prepared import (
    PREPARED_VARIANTS,
    not_prepared,
    prepare_name,
    prepare_request,
    spawn_variables,
    still_there,
    unprepared,
)
from bench.spawn.report import markdown, run_name, summary_of
from bench.spawn.variants import BARE, JUPYTERNETES, KUBESPAWNER, SPAWNER, namespace_of
from jupyternetes_operator import api
from jupyternetes_operator.reconcile.render import render

HOME = template_name(True)


def claims_of(obj: dict[str, Any], namespace: str) -> list[str]:
    """The retained claims the operator renders for instance ``obj`` from the sample home template."""
    body = {**obj, "metadata": {**obj["metadata"], "namespace": namespace, "uid": "u"}}
    return [c.name for c in render(template(home=True), body).children if c.retain]


def test_a_jupyternetes_prepare_request_carries_its_spawns_template_and_variables() -> None:
    key = "j12abu00001"
    request, spawn = prepare_request(JUPYTERNETES, key, HOME), instance(key, HOME)
    assert request["spec"] == {**spawn["spec"], "prepare": True}
    assert (request["apiVersion"], request["kind"]) == (api.API_VERSION, api.INSTANCE_KIND)
    assert claims_of(request, namespace_of(JUPYTERNETES)) == claims_of(spawn, namespace_of(JUPYTERNETES)) \
        == [claim_name(key)]


async def test_a_spawner_prepare_request_carries_what_the_spawners_instance_does() -> None:
    key, namespace = "jupyter-s12abu00001", namespace_of(SPAWNER)
    spawner = hub_spawner(key.removeprefix("jupyter-"), namespace, Path("unused"), HOME)

    async def sample(profile: Any) -> tuple[str, Any]:  # the template as the spawner's cache would show it
        return namespace, template(home=True)

    spawner._template = sample  # type: ignore[method-assign]
    assert spawner.instance_name == key
    spawn = await spawner._instance_manifest(key, namespace, "0123456789abcdef", "d1g")
    request = prepare_request(SPAWNER, key, HOME)
    assert request["spec"] == {**spawn["spec"], "prepare": True}
    assert claims_of(request, namespace) == claims_of(spawn, namespace) == [claim_name(key)]


def test_only_the_operated_variants_are_prepared() -> None:
    assert PREPARED_VARIANTS == (JUPYTERNETES, SPAWNER)
    for variant in (BARE, KUBESPAWNER):
        with pytest.raises(ValueError, match="no instance"):
            spawn_variables(variant, "b12abu00001")


def test_a_prepare_request_is_never_named_as_a_spawn() -> None:
    assert prepare_name("j12abu00001") == "j12abu00001-prep"
    assert prepare_name("jupyter-s12abu00001") == "jupyter-s12abu00001-prep"
    long = prepare_name("j" * 60 + "1")
    assert len(long) <= api.MAX_NAME
    assert api.DNS_LABEL.fullmatch(long)
    assert long != "j" * 60 + "1"


def test_every_scenario_names_its_timed_spawns_tags() -> None:
    assert set(TAGS) == {"sequential", "burst", "sustained", "scale"}
    assert all(len(set(tags)) == len(tags) and "warm" not in tags for tags in TAGS.values())


def test_the_wait_names_what_is_not_prepared() -> None:
    listed = [{"metadata": {"name": "a-prep"}, "status": {"phase": api.PREPARED}},
              {"metadata": {"name": "b-prep"}, "status": {"phase": "Provisioning"}},
              {"metadata": {"name": "c-prep"}},
              {"metadata": {"name": "other"}, "status": {"phase": "Running"}}]
    names = {"a-prep", "b-prep", "c-prep", "d-prep"}
    left = unprepared(listed, names)
    assert left == {"b-prep": "Provisioning", "c-prep": "(no status)", "d-prep": "(not found)"}
    assert not_prepared(left, 4, 600) == ("3 of 4 prepare requests not Prepared after 600 s (1 (no status), "
                                          "1 (not found), 1 Provisioning), e.g. b-prep, c-prep, d-prep")
    assert still_there(listed, {"a-prep", "d-prep"}) == {"a-prep": api.PREPARED}


def test_a_claim_prepared_before_the_spawn_counts_as_there_and_not_as_the_operator() -> None:
    marks = {CLAIM_CREATED: -3.0, CLAIM_BOUND: -2.5, SENT: 0.0, OPERATOR_SAW: 0.2, POD_CREATED: 0.1, DONE: 0.9}
    seen = phases(marks)
    assert (seen[CLAIM_CREATED], seen[CLAIM_BOUND]) == (0.0, 0.0)
    assert seen[OPERATOR_SAW] == pytest.approx(0.1)  # the pod, not the prepared claim
    assert all(v >= 0 for v in breakdown(marks).values())
    made_now = {SENT: 0.0, CLAIM_CREATED: 0.05, CLAIM_BOUND: 2.0, POD_CREATED: 2.1, DONE: 2.5}
    summary = summarize([Spawn("j1", marks), Spawn("j2", made_now)])
    assert summary["claims_bound_before_sent"] == 1
    assert "claims_bound_before_sent" not in summarize([Spawn("b1", {SENT: 0.0, DONE: 1.0})])


def test_prepared_runs_are_named_and_titled_apart() -> None:
    args = _arguments(["--scenario", "burst", "--n", "200", "--prepared-homes"])
    assert args.home
    assert args.prepared_homes
    assert home_suffix(args) == "-home-prepared"
    assert run_name("burst", 200, home=True, prepared=True) == "burst200-home-prepared"
    assert run_name("burst", 200, home=True) == "burst200-home"
    marks = {CLAIM_CREATED: -3.0, CLAIM_BOUND: -2.5, SENT: 0.0, POD_CREATED: 0.1, DONE: 0.9}
    naive = {SENT: 0.0, CLAIM_CREATED: 0.05, POD_CREATED: 0.1, CLAIM_BOUND: 0.5, DONE: 2.0}
    operator = {"rss_end_mb": 1.0, "rss_max_mb": 1.0, "idle_cpu_percent": 0.1, "live_notebooks": 2}
    runs = []
    for prepared in (False, True):
        ns = argparse.Namespace(scenario="burst", n=200, concurrency=100, variants=("bare", "spawner"), home=True,
                                prepared_homes=prepared, kubeconfig=None, timeout=300.0, idle=10.0,
                                operator_arg=[], operator_commit=None)
        spawns = {"bare": [Spawn("b1", naive)], "spawner": [Spawn("s1", marks if prepared else naive)]}
        runs.append(summary_of(ns, {"spawns": spawns, "windows": {}, "watch_lines": 0, "operator": operator},
                               (1.0, 1.0, 1.0)))
    home, prep = runs
    assert (home["run"], prep["run"], prep["parameters"]["prepared_homes"]) == \
        ("burst200-home", "burst200-home-prepared", True)
    md = markdown(runs)
    home_part, prep_part = md.split("## burst200-home-prepared")
    assert "prepared" not in home_part
    assert prep_part.startswith(": n=200, concurrency 100, with home claims, prepared before the run for "
                                "jupyternetes and spawner only (bare and KubeSpawner create theirs at spawn time)")
    assert "was already there: 0 ms" in prep_part
    assert "before their spawn's create: spawner 1/1." in prep_part
    header = next(line for line in prep_part.splitlines() if line.startswith("| variant | create answered |"))
    row = [line for line in prep_part.splitlines() if line.startswith("| spawner | ")][-1]
    claims = dict(zip(header.split(" | "), row.split(" | "), strict=True))
    assert (claims["claim created"], claims["claim bound"]) == ("0", "0")  # already there, not negative
