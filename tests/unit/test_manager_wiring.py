"""The manager's declaration, end to end through real informers: what each event wakes, on which
queue, and after which delay (the instance count lags COUNT_DELAY behind its instances)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import pytest
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator import api, manager
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.machinery.informer import Informer
from jupyternetes_operator.machinery.store import ObjectKey
from jupyternetes_operator.manager import COUNT_DELAY, Operator
from jupyternetes_operator.metrics import Metrics
from jupyternetes_operator.settings import LeaderElectionSettings, Settings

SHARED = "shared"


class Recorded:
    """Stands in for the WorkQueue: records adds, now and delayed."""

    made: ClassVar[dict[str, Recorded]] = {}

    def __init__(self, name: str, **_: Any) -> None:
        self.added: list[ObjectKey] = []
        self.after: list[tuple[ObjectKey, float]] = []
        Recorded.made[name] = self

    def add(self, key: ObjectKey) -> None:
        self.added.append(key)

    def add_after(self, key: ObjectKey, delay: float) -> None:
        self.after.append((key, delay))


async def _resource_for(client: Client, api_version: str, kind: str) -> Resource:
    group, _, version = api_version.rpartition("/")
    return Resource(group, version, kind.lower() + "s")


@pytest.fixture
async def built(monkeypatch: pytest.MonkeyPatch) -> dict[str, Informer]:
    Recorded.made.clear()
    monkeypatch.setattr(manager, "WorkQueue", Recorded)
    monkeypatch.setattr(manager, "resource_for", _resource_for)
    settings = Settings(template_namespace=SHARED, leader_election=LeaderElectionSettings(enabled=False))
    operator = Operator(settings, cast(Client, object()), Metrics())
    await operator.build()
    return {i.name: i for i in operator.informers}


def queues() -> tuple[Recorded, Recorded]:
    return Recorded.made["jupyternotebookinstance"], Recorded.made["jupyternotebooktemplate"]


def instance(name: str, template: str = "lab") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "team-a", "resourceVersion": "1"},
            "spec": {"template": {"name": template}}}


def template(namespace: str, generation: int = 1, instances: int = 0, valid: str = "True",
             policy: str = "p1") -> dict[str, Any]:
    return {"metadata": {"name": "lab", "namespace": namespace, "generation": generation, "resourceVersion": "1"},
            "status": {"instances": instances, "policy": policy,
                       "conditions": [{"type": "Valid", "status": valid, "observedGeneration": generation}]}}


def child(name: str, owner: str | None = None, **labels: str) -> dict[str, Any]:
    refs = [{"apiVersion": api.API_VERSION, "kind": api.INSTANCE_KIND, "name": owner, "uid": "u",
             "controller": True}] if owner else []
    return {"metadata": {"name": name, "namespace": "team-a", "resourceVersion": "1", "ownerReferences": refs,
                         "labels": labels}}


async def test_an_instance_wakes_itself_and_its_template_after_the_count_delay(built: dict[str, Informer]) -> None:
    instances, templates = queues()
    informer = built["jupyternotebookinstances"]
    informer.upsert(instance("i1"))
    informer.upsert(instance("i1") | {"status": {"phase": "Running"}})  # an update: the count is unchanged
    informer.remove(instance("i1"))
    assert instances.added == [ObjectKey("team-a", "i1")] * 3
    assert templates.added == []
    woken = [(ObjectKey("team-a", "lab"), COUNT_DELAY), (ObjectKey(SHARED, "lab"), COUNT_DELAY)]
    assert templates.after == woken * 2


async def test_a_template_wakes_itself_and_the_instances_naming_it_on_a_new_verdict(
        built: dict[str, Informer]) -> None:
    instances, templates = queues()
    built["jupyternotebookinstances"].upsert(instance("i1"))
    built["jupyternotebookinstances"].upsert(instance("i2", template="other"))
    instances.added.clear()
    informer = built["jupyternotebooktemplates"]
    informer.upsert(template(SHARED))
    informer.upsert(template(SHARED, instances=5))  # only the count: instances are not woken
    informer.upsert(template(SHARED, generation=2))
    informer.upsert(template(SHARED, generation=2, policy="p2"))  # re-validated under other settings
    assert templates.added == [ObjectKey(SHARED, "lab")] * 4
    assert instances.added == [ObjectKey("team-a", "i1")] * 3


async def test_children_wake_their_controller_instance_and_claims_the_instance_they_name(
        built: dict[str, Informer]) -> None:
    instances, templates = queues()
    built["pods"].upsert(child("p", owner="i1"))
    built["pods"].upsert(child("stray", **{api.LABEL_INSTANCE: "i9"}))  # only claims are read by label
    built["persistentvolumeclaims"].upsert(child("home", **{api.LABEL_INSTANCE: "i2"}))
    built["persistentvolumeclaims"].remove(child("owned", owner="i3"))
    assert instances.added == [ObjectKey("team-a", "i1"), ObjectKey("team-a", "i2"), ObjectKey("team-a", "i3")]
    assert (templates.added, templates.after) == ([], [])


async def test_the_leader_hands_its_lease_back_only_once_its_fenced_writes_landed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The elector's last step before a release waits for the client's writes in flight (see
    tests/unit/machinery/test_leader.py for what the wait does, test_write_fence.py for what it counts)."""
    monkeypatch.setattr(manager, "WorkQueue", Recorded)
    monkeypatch.setattr(manager, "resource_for", _resource_for)
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"  # never reached: build() makes no request here
    async with Client(configuration) as client:
        operator = Operator(Settings(leader_election=LeaderElectionSettings(enabled=True, lease_namespace="ops")),
                            client, Metrics())
        await operator.build()
        assert operator.elector is not None
        assert operator.elector._before_release == client.fenced_writes_landed
        assert client.write_fence is not None
