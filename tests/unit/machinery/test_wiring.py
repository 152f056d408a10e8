"""The builder: for_/owns/watches register one handler per informer, in declaration order, with
the map, update predicate and delay declared."""

from collections.abc import Mapping
from typing import Any

from jupyternetes_operator.machinery.informer import EventHandler
from jupyternetes_operator.machinery.store import ObjectKey, freeze
from jupyternetes_operator.machinery.wiring import wake

from .test_handlers import Keys


class Source:
    def __init__(self) -> None:
        self.handlers: list[EventHandler] = []

    def add_handler(self, handler: EventHandler) -> None:
        self.handlers.append(handler)

    def add(self, obj: Any) -> None:
        for handler in self.handlers:
            handler.on_add(obj)

    def update(self, old: Any, new: Any) -> None:
        for handler in self.handlers:
            handler.on_update(old, new)


def widget(name: str, *, owner: str | None = None, spec: Mapping[str, Any] | None = None) -> Any:
    refs = [{"apiVersion": "example.com/v1", "kind": "Widget", "name": owner, "controller": True}] if owner else []
    return freeze({"metadata": {"name": name, "namespace": "ns", "ownerReferences": refs}, "spec": spec or {}})


def test_for_owns_watches() -> None:
    queue, widgets, a_widgets, parts, gadgets = Keys(), Source(), Source(), Source(), Source()
    built = (wake(queue)
             .for_([widgets, a_widgets])
             .owns([parts], "example.com", "Widget")
             .watches([gadgets], lambda g: [ObjectKey("ns", g["spec"]["for"])]))
    assert built.queue is queue
    assert [len(s.handlers) for s in (widgets, a_widgets, parts, gadgets)] == [1, 1, 1, 1]
    widgets.add(widget("w1"))
    a_widgets.add(widget("w2"))
    parts.add(widget("p", owner="w3"))
    parts.add(widget("orphan"))
    gadgets.add(widget("g", spec={"for": "w4"}))
    assert queue.added == [ObjectKey("ns", f"w{i}") for i in (1, 2, 3, 4)]
    assert queue.after == []


def test_watches_with_a_delay_and_a_predicate() -> None:
    queue, gadgets = Keys(), Source()
    wake(queue).watches([gadgets], lambda g: [ObjectKey("ns", g["spec"]["for"])],
                        when_updated=lambda old, new: old["spec"] != new["spec"], delay=2.0)
    gadgets.add(widget("g", spec={"for": "w1"}))
    gadgets.update(widget("g", spec={"for": "w1"}), widget("g", spec={"for": "w1"}))  # filtered
    gadgets.update(widget("g", spec={"for": "w1"}), widget("g", spec={"for": "w2"}))
    assert queue.added == []
    assert queue.after == [(ObjectKey("ns", "w1"), 2.0), (ObjectKey("ns", "w2"), 2.0), (ObjectKey("ns", "w1"), 2.0)]


def test_for_with_a_predicate_and_declaration_order() -> None:
    queue, widgets = Keys(), Source()
    (wake(queue)
     .for_([widgets], when_updated=lambda old, new: False)
     .watches([widgets], lambda w: [ObjectKey("other", w["metadata"]["name"])]))
    widgets.add(widget("w"))
    widgets.update(widget("w"), widget("w"))
    assert queue.added == [ObjectKey("ns", "w"), ObjectKey("other", "w"), ObjectKey("other", "w")]
