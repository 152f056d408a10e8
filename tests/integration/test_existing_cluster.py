"""The suite against an existing cluster (``JUPYTERNETES_TEST_KUBECONFIG``): the
:class:`ExistingCluster` face over a running cluster, checked here over the session's own plane (so it
runs in both modes), and, when the variable is set, that the session really uses the given cluster
and started nothing. CI runs this file and others against a separately started dev cluster
(``.ci/run``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import Forbidden
from jupyternetes_operator.kube.resources import CONFIG_MAPS, NAMESPACES
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.pytest_plugin import EXISTING_KUBECONFIG, ExistingCluster


def test_the_session_cluster_is_the_one_asked_for(control_plane: ControlPlane) -> None:
    given = os.environ.get(EXISTING_KUBECONFIG)
    if given:
        assert isinstance(control_plane, ExistingCluster)
        assert control_plane.kubeconfig == Path(given).resolve()
        assert control_plane.processes == {}  # nothing started
        server = yaml.safe_load(Path(given).read_text())["clusters"][0]["cluster"]["server"]
        assert control_plane.server == server
    else:
        assert not isinstance(control_plane, ExistingCluster)
        assert {"etcd", "kube-apiserver", "kwok"} <= set(control_plane.processes)


async def test_existing_cluster_over_a_running_one(control_plane: ControlPlane, kube: Client, namespace: str,
                                                   tmp_path: Path) -> None:
    existing = ExistingCluster(control_plane.kubeconfig)
    existing.start()  # checks it answers; the CRDs are applied again, unchanged
    try:
        assert existing.server == control_plane.server
        existing.kubectl("create", "configmap", "via-existing", "-n", namespace)
        assert (await kube.get_or_none(CONFIG_MAPS, "via-existing", namespace)) is not None
        # A kubeconfig for a ServiceAccount token, on the same server and CA, really authenticates as it.
        existing.kubectl("create", "serviceaccount", "probe", "-n", namespace)
        token = existing.kubectl("create", "token", "probe", "-n", namespace).stdout.strip()
        path = existing.write_kubeconfig("probe", token)
        assert existing.kubeconfig_for("probe") == path
        async with await Client.from_kubeconfig(str(path)) as probe:
            with pytest.raises(Forbidden, match=f"system:serviceaccount:{namespace}:probe"):
                await probe.list(NAMESPACES)
        # Process control is refused, loudly.
        with pytest.raises(RuntimeError, match="controls_processes"):
            existing.restart("kube-apiserver")
        with pytest.raises(RuntimeError, match="controls_processes"):
            existing.compact_etcd()
    finally:
        existing.stop()
    assert not existing.workdir.exists()
    assert control_plane.kubectl("get", "configmap", "via-existing", "-n", namespace).returncode == 0  # left alone


def test_the_fault_runs_are_marked(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against an existing cluster, a marked test that uses the session plane is skipped; an unmarked one
    and a marked one that does not use it still run."""
    pytester.makeconftest('pytest_plugins = ["jupyternetes_operator.testing.pytest_plugin"]\n')
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_probe="""
import pytest

@pytest.mark.controls_processes
def test_marked(control_plane): pass

@pytest.mark.controls_processes
def test_marked_without_the_plane(): pass

def test_unmarked(): pass
""")
    monkeypatch.setenv(EXISTING_KUBECONFIG, "/nonexistent/kubeconfig")  # never opened: nothing uses it
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, skipped=1)
    monkeypatch.delenv(EXISTING_KUBECONFIG)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "--collect-only")
    assert "3 tests collected" in result.stdout.str()
