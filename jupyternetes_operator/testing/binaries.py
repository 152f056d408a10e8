"""Control-plane binaries built from Go modules and cached outside the repository.

Each component is pinned by a small consumer module under ``gomod/<name>/``
(``go.mod`` + ``go.sum`` committed, so builds are reproducible). A build lands in
``<cache>/controlplane/<name>-<version>-<digest>/`` where the digest covers the
module files, the link flags and the Go version: a second run finds it and starts
in seconds. Builds are serialized by a file lock, and a directory becomes visible
only once complete (built in a temporary sibling, then renamed).

The cache root is ``$JUPYTERNETES_CACHE_DIR``, else ``$XDG_CACHE_HOME/jupyternetes``,
else ``~/.cache/jupyternetes``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"
# The Kubernetes minor Helm's own k8s.io modules are at (v0.37.x): its default capabilities and the
# deprecation lint use it, as Helm's Makefile sets it.
_HELM_K8S_MINOR = "37"

_GOMOD = Path(__file__).parent / "gomod"

# kwok v0.8 ships no default stages; these are read from its module (never copied
# into this repository) and passed with --config.
_KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pv-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pvc-delete.yaml",
)

Progress = Callable[[str], None]


class BuildError(RuntimeError):
    """A component failed to build; the message carries the tail of the Go output."""


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    packages: tuple[str, ...]
    ldflags: str = "-s -w"

    @property
    def module_dir(self) -> Path:
        return _GOMOD / self.name


def _kubernetes_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return " ".join([
        "-s -w",
        f"-X {pkg}.gitVersion={version}",
        f"-X {pkg}.gitMajor={major}",
        f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
        f"-X k8s.io/client-go/pkg/version.gitVersion={version}",
    ])


def _helm_ldflags(version: str) -> str:
    pkg = "helm.sh/helm/v3"
    return " ".join([
        "-s -w",
        f"-X {pkg}/internal/version.version={version}",
        f"-X {pkg}/internal/version.gitTreeState=clean",
        *(f"-X {pkg}/pkg/{p}.k8sVersionMajor=1 -X {pkg}/pkg/{p}.k8sVersionMinor={_HELM_K8S_MINOR}"
          for p in ("lint/rules", "chartutil")),
    ])


# Helm is a test tool (the chart's lint, install, upgrade and uninstall tests), not part of the
# control plane: built on demand by ensure_helm(), never by ensure_binaries().
HELM = Component("helm", HELM_VERSION, ("helm.sh/helm/v3/cmd/helm",), _helm_ldflags(HELM_VERSION))

COMPONENTS = (
    Component("etcd", ETCD_VERSION, ("go.etcd.io/etcd/server/v3",)),
    Component(
        "kubernetes", KUBERNETES_VERSION,
        tuple(f"k8s.io/kubernetes/cmd/{c}"
              for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")),
        _kubernetes_ldflags(KUBERNETES_VERSION),
    ),
    Component("kwok", KWOK_VERSION, ("sigs.k8s.io/kwok/cmd/kwok",)),
)


@dataclass(frozen=True)
class Binaries:
    """Paths of every executable the control plane runs, plus kwok's stage files."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    kwok_stages: tuple[Path, ...]


def cache_root() -> Path:
    if explicit := os.environ.get("JUPYTERNETES_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jupyternetes"


def _go_version() -> str:
    try:
        out = subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise BuildError("the 'go' command is not on PATH; install Go 1.26+ to build the control plane") from exc
    return out.stdout.strip()


def component_dir(component: Component, go_version: str) -> Path:
    digest = hashlib.sha256()
    for part in ((component.module_dir / "go.mod").read_bytes(), (component.module_dir / "go.sum").read_bytes(),
                 component.ldflags.encode(), go_version.encode(), "\0".join(_KWOK_STAGES).encode()):
        digest.update(part)
        digest.update(b"\0")
    return cache_root() / "controlplane" / f"{component.name}-{component.version}-{digest.hexdigest()[:12]}"


def _run_go(args: list[str], cwd: Path, log: Path) -> str:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly -buildvcs=false"}
    with log.open("ab") as out:
        proc = subprocess.run(["go", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=out)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BuildError(f"go {' '.join(args[:2])} failed in {cwd} (exit {proc.returncode}):\n{tail}")
    return proc.stdout.decode()


def build(component: Component, progress: Progress | None = None) -> Path:
    """Return the cache directory holding ``bin/`` (and ``stages/`` for kwok), building if needed."""
    go_version = _go_version()
    target = component_dir(component, go_version)
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{component.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():  # another process built it while we waited
            return target
        work = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        (work / "src").mkdir(parents=True)
        for name in ("go.mod", "go.sum"):
            shutil.copyfile(component.module_dir / name, work / "src" / name)
        log = work / "build.log"
        started = time.monotonic()
        if progress:
            progress(f"building {component.name} {component.version} with {go_version}")
        # One package: name the binary after the component (etcd's main package is ".../server/v3").
        output = str(work / "bin" / component.name) if len(component.packages) == 1 else f"{work / 'bin'}/"
        _run_go(["build", "-trimpath", "-ldflags", component.ldflags, "-o", output,
                 *component.packages], work / "src", log)
        if component.name == "kwok":
            module = json.loads(_run_go(["list", "-m", "-json", "sigs.k8s.io/kwok"], work / "src", log))
            stage_root = Path(module["Dir"]) / "kustomize" / "stage"
            (work / "stages").mkdir()
            for rel in _KWOK_STAGES:
                shutil.copyfile(stage_root / rel, work / "stages" / rel.replace("/", "_"))
        (work / "build-seconds").write_text(f"{time.monotonic() - started:.1f}\n")
        (work / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
        if progress:
            progress(f"built {component.name} in {time.monotonic() - started:.0f}s")
        return target


def ensure_helm(progress: Progress | None = None) -> Path:
    """Build (or find cached) the pinned ``helm`` and return its path."""
    return build(HELM, progress) / "bin" / "helm"


def ensure_binaries(progress: Progress | None = None) -> Binaries:
    """Build (or find cached) every control-plane component."""
    dirs = {c.name: build(c, progress) for c in COMPONENTS}
    k8s = dirs["kubernetes"] / "bin"
    return Binaries(
        etcd=dirs["etcd"] / "bin" / "etcd",
        kube_apiserver=k8s / "kube-apiserver",
        kube_controller_manager=k8s / "kube-controller-manager",
        kube_scheduler=k8s / "kube-scheduler",
        kubectl=k8s / "kubectl",
        kwok=dirs["kwok"] / "bin" / "kwok",
        kwok_stages=tuple(sorted((dirs["kwok"] / "stages").glob("*.yaml"))),
    )
