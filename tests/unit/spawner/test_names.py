from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from jupyternetes_operator import api
from jupyternetes_operator.spawner.names import USERNAME_MAX, escape, instance_name, safe_label, safe_username


def test_plain_names_stay_readable() -> None:
    assert instance_name("alice") == "jupyter-alice"
    assert instance_name("alice", "lab") == "jupyter-alice--lab"
    assert instance_name("alice", prefix="nb") == "nb-alice"
    assert safe_username("alice") == "alice"


def test_escaping_is_case_and_punctuation_aware() -> None:
    assert escape("Alice") == "-41lice"
    assert escape("a.b@c") == "a-2eb-40c"
    assert escape("a-b") == "a-2db"
    assert escape("é") == "-c3-a9"


def test_named_servers_never_collide_with_users_or_each_other() -> None:
    users = ["a", "a-", "a--b", "a-b", "A", "a-2d", "b", "a--", ""]
    servers = ["", "b", "-b", "a", "x--y", "B"]
    seen: dict[str, tuple[str, str]] = {}
    for user, server in itertools.product(users[:-1], servers):
        name = instance_name(user, server)
        assert name not in seen, (user, server, seen.get(name))
        seen[name] = (user, server)


@given(st.text(min_size=1, max_size=200), st.text(max_size=200))
def test_instance_names_are_dns_labels(user: str, server: str) -> None:
    name = instance_name(user, server)
    assert len(name) <= api.MAX_NAME
    assert api.DNS_LABEL.fullmatch(name), name


@given(st.text(min_size=1, max_size=200))
def test_username_variable_is_a_short_dns_label(user: str) -> None:
    value = safe_username(user)
    assert len(value) <= USERNAME_MAX
    assert api.DNS_LABEL.fullmatch(value), value
    assert api.DNS_LABEL.fullmatch(safe_label(user))


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_escaping_is_injective(a: str, b: str) -> None:
    if a != b:
        assert escape(a) != escape(b)
        assert safe_username(a) != safe_username(b) or len(escape(a)) > USERNAME_MAX


def test_long_names_are_truncated_with_a_stable_hash() -> None:
    long = "u" * 100
    assert instance_name(long) == instance_name(long)
    assert instance_name(long) != instance_name(long + "x")
    assert len(instance_name(long, "s" * 100)) == api.MAX_NAME
