"""``dev-cluster``'s life cycle with the real processes: ``down`` keeps the state and a later ``up``
resumes it (objects included); ``up --fresh`` stops a running cluster, deletes its state and starts
an empty one; ``delete`` stops the cluster and removes its state; ``delete`` refuses a directory
that is not a dev cluster's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jupyternetes_operator.testing import ControlPlane


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyternetes_operator", "dev-cluster", *args, "--dir", str(state)],
                          capture_output=True, text=True, timeout=300)


def _kubectl(control_plane: ControlPlane, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _cli(state, "env")
    assert env.returncode == 0, env.stderr
    kubeconfig = env.stdout.splitlines()[0].removeprefix("export KUBECONFIG=")
    return subprocess.run([str(control_plane.binaries.kubectl), f"--kubeconfig={kubeconfig}", *args],
                          capture_output=True, text=True, timeout=60)


def _up(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    up = _cli(state, "up", "--nodes", "1", *args)
    assert up.returncode == 0, up.stdout + up.stderr
    return up


def test_down_keeps_the_state_and_delete_removes_it(control_plane: ControlPlane, tmp_path: Path) -> None:
    state = tmp_path / "dev"
    try:
        first = _up(state)
        assert "resuming" not in first.stdout
        env = _cli(state, "env").stdout.splitlines()
        path = env[1].removeprefix("export PATH=").removesuffix(":$PATH").split(":")
        assert {"kubectl", "helm"} <= {tool.name for directory in path for tool in Path(directory).iterdir()}
        assert _kubectl(control_plane, state, "create", "configmap", "kept", "-n", "default").returncode == 0
        down = _cli(state, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "dev cluster stopped" in down.stdout
        assert (state / "cluster").is_dir()  # kept: nothing deletes it on down

        resumed = _up(state)
        assert "resuming the dev cluster kept in" in resumed.stdout, resumed.stdout
        got = _kubectl(control_plane, state, "get", "configmap", "kept", "-n", "default", "-o", "name")
        assert got.stdout.strip() == "configmap/kept", got.stderr  # the old object is back

        fresh = _up(state, "--fresh")  # running: --fresh stops it and deletes its state first
        assert "dev cluster deleted" in fresh.stdout, fresh.stdout
        assert "resuming" not in fresh.stdout
        gone = _kubectl(control_plane, state, "get", "configmap", "kept", "-n", "default", "-o", "name")
        assert "NotFound" in gone.stderr, gone.stdout + gone.stderr  # an empty cluster

        deleted = _cli(state, "delete")  # while it runs: stops it, then removes the state
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert "dev cluster stopped" in deleted.stdout
        assert "dev cluster deleted" in deleted.stdout
        assert not state.exists()
        leftovers = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True)
        assert leftovers.stdout.strip() == "", f"processes left behind: {leftovers.stdout}"
    finally:
        _cli(state, "delete")
    assert not state.exists()
    assert _cli(state, "delete").stdout.startswith("no dev cluster state in")


def test_delete_refuses_a_directory_that_is_no_dev_cluster(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    refused = _cli(precious, "delete")
    assert refused.returncode == 1
    assert "does not look like a dev cluster's state directory" in refused.stderr
    assert (precious / "notes.txt").read_text() == "keep me"
