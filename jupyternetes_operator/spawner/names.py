"""Deterministic, DNS-safe names for a user's servers (pure).

Guaranteed (for a fixed instance prefix):

- :func:`escape` is injective and its result uses only ``[a-z0-9-]``: every other
  character (upper case included, so ``Alice`` and ``alice`` differ) becomes ``-xx``
  (hex of each UTF-8 byte). A ``-`` is therefore always followed by two lowercase hex
  digits: an escaped text never contains ``--``, never ends with ``-`` and never
  contains ``-`` followed by a letter ``g``-``z``.
- Distinct (user, server) pairs always get distinct :func:`instance_name` values (DNS
  labels of at most 63 characters); distinct user names always get distinct
  :func:`safe_username` values (the ``username`` variable, DNS labels of at most
  :data:`USERNAME_MAX` characters) and distinct :func:`safe_label` values, whatever
  their length and characters. "Always" means: unless someone finds two inputs whose
  SHA-256 agrees in its first 80 bits (a second preimage of a given name costs about
  2**80 hashes).

How: a name is either *plain* or *hashed*.

- Plain: ``<prefix>-<user>`` for the default server, ``<prefix>-<user>--<server>`` for
  a named one, with escaped parts; ``<text>`` (``x-<text>`` if the escaped text starts
  with ``-``) for the username variable and labels. Plain names are injective: the
  first ``--`` after the prefix separates user and server (an escaped user contains no
  ``--`` and does not end with ``-``), and an ``x-<text>`` contains ``--``, which no
  escaped text does.
- Hashed, whenever the plain name is too long (or not a DNS label, e.g. an empty
  user): ``<prefix>-<head>-z<digest>`` or ``<head>-z<digest>``, where ``head`` is the
  plain text cut to fit (never ending in ``-`` or inside an escape) and ``digest`` is
  16 base32 characters (80 bits) of the SHA-256 of an unambiguous encoding of the whole
  input (prefix, escaped user and escaped server; or the escaped text). ``-z`` after
  a letter or digit is the structural marker: no plain name can contain it after its
  prefix (in escaped text ``-`` is followed by a hex digit; the separator ``--`` and
  ``x-`` are followed by ``-`` or preceded by ``-``). As a second line of defence a
  plain name that ends like a hashed one (:data:`HASHED_SHAPE`) is hashed too. So a
  hashed name never equals a plain one, and two hashed names are equal only if their
  digests are.

Not promised: stability across a change of the instance prefix; names readable in
full (a hashed name keeps only a readable head).

Migration from the earlier scheme (``<cut>-<8 hex>`` by :func:`~jupyternetes_operator.api.fit_name`):
names that fitted are unchanged (``jupyter-alice``, ``jupyter-alice--lab``, username
``alice``). Only names that were shortened change (instance names over 63 characters,
``hub.jupyter.org/username`` label values over 63, ``username`` values over 40), and
they change once, to the hashed form above. A user whose escaped name is longer
than 40 characters gets a new ``username`` value, so a template's ``home-{{ username }}``
claim gets a new name and the user's next spawn starts with a new, empty home. The old
claim, ``home-`` + :func:`legacy_safe_username`, is retained: the rename never deletes,
moves or hands it over (it stays under the usual data-safety rule: a delete-forever
deletes only a claim that server alone used). It is not handed over automatically because
it may not be only this user's: an old shortened name can equal another user's plain name
(the collision this scheme removes), and that user, whose name does not change, keeps
mounting that claim as before. An administrator who knows whose data it holds can copy
it into the new claim, or, before the user's next spawn, set the old volume's reclaim
policy to ``Retain``, delete the old claim, clear the volume's
``claimRef`` and create the new claim (label ``jupyternetes.io/retained: "true"``) with
``volumeName`` set to that volume: the next spawn adopts it. A running server whose
instance name was shortened keeps running: the hub's saved state names its instance,
and its next start uses the new name.
"""

from __future__ import annotations

import base64
import hashlib
import re

from .. import api

USERNAME_MAX = 40
"""Longest ``username`` variable: leaves room for prefixes such as ``home-`` in a 63-character name."""

