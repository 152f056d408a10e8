"""A real Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler,
kwok) for tests and development; usable from users' own test suites."""

from .binaries import Binaries, BuildError, ensure_binaries
from .controlplane import ControlPlane, ControlPlaneConfig, StartError

__all__ = ["Binaries", "BuildError", "ControlPlane", "ControlPlaneConfig", "StartError", "ensure_binaries"]
