"""deploy/z2jh/Containerfile.hub, without a container engine (hadolint: test_containerfile.py):
z2jh's hub image pinned to the version the values file names, this package with
its ``spawner`` extra, z2jh's non-root user at the end, and an extra that z2jh's pinned JupyterHub
satisfies (so pip keeps it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[3]
Z2JH = ROOT / "deploy" / "z2jh"
CONTAINERFILE = Z2JH / "Containerfile.hub"
# JupyterHub in quay.io/jupyterhub/k8s-hub:4.4.0 (z2jh's images/hub/requirements.txt at 4.4.0).
Z2JH_JUPYTERHUB = "5.5.0"


def test_pinned_to_z2jh_hub_image_and_installs_the_spawner_extra() -> None:
    text = CONTAINERFILE.read_text()
    (version,) = re.findall(r"^ARG Z2JH_VERSION=(\d+\.\d+\.\d+)$", text, re.MULTILINE)
    (base,) = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert base == "quay.io/jupyterhub/k8s-hub:${Z2JH_VERSION}"
    values = yaml.safe_load((Z2JH / "values.yaml").read_text())
    assert values["hub"]["image"]["tag"].startswith(f"{version}-"), "the values file names this build"
    assert re.search(r'pip install .*"\./\[spawner\]"', text)
    users = re.findall(r"^USER\s+(\S+)$", text, re.MULTILINE)
    assert users[-1] == "1000", "back to z2jh's hub user (jovyan, uid 1000)"


def test_the_spawner_extra_accepts_z2jhs_jupyterhub() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (jupyterhub,) = [Requirement(r) for r in project["optional-dependencies"]["spawner"]
                     if Requirement(r).name == "jupyterhub"]
    assert jupyterhub.specifier.contains(Z2JH_JUPYTERHUB)
    assert "jupyterhub>=5,<6" in (ROOT / "scripts" / "test-jupyterhub5").read_text(), \
        "the spawner is tested on JupyterHub 5.x, z2jh 4.4.0's line"
