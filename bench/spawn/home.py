"""Home claims (``--home``): every variant spawns with a home claim per user, as real hubs do (pure).

- ``jupyternetes`` and ``spawner``: the sample template as shipped, with its retained
  ``home-{{ username }}`` claim (the operator creates the claim and, its class binding
  ``Immediate``-ly, the pod once the claim is Bound);
- ``bare``: the claim the operator rendered for the warm-up and the pod, created one after the
  other without waiting (what a naive client does);
- ``kubespawner``: ``storage_pvc_ensure`` with the sample's size and access mode on the default
  class, mounted where the sample mounts it (KubeSpawner too creates the claim, then the pod at once).

Every variant's claim is ``home-<user>`` (the user: the spawn's key without ``jupyter-``), so the
claim watch can mark ``claim_bound`` on the spawn it belongs to. Claims, like pods, are never
deleted: their names carry the run's token and each variant has its own namespace, so runs and
variants never share one (and a local control plane goes with its run).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from jupyternetes_operator.api import LABEL_INSTANCE

CLAIM_PREFIX = "home-"


def claim_name(key: str) -> str:
    """The home claim of the spawn ``key`` (the sample's ``home-{{ username }}``)."""
    return CLAIM_PREFIX + key.removeprefix("jupyter-")


def bare_claim(rendered: Mapping[str, Any]) -> dict[str, Any]:
    """The operator's rendered claim as a client would create it: its labels (not the instance's)
    and the spec it asked for; no owner, annotations (the operator's signature), status, bound
    volume, or class filled in by the API server (the sample names none: the default class)."""
    meta = rendered["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != LABEL_INSTANCE}
    spec = {k: v for k, v in rendered["spec"].items() if k not in ("volumeName", "storageClassName")}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"labels": labels}, "spec": spec}


def named(claim: Mapping[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(claim))
    out["metadata"]["name"] = name
    return out


def mounting(pod: Mapping[str, Any], claim: str) -> dict[str, Any]:
    """A copy of ``pod`` whose claim volumes mount ``claim``."""
    out = copy.deepcopy(dict(pod))
    for volume in out["spec"].get("volumes") or ():
        if "persistentVolumeClaim" in volume:
            volume["persistentVolumeClaim"]["claimName"] = claim
    return out


def kubespawner_home(pod: Mapping[str, Any], claim: Mapping[str, Any]) -> dict[str, Any]:
    """KubeSpawner's options (trait name -> value) for the home claim of ``claim`` (as
    :func:`bare_claim` gives it) mounted as the rendered ``pod`` mounts it."""
    spec = claim["spec"]
    volumes = [{**v, "persistentVolumeClaim": {**v["persistentVolumeClaim"], "claimName": "{pvc_name}"}}
               if "persistentVolumeClaim" in v else dict(v) for v in pod["spec"].get("volumes") or ()]
    return {"storage_pvc_ensure": True, "pvc_name_template": CLAIM_PREFIX + "{username}",
            "storage_capacity": spec["resources"]["requests"]["storage"],
            "storage_access_modes": list(spec["accessModes"]), "storage_class": spec.get("storageClassName"),
            "volumes": volumes, "volume_mounts": list(pod["spec"]["containers"][0].get("volumeMounts") or ())}
