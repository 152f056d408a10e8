"""pytest fixtures over the real control plane.

Enable with ``pytest_plugins = ["jupyternetes_operator.testing.pytest_plugin"]`` in a
``conftest.py``. Fixtures:

- ``control_plane`` (session): a started :class:`ControlPlane` (built on first use);
- ``kube`` (function): an admin :class:`~jupyternetes_operator.kube.client.Client`;
- ``namespace`` (function): a fresh namespace, deleted after the test; it is usable
  for pods when yielded (its ``default`` ServiceAccount exists).

An existing cluster instead of a new control plane: set ``JUPYTERNETES_TEST_KUBECONFIG`` to an
admin kubeconfig (``jupyternetes-operator dev-cluster env`` prints a dev cluster's). Nothing is
started then; ``control_plane`` is an :class:`ExistingCluster` over it, and the tests marked
``controls_processes`` (they restart, kill or compact the session plane's own processes: the
fault runs) are skipped, as envtest does with an existing cluster. Tests that start planes of their
own still do. The tests expect what a dev cluster has: kwok Nodes, the ``kwok-volume`` StorageClass,
the token users ``alice`` and ``bob`` (their kubeconfigs beside the admin one).

A test that fails also reports the tail of every process log written while it ran (the
control plane's components, and any ``*.log`` under pytest's temporary directories, such as
an operator's or a hub's), so a failure in CI can be diagnosed from CI's output alone.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from ..kube.client import Client
from ..kube.errors import NotFound
from ..kube.resources import NAMESPACES
from .controlplane import ADMIN, ControlPlane, ControlPlaneConfig, default_crd_dir
from .namespaces import ensure_namespace

LOG_TAIL_LINES = 40
"""Lines of each log shown under a failed test."""
LOG_LINE_CHARS = 400
LOG_FILES = 12
"""At most this many logs (the most recently written) are shown under a failed test."""
_LOG_DIRS = pytest.StashKey[list[Path]]()
_STARTED = pytest.StashKey[float]()

EXISTING_KUBECONFIG = "JUPYTERNETES_TEST_KUBECONFIG"
"""The environment variable that points the suite at an existing cluster."""
CONTROLS_PROCESSES = "controls_processes"
"""The marker of tests that control the session plane's processes (skipped on an existing cluster)."""


class ExistingCluster(ControlPlane):
    """A running cluster given by an admin kubeconfig, in the shape of a :class:`ControlPlane`.

    Guaranteed: ``kubeconfig``, ``kubeconfig_for`` (the admin's, or ``<user>.yaml`` beside it, as a
    dev cluster keeps them), ``write_kubeconfig`` (same server and CA), ``kubectl``, ``apply``,
    ``binaries`` (the pinned kubectl), ``server``; :meth:`start` checks the cluster answers and
    installs the CRDs; :meth:`stop` leaves the cluster as it is. Not promised: anything about its
    processes (``restart``, ``compact_etcd``, ``pki``, ``tokens``) raises :class:`RuntimeError`.
    """

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(ControlPlaneConfig(workdir=Path(tempfile.mkdtemp(prefix="jupyternetes-existing-"))))
        self._owns_workdir = True
        self.given = kubeconfig.resolve()
        doc = yaml.safe_load(self.given.read_text())
        contexts = {c["name"]: c["context"] for c in doc.get("contexts") or ()}
        clusters = {c["name"]: c["cluster"] for c in doc.get("clusters") or ()}
        self._cluster: dict[str, Any] = dict(clusters[contexts[doc["current-context"]]["cluster"]])
        if "certificate-authority" in self._cluster:  # relative paths are relative to the kubeconfig
            self._cluster["certificate-authority"] = str(self.given.parent / self._cluster["certificate-authority"])
        elif data := self._cluster.pop("certificate-authority-data", None):
            ca = self.workdir / "ca.crt"
            ca.write_bytes(base64.b64decode(data))
            self._cluster["certificate-authority"] = str(ca)

    @property
    def server(self) -> str:
        return str(self._cluster["server"])

    @property
    def pki(self) -> NoReturn:
        self._not_ours("its certificates")

    def kubeconfig_for(self, user: str) -> Path:
        if user == ADMIN:
            return self.given
        written = self.workdir / "kubeconfig" / f"{user}.yaml"
        beside = self.given.parent / f"{user}.yaml"
        return beside if beside.exists() and not written.exists() else written

    def write_kubeconfig(self, user: str, token: str) -> Path:
        path = self.workdir / "kubeconfig" / f"{user}.yaml"
        path.parent.mkdir(exist_ok=True)
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "jupyternetes-test",
               "clusters": [{"name": "jupyternetes-test", "cluster": self._cluster}],
               "users": [{"name": user, "user": {"token": token}}],
               "contexts": [{"name": "jupyternetes-test", "context": {"cluster": "jupyternetes-test", "user": user}}]}
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    def start(self, progress: Callable[[str], None] = lambda _: None) -> None:
        self.kubectl("version", timeout=30)
        if (crds := default_crd_dir()) is not None:
            self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds))
        progress(f"using the existing cluster at {self.server}")

    def stop(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self, name: str, *, kill: bool = False, down: float = 0.0) -> None:
        self._not_ours(name)

    def compact_etcd(self) -> int:
        self._not_ours("etcd")

    def _not_ours(self, what: str) -> NoReturn:
        raise RuntimeError(f"an existing cluster ({EXISTING_KUBECONFIG}): {what} is not this suite's to control; "
                           f"mark the test {CONTROLS_PROCESSES}")


