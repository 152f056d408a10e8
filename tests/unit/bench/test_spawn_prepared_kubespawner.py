"""``--prepare-kubespawner``: the claims made beforehand are the very claims KubeSpawner's
``storage_pvc_ensure`` creates at spawn (same name, namespace, labels and spec, through the same
client call), KubeSpawner takes the claim already there as made, and the run is named and titled
apart from a ``--prepared-homes`` run where KubeSpawner made its own."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from bench.spawn.__main__ import TAGS, _arguments, home_suffix
from bench.spawn.cluster import Bench, Watches
from bench.spawn.home import bare_claim, claim_name
from bench.spawn.phases import CLAIM_BOUND, CLAIM_CREATED, DONE, POD_CREATED, SENT, Spawn, phases
from bench.spawn.prepared import PREPARED_VARIANTS, not_prepared, prepared_variants, timed_keys, unbound
from bench.spawn.preparing import create_as_kubespawner
from bench.spawn.report import markdown, run_name, summary_of
from bench.spawn.variants import KUBESPAWNER, namespace_of
from tests.unit.bench.test_spawn_home import POD, RENDERED_CLAIM


class RecordingApi:
    """The one CoreV1Api call a PVC create makes: what it was sent (409 from the second on, if ``exists``)."""

    def __init__(self, api_client: Any, exists: bool = False) -> None:
        self.api_client, self.exists = api_client, exists
        self.sent: list[tuple[str, Any]] = []

    async def create_namespaced_persistent_volume_claim(self, namespace: str, body: Any) -> Any:
        from kubernetes_asyncio.client.rest import ApiException

        self.sent.append((namespace, self.api_client.sanitize_for_serialization(body)))
        if self.exists and len(self.sent) > 1:
            raise ApiException(status=409, reason="Conflict")
        return body


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kubeconfig KubeSpawner's constructor can load (it sends nothing in these tests)."""
    from kubernetes_asyncio.config import kube_config

    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


