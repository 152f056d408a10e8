from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from jupyternetes_operator import api
from jupyternetes_operator.spawner import names
from jupyternetes_operator.spawner.names import (
    HASHED_SHAPE,
    USERNAME_MAX,
    escape,
    instance_name,
    legacy_safe_username,
    safe_label,
    safe_username,
)

# -- regression: pairs of users that collided under the earlier scheme ------------------------
#
# Built by construction: take a long user, shorten its escaped name the earlier way
# (api.fit_name: cut + "-" + 8 hex), and pick the second user so that its escaped name is exactly
# that string (the first two hex digits happen to escape an upper-case letter).

HOME_PAIR = ("maximilian.schneider-von-hohenzollern@example.com", "maximilian.schneider-von-Wb960a1")
"""Same earlier ``username`` (so the same ``home-<username>`` claim): maximilian-2eschneider-2dvon-2d-57b960a1."""

INSTANCE_PAIR = ("konstantinos.papadopoulos-alexandropoulos@physics.example.edu",
                 "konstantinos.papadopoulos-alexandropoulosD226173")
"""Same earlier instance name: jupyter-konstantinos-2epapadopoulos-2dalexandropoulos-44226173."""


def test_regression_pairs_collided_under_the_earlier_scheme() -> None:
    long, short = HOME_PAIR
    assert legacy_safe_username(long) == legacy_safe_username(short) == escape(short)
    long, short = INSTANCE_PAIR
    assert api.fit_name(f"jupyter-{escape(long)}") == f"jupyter-{escape(short)}"


def test_regression_pairs_are_distinct_now() -> None:
    for long, short in (HOME_PAIR, INSTANCE_PAIR):
        assert safe_username(long) != safe_username(short)
        assert safe_label(long) != safe_label(short)
        assert instance_name(long) != instance_name(short)
        assert instance_name(long, "lab") != instance_name(short, "lab")


# -- plain names stay as they were ------------------------------------------------------------

def test_plain_names_stay_readable() -> None:
    assert instance_name("alice") == "jupyter-alice"
    assert instance_name("alice", "lab") == "jupyter-alice--lab"
    assert instance_name("alice", prefix="nb") == "nb-alice"
    assert instance_name("Alice") == "jupyter--41lice"
    assert safe_username("alice") == "alice"
    assert safe_username("Alice") == "x--41lice"
    assert safe_username(HOME_PAIR[1]) == escape(HOME_PAIR[1])  # exactly 40: still plain


def test_escaping_is_case_and_punctuation_aware() -> None:
    assert escape("Alice") == "-41lice"
    assert escape("a.b@c") == "a-2eb-40c"
    assert escape("a-b") == "a-2db"
    assert escape("é") == "-c3-a9"


def test_named_servers_never_collide_with_users_or_each_other() -> None:
    users = ["a", "a-", "a--b", "a-b", "A", "a-2d", "b", "a--", ""]
    servers = ["", "b", "-b", "a", "x--y", "B"]
    seen: dict[str, tuple[str, str]] = {}
    for user, server in itertools.product(users, servers):
        name = instance_name(user, server)
        assert api.DNS_LABEL.fullmatch(name), name
        assert name not in seen, (user, server, seen.get(name))
        seen[name] = (user, server)


def test_hashed_names_keep_a_readable_head_and_an_80_bit_digest() -> None:
    long = "u" * 100
    assert instance_name(long) == instance_name(long)
    assert instance_name(long) == f"jupyter-{'u' * 37}-z{instance_name(long)[-16:]}"
    assert len(instance_name(long, "s" * 100)) == api.MAX_NAME
    assert re.fullmatch(r"u{22}-z[a-z2-7]{16}", safe_username(long))
    # The head is cut at a whole character, never inside a "-xx" escape.
    assert safe_username("A" * 30) == "x--41-41-41-41-41-41-z" + safe_username("A" * 30)[-16:]


