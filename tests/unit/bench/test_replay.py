import orjson
import pytest
from kubernetes_asyncio.watch import Watch

from bench.replay import ClientCache, OurCache, chunked, event_types, measure, replay, retained_bytes


def pod(name: str, rv: int, owner: str = "uid-1") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "hub", "resourceVersion": str(rv),
                         "labels": {"hub.jupyter.org/username": name},
                         "ownerReferences": [{"apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance",
                                              "name": name, "uid": owner, "controller": True}],
                         "managedFields": [{"manager": "kwok", "operation": "Update", "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:status": {"f:phase": {}}}}]},
            "spec": {"containers": [{"name": "notebook", "image": "jupyter"}]},
            "status": {"phase": "Running"}}


def stream() -> bytes:
    events = [("ADDED", pod("a", 1)), ("ADDED", pod("b", 2)), ("MODIFIED", pod("a", 3)),
              ("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "3"}}),
              ("DELETED", pod("b", 4))]
    return b"".join(orjson.dumps({"type": t, "object": o}) + b"\n" for t, o in events)


@pytest.mark.parametrize("size", [1, 7, 64 * 1024])
async def test_both_paths_end_with_the_same_cache_whatever_the_chunking(size: int) -> None:
    watch = Watch(return_type="V1Pod")
    try:
        ours, theirs = OurCache(), ClientCache(watch)
        chunks = chunked(stream(), size)
        assert replay(chunks, ours) == replay(chunks, theirs) == 5
    finally:
        await watch.close()
    assert len(ours) == 1
    assert ours.store.get_by_name("hub", "a")["metadata"]["resourceVersion"] == "3"  # type: ignore[index]
    assert {k: o.metadata.resource_version for k, o in theirs.objects.items()} == {("hub", "a"): "3"}
    assert "managedFields" not in ours.store.list()[0]["metadata"]
    assert ours.store.index_keys("controller", "uid-1")[0].name == "a"
    assert event_types(chunked(stream(), 10)) == {"ADDED": 2, "MODIFIED": 1, "BOOKMARK": 1, "DELETED": 1}


def test_measure_reports_every_path_and_the_kept_memory() -> None:
    chunks = chunked(stream(), 16)
    steps: list[str] = []
    results = measure(chunks, {"ours": OurCache, "keep": lambda: OurCache(transform=None)}, 2, steps.append)
    assert set(results) == {"ours", "keep"}
    assert all(r.events == 5 and len(r.seconds) == 2 and r.objects == 1 for r in results.values())
    assert results["keep"].retained_bytes > results["ours"].retained_bytes > 0
    assert steps[:2] == ["warm-up ours", "warm-up keep"]
    assert steps[2:6] == ["round 1/2: ours", "round 1/2: keep", "round 2/2: keep", "round 2/2: ours"]
    assert retained_bytes(chunks, OurCache)[1] == 1
