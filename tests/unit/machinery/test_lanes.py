"""The ready keys' two lanes: the first lane out before the plain one, each in order."""

import pytest

from jupyternetes_operator.machinery.lanes import Lanes


def test_lanes_order_promotion_and_removal() -> None:
    lanes: Lanes[str] = Lanes()
    for key, first in (("a", False), ("b", True), ("c", False), ("d", False), ("e", True)):
        lanes.push(key, first=first)
    lanes.promote("d")
    lanes.promote("b")  # already first: stays where it is
    lanes.remove("c")
    lanes.remove("e")
    assert len(lanes) == 3
    assert [lanes.pop() for _ in range(3)] == ["b", "d", "a"]
    with pytest.raises(ValueError):  # noqa: PT011 (deque's own error)
        lanes.remove("a")
    with pytest.raises(IndexError):
        lanes.pop()
