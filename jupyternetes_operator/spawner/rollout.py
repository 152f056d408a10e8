"""Which users run an old version of their template: the line a hub admin reads in the hub's log.

The operator sets an instance's ``UpToDate`` condition (False, ``TemplateChanged``, once its template
has a newer generation than the one its server runs). :func:`became_outdated` says so once, when the
condition turns False, naming the server, its user and both generations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import api
from .manifests import LABEL_USERNAME


def became_outdated(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str | None:
    """The log line for ``new`` if its ``UpToDate`` condition turned False since ``old``, else None."""
    now = api.condition(new, api.UP_TO_DATE)
    if now.get("status") != "False" or api.condition(old, api.UP_TO_DATE).get("status") == "False":
        return None
    meta = new.get("metadata") or {}
    user = (meta.get("labels") or {}).get(LABEL_USERNAME, "?")
    template = ((new.get("spec") or {}).get("template") or {}).get("name", "?")
    return (f"server {meta.get('namespace')}/{meta.get('name')} of user {user} runs an older version of template "
            f"{template}: {now.get('message', '')}")
