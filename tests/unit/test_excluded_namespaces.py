"""The all-namespaces mode leaves the system namespaces and the operator's own alone: the setting,
its flag and environment variable, and the field selectors the informers get from it."""

from __future__ import annotations

from typing import cast

import pytest

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.cli import _parser, settings_from
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.machinery.informer import Informer, InformerOptions
from jupyternetes_operator.machinery.reflector import ResourceListerWatcher
from jupyternetes_operator.manager import Operator, excluding
from jupyternetes_operator.metrics import Metrics
from jupyternetes_operator.settings import SYSTEM_NAMESPACES, LeaderElectionSettings, Settings

SYSTEM = frozenset({"kube-system", "kube-public", "kube-node-lease"})


def settings(*argv: str) -> Settings:
    return settings_from(_parser().parse_args(["run", *argv]))


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JUPYTERNETES_EXCLUDED_NAMESPACES", "JUPYTERNETES_NAMESPACES", "JUPYTERNETES_LEASE_NAMESPACE",
                 "POD_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)


def test_default_is_the_system_namespaces_and_the_operators_own() -> None:
    assert SYSTEM_NAMESPACES == SYSTEM
    assert Settings().excluded_namespaces == SYSTEM | {"jupyternetes"}
    moved = Settings(leader_election=LeaderElectionSettings(lease_namespace="ops"))
    assert moved.excluded_namespaces == SYSTEM | {"ops"}
    assert settings().excluded_namespaces == SYSTEM | {"jupyternetes"}
    assert settings("--lease-namespace=ops").excluded_namespaces == SYSTEM | {"ops"}


def test_the_default_follows_the_pods_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "operators")
    assert settings().excluded_namespaces == SYSTEM | {"operators"}


def test_flag_and_environment_replace_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = settings("--excluded-namespaces= kube-system, ops ,")
    assert listed.excluded_namespaces == frozenset({"kube-system", "ops"})
    monkeypatch.setenv("JUPYTERNETES_EXCLUDED_NAMESPACES", "kube-system,vault")
    assert settings().excluded_namespaces == frozenset({"kube-system", "vault"})
    assert settings("--excluded-namespaces=ops").excluded_namespaces == frozenset({"ops"})  # the flag wins


def test_an_explicit_empty_value_excludes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings("--excluded-namespaces=").excluded_namespaces == frozenset()
    assert Settings(excluded_namespaces=frozenset()).unwatched_namespaces == frozenset()
    monkeypatch.setenv("JUPYTERNETES_EXCLUDED_NAMESPACES", "")
    assert settings().excluded_namespaces == frozenset()


def test_the_setting_is_always_a_frozenset() -> None:
    given = Settings(excluded_namespaces=cast(frozenset[str], {"a", "b"}))
    assert type(given.excluded_namespaces) is frozenset
    assert given.excluded_namespaces == frozenset({"a", "b"})


@pytest.mark.parametrize("name", ["Kube-System", "a,metadata.name=x", "a!=b", "-a", "", "x" * 64])
def test_names_that_could_change_the_field_selector_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a namespace name"):
        Settings(excluded_namespaces=frozenset({name}))


def test_invalid_flag_value_is_refused() -> None:
    with pytest.raises(ValueError, match="'a=b' is not a namespace name"):
        settings("--excluded-namespaces=kube-system,a=b")


def test_it_applies_only_to_the_all_namespaces_mode() -> None:
    assert Settings().unwatched_namespaces == SYSTEM | {"jupyternetes"}
    # Naming a namespace (and granting a Role there) is deliberate: a named namespace is watched.
    named = settings("--namespaces=kube-system,team-a")
    assert named.namespaces == ("kube-system", "team-a")
    assert named.unwatched_namespaces == frozenset()


def test_excluding_builds_and_combines_field_selectors() -> None:
    assert excluding(None, ()) is None
    assert excluding("", ()) is None
    assert excluding("spec.nodeName=n1", ()) == "spec.nodeName=n1"
    assert excluding(None, ["b", "a"]) == "metadata.namespace!=a,metadata.namespace!=b"
    assert excluding("spec.nodeName=n1", {"a"}) == "spec.nodeName=n1,metadata.namespace!=a"


def _field_selector(informer: Informer) -> str | None:
    lister_watcher = informer.reflector.lister_watcher
    assert isinstance(lister_watcher, ResourceListerWatcher)
    return lister_watcher.field_selector


def test_informers_get_the_selector_in_the_all_namespaces_scope_only() -> None:
    operator = Operator(Settings(excluded_namespaces=frozenset({"kube-system", "ops"})),
                        cast(Client, object()), Metrics())
    (everywhere,), _ = operator._informers(INSTANCES, "instances", InformerOptions(field_selector="x=y"), [None])
    assert _field_selector(everywhere) == "x=y,metadata.namespace!=kube-system,metadata.namespace!=ops"
    (templates,), _ = operator._informers(TEMPLATES, "templates", InformerOptions(), [None], {"kube-system"})
    assert _field_selector(templates) == "metadata.namespace!=kube-system"

    named = Operator(Settings(namespaces=("team-a",)), cast(Client, object()), Metrics())
    (scoped,), _ = named._informers(INSTANCES, "instances", InformerOptions(), named._scopes())
    assert _field_selector(scoped) is None
