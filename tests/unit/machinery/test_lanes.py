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
    with pytest.raises(ValueError, match="a"):
        lanes.remove("a")
    with pytest.raises(IndexError):
        lanes.pop()


def test_a_key_promoted_then_pushed_again_keeps_its_new_place() -> None:
    lanes: Lanes[str] = Lanes()
    lanes.push("a")
    lanes.push("b")
    lanes.promote("a")
    assert lanes.pop() == "a"
    lanes.push("c")
    lanes.push("a")  # its old plain entry, ahead of b, is not its place now
    assert [lanes.pop() for _ in range(3)] == ["b", "c", "a"]
    assert len(lanes) == 0


class Counted:
    """A key that counts the comparisons made with it."""

    compared = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        return self.n

    def __eq__(self, other: object) -> bool:
        Counted.compared += 1
        return isinstance(other, Counted) and other.n == self.n


def test_promoting_every_key_of_a_long_lane_takes_no_scan() -> None:
    """A restart: 10,000 instances listed, then each one's pod promotes it. Searching the lane for each
    (deque.remove) would compare 50 million keys."""
    lanes: Lanes[Counted] = Lanes()
    keys = [Counted(n) for n in range(10_000)]
    for key in keys:
        lanes.push(key)
    Counted.compared = 0
    for key in reversed(keys):
        lanes.promote(key)
    assert Counted.compared < len(keys)
    assert [lanes.pop().n for _ in range(3)] == [9_999, 9_998, 9_997]
