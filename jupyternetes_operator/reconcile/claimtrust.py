"""Which retained claims the operator may mount: those it created or adopted itself.

A retained claim outlives its instance and is mounted again by the next instance that renders
its name, so its labels alone prove nothing: anyone who can create PVCs in the namespace can
create one under a user's home name with the operator's labels (bound to a volume they control,
or filled with startup files). The operator therefore signs every retained claim it creates or
adopts: an HMAC-SHA256, under a key only it holds, over the claim's namespace, name and **uid**
(assigned by the API server, so a signature copied onto another object never matches).

The uid is known only once the claim exists, so a claim is created carrying a *creation mark*, an
HMAC over its namespace, name and the uid of the instance creating it, and signed afterwards (right
after, or once Bound: :mod:`.signing` says when). Until then, or if that second write is lost (a
connection reset, a 500), the creating instance alone trusts the claim by its mark, and signs it at
a later pass; any other instance, including one re-created under the same name, has another uid and
does not. A mark is not bound to its object, though: copied onto a claim planted under the same
name (after the original is deleted), it would vouch for the copy. So the mark vouches only for the
uid the instance is known to have created under that name: the create's answer, then the uid its
status records (:mod:`.outcome`). Only where neither is known (the process that created the claim
stopped before its status recorded it, or the status predates the record) does the mark alone vouch.

Guaranteed: :meth:`ClaimSigner.trusted` is True only for a claim carrying the signature of its own
uid under this key, or the creation mark of the asking instance on the very uid it created (if
known), or, with ``adopt_unsigned`` (a deliberate upgrade setting), for a claim carrying no
signature at all; a wrong signature is never trusted.

The key lives in a Secret in the operator's own namespace (:func:`ensure_key`), created by the
first leader with 32 random bytes, read by the next; the operator's Role allows ``get`` of that one
Secret by name and ``create`` in its own namespace only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from ..kube.client import Client
from ..kube.errors import AlreadyExists, NotFound
from ..kube.resources import SECRETS

ANNOTATION_SIGNATURE = "jupyternetes.io/claim-signature"
ANNOTATION_CREATED_FOR = "jupyternetes.io/claim-created-for"
KEY_SECRET = "jupyternetes-operator-claim-key"
"""The Secret (in the operator's namespace) that holds the signing key under ``data.key``."""


class ClaimSigner:
    """Signs and checks retained claims; the key is loaded once the operator leads (:meth:`load`)."""

    def __init__(self, key: bytes | None = None, *, adopt_unsigned: bool = False) -> None:
        self._key = key
        self.adopt_unsigned = adopt_unsigned

    def load(self, key: bytes) -> None:
        self._key = key

    def _mac(self, *parts: object) -> str:
        if self._key is None:
            raise RuntimeError("the claim signing key is not loaded")
        return hmac.new(self._key, "/".join(str(p) for p in parts).encode(), hashlib.sha256).hexdigest()

    def signature(self, claim: Mapping[str, Any]) -> str:
        """The signature ``claim`` (as the API server returned it: with its uid) should carry."""
        meta = claim.get("metadata") or {}
        return self._mac(meta.get("namespace"), meta.get("name"), meta.get("uid"))

    def creation_mark(self, namespace: str, name: str, instance_uid: str) -> str:
        """What a claim carries from its create on (:data:`ANNOTATION_CREATED_FOR`), before its own uid is
        known: it binds the claim to the instance that creates it, and to no other (uids are never reused)."""
        return self._mac("created-for", namespace, name, instance_uid)

    def signed(self, claim: Mapping[str, Any]) -> bool:
        """Whether ``claim`` carries the signature of its own uid."""
        carried = ((claim.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SIGNATURE)
        return isinstance(carried, str) and hmac.compare_digest(carried, self.signature(claim))

    def trusted(self, claim: Mapping[str, Any], instance_uid: str, *, created: str | None) -> bool:
        """Whether the instance with ``instance_uid`` may keep, adopt or mount ``claim``: it is signed, or it
        carries the creation mark of this very instance and is the object that instance created under
        its name (uid ``created``; None: not known), or it is unsigned and ``adopt_unsigned`` is set."""
        if self.signed(claim):
            return True
        meta = claim.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        mark = annotations.get(ANNOTATION_CREATED_FOR)
        if isinstance(mark, str) and created in (None, meta.get("uid")) and hmac.compare_digest(
                mark, self.creation_mark(str(meta.get("namespace")), str(meta.get("name")), instance_uid)):
            return True
        return self.adopt_unsigned and ANNOTATION_SIGNATURE not in annotations


async def ensure_key(client: Client, namespace: str, name: str = KEY_SECRET) -> bytes:
    """The signing key from Secret ``namespace/name``, created with 32 random bytes if it is missing."""
    for _ in range(3):
        try:
            secret = await client.get(SECRETS, name, namespace)
            return base64.b64decode(secret["data"]["key"])
        except NotFound:
            pass
        key = secrets.token_bytes(32)
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {"app.kubernetes.io/name": "jupyternetes"}},
                "data": {"key": base64.b64encode(key).decode()}}
        try:
            await client.create(SECRETS, body, namespace)
        except AlreadyExists:
            continue  # another replica made it first: read that one
        except NotFound:
            raise RuntimeError(f"cannot keep the claim signing key: namespace {namespace!r} (the operator's own, "
                               "--lease-namespace) does not exist") from None
        return key
    raise RuntimeError(f"could neither read nor create the claim signing key Secret {namespace}/{name}")
