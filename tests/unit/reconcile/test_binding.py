from __future__ import annotations

from typing import Any, cast

from jupyternetes_operator.kube.client import Resource
from jupyternetes_operator.kube.errors import Forbidden, NotFound, TooManyRequests
from jupyternetes_operator.reconcile.binding import BindingModes, awaited_claims, mounted_claims

POD = {"spec": {"volumes": [
    {"name": "home", "persistentVolumeClaim": {"claimName": "home-alice"}},
    {"name": "scratch", "emptyDir": {}},
    {"name": "shared", "persistentVolumeClaim": {"claimName": "shared-data"}},
    {"name": "data", "persistentVolumeClaim": {"claimName": "data-alice"}},
]}}


def claim(phase: str, cls: str | None = "fast") -> dict[str, Any]:
    return {"spec": {"storageClassName": cls} if cls else {}, "status": {"phase": phase}}


def test_mounted_claims_in_volume_order() -> None:
    assert mounted_claims(POD) == ["home-alice", "shared-data", "data-alice"]
    assert mounted_claims({"spec": {}}) == []


def test_a_pod_waits_only_for_its_own_unbound_claims_of_an_immediate_class() -> None:
    immediate = {"fast"}.__contains__
    own = {"home-alice": claim("Pending"), "data-alice": claim("Bound")}
    assert awaited_claims(POD, own, immediate) == ["home-alice"]  # shared-data is not the instance's own
    assert awaited_claims(POD, {"home-alice": claim("Pending", "lazy")}, immediate) == []  # WaitForFirstConsumer
    assert awaited_claims(POD, {"home-alice": claim("Pending", None)}, immediate) == []  # no class: as before
    assert awaited_claims(POD, {"home-alice": None}, immediate) == []  # not seen: as before
    assert awaited_claims(POD, {"home-alice": claim("Lost")}, immediate) == ["home-alice"]


class Classes:
    """Answers GET storageclasses/<name> from a table (an exception class: raised), counting calls."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def get(self, resource: Resource, name: str) -> dict[str, Any]:
        self.asked.append(name)
        answer = self.answers[name]
        if isinstance(answer, type):
            raise answer(404 if answer is NotFound else 403, name)
        return cast(dict[str, Any], answer)


async def test_binding_modes_are_read_once_per_class() -> None:
    client = Classes({"fast": {"volumeBindingMode": "Immediate"}, "lazy": {"volumeBindingMode": "WaitForFirstConsumer"},
                      "old": {}, "gone": NotFound})
    modes = BindingModes(cast(Any, client))
    assert await modes.immediate(["fast", "lazy", "old", "gone"]) == {"fast", "old"}  # unset means Immediate
    assert await modes.immediate(["fast", "lazy", "gone"]) == {"fast"}
    assert sorted(client.asked) == ["fast", "gone", "gone", "lazy", "old"]  # a missing class is asked again


async def test_a_forbidden_class_read_orders_nothing_and_is_not_repeated() -> None:
    client = Classes({"fast": Forbidden, "other": {"volumeBindingMode": "Immediate"}})
    modes = BindingModes(cast(Any, client))
    assert await modes.immediate(["fast"]) == set()
    assert await modes.immediate(["fast", "other"]) == set()
    assert client.asked == ["fast"]


async def test_a_429_is_honoured_for_every_instance_until_its_retry_after() -> None:
    client = Classes({"fast": {"volumeBindingMode": "Immediate"}})
    now = [100.0]
    modes = BindingModes(cast(Any, client), clock=lambda: now[0])

    async def throttled(resource: Resource, name: str) -> dict[str, Any]:
        client.asked.append(name)
        raise TooManyRequests(429, "TooManyRequests", retry_after=2.0)

    client.get = throttled  # type: ignore[method-assign]
    assert await modes.immediate(["fast"]) == set()  # not known: the pod is not held back
    now[0] = 101.9
    assert await modes.immediate(["fast"]) == set()
    assert client.asked == ["fast"]  # not asked again before Retry-After, whoever asks
    del client.get
    now[0] = 102.1
    assert await modes.immediate(["fast"]) == {"fast"}
    assert client.asked == ["fast", "fast"]
