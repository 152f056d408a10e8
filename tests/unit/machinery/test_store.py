from __future__ import annotations

import copy as copy_module
import tracemalloc
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyternetes_operator.machinery import frozen
from jupyternetes_operator.machinery.frozen import FrozenDict, Packed
from jupyternetes_operator.machinery.store import (
    Change,
    ChangeKind,
    DeletedFinalStateUnknown,
    ObjectKey,
    Store,
    drop_managed_fields,
    freeze,
    index_by_controller_uid,
    index_by_label,
    index_by_namespace,
    key_of,
    thaw,
)


def obj(
    name: str,
    namespace: str | None = "ns",
    rv: str = "1",
    labels: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "uid": f"uid-{namespace}-{name}", "resourceVersion": rv}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = labels
    if owners is not None:
        metadata["ownerReferences"] = owners
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, **extra}


def owner(uid: str, controller: bool | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"apiVersion": "v1", "kind": "Thing", "name": uid, "uid": uid}
    if controller is not None:
        ref["controller"] = controller
    return ref


def full_store() -> Store:
    return Store({
        "namespace": index_by_namespace,
        "owner": index_by_controller_uid,
        "app": index_by_label("app"),
    })


def names(objects: list[Mapping[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


# keys


def test_keys_namespaced_and_cluster_scoped() -> None:
    assert key_of(obj("a", "ns")) == ObjectKey("ns", "a")
    assert str(key_of(obj("a", "ns"))) == "ns/a"
    assert key_of(obj("node-1", None)) == ObjectKey("", "node-1")
    assert str(key_of(obj("node-1", None))) == "node-1"
    assert ObjectKey.parse("ns/a") == ObjectKey("ns", "a")
    assert ObjectKey.parse("node-1") == ObjectKey("", "node-1")
    with pytest.raises(ValueError, match=r"metadata\.name"):
        key_of({"metadata": {"namespace": "ns"}})
    with pytest.raises(ValueError, match="not an object key"):
        ObjectKey.parse("a/b/c")


def test_cluster_scoped_objects_in_store() -> None:
    store = Store({"namespace": index_by_namespace})
    store.add(obj("node-1", None))
    store.add(obj("node-1", "ns"))  # a namespaced object of the same name is a different key
    assert len(store) == 2
    assert store.get(ObjectKey("", "node-1")) is not None
    assert store.get_by_name("", "node-1")["metadata"].get("namespace") is None  # type: ignore[index]
    assert store.get_by_name("ns", "node-1")["metadata"]["namespace"] == "ns"  # type: ignore[index]
    assert store.index_keys("namespace", "") == [ObjectKey("", "node-1")]
    assert ObjectKey("", "node-1") in store
    assert store.delete(ObjectKey("", "node-1")) is not None
    assert store.keys() == [ObjectKey("ns", "node-1")]


# freezing


def test_frozen_objects_reject_mutation() -> None:
    frozen = freeze(obj("a", labels={"app": "x"}, spec={"containers": [{"name": "c", "args": ["x"]}]}))
    assert isinstance(frozen, FrozenDict)
    with pytest.raises(TypeError):
        frozen["kind"] = "Other"  # type: ignore[index]
    with pytest.raises(TypeError):
        frozen["metadata"]["labels"]["app"] = "y"
    with pytest.raises(TypeError):
        del frozen["metadata"]["name"]
    containers = frozen["spec"]["containers"]
    assert isinstance(containers, tuple)
    with pytest.raises(AttributeError):
        containers.append({"name": "d"})  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        containers[0]["args"].append("y")
    with pytest.raises(TypeError):
        containers[0]["args"][0] = "y"


def test_freeze_copies_so_the_callers_dict_cannot_reach_the_stored_object() -> None:
    raw = obj("a", labels={"app": "x"})
    store = full_store()
    stored, old = store.add(raw)
    assert old is None
    raw["metadata"]["labels"]["app"] = "changed"
    raw["metadata"]["name"] = "b"
    assert stored["metadata"]["labels"]["app"] == "x"
    assert store.get(ObjectKey("ns", "a")) is stored
    assert store.index_keys("app", "x") == [ObjectKey("ns", "a")]


def test_freeze_holds_a_short_string_once_across_objects() -> None:
    # Parsed apart, as two watch events are: equal short values become one object once frozen;
    # a long one (a uid, a message) is kept as it came.
    uid = "5c2c0ab4-9e2f-4ac5-b994-aa680ec5f373"
    raw = b'{"status": {"phase": "Running", "conditions": [{"status": "True"}], "tags": ["Running"], "uid": "%s"}}'
    one, two = (freeze(orjson.loads(raw % uid.encode())) for _ in range(2))
    assert one["status"]["phase"] is two["status"]["phase"]
    assert one["status"]["conditions"][0]["status"] is two["status"]["conditions"][0]["status"]
    assert one["status"]["tags"][0] is two["status"]["phase"]
    assert one["status"]["uid"] == two["status"]["uid"] == uid
    assert one == {"status": {"phase": "Running", "conditions": ({"status": "True"},), "tags": ("Running",),
                              "uid": uid}}


def test_freeze_shares_equal_nodes_whose_leaves_are_short() -> None:
    # Two pods parsed apart: their equal small nodes become one object; a node with a long string
    # (a uid) or holding one is not shared, and a shared node still refuses every change.
    raw = (b'{"metadata": {"uid": "%s", "labels": {"app": "x"}}, "spec": {"nodeName": "n1", "containers": '
           b'[{"name": "c", "ports": [{"containerPort": 8888, "protocol": "TCP"}]}]}}')
    one = freeze(orjson.loads(raw % b"5c2c0ab4-9e2f-4ac5-b994-aa680ec5f373"))
    two = freeze(orjson.loads(raw % b"0469dcf1-87a9-4da3-8761-223fc33aa4a1"))
    assert one["spec"] is two["spec"]
    assert one["metadata"]["labels"] is two["metadata"]["labels"]
    assert one["metadata"] is not two["metadata"]
    assert one["metadata"]["uid"] != two["metadata"]["uid"]
    with pytest.raises(TypeError):
        one["spec"]["containers"][0]["ports"][0]["protocol"] = "UDP"


def test_freeze_shares_only_what_is_equal_in_type_and_order() -> None:
    flags = [freeze({"ready": value}) for value in (True, 1, 1.0, "1", None)]
    assert [type(f["ready"]) for f in flags] == [bool, int, float, str, type(None)]
    assert freeze({"ready": True}) is flags[0]
    assert type(freeze([True])[0]) is bool
    assert type(freeze([1])[0]) is int
    ordered = freeze({"a": 1, "b": 2})
    other = freeze({"b": 2, "a": 1})
    assert ordered is not other
    assert list(other) == ["b", "a"]
    assert freeze({"a": ("x",)}) is not freeze({"a": ["x", "y"]})
    assert freeze({"a": {"b": "c"}}) is freeze({"a": {"b": "c"}})
    assert freeze({"a": {"b": "c"}}) is not freeze({"a": {"b": "d"}})


def test_freeze_never_shares_a_node_with_a_float() -> None:
    zero, negative = freeze({"x": 0.0}), freeze({"x": -0.0})  # equal, but not the same value
    assert zero is not negative
    assert str(negative["x"]) == "-0.0"


def test_freeze_remembers_a_bounded_number_of_nodes() -> None:
    for n in range(frozen.SHARED_MAX + 10):
        freeze({"n": n})
    assert len(frozen._shared) <= frozen.SHARED_MAX
    assert freeze({"n": 3}) == {"n": 3}


STATUS = {"phase": "Running", "observedGeneration": 2, "envSecret": None,
          "conditions": [{"type": "Ready", "status": "True", "message": "serving at http://10.0.0.1:8888"}],
          "endpoint": {"address": "10.0.0.1", "port": 8888}}


def test_a_packed_mapping_reads_as_the_mapping_it_packed() -> None:
    packed = Packed(STATUS)
    assert packed == STATUS
    assert STATUS == packed  # noqa: SIM300 (the dict's side of the comparison)
    assert not (packed != STATUS)  # noqa: SIM202
    assert packed != {**STATUS, "phase": "Failed"}
    assert packed != {k: v for k, v in STATUS.items() if k != "endpoint"}
    assert packed == freeze(STATUS)  # tuples where the other has lists: still equal, as JSON
    assert sorted(packed) == sorted(STATUS)
    assert len(packed) == len(STATUS)
    assert "endpoint" in packed
    assert "nope" not in packed
    assert packed.get("nope") is None
    assert packed["phase"] == "Running"
    assert packed["envSecret"] is None
    assert packed["endpoint"] == {"address": "10.0.0.1", "port": 8888}
    assert packed["conditions"][0]["message"] == "serving at http://10.0.0.1:8888"
    with pytest.raises(KeyError):
        packed["nope"]


def test_a_packed_mapping_is_read_only_and_thaws_to_an_independent_copy() -> None:
    packed = Packed(STATUS)
    with pytest.raises(TypeError):
        packed["conditions"][0]["status"] = "False"  # type: ignore[index]  # what a read hands out is frozen
    with pytest.raises(TypeError):
        packed["phase"] = "Failed"  # type: ignore[index]
    assert freeze({"status": packed})["status"] is packed  # kept as it is
    stored = freeze({"status": packed})
    copy = thaw(stored)["status"]
    assert type(copy) is dict
    assert copy == STATUS
    copy["conditions"][0]["status"] = "False"
    assert packed == STATUS
    assert orjson.loads(orjson.dumps(copy)) == copy
    assert copy_module.deepcopy(packed) is packed


def test_a_packed_mapping_holds_its_scalars_shared_and_the_rest_in_less_room() -> None:
    one, two = Packed(STATUS), Packed({**STATUS, "endpoint": {"address": "10.0.0.2", "port": 8888}})
    assert one._scalars is two._scalars  # equal scalars: one node, as freeze shares them
    assert one._packed_keys is two._packed_keys

    def weigh(make: Any) -> int:
        statuses = [{**STATUS, "endpoint": {"address": f"10.0.{n // 250}.{n % 250}", "port": 8888},
                     "conditions": [{**STATUS["conditions"][0], "message": f"serving at 10.0.0.{n}"}]}
                    for n in range(500)]  # distinct, as 500 servers' statuses are
        frozen.forget_shared()
        tracemalloc.start()
        kept = [make(s) for s in statuses]
        weight = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del kept
        return weight

    # Half the room of frozen nodes, or less (not orjson's whole write buffer, 4 KB each).
    assert weigh(Packed) < 0.5 * weigh(freeze)


def test_freeze_rejects_non_json_values() -> None:
    with pytest.raises(TypeError, match="set"):
        freeze({"a": {1, 2}})


def test_thaw_gives_an_independent_mutable_copy_orjson_can_dump() -> None:
    raw = obj("a", labels={"app": "x"}, spec={"containers": [{"name": "c", "ports": [8888], "tty": True}]})
    store = Store()
    stored, _ = store.add(raw)
    copy = thaw(stored)
    assert type(copy) is dict
    assert type(copy["spec"]["containers"]) is list
    assert type(copy["spec"]["containers"][0]) is dict
    assert copy == raw
    copy["metadata"]["labels"]["app"] = "y"
    copy["spec"]["containers"].append({"name": "d"})
    assert stored["metadata"]["labels"]["app"] == "x"
    assert len(stored["spec"]["containers"]) == 1
    assert orjson.loads(orjson.dumps(copy))["spec"]["containers"][1] == {"name": "d"}
    assert orjson.loads(orjson.dumps(stored)) == raw  # a frozen object serializes as it came


# transform


def test_transform_drops_managed_fields_by_default() -> None:
    raw = obj("a")
    raw["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply"}]
    stored, _ = Store().add(raw)
    assert "managedFields" not in stored["metadata"]
    assert stored["metadata"]["name"] == "a"
    assert "managedFields" in raw["metadata"]  # the caller's object is left alone


def test_transform_none_keeps_everything() -> None:
    raw = obj("a")
    raw["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply"}]
    stored, _ = Store(transform=None).add(raw)
    assert stored["metadata"]["managedFields"][0]["manager"] == "kubectl"


def test_transform_applies_to_replace_and_frozen_input() -> None:
    raw = obj("a")
    raw["metadata"]["managedFields"] = []
    store = Store()
    changes = store.replace([freeze(raw)], "10")
    assert "managedFields" not in changes[0].obj["metadata"]  # type: ignore[index]
    assert drop_managed_fields(obj("b")) == obj("b")


def test_custom_transform() -> None:
    def strip_status(o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if k != "status"}

    stored, _ = Store(transform=strip_status).add(obj("a", status={"phase": "Running"}))
    assert "status" not in stored
    assert stored["kind"] == "Pod"


# indexes


def test_index_by_namespace() -> None:
    store = full_store()
    store.add(obj("a", "one"))
    store.add(obj("b", "one"))
    store.add(obj("c", "two"))
    assert names(store.by_index("namespace", "one")) == ["a", "b"]
    assert store.index_keys("namespace", "two") == [ObjectKey("two", "c")]
    assert store.by_index("namespace", "three") == []
    assert sorted(store.index_values("namespace")) == ["one", "two"]


def test_index_by_controller_uid_counts_only_the_controller() -> None:
    store = full_store()
    store.add(obj("a", owners=[owner("u-plain"), owner("u-ctrl", controller=True)]))
    store.add(obj("b", owners=[owner("u-plain"), owner("u-other", controller=False)]))
    store.add(obj("c", owners=[owner("u-ctrl", controller=True)]))
    store.add(obj("d"))
    assert store.index_keys("owner", "u-ctrl") == [ObjectKey("ns", "a"), ObjectKey("ns", "c")]
    assert store.index_keys("owner", "u-plain") == []
    assert store.index_keys("owner", "u-other") == []
    assert store.index_values("owner") == ["u-ctrl"]
    assert index_by_controller_uid(freeze(obj("x", owners=[owner("u", controller=True)]))) == ["u"]


def test_index_by_label_values() -> None:
    store = full_store()
    store.add(obj("a", labels={"app": "hub"}))
    store.add(obj("b", labels={"app": "proxy", "tier": "x"}))
    store.add(obj("c", labels={"tier": "x"}))
    store.add(obj("d", labels={"app": ""}))
    assert names(store.by_index("app", "hub")) == ["a"]
    assert names(store.by_index("app", "proxy")) == ["b"]
    assert names(store.by_index("app", "")) == ["d"]
    assert sorted(store.index_values("app")) == ["", "hub", "proxy"]


def test_update_moves_between_buckets_and_cleans_up_empty_ones() -> None:
    store = full_store()
    store.add(obj("a", labels={"app": "old"}, owners=[owner("u1", controller=True)]))
    store.add(obj("b", labels={"app": "old"}))
    stored, previous = store.update(obj("a", rv="2", labels={"app": "new"}, owners=[owner("u2", controller=True)]))
    assert previous is not None
    assert previous["metadata"]["labels"]["app"] == "old"
    assert stored["metadata"]["resourceVersion"] == "2"
    assert store.index_keys("app", "old") == [ObjectKey("ns", "b")]
    assert store.index_keys("app", "new") == [ObjectKey("ns", "a")]
    assert store.index_keys("owner", "u1") == []
    assert store.index_values("owner") == ["u2"]

    store.update(obj("b", rv="2", labels={"app": "new"}))
    assert "old" not in store.index_values("app")
    assert store.index_keys("app", "new") == [ObjectKey("ns", "a"), ObjectKey("ns", "b")]

    store.update(obj("a", rv="3"))  # label removed: leaves the index entirely
    assert store.index_keys("app", "new") == [ObjectKey("ns", "b")]


def test_delete_removes_from_every_index() -> None:
    store = full_store()
    store.add(obj("a", labels={"app": "x"}, owners=[owner("u", controller=True)]))
    store.add(obj("b", labels={"app": "x"}))
    removed = store.delete(obj("a"))
    assert removed is not None
    assert removed["metadata"]["labels"]["app"] == "x"
    assert store.index_keys("app", "x") == [ObjectKey("ns", "b")]
    assert store.index_values("owner") == []
    assert store.delete(ObjectKey("ns", "b")) is not None
    assert store.index_values("app") == []
    assert store.index_values("namespace") == []
    assert store.delete(ObjectKey("ns", "b")) is None
    assert len(store) == 0


def test_delete_accepts_a_tombstone() -> None:
    store = Store()
    stored, _ = store.add(obj("a"))
    assert store.delete(DeletedFinalStateUnknown(ObjectKey("ns", "a"), stored)) is stored
    assert ObjectKey("ns", "a") not in store


def test_unknown_index_is_an_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        full_store().by_index("nope", "x")


def test_duplicate_index_values_are_filed_once() -> None:
    store = Store({"dup": lambda o: ["v", "v", o["metadata"]["name"]]})
    store.add(obj("a"))
    assert store.index_keys("dup", "v") == [ObjectKey("ns", "a")]
    assert store.index_keys("dup", "a") == [ObjectKey("ns", "a")]


def test_failing_index_function_leaves_the_store_untouched() -> None:
    def picky(o: Mapping[str, Any]) -> list[str]:
        if o["metadata"]["name"] == "bad":
            raise RuntimeError("boom")
        return [o["metadata"]["name"]]

    store = Store({"name": picky})
    store.add(obj("a"))
    with pytest.raises(RuntimeError):
        store.replace([obj("b"), obj("bad")], "5")
    assert store.keys() == [ObjectKey("ns", "a")]
    assert store.index_values("name") == ["a"]
    assert not store.has_synced


def test_reads() -> None:
    store = Store()
    a, _ = store.add(obj("a"))
    b, _ = store.add(obj("b", "other"))
    assert store.get(ObjectKey("ns", "a")) is a
    assert store.get_by_name("other", "b") is b
    assert store.get_by_name("ns", "b") is None
    assert store.list() == [a, b]
    assert store.keys() == [ObjectKey("ns", "a"), ObjectKey("other", "b")]
    assert obj("a") in store
    assert ObjectKey("ns", "zzz") not in store
    assert "ns/a" not in store


# replace


def test_replace_on_empty_store_adds_everything_and_syncs() -> None:
    store = full_store()
    assert not store.has_synced
    assert store.last_sync_resource_version is None
    changes = store.replace([obj("b"), obj("a"), obj("n", None)], "100")
    assert [(c.kind, str(c.key)) for c in changes] == [("added", "ns/b"), ("added", "ns/a"), ("added", "n")]
    assert all(c.old is None for c in changes)
    assert store.has_synced
    assert store.last_sync_resource_version == "100"
    assert len(store) == 3


def test_empty_replace_still_syncs() -> None:
    store = Store()
    assert store.replace([], "7") == []
    assert store.has_synced
    assert store.last_sync_resource_version == "7"


def test_replace_updates_only_on_resource_version_change() -> None:
    store = full_store()
    store.replace([obj("a", rv="1", labels={"app": "x"}), obj("b", rv="1")], "10")
    kept = store.get(ObjectKey("ns", "b"))
    changes = store.replace([obj("a", rv="2", labels={"app": "y"}), obj("b", rv="1")], "20")
    assert len(changes) == 1
    change = changes[0]
    assert change.kind is ChangeKind.UPDATED
    assert change.key == ObjectKey("ns", "a")
    assert change.obj["metadata"]["resourceVersion"] == "2"  # type: ignore[index]
    assert change.old is not None
    assert change.old["metadata"]["resourceVersion"] == "1"
    assert store.get(ObjectKey("ns", "b")) is kept
    assert store.index_keys("app", "y") == [ObjectKey("ns", "a")]
    assert store.index_values("app") == ["y"]
    assert store.last_sync_resource_version == "20"


def test_replace_emits_tombstones_for_missed_deletes() -> None:
    store = full_store()
    store.replace([obj("a", labels={"app": "x"}), obj("b"), obj("c", owners=[owner("u", controller=True)])], "10")
    store.update(obj("c", rv="5", owners=[owner("u", controller=True)]))  # last seen via the watch
    changes = store.replace([obj("b"), obj("d")], "30")
    assert [(c.kind, str(c.key)) for c in changes] == [("added", "ns/d"), ("deleted", "ns/a"), ("deleted", "ns/c")]
    tomb_a, tomb_c = changes[1].obj, changes[2].obj
    assert isinstance(tomb_a, DeletedFinalStateUnknown)
    assert isinstance(tomb_c, DeletedFinalStateUnknown)
    assert tomb_a.key == ObjectKey("ns", "a")
    assert tomb_a.obj["metadata"]["labels"] == {"app": "x"}
    assert tomb_c.obj["metadata"]["resourceVersion"] == "5"  # the last known state
    assert changes[2].old is tomb_c.obj
    assert key_of(tomb_c) == ObjectKey("ns", "c")
    assert store.keys() == [ObjectKey("ns", "b"), ObjectKey("ns", "d")]
    assert store.index_values("app") == []
    assert store.index_values("owner") == []


def test_replace_order_is_deterministic() -> None:
    def run() -> list[Change]:
        store = Store()
        for name in ["z", "m", "a", "q"]:
            store.add(obj(name))
        return store.replace([obj("q", rv="2"), obj("new2"), obj("new1"), obj("m")], "9")

    first = run()
    assert [(c.kind.value, c.key.name) for c in first] == [
        ("updated", "q"), ("added", "new2"), ("added", "new1"), ("deleted", "a"), ("deleted", "z")]
    assert [(c.kind, c.key) for c in run()] == [(c.kind, c.key) for c in first]


def test_replace_without_resource_versions_compares_content() -> None:
    store = Store()
    a = {"metadata": {"name": "a", "namespace": "ns"}, "data": {"k": "1"}}
    store.replace([a], "1")
    assert store.replace([a], "2") == []
    changed = store.replace([{**a, "data": {"k": "2"}}], "3")
    assert [c.kind for c in changed] == [ChangeKind.UPDATED]


# property: indexes always equal a recomputation from scratch

NAMES = st.sampled_from(["a", "b", "c", "d"])
NAMESPACES = st.sampled_from(["", "n1", "n2"])
LABEL_VALUES = st.one_of(st.none(), st.sampled_from(["x", "y", ""]))
OWNERS = st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.one_of(st.none(), st.booleans())), max_size=3)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    label = draw(LABEL_VALUES)
    refs = [owner(uid, controller) for uid, controller in draw(OWNERS)]
    return obj(draw(NAMES), draw(NAMESPACES) or None, rv=str(draw(st.integers(1, 3))),
               labels=None if label is None else {"app": label}, owners=refs)