@pytest.mark.usefixtures("kubeconfig")
def test_the_claims_made_beforehand_are_those_kubespawner_creates_at_spawn() -> None:
    bench = Bench(client=None, watches=Watches(None), kubeconfig=Path("unused"),  # type: ignore[arg-type]
                  home=True, rendered=POD, claim=bare_claim(RENDERED_CLAIM))
    keys = timed_keys(bench.key, KUBESPAWNER, TAGS["burst"], 3)
    assert keys == [bench.key(KUBESPAWNER, i, "u") for i in range(3)]

    async def both(key: str) -> tuple[Any, list[tuple[str, Any]], bool]:
        spawner = bench.kube_spawner(key)
        spawner.api = api = RecordingApi(spawner.api.api_client, exists=True)
        await create_as_kubespawner(spawner)  # beforehand
        # At spawn: what start() sends with storage_pvc_ensure, answered 409 AlreadyExists.
        made = await spawner._make_create_pvc_request(spawner.get_pvc_manifest(), 1)
        return spawner, api.sent, made

    for key in keys:
        spawner, sent, made = anyio.run(both, key)
        user = key.removeprefix("jupyter-")
        assert spawner.pod_name == key  # the spawn's key, as the watches mark it
        assert made is True  # KubeSpawner takes the existing claim as made, and goes on to its pod
        (beforehand_ns, beforehand), (at_spawn_ns, at_spawn) = sent
        assert beforehand_ns == at_spawn_ns == namespace_of(KUBESPAWNER)
        assert beforehand == at_spawn
        assert beforehand["metadata"]["name"] == claim_name(key) == f"home-{user}"
        labels = beforehand["metadata"]["labels"]
        assert (labels["hub.jupyter.org/username"], labels["component"]) == (user, "singleuser-storage")
        assert beforehand["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}


def test_the_flag_needs_prepared_homes_and_the_kubespawner_variant(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--prepare-kubespawner", "--variants", "bare,kubespawner"],
                 ["--home", "--prepare-kubespawner", "--variants", "bare,kubespawner"],
                 ["--prepared-homes", "--prepare-kubespawner", "--variants", "bare,spawner"]):
        with pytest.raises(SystemExit):
            _arguments(["--scenario", "burst", "--n", "20", *argv])
        assert "--prepare-kubespawner needs --prepared-homes and the kubespawner variant" in capsys.readouterr().err
    args = _arguments(["--scenario", "burst", "--n", "20", "--prepared-homes", "--prepare-kubespawner",
                       "--variants", "bare,jupyternetes,spawner,kubespawner"])
    assert home_suffix(args) == "-home-prepared-all"
    assert not _arguments(["--prepared-homes"]).prepare_kubespawner
    assert prepared_variants(True) == (*PREPARED_VARIANTS, KUBESPAWNER)
    assert prepared_variants() == PREPARED_VARIANTS


def test_the_wait_names_the_claims_not_bound() -> None:
    listed = [{"metadata": {"name": "home-a"}, "status": {"phase": "Bound"}},
              {"metadata": {"name": "home-b"}, "status": {"phase": "Pending"}},
              {"metadata": {"name": "home-c"}},
              {"metadata": {"name": "other"}, "status": {"phase": "Pending"}}]
    left = unbound(listed, {"home-a", "home-b", "home-c", "home-d"})
    assert left == {"home-b": "Pending", "home-c": "(no status)", "home-d": "(not found)"}
    assert not_prepared(left, 4, 600, "KubeSpawner claims", "Bound") == (
        "3 of 4 KubeSpawner claims not Bound after 600 s (1 (no status), 1 (not found), 1 Pending), "
        "e.g. home-b, home-c, home-d")


def test_runs_with_kubespawners_homes_prepared_are_named_and_titled_apart() -> None:
    assert run_name("burst", 200, home=True, prepared=True, kubespawner=True) == "burst200-home-prepared-all"
    assert run_name("burst", 200, home=True, kubespawner=True) == "burst200-home"  # only with prepared homes
    there = {CLAIM_CREATED: -3.0, CLAIM_BOUND: -2.5, SENT: 0.0, POD_CREATED: 0.1, DONE: 0.9}
    naive = {SENT: 0.0, CLAIM_CREATED: 0.05, POD_CREATED: 0.1, CLAIM_BOUND: 0.5, DONE: 2.0}
    assert (phases(there)[CLAIM_CREATED], phases(there)[CLAIM_BOUND]) == (0.0, 0.0)
    operator = {"rss_end_mb": 1.0, "rss_max_mb": 1.0, "idle_cpu_percent": 0.1, "live_notebooks": 2}
    runs = []
    for all_prepared in (False, True):
        ns = argparse.Namespace(scenario="burst", n=200, concurrency=100, variants=("bare", "spawner", "kubespawner"),
                                home=True, prepared_homes=True, prepare_kubespawner=all_prepared, kubeconfig=None,
                                timeout=300.0, idle=10.0, operator_arg=[], operator_commit=None)
        spawns = {"bare": [Spawn("b1", naive)], "spawner": [Spawn("jupyter-s1", there)],
                  "kubespawner": [Spawn("jupyter-k1", there if all_prepared else naive)]}
        runs.append(summary_of(ns, {"spawns": spawns, "windows": {}, "watch_lines": 0, "operator": operator},
                               (1.0, 1.0, 1.0)))
    some, every = runs
    assert (some["run"], every["run"]) == ("burst200-home-prepared", "burst200-home-prepared-all")
    assert (some["parameters"]["prepared_kubespawner"], every["parameters"]["prepared_kubespawner"]) == (False, True)
    some_part, every_part = markdown(runs).split("## burst200-home-prepared-all")
    assert "bare and KubeSpawner create theirs at spawn time" in some_part
    assert "before their spawn's create: spawner 1/1." in some_part
    assert every_part.startswith(": n=200, concurrency 100, with home claims, prepared before the run for "
                                 "jupyternetes and spawner (prepare requests) and for KubeSpawner too")
    assert "only bare creates its claims at spawn time" in every_part
    assert "before their spawn's create: spawner 1/1, kubespawner 1/1." in every_part
    header = next(line for line in every_part.splitlines() if line.startswith("| variant | create answered |"))
    row = next(line for line in every_part.splitlines() if line.startswith("| kubespawner | ")
               and line.count("|") == header.count("|") and "/" not in line)
    claims = dict(zip(header.split(" | "), row.split(" | "), strict=True))
    assert (claims["claim created"], claims["claim bound"]) == ("0", "0")  # already there, not negative