def existing_kubeconfig() -> Path | None:
    value = os.environ.get(EXISTING_KUBECONFIG)
    return Path(value) if value else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{CONTROLS_PROCESSES}: restarts, kills or compacts the session "
                                       "control plane's processes; skipped against an existing cluster "
                                       f"({EXISTING_KUBECONFIG})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if existing_kubeconfig() is None:
        return
    skip = pytest.mark.skip(reason=f"controls the control plane's processes; {EXISTING_KUBECONFIG} gives an "
                                   "existing cluster")
    for item in items:
        if item.get_closest_marker(CONTROLS_PROCESSES) and "control_plane" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    given = existing_kubeconfig()
    plane = ExistingCluster(given) if given else ControlPlane(ControlPlaneConfig())
    plane.start()
    logs = given.parent.parent / "logs" if given else plane.workdir / "logs"  # a dev cluster's logs
    request.config.stash.setdefault(_LOG_DIRS, []).append(logs)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[Client]:
    async with await Client.from_kubeconfig(str(control_plane.kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(kube: Client) -> AsyncIterator[str]:
    name = f"test-{secrets.token_hex(4)}"
    await ensure_namespace(kube, name)
    yield name
    with contextlib.suppress(NotFound):
        await kube.delete(NAMESPACES, name)


# -- failure diagnostics -----------------------------------------------------------------------

def _recent_logs(directories: Iterable[Path], since: float) -> list[Path]:
    """The logs under ``directories`` written since ``since``, the most recent :data:`LOG_FILES`."""
    found: dict[Path, float] = {}
    for directory in directories:
        with contextlib.suppress(OSError):
            for path in directory.rglob("*.log"):
                if path.is_file() and (mtime := path.stat().st_mtime) >= since:
                    found[path] = mtime
    return sorted(sorted(found, key=found.__getitem__)[-LOG_FILES:])


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 256 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(unreadable: {exc})"
    return "\n".join(line[:LOG_LINE_CHARS] for line in text.splitlines()[-lines:])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_STARTED] = time.time() - 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not report.failed or call.when == "teardown":
        return report
    directories = [*item.config.stash.get(_LOG_DIRS, [])]
    factory = getattr(item.config, "_tmp_path_factory", None)
    if factory is not None:
        with contextlib.suppress(OSError, ValueError):
            directories.append(factory.getbasetemp())
    for path in _recent_logs(directories, item.stash.get(_STARTED, 0.0)):
        report.sections.append((f"tail of {path}", _tail(path)))
    return report
