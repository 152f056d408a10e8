"""The Spawner object's pure faces, without an API server (built as in kubespawner's tests)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

import pytest
from jupyterhub.objects import Hub, Server

from jupyternetes_operator import api
from jupyternetes_operator.spawner import JupyternetesSpawner
from jupyternetes_operator.spawner.errors import SpawnError

from .test_options import TEMPLATE


def make(user: str = "alice", server: str = "", *, cached: dict[str, Any] = TEMPLATE,
         **config: Any) -> JupyternetesSpawner:
    mock_user = Mock(server=Server(), escaped_name=user, url="/user/" + user)
    mock_user.name = user
    spawner = JupyternetesSpawner(hub=Hub(), user=mock_user, orm_spawner=SimpleNamespace(name=server, server=None),
                                  api_token="secret-token", oauth_client_id="unused", namespace="hub", **config)

    async def template(profile: Any) -> tuple[str, Any]:
        found = copy.deepcopy(cached)
        found["metadata"] = {"name": profile.template}
        return "hub", found

    spawner._template = template  # type: ignore[method-assign]
    return spawner


def test_names_follow_user_and_server() -> None:
    assert make().instance_name == "jupyter-alice"
    assert make(server="gpu lab").instance_name == "jupyter-alice--gpu-20lab"
    assert make(server="GPU").instance_name == "jupyter-alice---47-50-55"
    assert make("Bob", instance_name_prefix="nb").instance_name == "nb--42ob"
    assert api.DNS_LABEL.fullmatch(make("x" * 80, "y" * 80).instance_name)


async def test_state_round_trip_and_poll_without_a_start() -> None:
    spawner = make()
    assert await spawner.poll() == 0  # never started: no API call is made
    spawner.load_state({"instance": "jupyter-old", "namespace": "elsewhere"})
    assert spawner.get_state() == {"instance": "jupyter-old", "namespace": "elsewhere"}
    spawner.clear_state()
    assert spawner.get_state() == {}


async def test_manifest_sets_username_profile_and_extra_variables() -> None:
    spawner = make("Alice", profile_list=[{"slug": "big", "template": "t2", "variables": {"storage": "10Gi"}}],
                   extra_variables=lambda s: {"storage": "5Gi"}, user_options={"variables": {"image": "img:2"}},
                   instance_labels={"team": "a"}, instance_annotations={"note": "x"})
    body = await spawner._instance_manifest("jupyter--41lice", "hub", "0123456789abcdef", "d1g")
    assert body["spec"] == {"template": {"name": "t2"},
                            "variables": {"image": "img:2", "storage": "5Gi", "username": "x--41lice"}}
    assert body["metadata"]["labels"]["team"] == "a"
    assert body["metadata"]["annotations"] == {"note": "x", "jupyternetes.io/env-secret": "0123456789abcdef",
                                               "jupyternetes.io/env-digest": "d1g"}
    assert "secret-token" not in str(body)


async def test_async_extra_variables_and_rejections() -> None:
    async def extra(spawner: JupyternetesSpawner) -> dict[str, str]:
        return {"storage": "5Gi"}

    spawner = make(extra_variables=extra, user_options={"variables": {"storage": "10Gi"}})
    with pytest.raises(SpawnError, match="'storage' cannot be chosen by users"):
        await spawner._instance_manifest("n", "hub", "0123456789abcdef", "d1g")
    spawner = make(extra_variables=extra, user_options={"variables": {"tag": "v1; rm -rf"}})
    with pytest.raises(SpawnError, match="does not match the pattern"):
        await spawner._instance_manifest("n", "hub", "0123456789abcdef", "d1g")


async def test_generated_options_form_and_its_parsing() -> None:
    spawner = make(extra_variables={"tag": "v1"})
    html = await spawner.get_options_form()
    assert 'name="default/image"' in html
    assert "default/tag" not in html  # fixed by the administrator
    assert spawner.run_options_from_form({"profile": ["default"], "default/image": ["img:2"]}) == {
        "profile": "default", "variables": {"image": "img:2"}}
    assert await make(options_form="<b>mine</b>").get_options_form() == "<b>mine</b>"


async def test_a_template_that_declares_its_variables_wrongly_is_named_before_any_write() -> None:
    broken = {"spec": {"variables": [{"name": "tag", "pattern": "(unclosed", "userSettable": True}]}}
    for spawner in (make(cached=broken), make(cached=broken, user_options={"variables": {"tag": "v1"}})):
        with pytest.raises(SpawnError, match=r"JupyterNotebookTemplate hub/jupyterlab is invalid: spec\.variables"
                                             r"\[0\]\.pattern of variable 'tag' is not a valid RE2 expression"):
            await spawner._instance_manifest("n", "hub", "0123456789abcdef", "d1g")
    with pytest.raises(SpawnError, match="is invalid"):
        await make(cached=broken).get_options_form()


def test_the_environment_goes_to_the_server_port() -> None:
    env = make().get_env()
    assert env["JUPYTERHUB_API_TOKEN"] == "secret-token"
    assert env["JUPYTERHUB_SERVICE_URL"].startswith("http://0.0.0.0:8888/")
