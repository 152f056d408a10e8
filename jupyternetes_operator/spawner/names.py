"""Deterministic, DNS-safe names for a user's servers (pure).

Guarantees:

- :func:`escape` is injective and its result uses only ``[a-z0-9-]``: every other
  character (upper case included, so ``Alice`` and ``alice`` differ) becomes ``-xx``
  (hex of each UTF-8 byte). A ``-`` is therefore always followed by two hex digits,
  so an escaped name never contains ``--`` and never ends with ``-``.
- :func:`instance_name` is ``<prefix>-<user>`` for the default server and
  ``<prefix>-<user>--<server>`` for a named one. Because escaped parts never contain
  ``--``, two different (user, server) pairs never produce the same name before
  :func:`~jupyternetes_operator.api.fit_name` shortens long ones with a hash suffix.
- :func:`safe_username` is a DNS label of at most :data:`USERNAME_MAX` characters: the
  value of the ``username`` variable every instance gets (templates use it in child
  names such as ``home-{{ username }}``).
"""

from __future__ import annotations

from .. import api

USERNAME_MAX = 40
"""Longest ``username`` variable: leaves room for prefixes such as ``home-`` in a 63-character name."""

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def escape(text: str) -> str:
    """``text`` with every character outside ``[a-z0-9]`` replaced by ``-`` + hex of its UTF-8 bytes."""
    out: list[str] = []
    for char in text:
        if char in _SAFE:
            out.append(char)
        else:
            out.extend(f"-{byte:02x}" for byte in char.encode())
    return "".join(out)


def instance_name(username: str, server_name: str = "", prefix: str = "jupyter") -> str:
    """The instance for a user's default (``server_name=""``) or named server."""
    name = f"{prefix}-{escape(username)}"
    if server_name:
        name += f"--{escape(server_name)}"
    return api.fit_name(name)


def safe_label(text: str, limit: int = api.MAX_NAME) -> str:
    """A DNS label (and label value) of at most ``limit`` characters for ``text``.

    An escaped text that would start with ``-`` gets the prefix ``x-``; the result then
    contains ``--``, which no escaped text does, so it cannot collide with another one.
    """
    escaped = escape(text)
    if escaped.startswith("-"):
        escaped = f"x-{escaped}"
    return api.fit_name(escaped, limit)


def safe_username(username: str) -> str:
    """The DNS-label form of a user name: the ``username`` variable."""
    return safe_label(username, USERNAME_MAX)