OPS = st.one_of(
    st.tuples(st.just("add"), objects()),
    st.tuples(st.just("update"), objects()),
    st.tuples(st.just("delete"), objects()),
    st.tuples(st.just("replace"), st.lists(objects(), max_size=5)),
)


def recompute(store: Store, index_name: str) -> dict[str, set[ObjectKey]]:
    fn = {"namespace": index_by_namespace, "owner": index_by_controller_uid, "app": index_by_label("app")}[index_name]
    expected: dict[str, set[ObjectKey]] = {}
    for stored in store.list():
        for value in fn(stored):
            expected.setdefault(value, set()).add(key_of(stored))
    return expected


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=25))
def test_indexes_match_recomputation(ops: list[tuple[str, Any]]) -> None:
    store = full_store()
    model: dict[ObjectKey, dict[str, Any]] = {}
    for op, arg in ops:
        if op in ("add", "update"):
            getattr(store, op)(arg)
            model[key_of(arg)] = arg
        elif op == "delete":
            store.delete(arg)
            model.pop(key_of(arg), None)
        else:
            store.replace(arg, "1")
            previous, model = model, {}
            for o in arg:  # an unchanged resourceVersion keeps what the store had
                key = key_of(o)
                current = model.get(key, previous.get(key))
                rv = o["metadata"]["resourceVersion"]
                model[key] = current if current is not None and current["metadata"]["resourceVersion"] == rv else o
        assert {k: thaw(v) for k, v in zip(store.keys(), store.list(), strict=True)} == model
        for index_name in ("namespace", "owner", "app"):
            actual = {v: set(store.index_keys(index_name, v)) for v in store.index_values(index_name)}
            assert actual == recompute(store, index_name)
            assert all(actual.values())  # no empty buckets


def test_frozen_mappings_refuse_every_change_and_copy_to_plain_dicts() -> None:
    frozen = freeze({"a": {"b": [1]}, "c": "d"})
    for change in (lambda: frozen.pop("c"), lambda: frozen.update(x=1), lambda: frozen.setdefault("x", 1),
                   frozen.popitem, frozen.clear):
        with pytest.raises(TypeError):
            change()
    assert frozen == {"a": {"b": (1,)}, "c": "d"}
    for copy in (dict(frozen), frozen.copy(), frozen | {}):
        assert type(copy) is dict
        copy["x"] = 1  # writable, and the cached object is not touched
    assert "x" not in frozen
    assert copy_module.deepcopy(frozen) is frozen  # nothing in it can change
