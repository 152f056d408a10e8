"""pytest fixtures over the real control plane.

Enable with ``pytest_plugins = ["jupyternetes_operator.testing.pytest_plugin"]`` in a
``conftest.py``. Fixtures:

- ``control_plane`` (session): a started :class:`ControlPlane` (built on first use);
- ``kube`` (function): an admin :class:`~jupyternetes_operator.kube.client.Client`;
- ``namespace`` (function): a fresh namespace, deleted after the test; it is usable
  for pods when yielded (its ``default`` ServiceAccount exists).

A test that fails also reports the tail of every process log written while it ran (the
control plane's components, and any ``*.log`` under pytest's temporary directories, such as
an operator's or a hub's), so a failure in CI can be diagnosed from CI's output alone.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from pathlib import Path

import pytest

from ..kube.client import Client
from ..kube.errors import NotFound
from ..kube.resources import NAMESPACES
from .controlplane import ControlPlane, ControlPlaneConfig
from .namespaces import ensure_namespace

LOG_TAIL_LINES = 40
"""Lines of each log shown under a failed test."""
LOG_LINE_CHARS = 400
LOG_FILES = 12
"""At most this many logs (the most recently written) are shown under a failed test."""
_LOG_DIRS = pytest.StashKey[list[Path]]()
_STARTED = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    plane = ControlPlane(ControlPlaneConfig())
    plane.start()
    request.config.stash.setdefault(_LOG_DIRS, []).append(plane.workdir / "logs")
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
