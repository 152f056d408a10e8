"""A real Kubernetes control plane on loopback, as plain processes.

etcd, kube-apiserver (secure port, generated certs, service-account issuer and keys,
``--authorization-mode=RBAC``, a static token file), kube-controller-manager,
kube-scheduler and kwok (fake kubelets and a fake volume provisioner). Nothing here
is a fake of the API server: tests talk to the same binaries a cluster runs.

Guarantees: :meth:`ControlPlane.start` returns only once ``/readyz`` answers, the
fake Nodes are Ready, the ``kwok-volume`` StorageClass exists, the CRDs are
Established and the service-account controller works; a component that fails to
start raises :class:`StartError` naming it with its log tail. :meth:`stop` ends every
process (SIGTERM, then SIGKILL) and removes the working directory it created.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Self

import yaml

from .binaries import Binaries, ensure_binaries
from .pki import Pki, make_pki
from .process import ManagedProcess, StartError

__all__ = ["ADMIN", "ControlPlane", "ControlPlaneConfig", "StartError"]

ADMIN = "admin"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
STORAGE_CLASS = "kwok-volume"
CLIENTS = ("kube-controller-manager", "kube-scheduler")
"""The clients of the API server that :meth:`ControlPlane.refresh_clients` restarts (not kwok: a new kwok
process waits out its predecessor's node leases, 40 s, before it serves pods)."""

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def default_crd_dir() -> Path | None:
    """The CRDs shipped in the wheel, else the repository's ``crds/`` (source checkout)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_crds", package.parent / "crds"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class ControlPlaneConfig:
    """What to start. Defaults suit the test suite; every field has a reason."""

    nodes: int = 2
    """Fake kwok Nodes; pods spread over them like on a real cluster."""
    pods_per_node: int = 2000
    """Node pod capacity; high so benchmarks with thousands of notebooks fit."""
    users: tuple[str, ...] = ("alice", "bob")
    """Non-admin token users (group ``system:authenticated`` only) for RBAC tests."""
    crd_dir: Path | None = field(default_factory=default_crd_dir)
    """CRD manifests to install and wait for; None installs none."""
    etcd_args: tuple[str, ...] = ()
    """Extra etcd flags (e.g. ``--auto-compaction-retention`` for 410 Gone tests)."""
    apiserver_args: tuple[str, ...] = ()
    """Extra kube-apiserver flags (e.g. an audit policy)."""
    workdir: Path | None = None
    """Where state, certs and logs go; None: a temporary directory removed by stop()."""
    start_timeout: float = 120.0
    """Seconds each component may take to become ready."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ControlPlane:
    def __init__(self, config: ControlPlaneConfig | None = None, binaries: Binaries | None = None) -> None:
        self.config = config or ControlPlaneConfig()
        self._binaries = binaries
        self._owns_workdir = self.config.workdir is None
        self.workdir = self.config.workdir or Path(tempfile.mkdtemp(prefix="jupyternetes-cp-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.etcd_port = _free_port()
        self.apiserver_port = _free_port()
        self.tokens: dict[str, str] = {}
        self.processes: dict[str, ManagedProcess] = {}
        self._health: dict[str, str] = {}  # component -> its /healthz URL
        self.scheduler_metrics_url = ""  # HTTPS, no credentials needed (the benchmarks read its rate limiter)
        self._pki: Pki | None = None

    # -- addresses and credentials -------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def etcd_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def binaries(self) -> Binaries:
        if self._binaries is None:
            self._binaries = ensure_binaries()
        return self._binaries

    @property
    def pki(self) -> Pki:
        if self._pki is None:
            raise RuntimeError("control plane not started")
        return self._pki

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (group ``system:masters``)."""
        return self.kubeconfig_for(ADMIN)

    def kubeconfig_for(self, user: str) -> Path:
        return self.workdir / "kubeconfig" / f"{user}.yaml"

    def write_kubeconfig(self, user: str, token: str) -> Path:
        """Write a kubeconfig for a bearer token (a token user or a ServiceAccount token)."""
        path = self.kubeconfig_for(user)
        path.parent.mkdir(exist_ok=True)
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": "jupyternetes-test",
            "clusters": [{"name": "jupyternetes-test", "cluster": {
                "server": self.server, "certificate-authority": str(self.pki.ca_cert)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "jupyternetes-test",
                          "context": {"cluster": "jupyternetes-test", "user": user}}],
        }
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, progress: Progress = _quiet) -> None:
        try:
            self._start(progress)
        except BaseException:
            self.stop()
            raise

    def _start(self, progress: Progress) -> None:
        binaries = self.binaries
        progress("generating certificates and tokens")
        self._pki = make_pki(self.workdir / "pki")
        self._write_tokens()
        progress("starting etcd")
        self._start_etcd(binaries)
        progress("starting kube-apiserver")
        self._start_apiserver(binaries)
        if self.config.crd_dir is not None:
            # Before the controller-manager starts, so that its garbage collector discovers the CRDs at
            # once (it re-discovers resources only every 30 s).
            progress("installing CRDs")
            self.kubectl("apply", "--server-side", "-f", str(self.config.crd_dir))
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(self.config.crd_dir))
        progress("starting controller-manager, scheduler and kwok")
        self._start_controllers(binaries)
        progress("creating nodes and the storage class")
        self._bootstrap()
        progress(f"control plane ready at {self.server}")

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            proc.stop()
        self.processes.clear()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self, name: str, *, kill: bool = False, down: float = 0.0) -> None:
        """Stop (or SIGKILL) one component, leave it down ``down`` seconds and start it again with the
        same flags (fault tests); blocks until a restarted kube-apiserver is ready."""
        proc = self.processes[name]
        if kill:
            proc.signal(signal.SIGKILL)
        proc.stop()
        time.sleep(down)
        proc.start()
        if name == "kube-apiserver":
            proc.wait_ready(self._apiserver_ready, self.config.start_timeout)

    def refresh_clients(self) -> None:
        """Restart the controller-manager and the scheduler, and wait until they serve. A restarted API
        server answers 403 until its RBAC cache loads, and client-go's watch back-off after that can
        keep a controller idle for a minute (a namespace without its ``default`` ServiceAccount, a
        claim unbound): fault runs call this once they end, so the next test starts on a plane as
        responsive as the first."""
        for name in CLIENTS:
            self.restart(name)
            if url := self._health.get(name):
                self.processes[name].wait_ready(partial(self._https_ok, url, verify=False),
                                                self.config.start_timeout)

    def _etcd_call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.etcd_endpoint}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.load(response)
        return result

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (watches from before it get 410 Gone)."""
        revision = int(self._etcd_call("/v3/maintenance/status", {})["header"]["revision"])
        self._etcd_call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    # -- components ----------------------------------------------------------------

    def _log(self, name: str) -> Path:
        (self.workdir / "logs").mkdir(exist_ok=True)
        return self.workdir / "logs" / f"{name}.log"

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        proc = ManagedProcess(name, argv, self._log(name))
        self.processes[name] = proc
        proc.start()
        return proc

    def _write_tokens(self) -> None:
        rows = []
        groups = {ADMIN: "system:masters", "kwok": "system:masters"}
        named = {"kube-controller-manager": "system:kube-controller-manager",
                 "kube-scheduler": "system:kube-scheduler"}
        for user in (ADMIN, "kwok", *named, *self.config.users):
            token = secrets.token_hex(16)
            self.tokens[user] = token
            username = named.get(user, user)
            rows.append(f'{token},{username},uid-{user},"{groups.get(user, "")}"')
            self.write_kubeconfig(user, token)
        (self.workdir / "pki" / "tokens.csv").write_text("\n".join(rows) + "\n")

    def _start_etcd(self, binaries: Binaries) -> None:
        peer = _free_port()
        proc = self._spawn("etcd", [
            str(binaries.etcd), "--name=jupyternetes", f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_endpoint}", f"--advertise-client-urls={self.etcd_endpoint}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=jupyternetes=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync=true", "--log-level=warn", *self.config.etcd_args,
        ])

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.etcd_endpoint}/health", timeout=2) as r:
                return bool(json.load(r).get("health") == "true")

        proc.wait_ready(healthy, self.config.start_timeout)

    def _https_ok(self, url: str, token: str | None = None, verify: bool = True) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as r:
                return bool(r.status == 200)
        except urllib.error.HTTPError:
            return False

    def _apiserver_ready(self) -> bool:
        return self._https_ok(f"{self.server}/readyz", self.tokens[ADMIN])

    def _start_apiserver(self, binaries: Binaries) -> None:
        pki = self.pki
        proc = self._spawn("kube-apiserver", [
            str(binaries.kube_apiserver),
            f"--etcd-servers={self.etcd_endpoint}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--token-auth-file={self.workdir / 'pki' / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",  # a loopback address cannot be an Endpoints address
            f"--cert-dir={self.workdir / 'pki' / 'generated'}",
            *self.config.apiserver_args,
        ])
        proc.wait_ready(self._apiserver_ready, self.config.start_timeout)

    def _start_controllers(self, binaries: Binaries) -> None:
        pki = self.pki
        kcm_port, sched_port, kwok_port = _free_port(), _free_port(), _free_port()
        kcm = self._spawn("kube-controller-manager", [
            str(binaries.kube_controller_manager),
            f"--kubeconfig={self.kubeconfig_for('kube-controller-manager')}",
            "--bind-address=127.0.0.1", f"--secure-port={kcm_port}",
            f"--cert-dir={self.workdir / 'pki' / 'kcm'}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
            "--controllers=*", "--kube-api-qps=200", "--kube-api-burst=400",
            "--concurrent-gc-syncs=20",
            # After API server outages (fault tests) the node controller's view of kwok's leases lags
            # behind its informer backoff; past 50 s it marks every pod NotReady, and kwok, unlike a
            # kubelet, never reports them Ready again.
            "--node-monitor-grace-period=5m",
        ])
        sched = self._spawn("kube-scheduler", [
            str(binaries.kube_scheduler),
            f"--kubeconfig={self.kubeconfig_for('kube-scheduler')}",
            "--bind-address=127.0.0.1", f"--secure-port={sched_port}",
            f"--cert-dir={self.workdir / 'pki' / 'scheduler'}",
            "--leader-elect=false", "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        ])
        self._spawn("kwok", [
            str(binaries.kwok),
            f"--kubeconfig={self.kubeconfig_for('kwok')}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--cidr=10.244.0.1/16", "--node-ip=127.0.0.1", "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{kwok_port}",
            *(f"--config={stage}" for stage in binaries.kwok_stages),
        ])
        self.scheduler_metrics_url = f"https://127.0.0.1:{sched_port}/metrics"
        self._health = {"kube-controller-manager": f"https://127.0.0.1:{kcm_port}/healthz",
                        "kube-scheduler": f"https://127.0.0.1:{sched_port}/healthz"}
        for proc in (kcm, sched):
            url = self._health[proc.name]
            proc.wait_ready(partial(self._https_ok, url, verify=False), self.config.start_timeout)

    # -- bootstrap objects -----------------------------------------------------------

    def kubectl(self, *args: str, user: str = ADMIN, input: str | None = None,
                check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run the control plane's own kubectl as ``user``; raises with stderr when ``check``."""
        proc = subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig_for(user)}", *args],
            input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))

    def _bootstrap(self) -> None:
        docs: list[dict[str, Any]] = [{
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kwok.x-k8s.io/volume", "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }]
        docs += [self._node(i) for i in range(self.config.nodes)]
        self.apply(docs)
        timeout = f"--timeout={int(self.config.start_timeout)}s"
        kwok = self.processes["kwok"]
        kwok.wait_ready(lambda: self.kubectl("wait", "--for=condition=Ready", timeout, "node", "--all",
                                             check=False).returncode == 0, self.config.start_timeout)
        # The service-account controller creates "default" in every namespace; pods need it.
        kcm = self.processes["kube-controller-manager"]
        kcm.wait_ready(lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default",
                                            check=False).returncode == 0, self.config.start_timeout, 0.5)

    def _node(self, index: int) -> dict[str, Any]:
        capacity = {"cpu": "64", "memory": "512Gi", "pods": str(self.config.pods_per_node),
                    "ephemeral-storage": "1Ti"}
        name = f"kwok-node-{index}"
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok"}},
            "status": {"allocatable": capacity, "capacity": capacity,
                       "nodeInfo": {"kubeletVersion": "fake", "operatingSystem": "linux",
                                    "architecture": "amd64"}},
        }
