"""The pinned Helm (built from Go modules, cached like the control plane) and the chart's objects
next to kustomize's: what "the same objects for the same settings" means, in one function."""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "jupyternetes"
DEPLOY = ROOT / "deploy"

HELM_LABELS = frozenset({"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
                         "app.kubernetes.io/version"})
"""The labels Helm's conventions add to every object and kustomize's manifests do not carry."""
CONFIG = "jupyternetes-operator-config"
"""kustomize generates it with a content-hash suffix (a change rolls the Deployment); the chart
keeps the name and rolls the Deployment with a ``checksum/config`` pod annotation instead."""

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class Helm:
    """``helm`` with its own config, cache and data directories (nothing read from ``~``)."""

    binary: Path
    home: Path

    def run(self, *args: str, kubeconfig: Path | None = None, check: bool = True,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HELM_CONFIG_HOME": str(self.home / "config"),
               "HELM_CACHE_HOME": str(self.home / "cache"), "HELM_DATA_HOME": str(self.home / "data")}
        env.pop("KUBECONFIG", None)
        argv = [str(self.binary), *args, *([f"--kubeconfig={kubeconfig}"] if kubeconfig else [])]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
        return proc

    def template(self, *sets: str, namespace: str = "jupyternetes", release: str = "jupyternetes",
                 values: Iterable[Path] = ()) -> list[dict[str, Any]]:
        args = ["template", release, str(CHART), "-n", namespace, "--include-crds"]
        args += [f"--values={v}" for v in values]
        for s in sets:
            args += ["--set", s]
        return [d for d in yaml.safe_load_all(self.run(*args).stdout) if d]


def kustomize(kubectl: Path, path: Path) -> list[dict[str, Any]]:
    out = subprocess.run([str(kubectl), "kustomize", str(path)], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _strip(meta: dict[str, Any], field: str, drop: Iterable[str]) -> None:
    if field in meta:
        for key in drop:
            meta[field].pop(key, None)
        if not meta[field]:
            del meta[field]


def normalized(objects: Iterable[Mapping[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Objects by (apiVersion, kind, namespace, name), without Helm's labels, the chart's config
    checksum, kustomize's hash suffix on the settings ConfigMap's name, and the part-of label on
    CRDs."""
    out: dict[Key, dict[str, Any]] = {}
    for original in objects:
        obj = copy.deepcopy(dict(original))
        meta = obj["metadata"]
        _strip(meta, "labels", HELM_LABELS)
        if obj["kind"] == "CustomResourceDefinition":
            # The chart's crds/ are byte-identical copies of crds/ (Helm never templates that
            # folder), so they lack the part-of label deploy/base/ adds.
            _strip(meta, "labels", ["app.kubernetes.io/part-of"])
        if obj["kind"] == "ConfigMap" and meta["name"].startswith(CONFIG + "-"):
            meta["name"] = CONFIG
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]
            _strip(pod["metadata"], "annotations", ["checksum/config"])
            for container in pod["spec"]["containers"]:
                for source in container.get("envFrom", ()):
                    ref = source.get("configMapRef") or {}
                    if ref.get("name", "").startswith(CONFIG + "-"):
                        ref["name"] = CONFIG
        key = (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
        assert key not in out, f"{key} twice"
        out[key] = obj
    return out