def test_a_plain_name_that_looks_hashed_is_hashed_too() -> None:
    # Escaped text can never end like a hashed name, so only the helper can show the second line of defence.
    looks_hashed = "bob-z" + "a" * names.DIGEST_CHARS
    assert HASHED_SHAPE.search(looks_hashed)
    assert names._fit("", looks_hashed, 63, "k1") != looks_hashed
    assert names._fit("", looks_hashed, 63, "k1") != names._fit("", looks_hashed, 63, "k2")
    assert HASHED_SHAPE.search(names._fit("", looks_hashed, 63, "k1"))


def test_bad_prefix_and_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        instance_name("alice", prefix="Jupyter")
    with pytest.raises(ValueError, match="prefix"):
        instance_name("alice", prefix="p" * (names.PREFIX_MAX + 1))
    with pytest.raises(ValueError, match="limit"):
        safe_label("alice", names.LIMIT_MIN - 1)
    assert len(instance_name("u" * 100, prefix="p" * names.PREFIX_MAX)) == api.MAX_NAME
    assert len(safe_label("u" * 100, names.LIMIT_MIN)) == names.LIMIT_MIN


def test_migration_changes_only_names_that_were_shortened() -> None:
    for user in ("alice", "Alice", "a" * 40, "-" * 12, HOME_PAIR[1]):
        assert safe_username(user) == legacy_safe_username(user)
    for user in ("a" * 41, "-" * 13, HOME_PAIR[0]):
        assert safe_username(user) != legacy_safe_username(user)


# -- properties, searching across the escape/shorten boundary -------------------------------------

_ALPHABET = st.sampled_from([
    *"abcdefz0123456789",  # lower case, hex-looking digits and letters, and the marker letter
    "-", "--", "-z", "-2d", "-41", "x-", "x--",  # text that looks escaped, separated or hashed
    ".", "@", "_", " ", "A", "Z", "É", "é", "ß", "日", "🙂", "\x00",  # escaped to 3, 6, 9 or 12 chars
])


@st.composite
def _near(draw: st.DrawFn, limit: int) -> str:
    """A name whose escaped form (or plain instance body) is near ``limit`` characters."""
    target = draw(st.integers(min_value=max(1, limit - 8), max_value=limit + 8))
    parts: list[str] = []
    while len(escape("".join(parts))) < target:
        parts.append(draw(_ALPHABET))
    if draw(st.booleans()):
        return "".join(parts)
    return "".join(parts)[: draw(st.integers(min_value=1, max_value=len(parts) + 2))]


_USERS = st.one_of(
    st.text(max_size=70),
    st.text(st.sampled_from("abc-zAB9é"), max_size=70),
    _near(USERNAME_MAX),
    _near(api.MAX_NAME - len("jupyter-")),
    _near(api.MAX_NAME - len("jupyter-") - 2 - 4),  # a user and a short server
)
_SERVERS = st.one_of(st.just(""), st.text(max_size=40), _near(10), _near(30), st.sampled_from(["lab", "-", "z"]))


def _unescape_loosely(name: str) -> str:
    """The text whose escaped form is ``name`` where possible: ``-xx`` becomes that byte, anything else stays.

    A user choosing this text is the attack of the issue: "make my escaped name equal your shortened one".
    """
    data = bytearray()
    i = 0
    while i < len(name):
        hexpair = name[i + 1: i + 3]
        if name[i] == "-" and re.fullmatch("[0-9a-f]{2}", hexpair):
            data.append(int(hexpair, 16))
            i += 3
        else:
            data += name[i].encode()
            i += 1
    return data.decode(errors="replace")


def _instance_body(name: str, prefix: str = "jupyter") -> str:
    assert name.startswith(f"{prefix}-")
    return name[len(prefix) + 1:]


@given(_USERS, _SERVERS)
def test_names_are_dns_labels_within_their_limits(user: str, server: str) -> None:
    for value, limit in ((instance_name(user, server), api.MAX_NAME), (safe_username(user), USERNAME_MAX),
                         (safe_label(user), api.MAX_NAME), (safe_label(server), api.MAX_NAME)):
        assert len(value) <= limit, value
        assert api.DNS_LABEL.fullmatch(value), value


