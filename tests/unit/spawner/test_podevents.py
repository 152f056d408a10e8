"""Which pod Events a spawn shows, and how (the live feed: tests/integration/test_pod_progress.py)."""

from __future__ import annotations

from typing import Any

from jupyternetes_operator.spawner.podevents import PodEvents, pod_names, selector, when
from jupyternetes_operator.spawner.progress import Tracker


def event(reason: str, note: str, kind: str = "Normal", pod: str = "jupyter-alice-notebook",
          created: str = "2026-11-30T10:00:05Z", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": f"{pod}.1", "creationTimestamp": created}, "type": kind, "reason": reason,
            "note": note, "regarding": {"kind": "Pod", "name": pod}, "eventTime": "2026-11-30T10:00:05.123456Z",
            **extra}


def test_pod_names_come_from_the_status() -> None:
    instance = {"status": {"children": [
        {"kind": "PersistentVolumeClaim", "name": "home-alice"},
        {"kind": "Pod", "name": "jupyter-alice-notebook"},
        {"kind": "Pod", "name": "jupyter-alice-sidecar"}]}}
    assert pod_names(instance) == ["jupyter-alice-notebook", "jupyter-alice-sidecar"]
    assert pod_names({"status": {}}) == []
    assert pod_names(None) == []
    assert selector("p") == "regarding.kind=Pod,regarding.name=p"


def test_kubespawners_style() -> None:
    shown = PodEvents(since="2026-11-30T10:00:00Z")
    assert shown.message(event("Pulling", 'Pulling image "x"')) == \
        '2026-11-30T10:00:05.123456Z [Normal] Pulling image "x"'
    legacy = event("BackOff", 'Back-off pulling image "x"', "Warning", deprecatedLastTimestamp="2026-11-30T10:00:09Z")
    assert shown.message(legacy) == '2026-11-30T10:00:09Z [Warning] Back-off pulling image "x"'
    assert when({"series": {"lastObservedTime": "2026-11-30T10:01:00.000000Z"}, "eventTime": "x"}) == \
        "2026-11-30T10:01:00.000000Z"
    assert when({"metadata": {"creationTimestamp": "2026-11-30T10:00:00Z"}}) == "2026-11-30T10:00:00Z"


def test_repeats_and_earlier_pods_are_left_out() -> None:
    shown = PodEvents(since="2026-11-30T10:00:05Z")
    assert shown.message(event("Scheduled", "assigned", created="2026-11-30T10:00:04Z")) is None  # an earlier pod's
    assert shown.message(event("BackOff", "Back-off pulling image", "Warning")) is not None
    assert shown.message(event("BackOff", "Back-off pulling image", "Warning")) is None  # the same again
    assert shown.message(event("BackOff", "Back-off pulling image", "Warning", pod="other")) is not None
    assert shown.message(event("BackOff", "Back-off pulling image", "Warning", created="2026-11-30T10:00:05Z")) is None


def test_bounded() -> None:
    shown = PodEvents(since="", limit=3)
    messages = [shown.message(event("BackOff", f"try {i}", "Warning")) for i in range(10)]
    assert [m for m in messages[:3] if m is not None] == messages[:3]
    assert messages[3] == "more Events about the server's pods are left out (the first 3 are shown)"
    assert messages[4:] == [None] * 6
    long = PodEvents(since="").message(event("Failed", "x" * 5000, "Warning"))
    assert long is not None
    assert len(long) < 1100


def test_progress_moves_forward_on_normal_events_only() -> None:
    tracker = Tracker()
    shown = PodEvents(since="")
    assert tracker.on_pod_event(event("Scheduled", "assigned"), shown) == {
        "progress": 65, "message": "2026-11-30T10:00:05.123456Z [Normal] assigned"}
    assert tracker.on_pod_event(event("FailedScheduling", "0/2 nodes", "Warning"), shown) == {
        "message": "2026-11-30T10:00:05.123456Z [Warning] 0/2 nodes"}
    assert tracker.on_pod_event(event("Scheduled", "assigned"), shown) is None
    assert tracker.on_pod_event(event("Pulled", "pulled"), shown) == {
        "progress": 80, "message": "2026-11-30T10:00:05.123456Z [Normal] pulled"}
    assert tracker.on_pod_event(event("Pulling", "pulling"), shown) == {  # never backwards
        "message": "2026-11-30T10:00:05.123456Z [Normal] pulling"}
