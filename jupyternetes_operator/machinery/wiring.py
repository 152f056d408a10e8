"""What wakes a controller's queue, declared in one place (controller-runtime's builder).

``wake(queue).for_(...).owns(...).watches(...)`` registers one
:class:`~.handlers.EnqueueMapped` per informer:

- ``for_(informers)``: an object wakes its own key (the controller's primary kind);
- ``owns(informers, api_group, kind)``: an object wakes its controller owner of that
  group and kind (ownerReference with ``controller: true``, same namespace);
- ``watches(informers, map, when_updated=..., delay=...)``: an object wakes the keys
  ``map`` gives (any relation: a label, an index lookup, a reference in the spec);
  with ``delay`` the keys are added that many seconds later (a burst coalesces); with
  ``when_added=False`` additions wake nothing (a watch for deletions), with a predicate
  only those it accepts (``owns`` takes it too: the controller's own creates coming back).

Guaranteed: handlers are registered at once, in declaration order, and see every
event from the informer's first LIST when declared before the informers run. The
semantics of each event (tombstones, old and new objects) are those of
:class:`~.handlers.EnqueueMapped`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .handlers import (
    AddPredicate,
    After,
    DelayingEnqueuer,
    EnqueueMapped,
    Enqueuer,
    MapFunc,
    UpdatePredicate,
    controller_key,
    own_key,
)
from .informer import EventHandler


class Source(Protocol):
    """What a watch registers on: an informer."""

    def add_handler(self, handler: EventHandler) -> None: ...


class Wakes:
    """The builder returned by :func:`wake`; each method returns it, so declarations chain."""

    def __init__(self, queue: DelayingEnqueuer) -> None:
        self.queue = queue

    def for_(self, sources: Iterable[Source], *, when_updated: UpdatePredicate | None = None) -> Wakes:
        return self.watches(sources, own_key, when_updated=when_updated)

    def owns(self, sources: Iterable[Source], api_group: str, kind: str, *,
             when_updated: UpdatePredicate | None = None, when_added: AddPredicate = True) -> Wakes:
        return self.watches(sources, controller_key(api_group, kind), when_updated=when_updated,
                            when_added=when_added)

    def watches(self, sources: Iterable[Source], map: MapFunc, *, when_updated: UpdatePredicate | None = None,
                delay: float = 0.0, when_added: AddPredicate = True) -> Wakes:
        queue: Enqueuer = After(self.queue, delay) if delay > 0 else self.queue
        handler = EnqueueMapped(queue, map, when_updated, when_added)
        for source in sources:
            source.add_handler(handler)
        return self


def wake(queue: DelayingEnqueuer) -> Wakes:
    """Start declaring what adds keys to ``queue``."""
    return Wakes(queue)