@given(_USERS, _SERVERS)
def test_plain_and_hashed_names_are_told_apart_by_their_shape(user: str, server: str) -> None:
    plain_body = f"{escape(user)}--{escape(server)}" if server else escape(user)
    body = _instance_body(instance_name(user, server))
    if len(f"jupyter-{plain_body}") <= api.MAX_NAME and (user or server):  # "jupyter-" is no DNS label
        assert body == plain_body
        assert not HASHED_SHAPE.search(body)
    else:
        assert HASHED_SHAPE.search(body), body
    label_body = escape(user) if not escape(user).startswith("-") else f"x-{escape(user)}"
    value = safe_username(user)
    assert (value == label_body) == (0 < len(label_body) <= USERNAME_MAX)
    assert (value == label_body) != bool(HASHED_SHAPE.search(value))


@given(st.text(), st.text())
def test_escaped_text_never_contains_the_marker(a: str, b: str) -> None:
    for body in (escape(a), f"x-{escape('-' + a)}", f"{escape(a)}--{escape(b)}"):
        assert not re.search(r"[a-z0-9]-[g-z]", body), body


def _parse_plain(name: str, prefix: str = "jupyter") -> tuple[str, str]:
    """(escaped user, escaped server) of a plain instance name: user up to the first ``--``."""
    user, sep, server = _instance_body(name, prefix).partition("--")
    assert bool(sep) == bool(server)
    return user, server


@given(_USERS, _SERVERS)
def test_plain_instance_names_parse_back(user: str, server: str) -> None:
    name = instance_name(user, server)
    assume(not HASHED_SHAPE.search(_instance_body(name)))
    assert _parse_plain(name) == (escape(user), escape(server))


@settings(max_examples=300)
@given(_USERS, _SERVERS, _USERS, _SERVERS)
@example(HOME_PAIR[0], "", HOME_PAIR[1], "")
@example(INSTANCE_PAIR[0], "", INSTANCE_PAIR[1], "")
@example("a", "b--c", "a--b", "c")
@example("", "a", "a", "")
def test_distinct_inputs_get_distinct_names(user_a: str, server_a: str, user_b: str, server_b: str) -> None:
    if (user_a, server_a) != (user_b, server_b):
        assert instance_name(user_a, server_a) != instance_name(user_b, server_b)
    if user_a != user_b:
        assert safe_username(user_a) != safe_username(user_b)
        assert safe_label(user_a) != safe_label(user_b)


@settings(max_examples=300)
@given(_USERS, _SERVERS, st.data())
def test_a_user_cannot_take_another_users_name(user: str, server: str, data: st.DataObject) -> None:
    """The attack: choose a user (or server) name whose escaped form is someone's shortened name."""
    username = safe_username(user)
    other = _unescape_loosely(username)
    if other != user:
        assert safe_username(other) != username
        assert safe_label(other, USERNAME_MAX) != username

    name = instance_name(user, server)
    body = _instance_body(name)
    cut = data.draw(st.integers(min_value=0, max_value=len(body)))
    # Split the body anywhere into a user part and a server part and claim them.
    for other_user, other_server in ((_unescape_loosely(body), ""),
                                     (_unescape_loosely(body[:cut]), _unescape_loosely(body[cut:].lstrip("-")))):
        if (other_user, other_server) != (user, server):
            assert instance_name(other_user, other_server) != name


@settings(max_examples=300)
@given(_USERS, _SERVERS, st.integers(min_value=0, max_value=80), st.sampled_from("aA-.z9é"))
def test_names_differing_in_one_character_differ(user: str, server: str, at: int, char: str) -> None:
    """Two long names with the same readable head differ in their digest."""
    at = min(at, len(user))
    other = user[:at] + char + user[at + 1:]
    if other != user:
        assert safe_username(other) != safe_username(user)
        assert instance_name(other, server) != instance_name(user, server)
    other_server = server + char
    assert instance_name(user, other_server) != instance_name(user, server)