DIGEST_CHARS = 16
"""Base32 characters (5 bits each: 80 bits) of SHA-256 that end a hashed name."""

HASHED_SHAPE = re.compile(rf"[a-z0-9]-z[a-z2-7]{{{DIGEST_CHARS}}}\Z")
"""How the part of a hashed name after the instance prefix ends (searched, not matched)."""

_MARKER = "-z"

LIMIT_MIN = len(_MARKER) + DIGEST_CHARS + 1
"""Shortest ``limit`` :func:`safe_label` accepts: a hashed label keeps at least one readable character."""

PREFIX_MAX = api.MAX_NAME - 1 - LIMIT_MIN
"""Longest instance name prefix (a hashed instance name keeps ``<prefix>-`` and one more character)."""

_PARTIAL_ESCAPE = re.compile(r"-+[0-9a-f]?\Z")
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


def _digest(key: str) -> str:
    raw = hashlib.sha256(key.encode()).digest()
    return base64.b32encode(raw).decode().lower()[:DIGEST_CHARS]


def _fit(fixed: str, body: str, limit: int, key: str) -> str:
    """``fixed + body`` if that is a DNS label of at most ``limit`` characters and ``body`` does not
    look hashed; else ``fixed + head + "-z" + digest(key)``, whose part after ``fixed`` always looks hashed.

    ``key`` must be an injective encoding of what ``fixed + body`` names.
    """
    plain = fixed + body
    if len(plain) <= limit and api.DNS_LABEL.fullmatch(plain) and not HASHED_SHAPE.search(body):
        return plain
    room = limit - len(fixed) - len(_MARKER) - DIGEST_CHARS
    if room < 1:
        raise ValueError(f"no room for a hashed name after {fixed!r} in {limit} characters")
    # Cut at a whole character: no trailing "-" or partial "-x" escape. The head then ends with a
    # letter or digit, so the result (after ``fixed``) matches HASHED_SHAPE.
    head = _PARTIAL_ESCAPE.sub("", body[:room]) or "x"
    return f"{fixed}{head}{_MARKER}{_digest(key)}"


def instance_name(username: str, server_name: str = "", prefix: str = "jupyter") -> str:
    """The instance for a user's default (``server_name=""``) or named server.

    ``prefix`` must be a DNS label of at most :data:`PREFIX_MAX` characters (so a hashed name keeps a head).
    """
    if len(prefix) > PREFIX_MAX or not api.DNS_LABEL.fullmatch(prefix):
        raise ValueError(f"instance name prefix {prefix!r} is not a DNS label of at most {PREFIX_MAX} characters")
    user, server = escape(username), escape(server_name)
    body = f"{user}--{server}" if server_name else user
    return _fit(f"{prefix}-", body, api.MAX_NAME, f"instance\0{prefix}\0{user}\0{server}")


def safe_label(text: str, limit: int = api.MAX_NAME) -> str:
    """A DNS label (and label value) of at most ``limit`` (at least :data:`LIMIT_MIN`) characters for ``text``.

    An escaped text that would start with ``-`` gets the prefix ``x-``; the result then
    starts with ``x--``, which no escaped text does, so it cannot collide with another one.
    """
    if limit < LIMIT_MIN:
        raise ValueError(f"a label limit of {limit} leaves no room for a hashed name")
    body = escape(text)
    if body.startswith("-"):
        body = f"x-{body}"
    return _fit("", body, limit, f"label\0{body}")


def safe_username(username: str) -> str:
    """The DNS-label form of a user name: the ``username`` variable."""
    return safe_label(username, USERNAME_MAX)


def legacy_safe_username(username: str) -> str:
    """The ``username`` value the earlier scheme gave (for migrating claims named after it).

    It differs from :func:`safe_username` exactly for names whose escaped form is longer
    than :data:`USERNAME_MAX`; distinct users may share a legacy value.
    """
    body = escape(username)
    if body.startswith("-"):
        body = f"x-{body}"
    return api.fit_name(body, USERNAME_MAX)
