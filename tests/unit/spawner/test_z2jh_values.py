"""deploy/z2jh/values.yaml's ``hub.config`` in a real JupyterHub: loaded the way z2jh's hub loads it
(each section passed through to the traitlets config, after z2jh's own KubeSpawner settings), the
hub resolves ``spawner_class`` to the JupyternetesSpawner and the spawner gets every setting.
scripts/test-jupyterhub5 runs this on JupyterHub 5.x, the line z2jh 4.4.0's hub image ships."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest.mock import Mock

import pytest
import yaml
from jupyterhub.app import JupyterHub
from jupyterhub.objects import Hub, Server

from jupyternetes_operator.spawner import JupyternetesSpawner
from jupyternetes_operator.spawner.names import safe_username

ROOT = Path(__file__).parents[3]
VALUES = ROOT / "deploy" / "z2jh" / "values.yaml"

# What z2jh's jupyterhub_config.py does with hub.config, in short: its KubeSpawner defaults first,
# then every hub.config section passed through (sections must be Configurable class names).
CONFIG = """\
import yaml
c = get_config()  # noqa
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = "set-by-z2jh"
with open({values!r}) as f:
    values = yaml.safe_load(f)
for section, cfg in values["hub"]["config"].items():
    assert section[:1].isupper(), section
    c[section].update(cfg)
"""


def test_hub_config_selects_and_configures_the_spawner(tmp_path: Path) -> None:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(CONFIG.format(values=str(VALUES)))
    hub = JupyterHub()
    hub.load_config_file(str(config))
    assert hub.spawner_class is JupyternetesSpawner

    expected = yaml.safe_load(VALUES.read_text())["hub"]["config"]["JupyternetesSpawner"]
    user = Mock(server=Server(), escaped_name="alice", url="/user/alice")
    user.name = "alice"
    spawner = hub.spawner_class(config=hub.config, hub=Hub(), user=user,
                                orm_spawner=SimpleNamespace(name="", server=None),
                                api_token="t", oauth_client_id="unused")
    assert isinstance(spawner, JupyternetesSpawner)
    for name, value in expected.items():
        assert getattr(spawner, name) == value, name
    assert spawner.namespace == "jhub"
    assert spawner.template_name == "z2jh-jupyterlab"  # the example template's name


def test_the_values_keep_z2jh_away_from_pods() -> None:
    values = yaml.safe_load(VALUES.read_text())
    assert values["rbac"]["create"] is False  # z2jh's hub Role (pods, claims, Secrets) is not made
    assert values["hub"]["serviceAccount"]["create"] is True  # "hub" stays, for the jupyternetes Role
    # What rbac.create=false also takes away, turned off so nothing is left half-working.
    assert values["scheduling"]["userScheduler"]["enabled"] is False
    assert values["prePuller"]["hook"]["enabled"] is False
    template = yaml.safe_load((ROOT / "deploy" / "z2jh" / "template" / "template.yaml").read_text())
    assert template["metadata"]["name"] == values["hub"]["config"]["JupyternetesSpawner"]["template_name"]


@pytest.mark.parametrize("name", ["alice", "bob2", "carol1999", "x"])
def test_plain_user_names_give_kubespawners_claim_names(name: str) -> None:
    """docs/migrating-from-kubespawner.md: for lowercase letters and digits starting with a letter,
    ``claim-{{ username }}`` is the claim KubeSpawner made, under either of its slug schemes."""
    from kubespawner.slugs import escape_slug, safe_slug

    assert safe_username(name) == safe_slug(name) == escape_slug(name) == name


def test_other_names_may_differ_as_the_page_says() -> None:
    from kubespawner.slugs import escape_slug, safe_slug

    assert safe_username("a-b") == escape_slug("a-b") == "a-2db"
    assert safe_slug("a-b") == "a-b"  # KubeSpawner's `safe` scheme keeps it: a claim to compare by hand
