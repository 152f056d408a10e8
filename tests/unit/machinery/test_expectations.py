from jupyternetes_operator.machinery.expectations import Expectations


def obj(version: str) -> dict[str, object]:
    return {"metadata": {"resourceVersion": version}}


def test_the_written_value_stands_until_the_cache_shows_that_write() -> None:
    expect: Expectations[str, str] = Expectations()
    assert expect.seen("a", obj("1"), "old") == "old"  # nothing written: the cache is the truth
    expect.wrote("a", "5", "new")
    assert expect.seen("a", obj("4"), "old") == "new"  # the cache is behind our write
    assert expect.seen("a", obj("4"), "old") == "new"
    assert expect.seen("a", obj("5"), "new") == "new"  # caught up: forgotten
    assert len(expect) == 0
    assert expect.seen("a", obj("6"), "other") == "other"


def test_a_later_object_showing_the_write_also_catches_up() -> None:
    expect: Expectations[str, dict[str, int]] = Expectations(lambda written, current: written["x"] == current["x"])
    expect.wrote("a", "5", {"x": 1, "at": 1})
    assert expect.seen("a", obj("7"), {"x": 1, "at": 2}) == {"x": 1, "at": 2}  # someone wrote after us
    assert len(expect) == 0


def test_forget_and_independent_keys() -> None:
    expect: Expectations[str, str] = Expectations()
    expect.wrote("a", "5", "A")
    expect.wrote("b", "6", "B")
    expect.forget("a")
    expect.forget("missing")
    assert expect.seen("a", obj("1"), "cached") == "cached"
    assert expect.seen("b", obj("1"), "cached") == "B"


def test_the_cache_taking_in_the_write_forgets_it_without_a_reconcile() -> None:
    expect: Expectations[str, str] = Expectations()
    expect.wrote("a", "5", "A")
    expect.wrote("b", "6", "B")
    expect.observed("a", obj("4"))  # an older version: still behind
    expect.observed("b", obj("5"))  # another key's version
    assert len(expect) == 2
    expect.observed("a", obj("5"))
    assert len(expect) == 1
    assert expect.seen("a", obj("4"), "cached") == "cached"
