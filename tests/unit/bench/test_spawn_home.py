"""``--home``: the claims each variant makes, their marks, and how the runs are named and reported."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from bench.spawn.cluster import MockUser, template, template_name
from bench.spawn.home import bare_claim, claim_name, kubespawner_home, mounting, named
from bench.spawn.kubespawner import kubespawner_config
from bench.spawn.phases import (
    CLAIM_BOUND,
    CLAIM_CREATED,
    DONE,
    OPERATOR_SAW,
    POD_CREATED,
    SENT,
    Marks,
    breakdown,
    claim_marks,
    goals,
    phases,
)
from bench.spawn.report import markdown, run_name, summary_of

RENDERED_CLAIM = {
    "metadata": {"name": "home-jwarm", "uid": "u", "labels": {"jupyternetes.io/instance": "jwarm",
                                                              "hub.jupyter.org/username": "jwarm"},
                 "annotations": {"jupyternetes.io/signature": "s"}, "ownerReferences": [{"uid": "i"}]},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
             "storageClassName": "kwok-volume", "volumeMode": "Filesystem", "volumeName": "pvc-1"},
    "status": {"phase": "Bound"}}
POD = {"metadata": {"labels": {"app": "x"}},
       "spec": {"containers": [{"name": "notebook", "image": "img", "args": ["jupyterhub-singleuser"],
                                "ports": [{"containerPort": 8888}],
                                "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]}],
                "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "home-jwarm"}}]}}


def test_every_variant_names_its_claim_after_the_user() -> None:
    assert claim_name("b12abu00001") == "home-b12abu00001"
    assert claim_name("jupyter-s12abu00001") == "home-s12abu00001"


def test_the_home_template_is_the_sample_as_shipped() -> None:
    home, stripped = template(home=True), template()
    assert home["metadata"]["name"] == template_name(True) != template_name(False) == stripped["metadata"]["name"]
    assert home["spec"]["pvcs"][0]["metadata"]["name"] == "home-{{ username }}"
    assert home["spec"]["pods"][0]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "{{ pvcs.home.name }}"
    assert stripped["spec"]["pvcs"] == []
    assert stripped["spec"]["pods"][0]["spec"]["volumes"] == []


def test_a_bare_claim_keeps_what_the_template_asked_for() -> None:
    claim = named(bare_claim(RENDERED_CLAIM), "home-b1")
    assert claim == {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": "home-b1", "labels": {"hub.jupyter.org/username": "jwarm"}},
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                              "volumeMode": "Filesystem"}}
    pod = mounting(POD, "home-b1")
    assert pod["spec"]["volumes"] == [{"name": "home", "persistentVolumeClaim": {"claimName": "home-b1"}}]
    assert POD["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "home-jwarm"  # a copy


def test_kubespawner_ensures_the_same_claim_mounted_the_same_way(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    options = kubespawner_home(POD, bare_claim(RENDERED_CLAIM))
    assert options["storage_pvc_ensure"] is True
    assert (options["storage_capacity"], options["storage_access_modes"], options["storage_class"]) == \
        ("10Gi", ["ReadWriteOnce"], None)
    config = kubespawner_config("bench-kubespawner", POD, bare_claim(RENDERED_CLAIM))
    assert not kubespawner_config("bench-kubespawner", POD).KubeSpawner.get("storage_pvc_ensure")

    # KubeSpawner's own manifests from that configuration (its constructor loads a kubeconfig).
    from kubernetes_asyncio.config import kube_config

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))

    async def manifests() -> tuple[Any, Any]:
        from jupyterhub.objects import Hub
        from kubespawner import KubeSpawner  # type: ignore[import-untyped]

        spawner = KubeSpawner(config=config, user=MockUser(name="k12abu00001"), hub=Hub(), _mock=True,
                              api_token="t", oauth_client_id="unused")
        return spawner.get_pvc_manifest(), await spawner.get_pod_manifest()

    pvc, pod = anyio.run(manifests)
    assert pvc.metadata.name == claim_name("jupyter-k12abu00001")
    assert (pvc.spec.access_modes, pvc.spec.resources.requests, pvc.spec.storage_class_name) == \
        (["ReadWriteOnce"], {"storage": "10Gi"}, None)
    assert [(v.name, v.persistent_volume_claim) for v in pod.spec.volumes] == \
        [("home", {"claimName": "home-k12abu00001"})]
    assert [(m.name, m.mount_path) for m in pod.spec.containers[0].volume_mounts] == [("home", "/home/jovyan")]


def test_a_claim_marks_its_spawn_when_first_seen_and_once_bound() -> None:
    claim: dict[str, Any] = {"metadata": {"name": "home-s1"}, "status": {"phase": "Pending"}}
    assert claim_marks(claim) == {CLAIM_CREATED}
    marks = Marks(claims={"home-s1": "jupyter-s1"})
    assert marks.claim_event(claim, 1.0) == [("jupyter-s1", CLAIM_CREATED)]
    assert marks.claim_event(claim, 1.5) == []
    bound = {**claim, "status": {"phase": "Bound"}}
    assert marks.claim_event(bound, 2.0) == [("jupyter-s1", CLAIM_BOUND)]
    assert marks.claim_event(bound, 3.0) == []
    assert marks.claim_event({"metadata": {"name": "home-other"}, "status": {"phase": "Bound"}}, 4.0) == []
    assert marks.times == {"jupyter-s1": {CLAIM_CREATED: 1.0, CLAIM_BOUND: 2.0}}


def test_the_operators_claim_is_the_first_sign_of_it_when_its_status_waits() -> None:
    # The first status waits out the first-status grace while the pod waits for its claim.
    marks = {SENT: 0.0, CLAIM_CREATED: 0.3, OPERATOR_SAW: 2.0, CLAIM_BOUND: 5.0, POD_CREATED: 5.1, DONE: 5.5}
    assert phases(marks)[OPERATOR_SAW] == pytest.approx(0.3)
    assert phases({SENT: 0.0, CLAIM_CREATED: 0.3, POD_CREATED: 5.1, DONE: 5.5}).get(OPERATOR_SAW) is None  # no operator


def test_a_claim_bound_after_its_pod_counts_no_time_of_its_own() -> None:
    naive = {SENT: 0.0, POD_CREATED: 0.1, CLAIM_BOUND: 0.5, DONE: 2.0}
    assert phases(naive)[CLAIM_BOUND] == pytest.approx(0.5)
    parts = breakdown(naive)
    assert parts[CLAIM_BOUND] == pytest.approx(0.5)
    assert parts[POD_CREATED] == 0.0
    assert sum(parts.values()) == pytest.approx(2.0)


def test_home_goals_read_the_home_run() -> None:
    results: dict[str, Any] = {"burst200-home": {"spawner": {"latency": {"p50": 1.0, "p99": 2.0}},
                                                 "kubespawner": {"latency": {"p50": 3.0, "p99": 3.0}}}}
    g = goals(results, {})
    assert g["spawner p50 at a 200 burst with home claims <= 0.5 x KubeSpawner"]["status"] == "met"
    assert g["spawner p99 at a 200 burst with home claims <= 0.5 x KubeSpawner"]["status"] == "not met"
    assert g["spawner p50 at a 200 burst <= 0.5 x KubeSpawner"]["status"] == "not measured"


def summary(home: bool, spawns: dict[str, Any]) -> dict[str, Any]:
    args = argparse.Namespace(scenario="burst", n=200, concurrency=100, variants=("bare", "spawner"), home=home,
                              kubeconfig=None, timeout=300.0, idle=10.0, operator_arg=[], operator_commit=None)
    operator = {"rss_end_mb": 1.0, "rss_max_mb": 1.0, "idle_cpu_percent": 0.1, "live_notebooks": 2}
    return summary_of(args, {"spawns": spawns, "windows": {}, "watch_lines": 0, "operator": operator}, (1.0, 1.0, 1.0))


def test_home_runs_are_their_own_rows() -> None:
    from bench.spawn.phases import Spawn

    assert run_name("burst", 200, home=True) == "burst200-home"
    assert run_name("burst", 1000, home=True) == "burst-home"
    assert run_name("sequential", 5) == "sequential"
    marks = {SENT: 0.0, CLAIM_BOUND: 0.2, POD_CREATED: 0.3, DONE: 1.0}
    home = summary(True, {"bare": [Spawn("b1", marks)], "spawner": [Spawn("s1", marks)]})
    plain = summary(False, {"bare": [Spawn("b2", {SENT: 0.0, DONE: 0.5})]})
    assert (home["run"], home["parameters"]["home"], plain["run"]) == ("burst200-home", True, "burst200")
    md = markdown([plain, home])
    assert "## burst200-home: n=200, concurrency 100, with home claims (" in md
    plain_part, home_part = md.split("## burst200-home")
    assert "claim bound" not in plain_part
    assert "| variant | create answered | operator saw it | claim bound | pod created |" in home_part


def test_a_run_without_bare_pods_shows_no_ratios_to_them() -> None:
    from bench.spawn.phases import Spawn

    md = markdown([summary(True, {"spawner": [Spawn("s1", {SENT: 0.0, DONE: 1.0})]})])
    row = next(line for line in md.splitlines() if line.startswith("| spawner | 1/1 |"))
    assert row.split(" | ")[6:10] == ["-", "-", "1.0", "-"]  # p50 x bare, p99 x bare, all done s, x bare
