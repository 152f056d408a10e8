"""Users whose names collided under the earlier naming scheme, spawned through the real spawner.

Under the earlier scheme the first pair shared one ``username`` (so one ``home-<username>``
claim) and the second pair one instance name (so one user's start deleted the other's server).
Each of the four must now get its own instance and its own home claim.
"""

from __future__ import annotations

import anyio

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PODS, PVCS
from jupyternetes_operator.spawner import names
from jupyternetes_operator.spawner.manifests import LABEL_USERNAME
from jupyternetes_operator.testing import ControlPlane

from ..unit.spawner.test_names import HOME_PAIR, INSTANCE_PAIR
from .test_spawner import _close_shared, make_spawner, operator, static_volume, template  # noqa: F401 (fixtures)


async def test_colliding_user_names_get_their_own_instances_and_homes(
        control_plane: ControlPlane, kube: Client, namespace: str, template: str) -> None:  # noqa: F811
    assert names.legacy_safe_username(HOME_PAIR[0]) == names.legacy_safe_username(HOME_PAIR[1])
    assert api.fit_name(f"jupyter-{names.escape(INSTANCE_PAIR[0])}") == f"jupyter-{names.escape(INSTANCE_PAIR[1])}"

    users = [*HOME_PAIR, *INSTANCE_PAIR]
    homes = [f"home-{names.safe_username(user)}" for user in users]
    assert len(set(homes)) == len(users)
    for home in homes:
        await static_volume(kube, namespace, home)

    async with operator(control_plane, kube, namespace):
        spawners = [make_spawner(control_plane.kubeconfig, namespace, user=user, template_name="jupyterlab-home")
                    for user in users]
        with anyio.fail_after(25):
            async with anyio.create_task_group() as tg:
                for spawner in spawners:
                    tg.start_soon(spawner.start)

        instances = [spawner.get_state()["instance"] for spawner in spawners]
        assert len(set(instances)) == len(users), instances
        for user, name, home in zip(users, instances, homes, strict=True):
            assert name == names.instance_name(user)
            instance = await kube.get(api.INSTANCES, name, namespace)
            assert instance["status"]["phase"] == "Running", instance["status"]
            assert instance["spec"]["variables"]["username"] == names.safe_username(user)
            assert instance["metadata"]["labels"][LABEL_USERNAME] == names.safe_label(user)
            children = {c["kind"]: c["name"] for c in instance["status"]["children"]}
            assert children["PersistentVolumeClaim"] == home
            claim = await kube.get(PVCS, home, namespace)
            assert claim["metadata"]["labels"][api.LABEL_INSTANCE] == name
            pod = await kube.get(PODS, children["Pod"], namespace)
            mounted = {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
                       if "persistentVolumeClaim" in v}
            assert mounted == {home}
